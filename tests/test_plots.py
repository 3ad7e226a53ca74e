"""plot_history and plot_gradcheck write valid PNG files, atomically, and draw what they say."""

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from framework import (
    BCELoss, Dense, DTypeError, FrameworkError, GradCheckReport, GradCheckRow, ReLU, Sequential, ShapeError,
    Sigmoid, check_gradients, check_layer,
)
from framework.plots import (
    FAILED_COLOR, PASSED_COLOR, ZERO_FLOOR, gradcheck_figure, history_figure, plot_gradcheck, plot_history,
)

HISTORY = {
    "loss": [0.69, 0.52, 0.41, 0.35],
    "accuracy": [0.5, 0.7, 0.8, 0.85],
    "val_loss": [0.70, 0.58, float("inf"), 0.49],
    "val_accuracy": [0.48, float("nan"), 0.75, 0.8],
}


@pytest.fixture(scope="module")
def report() -> GradCheckReport:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 3)), rng.integers(0, 2, (4, 1)).astype(np.float64)
    model = Sequential([Dense(3, 2, seed=0), ReLU(), Dense(2, 1, seed=1), Sigmoid()])
    return check_gradients(model, BCELoss(), x, y)


def row(name: str, relative_error: float, passed: bool) -> GradCheckRow:
    return GradCheckRow(name, (2,), 2, 0.0, relative_error, "(0,)", 0.0, 0.0, passed)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.width > 100 and image.height > 100
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a temporary file was left behind"


def bar_colours(figure: Figure) -> list[list[str]]:
    return [[to_hex(bar.get_facecolor()) for bar in ax.patches] for ax in figure.axes]


def test_plot_gradcheck_writes_a_png(tmp_path: Path, report: GradCheckReport) -> None:
    path = tmp_path / "gradcheck.png"
    assert plot_gradcheck(report, path) == path
    assert_png(path)


def test_gradcheck_figure_has_a_bar_a_row_and_a_panel_for_the_parts(report: GradCheckReport) -> None:
    figure = gradcheck_figure(report)
    top, parts = figure.axes
    assert [t.get_text() for t in top.get_yticklabels()] == [r.name for r in report.rows]
    assert len(parts.patches) == sum(len(p.rows) for p in report.parts)
    assert "layer 0 Dense(3 -> 2) W" in [t.get_text() for t in parts.get_yticklabels()]
    assert bar_colours(figure) == [[to_hex(PASSED_COLOR)] * len(ax.patches) for ax in figure.axes]
    assert top.get_xscale() == "log"
    for ax in figure.axes:
        (threshold,) = ax.lines
        assert list(np.asarray(threshold.get_xdata())) == [report.threshold] * 2
    assert figure.get_suptitle() == "Gradient check of Sequential (4 layers) by complex step, full mode: PASSED"
    assert "pass threshold 1e-11" in [t.get_text() for t in figure.legends[0].get_texts()]


def test_zero_and_nan_errors_are_drawn_and_labelled_and_failures_are_red() -> None:
    report = GradCheckReport(
        "Sequential (2 layers)", "central", "full", 1e-7,
        (row("0.W", 0.3, False), row("0.b", 0.0, True), row("1.W", float("nan"), False)),
    )
    figure = gradcheck_figure(report)
    (ax,) = figure.axes
    assert bar_colours(figure) == [[to_hex(FAILED_COLOR), to_hex(PASSED_COLOR), to_hex(FAILED_COLOR)]]
    ends = [bar.get_x() + bar.get_width() for bar in ax.patches if isinstance(bar, Rectangle)]
    assert ends[0] == pytest.approx(0.3)
    assert ends[1] == pytest.approx(ZERO_FLOOR)
    assert ends[2] > 0.3 and ends[2] < ax.get_xlim()[1]
    assert [t.get_text() for t in ax.texts] == ["3.0e-01", "0", "nan"]
    assert "central differences" in figure.get_suptitle() and "FAILED" in figure.get_suptitle()


def test_a_layer_report_has_one_panel(tmp_path: Path) -> None:
    layer = Dense(3, 2, seed=0)
    layer_report = check_layer(layer, np.random.default_rng(1).standard_normal((4, 3)))
    assert len(gradcheck_figure(layer_report).axes) == 1
    assert_png(plot_gradcheck(layer_report, tmp_path / "layer.png"))


def test_a_report_without_rows_is_an_error() -> None:
    with pytest.raises(ShapeError, match="no rows to plot"):
        gradcheck_figure(GradCheckReport("Sequential (0 layers)", "complex", "full", 1e-11, ()))


def test_plot_history_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "history.png"
    assert plot_history(HISTORY, str(path)) == path
    assert_png(path)


def test_history_figure_pairs_each_metric_with_its_validation_curve() -> None:
    figure = history_figure(HISTORY, title="4-3-1 on digits")
    assert figure.get_suptitle() == "4-3-1 on digits"
    loss, accuracy = figure.axes
    assert loss.get_title() == "loss" and accuracy.get_title() == "accuracy"
    assert [line.get_label() for line in loss.lines] == ["loss", "val_loss"]
    legend = accuracy.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["accuracy", "val_accuracy"]
    assert loss.get_xlabel() == "epoch"
    assert np.asarray(loss.lines[0].get_xdata()).tolist() == [1, 2, 3, 4]
    val_loss = np.asarray(loss.lines[1].get_ydata())
    assert np.isnan(val_loss[2]) and val_loss[3] == 0.49, "inf is drawn as a gap"


def test_one_epoch_and_a_curve_of_only_non_finite_values_draw_without_error(tmp_path: Path) -> None:
    assert_png(plot_history({"val_loss": [0.5], "lr": [math.nan]}, tmp_path / "one.png"))


def test_more_families_than_a_row_holds_wrap_and_hide_spare_axes() -> None:
    figure = history_figure({name: [1.0, 2.0] for name in ["loss", "accuracy", "auc", "lr"]})
    assert [ax.get_visible() for ax in figure.axes] == [True, True, True, True, False, False]


@pytest.mark.parametrize(
    ("history", "error", "message"),
    [
        ({}, ShapeError, "history is empty"),
        ({"loss": [0.5, 0.4], "val_loss": [0.5]}, ShapeError, r"lengths \{'loss': 2, 'val_loss': 1\}"),
        ({"loss": []}, ShapeError, "no epochs"),
        ({"loss": [[0.5, 0.4]]}, ShapeError, r"shape \(1, 2\)"),
        ({"loss": ["0.5"]}, DTypeError, "must hold numbers"),
        ({"loss": [0.5, None]}, DTypeError, "float\\('nan'\\) for a missing epoch"),
    ],
)
def test_bad_history_is_a_clear_error(history: dict[str, list[object]], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as raised:
        history_figure(history)  # type: ignore[arg-type]
    assert isinstance(raised.value, FrameworkError)


def test_the_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.png"
    path.write_bytes(b"old")

    def fail_halfway(self: Figure, file: object, **kwargs: object) -> None:
        file.write(b"half a png")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", fail_halfway)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_history(HISTORY, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["history.png"]


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="the folder .*runs does not exist"):
        plot_history(HISTORY, tmp_path / "runs" / "history.png")


def test_an_existing_png_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "history.png"
    path.write_bytes(b"old")
    plot_history(HISTORY, path)
    assert_png(path)
