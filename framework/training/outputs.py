"""Several outputs, as Keras trains them: one loss an output (`compile(loss=[...])` or `{name: loss}`),
weighted by `loss_weights` into one total, and metrics an output. The training loop sees one output:
the model's outputs joined side by side, each flattened to (m, size), and the labels joined the same
way; `JointLoss` splits both again."""

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar, cast

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Labels, Mask, Scalar, Shape
from framework.core.errors import ConfigError, DTypeError, NonFiniteError, ShapeError
from framework.core.validation import a_kind, describe_nonfinite
from framework.losses import Loss, refuse_unless_weighted, weighted_forward
from framework.training.data import named_in
from framework.training.metrics import Metric, get_metric
from framework.training.streams import is_stream

Targets: TypeAlias = Labels | Sequence[Labels] | Mapping[str, Labels]
"""The labels `fit` and `evaluate` take: an array, or for a model of several outputs one array an output
(a list in the outputs' order, or a dict by output name)."""
Losses: TypeAlias = Loss | Sequence[Loss] | Mapping[str, Loss]
Weights: TypeAlias = Sequence[float] | Mapping[str, float]
MetricNames: TypeAlias = Sequence[str] | Mapping[str, str | Sequence[str]]


def by_output(what: str, given: Sequence[Any] | Mapping[str, Any], names: Sequence[str], caller: str) -> list[Any]:
    """`given` (a list in the outputs' order, or a dict by output name) as a list in the outputs' order;
    a ConfigError naming `what` and the outputs when the count or a name does not match."""
    outputs = ", ".join(repr(n) for n in names)
    if isinstance(given, Mapping):
        unknown = [k for k in given if k not in names]
        missing = [n for n in names if n not in given]
        if unknown or missing:
            raise ConfigError(f"{caller}: {what} names {', '.join(map(repr, unknown)) or 'no other output'} and "
                              f"misses {', '.join(map(repr, missing)) or 'none'}; the model's outputs are {outputs}")
        return [given[n] for n in names]
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ConfigError(f"{caller}: {what} must be a list (one an output) or a dict by output name, got "
                          f"{a_kind(given)}; the model's outputs are {outputs}")
    if len(given) != len(names):
        entries = "1 entry" if len(given) == 1 else f"{len(given)} entries"
        raise ConfigError(f"{caller}: {what} has {entries}, but the model has {len(names)} outputs "
                          f"({outputs}): give one an output, in that order, or a dict by output name")
    return list(given)


