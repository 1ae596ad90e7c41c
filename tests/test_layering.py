"""DESIGN.md layering, checked by walking imports with ``ast``.

``lightning_dln/models`` and ``lightning_dln/theory`` import torch (and the standard library)
only; nothing in the core imports an integration; optional libraries are imported lazily.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = {"darts", "pytorch_forecasting", "optuna", "optuna_integration", "matplotlib",
            "pytorch_lightning"}


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["models", "theory"])
def test_math_packages_import_torch_only(package):
    allowed_roots = {"torch", "lightning_dln"} | set(sys.stdlib_module_names)
    for path in (ROOT / "lightning_dln" / package).glob("*.py"):
        for name in imports(path):
            root = name.split(".")[0]
            assert root in allowed_roots, f"{path.name} imports {name}"
            if root == "lightning_dln":
                assert name.startswith(("lightning_dln.models", "lightning_dln.theory")), \
                    f"{path.name} imports {name}"


def test_core_never_imports_integrations_and_imports_optional_libraries_lazily():
    for path in (ROOT / "lightning_dln").rglob("*.py"):
        names = imports(path)
        assert not any(n.startswith("lightning_dln.integrations") for n in names), path
        top = {n.split(".")[0] for n in imports(path, top_level_only=True)}
        assert not top & OPTIONAL, f"{path} imports {top & OPTIONAL} at module level"
