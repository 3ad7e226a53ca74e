"""The examples' notebooks run from top to bottom in a Jupyter kernel without an error, and show the rich
displays (skipped where nbclient, the `notebook` extra, is not installed)."""

import importlib.util
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "is_my_backprop_right.ipynb"


def test_is_my_backprop_right_runs_and_shows_the_reports_and_the_model_as_html() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
                            ).execute()  # raises CellExecutionError at the first cell that fails
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert sum('class="fw-gradcheck"' in h for h in html) == 4  # check_function's twice, the model's, the wrong layer's
    assert any('class="fw-backprop"' in h and "Z3 * (1 - Z3)" in h for h in html)
    assert any('class="fw-summary"' in h for h in html) and any('class="fw-history"' in h for h in html)
    assert 'class="fw-verdict fw-fail"' in html[-1] and "WRONG: the backward of layer 5 MySigmoid()" in html[-1]
    bars = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    lines = [o.text for o in outputs if o.output_type == "stream" and "Epoch 1/15 - loss: " in o.text]
    if importlib.util.find_spec("ipywidgets"):  # tqdm's notebook bar, an epoch each
        assert len(bars) == 15 and not lines
    else:
        assert not bars and lines
