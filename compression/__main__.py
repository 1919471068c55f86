"""python -m compression: the codec's command line (see compression/cli.py)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run():
  from compression import cli
  sys.exit(cli.main())


if __name__ == "__main__":
  run()
