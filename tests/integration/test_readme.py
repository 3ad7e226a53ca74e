"""The README's Python examples, and those of the documentation site's pages (docs/), run as written.
The site's pages include the README's sections (pymdownx.snippets, `--8<-- "README.md:NAME"`) rather than
copy them: each include names a section the README marks, so the site's examples are the README's."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("**/*.md"))
BLOCKS = [(path, code) for path in [README, *PAGES]
          for code in re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)]
INCLUDE = re.compile(r'^--8<-- "README\.md:([\w-]+)"$', flags=re.M)
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
    assert len([path for path, _ in BLOCKS if path == README]) >= 3
    assert all("assert " in code for _, code in BLOCKS)


@pytest.mark.parametrize("path, code", BLOCKS,
                         ids=[f"{path.relative_to(ROOT)}-block{i}" for i, (path, _) in enumerate(BLOCKS)])
def test_readme_example_runs(path: Path, code: str) -> None:
    for package in sorted(imported(code) & EXTRAS):
        pytest.importorskip(package)
    exec(compile(code, str(path), "exec"), {})


def test_the_sites_pages_include_sections_the_readme_marks() -> None:
    readme = README.read_text()
    starts = re.findall(r"--8<-- \[start:([\w-]+)\]", readme)
    ends = re.findall(r"--8<-- \[end:([\w-]+)\]", readme)
    assert sorted(starts) == sorted(ends) and len(set(starts)) == len(starts)  # each opened and closed once
    included = [name for page in PAGES for name in INCLUDE.findall(page.read_text())]
    assert set(included) <= set(starts) and len(included) == len(set(included))  # no section shown twice
    for name in starts:
        after = readme.split(f"--8<-- [start:{name}] -->", 1)[1]
        assert f"--8<-- [end:{name}] -->" in after, f"README section {name} ends before it starts"
        assert after.split(f"--8<-- [end:{name}] -->", 1)[0].strip(" \n<!-"), f"README section {name} is empty"
