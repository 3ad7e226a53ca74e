"""The data `fit`, `evaluate` and `predict` take: checked once up front, split for validation and cut
into minibatches."""

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Indices, Inputs, Labels, Mask, SampleWeights
from framework.core.errors import ConfigError, DTypeError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.parameter import Parameter
from framework.core.validation import a_kind, describe_nonfinite, is_whole_number
from framework.losses import Loss, checked_sample_weight, refuse_unless_weighted

Data = tuple[tuple[Array, ...], Labels]
"""The inputs (one array per input of the model) and the labels, as checked by `data`."""


def feed(xs: tuple[Array, ...]) -> Inputs:
    """What the model's forward takes: the array, or the list of arrays of a several-input model."""
    return xs[0] if len(xs) == 1 else list(xs)


def inputs(
    x: Inputs | Indices, caller: str, named: Sequence[tuple[str, Parameter]], indices: bool = False
) -> tuple[Array, ...]:
    """Each input as a float array of the dtype of the model's parameters `named` (ints, bools and
    other floats converted, objects refused), batch first, all with the same number of samples,
    scanned once for NaN/inf. With `indices` (a model with an `Embedding`), integer arrays stay as
    they are."""
    arrays = list(x) if isinstance(x, list | tuple) else [x]
    if not arrays:
        raise ShapeError(f"{caller}: x is an empty list: pass an array, or one array per input of the model")
    dtype = parameters_dtype(named, caller)
    checked = []
    for i, a in enumerate(arrays):
        what = "x" if len(arrays) == 1 else f"x[{i}]"
        a = np.asarray(a)  # a pandas DataFrame, a memoryview: anything numpy reads as numbers
        kind = a.dtype.kind
        if kind == "b" or (kind in "iu" and not indices) or (kind == "f" and dtype is not None and a.dtype != dtype):
            a = a.astype(dtype or np.float64)  # as Keras casts to the model's dtype; a copy
        elif kind not in "fiu":
            if isinstance(arrays[i], np.ndarray) or a.ndim:  # an array, or a table (a DataFrame) numpy read
                raise DTypeError(f"{caller}: {what} must hold numbers, got dtype {a.dtype}"
                                 + ("" if isinstance(arrays[i], np.ndarray) else
                                    f" from a {type(arrays[i]).__name__} (a column of text, or missing values?)"))
            raise DTypeError(f"{caller}: x must be an array, or a list of arrays (one per input of the model), "
                             f"got {a_kind(arrays[i])}")
        if a.ndim < 2:
            hint = (": a list of samples? pass np.asarray(x)" if not isinstance(arrays[i], np.ndarray)
                    else ": one sample? give it its batch axis, x.reshape(1, -1)" if a.ndim == 1 else "")
            raise ShapeError(f"{caller}: {what} must be (batch, features), got shape {a.shape}{hint}")
        if a.shape[0] == 0 or a.shape[0] != np.shape(arrays[0])[0]:
            raise ShapeError(f"{caller}: {what} has shape {a.shape}: an empty batch, or another sample count")
        problem = describe_nonfinite(what, a)
        if problem:
            raise NonFiniteError(f"{caller}: {problem}")
        checked.append(a)
    return tuple(cast(list[Array], checked))  # an Embedding's integer indices among them, as they are


def parameters_dtype(named: Sequence[tuple[str, Parameter]], caller: str) -> np.dtype[Any] | None:
    """The dtype of the parameters `named` (None for a model without any); a DTypeError when they mix
    float32 and float64, naming one parameter of each."""
    first = {p.value.dtype: name for name, p in reversed(named)}
    if len(first) > 1:
        which = ", ".join(f"{name} is {dtype}" for dtype, name in sorted(first.items(), key=lambda item: str(item[0])))
        raise DTypeError(f"{caller}: the model's parameters mix dtypes ({which}): a model computes in one dtype; "
                         "cast every parameter, p.value = p.value.astype(np.float32) for p in model.parameters()")
    return next(iter(first), None)