class JointLoss(Loss):
    """The total loss of a model of several outputs, J = Σ_k w_k J_k(y_pred_k, y_k), as Keras' total
    loss (`loss_weights` w_k default to 1). It takes the outputs joined side by side, each flattened to
    (m, size_k), and the labels joined by `join`; `outputs` and `labels` split them again.

    >>> from framework import BCELoss, MSELoss
    >>> loss = JointLoss({"a": (1,), "b": (1,)}, [BCELoss(), MSELoss()], [1.0, 0.5])
    >>> y = loss.join([np.array([[1.0], [0.0]]), np.array([[2.0], [0.0]])], "fit")
    >>> loss.forward(np.array([[0.5, 1.0], [0.5, 1.0]]), y)  # log 2 + 0.5 · (1² + 1²) / 2
    1.1931471805599454
    """

    def __init__(self, outputs: Mapping[str, Shape], losses: Sequence[Loss], weights: Sequence[float]) -> None:
        self.names, self.shapes = list(outputs), list(outputs.values())
        self.losses, self.weights = list(losses), [float(w) for w in weights]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.layout: list[tuple[Shape, np.dtype[Any]]] = []
        """Each output's labels, as the last `join` took them: the shape of a sample's, and the dtype."""
        self._m: int | None = None

    def join(self, y: object, caller: str) -> Labels:
        """The labels of each output (a list in the outputs' order, or a dict by output name) joined side
        by side as one float64 array (m, Σ sizes); the shape and dtype of each are kept in `layout`, so
        that `labels` gives back class indices as integers."""
        if isinstance(y, np.ndarray):
            outputs = ", ".join(map(repr, self.names))
            raise ConfigError(f"{caller}: the model has {len(self.names)} outputs ({outputs}): y must be a list of "
                              f"label arrays (one an output) or a dict by output name, got one array of shape {y.shape}")
        validation = caller.endswith("(validation_data)")
        what = "y_val" if validation else "y"
        arrays = [np.asarray(a) for a in by_output(what, y, self.names, caller)]  # type: ignore[arg-type]
        for name, a in zip(self.names, arrays):
            if a.dtype.kind not in "biuf":
                raise DTypeError(f"{caller}: {what}[{name!r}] must hold numbers, got dtype {a.dtype}")
            if a.ndim == 0 or a.shape[0] != arrays[0].shape[0]:
                raise ShapeError(f"{caller}: {what}[{name!r}] has shape {a.shape}, but {what}[{self.names[0]!r}] has "
                                 f"{arrays[0].shape[0] if arrays[0].ndim else 'no'} samples: one label row a sample")
            problem = describe_nonfinite(f"{what}[{name!r}]", a)
            if problem:
                raise NonFiniteError(f"{caller}: {problem}")
        for name, shape, loss, a in zip(self.names, self.shapes, self.losses, arrays):
            with named_in(f"{caller}: {what}[{name!r}], for the output {name!r} of samples of shape {shape}"):
                loss.check(np.broadcast_to(np.full((), 0.5), (a.shape[0], *shape)), a)  # before any training
        layout = [(a.shape[1:], a.dtype) for a in arrays]
        if validation:  # the training labels' layout stays
            for name, (shape, dtype), (train_shape, train_dtype) in zip(self.names, layout, self.layout):
                if shape != train_shape or (dtype.kind == "f") != (train_dtype.kind == "f"):
                    raise ShapeError(f"{caller}: y_val[{name!r}] has samples of shape {shape} and dtype {dtype}, "
                                     f"but the training y[{name!r}] has {train_shape} and {train_dtype}")
        else:
            self.layout = layout
        m = arrays[0].shape[0]
        return np.concatenate([a.reshape(m, -1).astype(np.float64) for a in arrays], axis=1)

    def outputs(self, y_pred: Array) -> list[Array]:
        """Each output, split from the joined outputs (m, Σ sizes)."""
        m = y_pred.shape[0]
        if y_pred.ndim != 2 or y_pred.shape[1] != sum(self.sizes):
            raise ShapeError(f"{self!r}: takes the outputs joined, (m, {sum(self.sizes)}), got {y_pred.shape}")
        parts = np.split(y_pred, np.cumsum(self.sizes)[:-1], axis=1)
        return [p.reshape(m, *shape) for p, shape in zip(parts, self.shapes)]

    def labels(self, y_true: Labels) -> list[Labels]:
        """Each output's labels, split from the labels `join` joined, in their own shape and dtype."""
        m, widths = y_true.shape[0], [int(np.prod(shape)) for shape, _ in self.layout]
        if y_true.shape != (m, sum(widths)):
            raise ShapeError(f"{self!r}: takes the labels joined by join(), (m, {sum(widths)}), got {y_true.shape}")
        return [y.reshape(m, *shape).astype(dtype, copy=False)
                for y, (shape, dtype) in zip(np.split(y_true, np.cumsum(widths)[:-1], axis=1), self.layout)]

    takes_sample_weight = True
    """Every output's loss weighs the samples by the same weights, one a sample (Keras takes one
    sample_weight array for all the outputs); an output's loss that takes none is refused by name."""

    def forward(self, y_pred: Array, y_true: Labels) -> Scalar:
        return self._total(y_pred, y_true, None)

    def forward_weighted(self, y_pred: Array, y_true: Labels, sample_weight: npt.ArrayLike) -> Scalar:
        """J = Σ_k w_k J_k, each output's J_k weighted by the samples' `sample_weight` as its loss weighs them."""
        for name, loss in zip(self.names, self.losses):
            refuse_unless_weighted(f"{self!r}: output {name!r}", loss)
        return self._total(y_pred, y_true, sample_weight)

    def _total(self, y_pred: Array, y_true: Labels, sample_weight: npt.ArrayLike | None) -> Scalar:
        total: Scalar = 0.0
        parts = zip(self.names, self.losses, self.weights, self.outputs(y_pred), self.labels(y_true))
        for name, loss, w, pred, y in parts:
            loss.labels_checked = self.labels_checked
            with named_in(f"output {name!r}"):
                total += w * weighted_forward(loss, pred, y, sample_weight)
        self._m = y_pred.shape[0]
        return total

    def sample_classes(self, y_true: Labels) -> npt.NDArray[np.integer[Any]]:
        """Refused: class_weight is for a model of one output, as in Keras."""
        raise ConfigError(f"class_weight is for a model of one output (as in Keras); this one has {len(self.names)} "
                          f"({', '.join(map(repr, self.names))}): weigh the samples with sample_weight instead")

    def check_labels(self, y_true: Labels) -> None:
        for name, loss, y in zip(self.names, self.losses, self.labels(y_true)):
            with named_in(f"output {name!r}"):
                loss.check_labels(y)

    def backward(self) -> Array:
        m = self.cached(self._m)
        self._m = None
        # dJ/dy_pred_k = w_k dJ_k/dy_pred_k, side by side as the outputs were joined
        return np.concatenate([w * loss.backward().reshape(m, -1) for loss, w in zip(self.losses, self.weights)], axis=1)

    def branch(self) -> Mask | None:
        masks = [loss.branch() for loss in self.losses]
        if all(mask is None for mask in masks):
            return None
        m = next(mask for mask in masks if mask is not None).shape[0]
        return np.concatenate([np.zeros((m, size), dtype=bool) if mask is None else mask.reshape(m, -1)
                               for mask, size in zip(masks, self.sizes)], axis=1)

    def probabilities(self, y_pred: Array) -> Array:
        """The joined outputs as they are: each output's metrics convert their own (`OutputMetric`)."""
        return y_pred

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:g}·{loss!r}" for w, loss in zip(self.weights, self.losses))
        return f"JointLoss({terms})"


