"""lightning_dln.theory imports torch and the standard library only (DESIGN.md layering)."""

import ast
import sys
from pathlib import Path

import lightning_dln.theory as theory


def test_theory_imports_torch_and_stdlib_only():
    allowed = {"torch", "lightning_dln", "__future__"} | set(sys.stdlib_module_names)
    for path in Path(theory.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
                if name.startswith("lightning_dln"):
                    assert name.startswith("lightning_dln.theory"), f"{path.name} imports {name}"


def test_public_names_are_exported():
    for name in theory.__all__:
        assert hasattr(theory, name), name
