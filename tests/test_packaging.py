"""What a fresh `pip install .` needs: every import of the package is a declared dependency,
and the package imports and estimates without any optional one."""
import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gib_kernels"
# Distribution names of import names that differ.
DISTRIBUTIONS = {"sklearn": "scikit-learn"}
# Optional imports: where each may appear. Triton inside its own subpackage (its kernel modules
# are loaded on demand); an array library only where the caller's arrays already came from it.
# The Lightning callback is a module of its own, imported only by those who use it.
OPTIONAL = {"triton": ("gib_kernels/backends/triton/",),
            "jax": ("gib_kernels/_validation.py",),
            "lightning": ("gib_kernels/tracking/lightning.py",),
            "pytorch_lightning": ("gib_kernels/tracking/lightning.py",)}
# Modules that `import gib_kernels` never loads: optional imports may sit at their top level.
LOADED_ON_DEMAND = (PACKAGE / "backends" / "triton", PACKAGE / "tracking" / "lightning.py")


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].strip().lower().replace("_", "-")
            for d in project["dependencies"]}


def _imports(path: Path):
    """(top-level module, line, at module level) of every absolute import in a file."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], node.lineno, id(node) in top_level


def test_every_import_is_a_declared_dependency():
    declared = _declared()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        for module, line, _ in _imports(path):
            if module in sys.stdlib_module_names or module in ("gib_kernels", "__future__"):
                continue
            if module in OPTIONAL:
                if not where.startswith(OPTIONAL[module]):
                    problems.append(f"{where}:{line}: optional {module} outside "
                                    f"{', '.join(OPTIONAL[module])}")
                continue
            if DISTRIBUTIONS.get(module, module).lower().replace("_", "-") not in declared:
                problems.append(f"{where}:{line}: {module} is not in [project] dependencies")
    assert not problems, "\n".join(problems)


def test_optional_imports_are_not_made_at_import_time():
    """The modules that `import gib_kernels` loads import no optional package at module level
    (the Triton subpackage only when its backend is asked for, the Lightning callback only by
    its users)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path.is_relative_to(place) for place in LOADED_ON_DEMAND):
            continue
        at_module_level = [m for m, _, top in _imports(path) if top and m in OPTIONAL]
        assert not at_module_level, f"{path}: {at_module_level}"


BLOCKED_SCRIPT = """
import importlib.abc, json, sys
BLOCKED = {"triton", "jax", "sklearn", "hypothesis", "pytest", "pytest_benchmark", "ennemi",
           "hoi", "infomeasure", "pytorch_lightning", "lightning"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Block())
import numpy as np
import gib_kernels as gk
X, y = gk.datasets.tishby_12bit()
z = np.random.default_rng(0).standard_normal((200, 3))
print(json.dumps({"triton": gk.build_info()["triton"],
                  "binning": gk.mutual_information(X, y),
                  "mixed": gk.synergy(z, (z[:, 0] > 0).astype(int))}))
"""


def test_imports_and_estimates_without_optional_packages():
    result = subprocess.run([sys.executable, "-c", BLOCKED_SCRIPT], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["triton"].startswith("not installed")
    assert abs(out["binning"] - 0.99916) < 1e-4


LAZY_SCRIPT = """
import json, sys
import gib_kernels as gk
loaded_at_import = sorted(m for m in ("torch", "gib_kernels.functional", "gib_kernels._cpu")
                          if m in sys.modules)
names = {name: type(getattr(gk, name)).__name__ for name in gk.__all__}
print(json.dumps({"loaded_at_import": loaded_at_import, "names": names,
                  "listed": all(name in dir(gk) for name in gk.__all__)}))
"""


def test_import_loads_the_api_on_first_use():
    """`import gib_kernels` imports neither torch nor the kernels; every name of __all__ then
    resolves (PEP 562), and dir() lists them."""
    result = subprocess.run([sys.executable, "-c", LAZY_SCRIPT], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["loaded_at_import"] == []
    assert out["names"]["datasets"] == "module" and out["names"]["__version__"] == "str"
    assert out["names"]["estimators"] == "module"
    assert out["names"]["SaturationWarning"] == out["names"]["InformationTerms"] == "type"
    assert {kind for name, kind in out["names"].items()
            if name not in ("datasets", "estimators", "__version__", "SaturationWarning",
                            "InformationTerms")} == {"function"}
    assert out["listed"]
