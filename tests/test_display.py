"""Rich displays in Jupyter: the HTML of a gradient-check report (the diagnosis on top, failures first
and in red, everything escaped), of the learner's reports, of a model (its summary table) and of a
`History` (its epochs, and its curves where matplotlib is installed); the short reprs; and
`verbose=1`'s bar in a notebook, with and without ipywidgets (the notebook simulated: IPython's shell
and the modules are faked)."""

import base64
import re
import sys
import types
import warnings
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, BCELoss, Dense, History, Input, Layer, Model, ReLU, Sequential, Sigmoid, check_backprop, check_function,
    check_gradients,
)
from framework.core.arrays import Array, Shape
from framework.core.parameter import Parameter
from framework.core.display import FAILED_BACKGROUND, FAILED_COLOR, PASSED_BACKGROUND

Floats = npt.NDArray[np.float64]


class DenseMeanBias(Layer):
    """y = x W + b, whose backward takes db as a mean over the batch (the 1/m is already in the loss's
    gradient); its repr holds characters that HTML must escape."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        rng = np.random.default_rng(3)
        self.W = Parameter(rng.standard_normal((n_in, n_out)))
        self.b = Parameter(0.1 * rng.standard_normal(n_out))
        self.x: Array | None = None

    def forward(self, x: Array) -> Array:
        self.x = x
        return x @ self.W.value + self.b.value

    def backward(self, grad: Array) -> Array:
        x = self.cached(self.x)
        self.W.grad[...] = x.T @ grad
        self.b.grad[...] = grad.mean(axis=0)  # BUG: dL/db = Σ over the batch of dL/dy
        return grad @ self.W.value.T

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.W.shape[1])

    def __repr__(self) -> str:
        return "DenseMeanBias<&>()"


def wrong_model() -> Sequential:
    """Its last layer's b is wrong and nothing else: the rows in parameter order end with the failure."""
    return Sequential([Dense(6, 4, seed=0), ReLU(), DenseMeanBias(4, 1), Sigmoid()])


def data(m: int = 20, seed: int = 0) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, 6))
    return x, (x[:, :1] > 0).astype(np.float64)


def first_cells(table: str) -> list[tuple[str, str]]:
    """(class, first cell) of each body row of an HTML table."""
    return re.findall(r'<tr class="([\w-]+)"[^>]*><td[^>]*>([^<]*)</td>', table)


def test_a_failing_reports_html_puts_the_diagnosis_on_top_and_its_failures_first_in_red() -> None:
    x, y = data()
    model = wrong_model()
    report = check_gradients(model, BCELoss(), x, y)
    html = report._repr_html_()
    assert not report.passed and report.culprits == ("layer 2 DenseMeanBias<&>()",)
    first_table = html.index("<table")
    verdict = f'<span class="fw-verdict fw-fail" style="color:{FAILED_COLOR};font-weight:bold">FAILED</span>'
    assert html.index(verdict) < html.index("WRONG: the backward of layer 2 DenseMeanBias&lt;&amp;&gt;()") < first_table
    assert "<&>" not in html and html.count("DenseMeanBias&lt;&amp;&gt;()") >= 2  # the diagnosis and its own row

    model_rows = first_cells(html[first_table: html.index("</table>")])
    failing = [r.name for r in report.rows if not r.passed]
    passing = [r.name for r in report.rows if r.passed]
    assert failing == ["2.b"] and passing == ["0.W", "0.b", "2.W"]
    named = [(kind, name) for kind, name in model_rows if kind != "fw-note"]
    assert named == [("fw-fail", n) for n in failing] + [("fw-ok", n) for n in passing]
    assert f'<tr class="fw-fail" style="background:{FAILED_BACKGROUND}">' in html
    assert f'<tr class="fw-ok" style="background:{PASSED_BACKGROUND}">' in html
    notes = [r.note for r in report.rows if r.note]
    assert html.count('<tr class="fw-note"') >= len(notes)  # each row's note under it, the parts' too
    assert str(report).startswith(f"Gradient check of {report.subject} by complex step, full mode: FAILED\n")