def data(
    x: Inputs | Indices, y: Labels, caller: str, named: Sequence[tuple[str, Parameter]], indices: bool = False
) -> Data:
    """`inputs(x)` and the labels y: numbers, one row per sample, finite."""
    xs = inputs(x, caller, named, indices)
    y = cast(Labels, np.asarray(y))  # a list of labels is fine
    if y.dtype.kind not in "biuf":
        raise DTypeError(f"{caller}: y must hold numbers, got dtype {y.dtype}")
    m = xs[0].shape[0]
    if y.ndim == 0 or y.shape[0] != m:
        hint = ""
        if y.ndim >= 1 and y.shape[-1] == m:  # x's samples along y's last axis: y alone is transposed
            hint = ": did you pass y features-first? transpose it"
        elif y.ndim == 2 and xs[0].ndim == 2 and y.shape[-1] == xs[0].shape[-1]:  # both along their last axis
            hint = ": did you pass features-first data? transpose both x and y"
        elif y.ndim >= 1 and xs[0].ndim == 2 and xs[0].shape[-1] == y.shape[0]:  # y's samples along x's last axis
            hint = ": did you pass x features-first? transpose it"
        raise ShapeError(f"{caller}: x has {m} samples but y has shape {y.shape}{hint}")
    problem = describe_nonfinite("y", y)
    if problem:
        raise NonFiniteError(f"{caller}: {problem}")
    return xs, y


@attrs.frozen
class Weights:
    """fit's weights of the samples, checked: the user's `sample_weight` and the weight `class_weight`
    gives each sample's class, each one a sample, or None. Training takes their product; validation,
    as in Keras, the sample weights alone: class_weight weighs the training."""

    given: SampleWeights | None = None
    classes: SampleWeights | None = None

    def rows(self, which: Mask) -> "Weights":
        """The weights of the samples `which` selects (a validation split's)."""
        return Weights(*(None if w is None else w[which] for w in (self.given, self.classes)))

    def product(self, caller: str) -> SampleWeights | None:
        """The product of the weights (None when neither is given); a ValueRangeError when all are 0."""
        if self.given is None or self.classes is None:
            w = self.classes if self.given is None else self.given
        else:
            w = self.given * self.classes
        if w is not None and not w.any():
            raise ValueRangeError(f"{caller}: every sample has weight 0 (sample_weight times class_weight): the "
                                  "loss would be 0 whatever the model; give some samples a positive weight")
        return w


def checked_weights(
    caller: str, loss: Loss, y: Labels, sample_weight: npt.ArrayLike | None,
    class_weight: Mapping[int, float] | None, named: Sequence[tuple[str, Parameter]],
) -> Weights:
    """`sample_weight` (one weight a sample of y) and `class_weight` ({class index: weight}) checked
    before training, as `Weights` of the dtype of the model's parameters `named`."""
    if sample_weight is None and class_weight is None:
        return Weights()
    dtype = parameters_dtype(named, caller) or np.dtype(np.float64)
    if sample_weight is not None:
        refuse_unless_weighted(f"{caller}(sample_weight)", loss)
    given = None if sample_weight is None else checked_sample_weight(caller, sample_weight, y.shape[0], dtype)
    return Weights(given, None if class_weight is None else class_weights(caller, loss, y, class_weight, dtype))


def class_weights(
    caller: str, loss: Loss, y: Labels, class_weight: Mapping[int, float], dtype: np.dtype[Any]
) -> SampleWeights:
    """The weight of each sample's class (`loss.sample_classes`): class_weight[c], or 1 for a class it
    does not name, as in Keras; every key a class of the labels, every weight finite and non-negative."""
    if not isinstance(class_weight, Mapping):
        raise ConfigError(f"{caller}: class_weight must be a dict from class index to weight, such as "
                          f"{{0: 1.0, 1: 5.0}}, got {a_kind(class_weight)}")
    refuse_unless_weighted(f"{caller}(class_weight)", loss)
    with named_in(f"{caller}(class_weight)"):
        classes = loss.sample_classes(y)
    present = np.unique(classes)
    w = np.ones(y.shape[0], dtype=dtype)
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not is_whole_number(key):
            raise ConfigError(f"{caller}: class_weight's keys must be class indices (ints), got {key!r}")
        if key not in present:
            raise ValueRangeError(f"{caller}: class_weight names class {key}, which no label has: the labels hold "
                                  f"the classes {', '.join(map(str, present.tolist()))}")
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.integer | np.floating) \
                or not (math.isfinite(weight) and weight >= 0):
            raise ValueRangeError(f"{caller}: class_weight[{key}] must be a finite, non-negative number, "
                                  f"got {weight!r}")
        w[classes == key] = weight
    return w