@attrs.frozen
class OutputMetric:
    """A metric of one output of a `JointLoss`, on the joined labels and outputs: `metric` of the
    output's probabilities, or with `metric=None` the output's loss (unweighted, as Keras logs it)."""

    loss: JointLoss
    index: int
    metric: Metric | None

    def __call__(self, y_true: Labels, y_pred: Array) -> float:
        pred, y = self.loss.outputs(y_pred)[self.index], self.loss.labels(y_true)[self.index]
        part = self.loss.losses[self.index]
        if self.metric is None:
            return float(part.forward(pred, y).real)
        return self.metric(y, part.probabilities(pred))


def compiled_loss(loss: Losses, loss_weights: Weights | None, outputs: Mapping[str, Shape | None]) -> Loss:
    """compile's `loss` for a model with `outputs` (name: a sample's shape): one Loss for a model of one
    output (a list or dict of one is unwrapped), a `JointLoss` for several. Losses or weights that do
    not match the outputs by count or name are a ConfigError naming them."""
    names = list(outputs)
    if isinstance(loss, Loss) and len(names) > 1:
        loss = [copy.deepcopy(loss) for _ in names]  # the loss of every output, as Keras: one instance each (its cache)
    losses = [loss] if isinstance(loss, Loss) else by_output("loss", loss, names, "compile")
    for name, part in zip(names, losses):
        if not isinstance(part, Loss):
            raise ConfigError(f"compile: the loss of output {name!r} must be a Loss, got {a_kind(part)}: pass an "
                              "instance, such as BCELoss()")
    if len(names) == 1 and loss_weights is None:
        return losses[0]
    if loss_weights is not None:
        if len(names) == 1:
            raise ConfigError("compile: loss_weights weigh the losses of a model's several outputs; this model "
                              "has one output: scale its learning rate instead")
        weights = by_output("loss_weights", loss_weights, names, "compile")
        for name, w in zip(names, weights):
            if isinstance(w, bool) or not isinstance(w, int | float | np.integer | np.floating) or not np.isfinite(w) or w < 0:
                raise ConfigError(f"compile: loss_weights[{name!r}] must be a finite number >= 0, got {w!r}")
    else:
        weights = [1.0] * len(names)
    shapes = {name: shape for name, shape in outputs.items() if shape is not None}
    assert len(shapes) == len(names), "a container of several outputs knows the shape of each (a graph Model does)"
    return JointLoss(shapes, losses, weights)