def test_a_reports_repr_is_one_short_line_with_the_verdict_and_the_wrong_layer() -> None:
    x, y = data()
    wrong = check_gradients(wrong_model(), BCELoss(), x, y)
    right = check_gradients(Sequential([Dense(6, 1, seed=0), Sigmoid()]), BCELoss(), x, y, method="central")
    # db as a mean over m = 20: g = ĝ / 20, so ||g - ĝ|| / (||g|| + ||ĝ||) = (1 - 1/20) / (1 + 1/20) = 19/21
    assert repr(wrong) == ("<GradCheckReport of Sequential (4 layers) by complex step: FAILED, 4 tensors (1 failing), "
                           "worst relative error 9.0e-01; wrong: layer 2 DenseMeanBias<&>()>")
    assert repr(right).startswith("<GradCheckReport of Sequential (2 layers) by central differences: PASSED, 2 tensors "
                                  "(0 failing)")
    assert len(repr(wrong)) < 200 and "\n" not in repr(wrong)
    assert '<span class="fw-verdict fw-ok"' in right._repr_html_() and "fw-fail" not in right._repr_html_()


def test_a_models_html_is_its_summary_table() -> None:
    model = Sequential([Dense(6, 4, seed=0), ReLU(), Dense(4, 1, seed=2), Sigmoid()])
    html = model._repr_html_()
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert cells == ["0 Dense(6 -&gt; 4)", "(None, 4)", "28", "1 ReLU()", "(None, 4)", "0",  # 6*4 + 4
                     "2 Dense(4 -&gt; 1)", "(None, 1)", "5", "3 Sigmoid()", "(None, 1)", "0"]
    assert "<th" in html and "Output Shape" in html and "Total params: 33 (float64)" in html

    x = Input(6)
    graph = Model(x, Sigmoid()(Dense(1, seed=0)(ReLU()(Dense(6, 3, seed=1)(x)))))
    assert "Connected to" in graph._repr_html_() and "Total params: 25 (float64)" in graph._repr_html_()  # 21 + 4
    assert len(repr(graph)) < 80


