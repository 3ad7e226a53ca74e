"""models/ and examples/ use only the public API: names from `framework` itself, and the public
modules a user imports (`framework.datasets`, `framework.plots`)."""

import ast
from pathlib import Path

import pytest

import framework

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = {"framework", "framework.datasets", "framework.plots"}


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")) + sorted((ROOT / "models").glob("*.py")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_examples_and_models_import_only_the_public_api(path: Path) -> None:
    imported = [(node.module, [a.name for a in node.names]) for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("framework")]
    assert {module for module, _ in imported} <= PUBLIC_MODULES
    names = [name for module, names in imported if module == "framework" for name in names]
    assert set(names) <= set(framework.__all__)
