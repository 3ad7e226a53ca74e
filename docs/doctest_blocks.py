"""A Griffe extension for the documentation site: a docstring's doctest examples (a `>>>` line, its `...`
continuations and its output, up to a blank line) are fenced as `pycon` code, so that the site shows
them as code; unfenced, Markdown would read `>>>` as a quotation and `['0.W']` as a link."""

from typing import Any

import griffe


def fenced(text: str) -> str:
    """`text` with each run of doctest lines between ```pycon and ``` fences, at the run's indentation."""
    lines: list[str] = []
    fence = ""  # the indentation of the open fence, or "" outside one
    for line in text.split("\n"):
        if fence and not line.strip():
            lines.append(f"{fence[:-1]}```")
            fence = ""
        elif not fence and line.lstrip().startswith(">>>"):
            fence = line[: len(line) - len(line.lstrip())] + "|"  # "|": open, even at indentation 0
            lines.append(f"{fence[:-1]}```pycon")
        lines.append(line)
    if fence:
        lines.append(f"{fence[:-1]}```")
    return "\n".join(lines)


class DoctestBlocks(griffe.Extension):
    """Fence the doctest examples of every docstring the site renders."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced(obj.docstring.value)
