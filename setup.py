"""Installs the three packages of the RNN image codec (no Bazel WORKSPACE)."""

import sys

from setuptools import find_packages, setup

# The top-level package name `compression` is taken by the standard library
# from Python 3.14 on (PEP 784), which would shadow or be shadowed by ours.
if sys.version_info >= (3, 14):
  sys.exit("rnn-image-codec needs Python 3.10-3.13: its package "
           "'compression' collides with the standard library's "
           "'compression' package from Python 3.14 on.")

setup(
    name="rnn-image-codec",
    version="0.1.0",
    description=("Toderici et al.'s recurrent-network image codec (CVPR 2017) "
                 "in TensorFlow 2 / Keras 3, with real files and a range "
                 "coder."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["residual_gru", "residual_gru.*",
                                    "entropy_coder", "entropy_coder.*",
                                    "compression", "compression.*"]),
    package_data={"compression": ["models/*.json", "models/*/*", "models/*/*/*",
                                  "data/*"]},
    install_requires=[
        # TF 2.21 is the first release of the 2.21 line and works with
        # Keras 3.12+; `tensorflow` (not tensorflow-cpu) is CPU-only on Linux.
        "tensorflow>=2.21,<2.22",
        "keras>=3.12,<4",
        "numpy>=1.26,<3",
        "pillow>=10.0",
        "scipy>=1.11",
        "absl-py>=2.1",
        "constriction>=0.4,<0.6",
        # tf.summary needs TensorBoard, which TF 2.21 no longer pulls in.
        "tensorboard>=2.21,<2.22",
        "tqdm>=4.66",
        # Plots: model cards, RD curves.
        "matplotlib>=3.8",
        # JPEG XL anchor of `rnn-codec eval` (Pillow has no JPEG XL).
        "imagecodecs>=2024.1",
    ],
    extras_require={
        "tfds": ["tensorflow-datasets>=4.9.8,<5"],
        # PredictRequest protos for gRPC clients of TF Serving; its release
        # tracks TensorFlow's minor version.
        "serving": ["tensorflow-serving-api>=2.21,<2.22"],
        # The tests exercise the TFDS source offline (tfds.testing.mock_data),
        # build PredictRequests, and execute notebooks/demo.ipynb (nbclient).
        "test": ["pytest>=8", "hypothesis>=6.100",
                 "tensorflow-datasets>=4.9.8,<5",
                 "tensorflow-serving-api>=2.21,<2.22",
                 "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29"],
    },
    entry_points={
        "console_scripts": [
            "rnn-codec=compression.__main__:run",
        ],
    },
)