def checked_validation_data(
    validation: object, training: Data, loss: Loss, named: Sequence[tuple[str, Parameter]], indices: bool = False
) -> tuple[Data, SampleWeights | None]:
    """fit's `validation_data` checked before the first epoch, against the `training` data: a pair, of
    the same features, and labels the loss takes, or Keras' triple with the validation samples' weights."""
    if not (isinstance(validation, tuple | list) and len(validation) in (2, 3)):
        raise ConfigError(
            f"fit: validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, sample_weight_val), "
            f"got {a_kind(validation)}" + (f" of {len(validation)}" if isinstance(validation, tuple | list) else "")
        )
    (xs, y), (xs_val, y_val) = training, data(validation[0], validation[1], "fit(validation_data)", named, indices)
    if len(xs_val) != len(xs):
        raise ShapeError(f"fit(validation_data): x_val has {len(xs_val)} inputs, x has {len(xs)}")
    for i, (a, b) in enumerate(zip(xs_val, xs)):
        if a.shape[1:] != b.shape[1:]:
            what = "x_val" if len(xs) == 1 else f"x_val[{i}]"
            raise ShapeError(f"fit(validation_data): {what} has shape {a.shape}, but the training x has samples of "
                             f"shape {b.shape[1:]}")
    if y_val.ndim == y.ndim and y_val.shape[1:] != y.shape[1:]:  # (m,) against (m, k): the loss judges
        raise ShapeError(f"fit(validation_data): y_val has shape {y_val.shape}, but the training y has labels of "
                         f"shape {y.shape[1:]}")
    with named_in("fit(validation_data): y_val"):
        loss.check_labels(y_val)
    given = validation[2] if len(validation) == 3 else None
    w = checked_weights("fit(validation_data)", loss, y_val, given, None, named).product("fit(validation_data)")
    return (xs_val, y_val), w


def rows(data: Data, which: Mask) -> Data:
    """The samples of `data` that `which` selects."""
    xs, y = data
    return tuple(a[which] for a in xs), y[which]


def held_out(y: Labels, fraction: float, rng: np.random.Generator) -> Mask:
    """The samples to hold out for validation: `fraction` of those of each label value."""
    if not 0 < fraction < 1:
        raise ValueRangeError(f"fit: validation_split must lie in (0, 1), got {fraction}")
    labels = y.reshape(y.shape[0], -1)[:, 0]
    if len(np.unique(labels)) > 20:  # not class labels: one group
        labels = np.zeros_like(labels)
    held = np.zeros(y.shape[0], dtype=bool)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        held[members[: round(fraction * len(members))]] = True
    if held.all() or not held.any():
        raise ValueRangeError(f"fit: validation_split={fraction} leaves no sample on one side")
    return held


def batch_bounds(m: int, batch_size: int, smallest: int, drop_remainder: bool) -> list[tuple[int, int]]:
    """(start, stop) of each batch of an epoch of `m` samples: the last, partial batch dropped with
    `drop_remainder`, else merged into the one before it where it has fewer than `smallest` samples."""
    if drop_remainder and m < batch_size:
        raise ValueRangeError(f"fit: drop_remainder=True with batch_size={batch_size} leaves no batch of the {m} samples: "
                              "lower batch_size, or keep the partial batch (drop_remainder=False)")
    bounds = [(start, min(start + batch_size, m)) for start in range(0, m, batch_size)]
    last = bounds[-1][1] - bounds[-1][0]
    if len(bounds) > 1 and last < batch_size and (drop_remainder or last < smallest):
        bounds.pop()
        if not drop_remainder:
            bounds[-1] = (bounds[-1][0], m)
    return bounds


@contextmanager
def named_in(where: str, kind: type[FrameworkError] = FrameworkError) -> Iterator[None]:
    """A `kind` error raised in the block gets `where` in front of its message, keeping its class."""
    try:
        yield
    except kind as e:
        e.args = (f"{where}: {e}",)
        raise


def labels_of(what: str, shape: tuple[int, ...], out: Array) -> "contextlib.AbstractContextManager[None]":
    """`named_in` for a shape error of the loss on the first batch: named with the labels' whole shape."""
    return named_in(f"{what} has shape {shape} for outputs of shape (m, {', '.join(map(str, out.shape[1:]))})",
                    ShapeError)
