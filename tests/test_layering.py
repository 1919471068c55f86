"""The packages' imports run one way: residual_gru <- entropy_coder <- compression.

residual_gru (the image network, its data and training) imports neither of
the others; entropy_coder may import residual_gru; compression (the codec
users call) sits on top. Every import counts, function-local ones too.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = {"residual_gru": 0, "entropy_coder": 1, "compression": 2}


def _modules():
  """{dotted module name: path} of the three packages."""
  out = {}
  for package in LAYERS:
    for root, _, files in os.walk(os.path.join(ROOT, package)):
      for f in files:
        if f.endswith(".py"):
          path = os.path.join(root, f)
          rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          out[rel.removesuffix(".__init__")] = path
  return out


def _imports(path, top_level_only=False, modules=()):
  """[(imported module, line)] of a file.

  ``from p import m`` names p.m when that is one of ``modules``, else p
  (and p.m, for the layer check, which looks at top-level names only).
  """
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  nodes = tree.body if top_level_only else ast.walk(tree)
  found = []
  for node in nodes:
    if isinstance(node, ast.Import):
      found += [(a.name, node.lineno) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names = [f"{node.module}.{a.name}" for a in node.names]
      found += [(n, node.lineno) for n in names]
      if not all(n in modules for n in names):
        found.append((node.module, node.lineno))
  return found


def upward_imports():
  bad = []
  for module, path in _modules().items():
    layer = LAYERS[module.split(".")[0]]
    for target, line in _imports(path):
      top = target.split(".")[0]
      if top in LAYERS and LAYERS[top] > layer:
        bad.append(f"{os.path.relpath(path, ROOT)}:{line} imports {target}")
  return sorted(set(bad))


def test_no_package_imports_a_package_above_it():
  assert upward_imports() == []


def test_no_module_imports_itself_through_a_loop():
  modules = _modules()
  graph = {m: {t for t, _ in _imports(p, True, modules)
               if t in modules and t != m}
           for m, p in modules.items()}
  state, cycles = {}, []

  def visit(m, stack):
    state[m] = "open"
    for t in sorted(graph[m]):
      if state.get(t) == "open":
        cycles.append(stack[stack.index(t):] + [t])
      elif t not in state:
        visit(t, stack + [t])
    state[m] = "done"
  for m in sorted(graph):
    if m not in state:
      visit(m, [m])
  assert cycles == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
  """The walker finds function-local imports too (a test that can fail)."""
  fake = tmp_path / "residual_gru"
  fake.mkdir()
  (fake / "bad.py").write_text("def f():\n  from compression import api\n")
  import sys
  monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
  for package in ("entropy_coder", "compression"):
    (tmp_path / package).mkdir()
  assert upward_imports() == [
      "residual_gru/bad.py:2 imports compression",
      "residual_gru/bad.py:2 imports compression.api"]


def test_info_and_truncate_run_without_tensorflow(tmp_path):
  import subprocess
  import sys
  golden = os.path.join(ROOT, "tests", "golden", "v0.rnc")
  cut = tmp_path / "cut.rnc"
  code = ("import sys; from compression import cli; "
          f"a = cli.main(['info', {golden!r}]); "
          f"b = cli.main(['truncate', {golden!r}, '--iterations', '1', '-o', {str(cut)!r}]); "
          "print(a, b, 'tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                       capture_output=True, text=True, check=True).stdout
  assert out.strip().splitlines()[-1] == "0 0 False", out
  assert cut.exists()