def compiled_metrics(metrics: MetricNames, loss: Loss) -> dict[str, Metric]:
    """compile's `metrics`: by name for one output; for a `JointLoss`, each output's loss as
    "<name>_loss", then its metrics as "<name>_<metric>" (a list applies to every output, a dict names
    the outputs it measures)."""
    if isinstance(metrics, str):
        raise ConfigError(f"compile: metrics must be a list of names, got the string {metrics!r}: metrics=[{metrics!r}]")
    if isinstance(metrics, Mapping):
        unknown = [k for k in metrics if not isinstance(loss, JointLoss) or k not in loss.names]
        if unknown:
            outputs = ", ".join(map(repr, loss.names if isinstance(loss, JointLoss) else ()))
            raise ConfigError(f"compile: metrics names {', '.join(map(repr, unknown))}, which are not outputs of the "
                              + (f"model; its outputs are {outputs}" if outputs else
                                 "model: a dict by output name is for a model of several outputs; pass a list"))
    if not isinstance(loss, JointLoss):
        return {name: get_metric(name) for name in cast(Sequence[str], metrics)}
    each = [[names] if isinstance(names, str) else list(names) for names in
            ([metrics.get(n, ()) for n in loss.names] if isinstance(metrics, Mapping) else [metrics] * len(loss.names))]
    result: dict[str, Metric] = {f"{name}_loss": OutputMetric(loss, k, None) for k, name in enumerate(loss.names)}
    for k, (name, names) in enumerate(zip(loss.names, each)):
        result |= {f"{name}_{metric}": OutputMetric(loss, k, get_metric(metric)) for metric in names}
    return result


class View(Protocol):
    """A model of several outputs seen as one (`framework.training.joined.Joined`)."""

    def join(self, y: object, caller: str) -> Labels: ...

    def split(self, out: Array) -> list[Array]: ...


class Viewable(Protocol):
    def joined(self) -> View | None: ...


F = TypeVar("F", bound=Callable[..., Any])


def each_output_labelled(method: F) -> F:
    """`fit` or `evaluate` for a model of several outputs too: run on its `joined()` view, with y (and
    validation_data's y, for arrays) joined; batches read one at a time are joined as they come
    (`Trainer.join`). A model of one output runs `method` as it is."""

    @functools.wraps(method)
    def run(self: Viewable, x: object, y: object = None, /, *args: Any, **kwargs: Any) -> Any:
        caller = method.__name__
        if y is None and not is_stream(x):
            raise ConfigError(f"{caller}: y is missing: pass the labels, or x as a Dataset or a generator of "
                              "(x, y) batches")
        view = self.joined()
        if view is None:
            return method(self, x, y, *args, **kwargs)
        joined = None if y is None else view.join(y, caller)  # None: batches that carry their labels
        validation = kwargs.get("validation_data")
        if isinstance(validation, tuple | list) and len(validation) in (2, 3):  # checked against the training labels
            kwargs["validation_data"] = (validation[0], view.join(validation[1], f"{caller}(validation_data)"),
                                         *validation[2:])
        _one_weight_a_sample(caller, kwargs.get("sample_weight"))
        return method(view, x, joined, *args, **kwargs)

    return cast(F, run)


def _one_weight_a_sample(caller: str, sample_weight: object) -> None:
    """A ConfigError for `sample_weight` given one array an output (a dict, or a list of arrays): a model
    of several outputs takes one weight a sample, for every output."""
    if isinstance(sample_weight, Mapping) or (
        isinstance(sample_weight, list | tuple) and any(np.ndim(w) for w in sample_weight)
    ):
        raise ConfigError(f"{caller}: sample_weight must be one weight a sample (shape (m,)), for every output of the "
                          f"model; got {a_kind(sample_weight)} of one array an output, which is not supported")


def each_output_predicted(method: F) -> F:
    """`predict` for a model of several outputs too: a list of arrays, one an output, from its `joined()`
    view (typed as one array, the common case; `predict_all` is typed as the list)."""

    @functools.wraps(method)
    def run(self: Viewable, x: object, /, *args: Any, **kwargs: Any) -> Any:
        view = self.joined()
        if view is None:
            return method(self, x, *args, **kwargs)
        return view.split(method(view, x, *args, **kwargs))

    return cast(F, run)