def trained(epochs: int = 3) -> History:
    x, y = data()
    model = Sequential([Dense(6, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy"])
    return model.fit(x, y, epochs=epochs, batch_size=8, validation_data=(x[:6], y[:6]), verbose=0, seed=0)


def test_a_historys_html_is_a_row_an_epoch_and_its_curves() -> None:
    pytest.importorskip("matplotlib")
    history = trained()
    html = history._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", html[html.index("<tbody>"):])
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in rows]
    names = ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert list(history.history) == names
    assert cells == [[str(e), *(f"{history.history[k][e - 1]:.4g}" for k in names)] for e in (1, 2, 3)]
    image = re.search(r'<img class="fw-plot" alt="training curves" src="data:image/png;base64,([^"]+)"/>', html)
    assert image is not None and base64.b64decode(image.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    last = history.history["loss"][-1]
    assert repr(history).startswith(f"<History of 3 epochs; last: loss {last:.4g}, accuracy ")
    assert repr(History()) == "<History: no epochs yet>" and "<img" not in History()._repr_html_()


def test_without_matplotlib_a_historys_html_is_the_table_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    history = trained(2)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    html = history._repr_html_()
    assert "<img" not in html and html.count("<tr>") == 3  # the header and 2 epochs


def test_the_learners_reports_show_their_verdict_and_rows_in_backward_order() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((5, 40)), (rng.random((1, 40)) > 0.5).astype(np.float64)  # the course's layout
    W1, W2 = rng.standard_normal((4, 5)) * 0.5, rng.standard_normal((1, 4)) * 0.5
    parameters = {"W1": W1, "b1": np.zeros((4, 1)), "W2": W2, "b2": np.zeros((1, 1))}
    Z1 = W1 @ X
    A1 = np.maximum(0, Z1)
    A2 = 1 / (1 + np.exp(-(W2 @ A1)))
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    grads = {"dZ2": dZ2, "dW2": dZ2 @ A1.T, "db2": dZ2.mean(axis=1, keepdims=True),  # dW2 without its 1/m
             "dZ1": dZ1, "dW1": dZ1 @ X.T / 40, "db1": dZ1.mean(axis=1, keepdims=True)}
    report = check_backprop(parameters, grads, X, Y, ["relu", "sigmoid"])
    assert repr(report) == "<BackpropReport: FAILED, 6 quantities (1 wrong); culprit dW2>"
    html = report._repr_html_()
    rows = [(kind, name) for kind, name in first_cells(html) if kind != "fw-note"]
    assert rows == [("fw-ok", "dZ2"), ("fw-fail", "dW2"), ("fw-ok", "db2"), ("fw-ok", "dZ1"), ("fw-ok", "dW1"),
                    ("fw-ok", "db1")]  # backward order, where the wrong line lies between dZ2 and dW2
    assert html.index('<span class="fw-verdict fw-fail"') < html.index("dW2 is 40 times too large") < html.index("<table")

    def cost(p: dict[str, Array]) -> object:  # complex under the complex step
        a = 1 / (1 + np.exp(-(p["W2"] @ np.maximum(0, p["W1"] @ X + p["b1"]) + p["b2"])))
        return -np.mean(Y * np.log(a) + (1 - Y) * np.log(1 - a))

    numeric = check_function(cost, parameters, grads)
    # dW2 = 40 ĝ: (40 - 1) / (40 + 1) = 39/41
    assert repr(numeric) == ("<FunctionReport by complex step: FAILED, 4 gradients (1 wrong), worst relative error "
                             "9.5e-01>")
    assert 'class="fw-gradcheck"' in numeric._repr_html_() and "(0 calls" not in numeric._repr_html_()


# --- verbose=1 in a notebook ---------------------------------------------------------------------


class ZMQInteractiveShell:
    """What IPython's get_ipython() returns in a Jupyter kernel (by its class name)."""


class NotebookBar:
    """Stands in for tqdm.notebook.tqdm, recording what fit asks of it."""

    made: list["NotebookBar"] = []

    def __init__(self, *, total: int, desc: str, leave: bool) -> None:
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        NotebookBar.made.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A Jupyter kernel as the framework sees it: IPython imported, its shell a ZMQInteractiveShell."""
    ipython = types.ModuleType("IPython")
    setattr(ipython, "get_ipython", ZMQInteractiveShell)
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    yield monkeypatch


def test_verbose_1_in_a_notebook_with_ipywidgets_draws_tqdms_notebook_bar(
    notebook: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook.setitem(sys.modules, "ipywidgets", types.ModuleType("ipywidgets"))
    fake = types.ModuleType("tqdm.notebook")
    setattr(fake, "tqdm", NotebookBar)
    notebook.setitem(sys.modules, "tqdm.notebook", fake)
    NotebookBar.made = []
    x, y = data()
    model = Sequential([Dense(6, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=1, seed=0).history
    assert [bar.desc for bar in NotebookBar.made] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all(bar.closed and bar.n == bar.total == 3 for bar in NotebookBar.made)  # 20 samples: 8, 8, 4
    assert NotebookBar.made[2].postfix == f"loss: {history['loss'][2]:.4f}"
    assert capsys.readouterr().out.splitlines() == [f"  loss: {loss:.4f}" for loss in history["loss"]]


@pytest.mark.parametrize("shell", ["ZMQInteractiveShell", "TerminalInteractiveShell"])
def test_verbose_1_without_ipywidgets_or_outside_a_kernel_prints_a_line_an_epoch_without_a_warning(
    notebook: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shell: str
) -> None:
    notebook.setattr(sys.modules["IPython"], "get_ipython", type(shell, (), {}))
    if shell == "ZMQInteractiveShell":
        notebook.setitem(sys.modules, "ipywidgets", None)  # import raises ImportError: not installed
    x, y = data()
    model = Sequential([Dense(6, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=1, seed=0).history
    assert caught == []
    assert capsys.readouterr().out.splitlines() == [f"Epoch {e + 1}/2 - loss: {history['loss'][e]:.4f}" for e in (0, 1)]
