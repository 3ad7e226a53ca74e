"""The README's Python examples run as written."""

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
EXTRAS = {"onnx", "onnxruntime", "torch"}
"""Packages of the optional extras that are in no other: a block importing one is skipped without it."""


def imported(code: str) -> set[str]:
    """The top-level packages `code` imports."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_readme_examples_assert_what_they_show() -> None:
    assert len(BLOCKS) >= 3
    assert all("assert " in code for code in BLOCKS)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str) -> None:
    for package in sorted(imported(code) & EXTRAS):
        pytest.importorskip(package)
    exec(compile(code, str(README), "exec"), {})
