"""Training curves and gradient-check reports as PNG files, drawn without a display.

Figures are built with matplotlib's object-oriented API on the Agg canvas, so nothing touches
pyplot's global state or needs a screen. `history_figure` and `gradcheck_figure` return the
figure (to show in a notebook or adjust); `plot_history` and `plot_gradcheck` also save it.
"""

import base64
import io
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from framework.core.errors import DTypeError, ShapeError
from framework.gradcheck import GradCheckReport, GradCheckRow

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

ZERO_FLOOR = 1e-18
"""Where a relative error of exactly 0 is drawn on the log axis (and labelled "0")."""

PASSED_COLOR, FAILED_COLOR = "tab:green", "tab:red"


def _figure(width: float, height: float, **subplots: Any) -> tuple["Figure", Any]:
    """A figure on the Agg canvas and its axes, from `Figure.subplots(**subplots)`."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("plots need matplotlib: pip install 'framework[plots]'") from e
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(squeeze=False, **subplots)


def _save_png(figure: "Figure", path: str | os.PathLike[str]) -> Path:
    """Write `figure` to `path` as a PNG, atomically: readers see the old file or the whole new one."""
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: the folder {target.parent} does not exist")
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as file:
            figure.savefig(file, format="png")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def history_figure(history: Mapping[str, Sequence[float]], *, title: str = "Training history") -> "Figure":
    """Training curves, one panel per metric: `loss` and `val_loss` share a panel, as do `accuracy`
    and `val_accuracy`. Epochs count from 1; NaN or inf values (a diverged epoch) are gaps."""
    series = _validated_history(history)
    families: dict[str, list[str]] = {}
    for name in series:
        families.setdefault(name.removeprefix("val_"), []).append(name)
    columns = min(len(families), 3)
    rows = math.ceil(len(families) / columns)
    figure, axes = _figure(4.5 * columns, 3.5 * rows + 0.5, nrows=rows, ncols=columns)
    epochs = np.arange(1, len(next(iter(series.values()))) + 1)
    marker = "o" if len(epochs) <= 30 else None
    for ax, (family, names) in zip(axes.flat, families.items()):
        for name in names:
            ax.plot(epochs, series[name], marker=marker, markersize=3, label=name)
        ax.set(title=family, xlabel="epoch", ylabel=family)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes.flat[len(families):]:
        ax.set_visible(False)
    figure.suptitle(title)
    return figure


def plot_history(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], *, title: str = "Training history"
) -> Path:
    """Save the training curves of `history` (metric name -> one value per epoch, such as
    `History.history` after `fit`) as a PNG at `path`; see `history_figure`.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_history({"loss": [0.7, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.6]}, Path(folder, "curves.png")).name
    'curves.png'
    """
    return _save_png(history_figure(history, title=title), path)


def history_html(history: Mapping[str, Sequence[float]]) -> str:
    """The training curves of `history` as an HTML image (an inline PNG), for a notebook's display of
    a `History`; "" without matplotlib or before the first epoch (nothing to draw)."""
    if not any(history.values()):
        return ""
    try:
        figure = history_figure(history)
    except ImportError:
        return ""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return f'<img class="fw-plot" alt="training curves" src="data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}"/>'


def _validated_history(history: Mapping[str, Sequence[float]]) -> dict[str, npt.NDArray[np.float64]]:
    """Each series as a float64 vector with NaN for every non-finite value; all of one length."""
    if not history:
        raise ShapeError("history is empty: expected metric name -> one value per epoch, such as {'loss': [0.7, 0.5]}")
    series: dict[str, npt.NDArray[np.float64]] = {}
    for name, values in history.items():
        raw = np.asarray(values)
        if raw.dtype.kind not in "biuf":
            raise DTypeError(
                f"history[{name!r}] must hold numbers, got dtype {raw.dtype}: use float('nan') for a missing epoch"
            )
        if raw.ndim != 1:
            raise ShapeError(f"history[{name!r}] must be one value per epoch, got an array of shape {raw.shape}")
        vector = raw.astype(np.float64)
        vector[~np.isfinite(vector)] = np.nan
        series[name] = vector
    lengths = {name: len(v) for name, v in series.items()}
    if len(set(lengths.values())) > 1:
        raise ShapeError(f"history series must all have one value per epoch, got lengths {lengths}")
    if not next(iter(lengths.values())):
        raise ShapeError(f"history has no epochs: every series is empty ({', '.join(lengths)})")
    return series


def gradcheck_figure(report: GradCheckReport) -> "Figure":
    """The relative error of every row of `report` as a bar on a log axis, green where the row
    passed and red where it failed, with the pass threshold as a dashed line. An error of 0 is
    drawn at `ZERO_FLOOR`, NaN or inf at the right edge; each bar is labelled with its value.
    A model's report gets a second panel: each layer and the loss checked on its own (`parts`)."""
    panels = [("the whole model" if report.parts else "", [(r.name, r) for r in report.rows])]
    if report.parts:
        own = [(f"{p.subject} {r.name}", r) for p in report.parts for r in p.rows]
        panels.append(("each layer and the loss on its own", own))
    panels = [(heading, rows) for heading, rows in panels if rows]
    if not panels:
        raise ShapeError(f"the gradient check of {report.subject} has no rows to plot")
    sizes = [len(rows) for _, rows in panels]
    figure, axes = _figure(
        9, 1.5 + 0.3 * sum(sizes) + 0.5 * len(panels), nrows=len(panels), sharex=True,
        gridspec_kw={"height_ratios": sizes},
    )
    from matplotlib.patches import Patch

    finite = [r.relative_error for _, rows in panels for _, r in rows if math.isfinite(r.relative_error)]
    ceiling = max([report.threshold, *finite]) * 1e3
    for ax, (heading, rows) in zip(axes.flat, panels):
        threshold_line = _error_bars(ax, rows, report.threshold, ceiling)
        ax.set_title(heading, loc="left")
    axes.flat[-1].set_xlabel(f"relative error ||g - ĝ|| / (||g|| + ||ĝ||), log scale; 0 drawn at {ZERO_FLOOR:.0e}")
    how = "complex step" if report.method == "complex" else "central differences"
    verdict = "PASSED" if report.passed else "FAILED"
    figure.suptitle(f"Gradient check of {report.subject} by {how}, {report.mode} mode: {verdict}")
    figure.legend(
        handles=[Patch(color=PASSED_COLOR, label="passed"), Patch(color=FAILED_COLOR, label="failed"), threshold_line],
        loc="outside lower center", ncols=3, fontsize=8,
    )
    return figure


def plot_gradcheck(report: GradCheckReport, path: str | os.PathLike[str]) -> Path:
    """Save `gradcheck_figure(report)` as a PNG at `path`."""
    return _save_png(gradcheck_figure(report), path)


def _error_bars(ax: "Axes", rows: list[tuple[str, GradCheckRow]], threshold: float, ceiling: float) -> "Line2D":
    """Draw one bar a row on `ax`; return the threshold line."""
    errors = [r.relative_error for _, r in rows]
    drawn = [max(e, ZERO_FLOOR) if math.isfinite(e) else ceiling for e in errors]
    base = ZERO_FLOOR / 10
    positions = np.arange(len(rows))
    ax.barh(
        positions, [d - base for d in drawn], left=base,
        color=[PASSED_COLOR if r.passed else FAILED_COLOR for _, r in rows],
    )
    for y, error, x in zip(positions, errors, drawn):
        ax.annotate(f"{error:.1e}" if error else "0", (x, y), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(base, ceiling * 10)
    ax.set_yticks(positions, [label for label, _ in rows])
    ax.invert_yaxis()
    return ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"pass threshold {threshold:.0e}")
