"""Rich display in Jupyter: tables as escaped HTML (what `_repr_html_` of a report, a model and a
`History` return), and whether the code runs in a notebook that can show a widget progress bar.

Colours are inline styles as well as classes: a notebook viewer that strips `<style>` keeps them.

>>> print(html_table(["tensor", "rel error"], [["0.W", "1e-16"], ["<b>", "&"]], classes=["fw-ok", "fw-fail"]))
<table class="fw-table"><thead><tr><th style="text-align:left">tensor</th><th style="text-align:left">rel error</th></tr></thead><tbody><tr class="fw-ok" style="background:#e6f4ea"><td style="text-align:left">0.W</td><td style="text-align:left">1e-16</td></tr><tr class="fw-fail" style="background:#fce8e6"><td style="text-align:left">&lt;b&gt;</td><td style="text-align:left">&amp;</td></tr></tbody></table>
"""

import importlib
import sys
from collections.abc import Sequence
from html import escape

PASSED_BACKGROUND, FAILED_BACKGROUND = "#e6f4ea", "#fce8e6"
PASSED_COLOR, FAILED_COLOR = "#137333", "#c5221f"
ROW_STYLES = {"fw-ok": f"background:{PASSED_BACKGROUND}", "fw-fail": f"background:{FAILED_BACKGROUND}",
              "fw-note": "font-style:italic"}
"""The inline style of each row class; a row of another class (or none) is unstyled."""
CELL = ' style="text-align:left"'


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, classes: Sequence[str] = ()) -> str:
    """An HTML table of `header` and `rows` (text, escaped here), row i of class `classes[i]` (coloured
    as `ROW_STYLES` says). A row of one cell spans every column: a note under the row above it."""
    head = "".join(f"<th{CELL}>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        kind = classes[i] if i < len(classes) else ""
        style = f' style="{ROW_STYLES[kind]}"' if kind in ROW_STYLES else ""
        attributes = f' class="{escape(kind)}"{style}' if kind else ""
        span = f' colspan="{len(header)}"' if len(row) == 1 and len(header) > 1 else ""
        cells = "".join(f"<td{span}{CELL}>{escape(cell)}</td>" for cell in row)
        body.append(f"<tr{attributes}>{cells}</tr>")
    return f'<table class="fw-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def verdict_html(passed: bool) -> str:
    """PASSED in green or FAILED in red, bold."""
    kind, color = ("fw-ok", PASSED_COLOR) if passed else ("fw-fail", FAILED_COLOR)
    return f'<span class="fw-verdict {kind}" style="color:{color};font-weight:bold">{"PASSED" if passed else "FAILED"}</span>'


def paragraph(text: str, kind: str = "") -> str:
    """`text`, escaped, as a paragraph of class `kind`."""
    return f'<p class="{escape(kind)}">{escape(text)}</p>' if kind else f"<p>{escape(text)}</p>"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell), not in a terminal's IPython or a
    script. IPython is not imported here: a kernel has imported it already."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def has_widgets() -> bool:
    """Whether ipywidgets is installed, which tqdm's notebook bar draws with."""
    try:
        importlib.import_module("ipywidgets")
    except ImportError:
        return False
    return True
