"""Keras' training API: `compile`, `fit`, `evaluate`, `predict`, for any container of layers."""

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
import contextlib
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, cast, overload

import numpy as np

from framework.core.arrays import Array, Inputs, Labels, Shape
from framework.core.layer import Config, Module
from framework.core.protocols import LayerCall
from framework.training.callbacks import Callback, History, ProgressBar
from framework.core.errors import CallOrderError, ConfigError, DTypeError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.validation import a_kind, describe_nonfinite, is_whole_number
from framework.core.guard import floating_point_errors
from framework.losses import Loss
from framework.training.metrics import Metric, get_metric
from framework.training.optimizers import Optimizer
from framework.core.parameter import Buffer, Parameter, same_parameters

class Trainer(ABC):
    """The training half of a model. A container (`Sequential`) supplies forward, backward and
    parameters; this class turns them into Keras' workflow.

    >>> from framework import BCELoss, Dense, Sequential, Sigmoid
    >>> from framework import SGD
    >>> model = Sequential([Dense(2, 1, seed=0), Sigmoid()])
    >>> model.compile(loss=BCELoss(), optimizer=SGD(lr=0.5), metrics=["accuracy"])
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]); y = np.array([[1.0], [0.0], [1.0], [0.0]])
    >>> history = model.fit(x, y, epochs=200, batch_size=4, verbose=0, seed=0)
    >>> model.evaluate(x, y)["accuracy"]
    1.0
    """

    loss: Loss | None = None
    optimizer: Optimizer | None = None
    metrics: dict[str, Metric] = {}
    stop_training: bool = False
    layers: Sequence[Module]
    """Every layer, once each (a shared layer appears once)."""

    # What a container provides.
    @abstractmethod
    def forward(self, x: Inputs) -> Array: ...

    @overload
    def backward(self, grad: Array, *, input_grad: Literal[False] = False) -> None: ...
    @overload
    def backward(self, grad: Array, *, input_grad: Literal[True]) -> Array: ...
    @overload
    def backward(self, grad: Array, *, input_grad: bool) -> Array | None: ...

    @abstractmethod
    def backward(self, grad: Array, *, input_grad: bool = False) -> Array | None: ...

    @abstractmethod
    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]:
        """Every parameter once, named by layer; `trainable=True` the ones `fit` updates, `False` the frozen ones."""

    def parameters(self, *, trainable: bool | None = None) -> list[Parameter]:
        return [p for _, p in self.named_parameters(trainable=trainable)]

    @property
    def trainable(self) -> bool:
        """False when every layer is frozen; setting it freezes (or unfreezes) every layer, as in Keras."""
        return any(module.trainable for module in self.layers)

    @trainable.setter
    def trainable(self, trainable: bool) -> None:
        for module in self.layers:
            module.trainable = trainable

    @abstractmethod
    def trace(self, x: Inputs) -> list[LayerCall]: ...

    @abstractmethod
    def get_config(self) -> Config: ...


    def compile(self, *, loss: Loss, optimizer: Optimizer, metrics: Sequence[str] = ()) -> None:
        """Choose the loss, the optimizer and the metrics (names from `framework.training.metrics.METRICS`)."""
        expected = (("loss", loss, Loss, "a Loss", "BCELoss()"), ("optimizer", optimizer, Optimizer, "an Optimizer", "Adam()"))
        for what, value, base, kind, example in expected:
            if not isinstance(value, base):
                given = f"the class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"
                example = f"{value.__name__}()" if isinstance(value, type) else example
                raise ConfigError(f"compile: {what} must be {kind}, got {given}: pass an instance, such as {what}={example}")
        if isinstance(metrics, str):
            raise ConfigError(f"compile: metrics must be a list of names, got the string {metrics!r}: metrics=[{metrics!r}]")
        self.loss, self.optimizer = loss, optimizer
        self.metrics = {name: get_metric(name) for name in metrics}

    def fit(
        self,
        x: Inputs,
        y: Labels,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple[Inputs, Labels] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        seed: int | None = None,
        drop_remainder: bool = False,
    ) -> History:
        """Train for `epochs` passes over (x, y) in minibatches of `batch_size`, shuffled each epoch
        by a generator seeded with `seed`. The last, partial batch is used, merged into the one before
        it where it is smaller than a layer can train on (BatchNorm needs 2 samples), or dropped with
        `drop_remainder=True`.

        `validation_split` holds out that fraction of (x, y), stratified by label, before
        training. `verbose`: 0 silent, 1 a progress bar (one line per epoch when the output is
        not a terminal), 2 one line per epoch. Returns the `History`.
        """
        loss, optimizer = self._compiled("fit")
        xs, y = self._data(x, y, "fit")
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if not is_whole_number(value):
                raise ConfigError(f"fit: {name} must be a whole number, got {value!r}")
        if epochs < 1 or batch_size < 1:
            raise ValueRangeError(f"fit: epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
        given = _callback_list(callbacks)
        rng = np.random.default_rng(seed)
        validation: tuple[tuple[Array, ...], Labels] | None = None
        if validation_data is not None:
            validation = self._validation_data(validation_data, xs, y, loss)
        elif validation_split:
            xs, y, validation = _stratified_split(xs, y, validation_split, rng)
        loss.check_labels(y)  # once: each batch's forward below skips this scan
        m = y.shape[0]
        self.build(xs)
        smallest = max((module.min_training_batch for module in self.layers), default=1)
        bounds = _batch_bounds(m, batch_size, smallest, drop_remainder)
        history = History()
        hooks: list[Callback] = [history, *given]
        if verbose:
            hooks.append(ProgressBar(epochs, len(bounds), lines=verbose == 2))
        for hook in hooks:
            hook.set_model(self)
            hook.on_train_begin()
        named = self.named_parameters()
        params = self.parameters(trainable=True)  # a frozen layer's gradients are computed, not applied
        self.stop_training = False
        self.set_training(True)
        predictions: Array | None = None
        for epoch in range(epochs):
            optimizer.epoch = epoch
            for hook in hooks:
                hook.on_epoch_begin(epoch)
            order = rng.permutation(m) if shuffle else None
            xs_epoch, ys = (tuple(a[order] for a in xs), y[order]) if order is not None else (xs, y)
            total, seen = 0.0, 0
            for batch, (start, stop) in enumerate(bounds):
                xb, yb = _feed(tuple(a[start:stop] for a in xs_epoch)), ys[start:stop]
                diverged: NonFiniteError | None = None
                loss.labels_checked = True
                try:
                    with floating_point_errors("fit"):  # one np.errstate for the step's guarded calls
                        out = self.forward(xb)
                        with _labels_of("fit: y", y.shape, out) if epoch == batch == 0 else nullcontext():
                            cost = float(loss.forward(out, yb).real)
                        self.backward(loss.backward())
                        optimizer.step(params)
                    if epoch == batch == 0 and validation is not None:  # y_val against a real output, before an epoch
                        with _labels_of("fit(validation_data): y_val", validation[1].shape, out):
                            loss.forward(out[: len(validation[1])], validation[1][: len(out)])
                    if batch in (0, len(bounds) - 1):  # early, and once every epoch: a walk of the layers
                        same_parameters("fit", named, self.named_parameters())
                except NonFiniteError as e:  # x and y were checked: this is the model's doing
                    cost, diverged = math.nan, e
                else:
                    total += cost * yb.shape[0]
                    if self.metrics:
                        if predictions is None:
                            predictions = np.empty((m, *out.shape[1:]), dtype=out.dtype)
                        predictions[seen : seen + yb.shape[0]] = out
                    seen += yb.shape[0]
                finally:
                    loss.labels_checked = False
                for hook in hooks:
                    hook.on_batch_end(batch, cost)
                if diverged is not None and not self.stop_training:
                    raise NonFiniteError(
                        f"fit: training diverged at epoch {epoch + 1}, batch {batch + 1}: {diverged}; "
                        "pass callbacks=[TerminateOnNaN()] to stop instead of raising"
                    ) from diverged
                if self.stop_training:
                    break
            logs = {"loss": total / seen if seen else math.nan}
            if predictions is not None and seen:
                probabilities = loss.probabilities(predictions[:seen])
                logs |= {name: metric(ys[:seen], probabilities) for name, metric in self.metrics.items()}
            if validation is not None and diverged is None:
                logs |= {f"val_{k}": v for k, v in self._evaluate(*validation, batch_size).items()}
            for hook in hooks:
                hook.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for hook in hooks:
            hook.on_train_end()
        return history

    def _validation_data(
        self, validation_data: object, xs: tuple[Array, ...], y: Labels, loss: Loss
    ) -> tuple[tuple[Array, ...], Labels]:
        """`validation_data` checked before the first epoch, against the training data: a pair, of the
        same features, and labels the loss takes."""
        if not (isinstance(validation_data, tuple | list) and len(validation_data) == 2):
            raise ConfigError(
                f"fit: validation_data must be a pair (x_val, y_val), got {a_kind(validation_data)}"
                + (f" of {len(validation_data)}" if isinstance(validation_data, tuple | list) else "")
            )
        xs_val, y_val = self._data(validation_data[0], validation_data[1], "fit(validation_data)")
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
        with _named_in("fit(validation_data): y_val"):
            loss.check_labels(y_val)
        return xs_val, y_val


    def evaluate(self, x: Inputs, y: Labels, *, batch_size: int | None = None) -> dict[str, float]:
        """The loss (mean over all samples) and the compiled metrics on (x, y), in eval mode."""
        self._compiled("evaluate")
        return self._evaluate(*self._data(x, y, "evaluate"), batch_size)

    def predict(self, x: Inputs, *, batch_size: int | None = None) -> Array:
        """The model's output for x in eval mode, `batch_size` samples at a time (all at once by default)."""
        return self._predict(self._inputs(x, "predict"), batch_size)

    def _evaluate(self, xs: tuple[Array, ...], y: Labels, batch_size: int | None) -> dict[str, float]:
        loss, _ = self._compiled("evaluate")
        y_pred = self._predict(xs, batch_size)
        results = {"loss": float(loss.forward(y_pred, y).real)}
        probabilities = loss.probabilities(y_pred)
        return results | {name: metric(y, probabilities) for name, metric in self.metrics.items()}

    def _predict(self, xs: tuple[Array, ...], batch_size: int | None) -> Array:
        if batch_size is not None and batch_size < 1:
            raise ValueRangeError(f"predict: batch_size must be at least 1, got {batch_size}")
        m = xs[0].shape[0]
        modes = [module.training for module in self.layers]
        self.set_training(False)
        try:
            if batch_size is None or batch_size >= m:
                return self.forward(_feed(xs))
            first = self.forward(_feed(tuple(a[:batch_size] for a in xs)))
            out = np.empty((m, *first.shape[1:]), dtype=first.dtype)
            out[:batch_size] = first
            for start in range(batch_size, m, batch_size):
                out[start : start + batch_size] = self.forward(_feed(tuple(a[start : start + batch_size] for a in xs)))
            return out
        finally:
            for module, mode in zip(self.layers, modes):
                module.training = mode

    def set_training(self, training: bool) -> None:
        """Switch every layer between training (Dropout drops, BatchNorm uses batch statistics) and eval."""
        for module in self.layers:
            module.training = training

    @abstractmethod
    def named_buffers(self) -> list[tuple[str, Buffer]]: ...

    @abstractmethod
    def output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for an input of `input_shape` (batch first), as for a layer."""

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write weights and architecture to a file (a container knows how)."""

    @abstractmethod
    def build(self, xs: tuple[Array, ...]) -> None:
        """Create the weights of layers that wait for their input shape (`Dense(units)`)."""

    def named_weights(self) -> list[tuple[str, Parameter | Buffer]]:
        """The model's state, as Keras' weights: every parameter, then every buffer (BatchNorm's
        running statistics), named as `save` names them."""
        return [*self.named_parameters(), *self.named_buffers()]

    def get_weights(self) -> list[Array]:
        """Copies of the state, in `named_weights()` order: parameters, then buffers."""
        return [w.value.copy() for _, w in self.named_weights()]

    def set_weights(self, weights: Sequence[Array]) -> None:
        """Copy `weights` (a list of arrays, as `get_weights` gives them) into the state, once each array is
        checked: the right count, real numbers of the right shape, finite, and not below a buffer's least
        value (a negative variance). Nothing is changed when one is wrong."""
        if not isinstance(weights, list | tuple):
            raise ConfigError(f"set_weights takes a list of arrays, as get_weights() returns, got {a_kind(weights)}")
        named = self.named_weights()
        if len(weights) != len(named):
            raise ShapeError(f"set_weights: the model has {len(named)} weights (parameters, then buffers), "
                             f"got {len(weights)} arrays")
        arrays = [np.asarray(value) for value in weights]
        for (name, w), value in zip(named, arrays):
            if value.dtype.kind not in "biuf":
                raise DTypeError(f"set_weights: {name} must hold real numbers, got dtype {value.dtype}; nothing was set")
            if value.shape != w.value.shape:
                raise ShapeError(f"set_weights: {name} has shape {w.value.shape}, got {value.shape}; nothing was set")
            problem = describe_nonfinite(name, value)
            if problem:
                raise NonFiniteError(f"set_weights: {problem}; nothing was set")
            if isinstance(w, Buffer) and w.minimum is not None and value.size and value.min() < w.minimum:
                raise ValueRangeError(f"set_weights: {name} holds {value.min()}, below the least value its layer "
                                      f"allows ({w.minimum}); nothing was set")
        for (_, w), value in zip(named, arrays):
            np.copyto(w.value, value, casting="unsafe")  # checked above: real numbers, cast to the weight's dtype

    def _compiled(self, caller: str) -> tuple[Loss, Optimizer]:
        if self.loss is None or self.optimizer is None:
            raise CallOrderError(f"{caller}: call model.compile(loss=..., optimizer=...) first")
        return self.loss, self.optimizer

    def _inputs(self, x: Inputs, caller: str) -> tuple[Array, ...]:
        """Each input as a float array of the model's dtype (ints, bools and other floats converted,
        objects refused), batch first, all with the same number of samples, scanned once for NaN/inf."""
        arrays = list(x) if isinstance(x, list | tuple) else [x]
        if not arrays:
            raise ShapeError(f"{caller}: x is an empty list: pass an array, or one array per input of the model")
        dtype = self._dtype(caller)
        checked = []
        for i, a in enumerate(arrays):
            what = "x" if len(arrays) == 1 else f"x[{i}]"
            a = np.asarray(a)  # a pandas DataFrame, a memoryview: anything numpy reads as numbers
            if a.dtype.kind in "biu" or (a.dtype.kind == "f" and dtype is not None and a.dtype != dtype):
                a = a.astype(dtype or np.float64)  # as Keras casts to the model's dtype; a copy
            elif a.dtype.kind != "f":
                if isinstance(arrays[i], np.ndarray) or a.ndim:  # an array, or a table (a DataFrame) numpy read
                    raise DTypeError(f"{caller}: {what} must hold numbers, got dtype {a.dtype}"
                                     + ("" if isinstance(arrays[i], np.ndarray) else
                                        f" from a {type(arrays[i]).__name__} (a column of text, or missing values?)"))
                raise DTypeError(f"{caller}: x must be an array, or a list of arrays (one per input of the model), "
                                 f"got {a_kind(arrays[i])}")
            if a.ndim < 2:
                hint = "" if isinstance(arrays[i], np.ndarray) else ": a list of samples? pass np.asarray(x)"
                raise ShapeError(f"{caller}: {what} must be (batch, features), got shape {a.shape}{hint}")
            if a.shape[0] == 0 or a.shape[0] != np.shape(arrays[0])[0]:
                raise ShapeError(f"{caller}: {what} has shape {a.shape}: an empty batch, or another sample count")
            problem = describe_nonfinite(what, a)
            if problem:
                raise NonFiniteError(f"{caller}: {problem}")
            checked.append(a)
        return tuple(checked)

    def _dtype(self, caller: str) -> np.dtype[Any] | None:
        """The dtype of the model's parameters (None for a model without any); a DTypeError when they mix
        float32 and float64, naming one parameter of each."""
        named = self.named_parameters()
        first = {p.value.dtype: name for name, p in reversed(named)}
        if len(first) > 1:
            which = ", ".join(f"{name} is {dtype}" for dtype, name in sorted(first.items(), key=lambda item: str(item[0])))
            raise DTypeError(f"{caller}: the model's parameters mix dtypes ({which}): a model computes in one dtype; "
                             "cast every parameter, p.value = p.value.astype(np.float32) for p in model.parameters()")
        return next(iter(first), None)

    def _data(self, x: Inputs, y: Labels, caller: str) -> tuple[tuple[Array, ...], Labels]:
        xs = self._inputs(x, caller)
        y = cast(Labels, np.asarray(y))  # a list of labels is fine
        if y.dtype.kind not in "biuf":
            raise DTypeError(f"{caller}: y must hold numbers, got dtype {y.dtype}")
        m = xs[0].shape[0]
        if y.ndim == 0 or y.shape[0] != m:
            hint = ""
            if y.ndim >= 1 and y.shape[-1] == m and xs[0].shape[-1] == y.shape[0]:
                hint = ": did you pass features-first data? transpose both x and y"
            elif y.ndim >= 1 and y.shape[-1] == m:
                hint = ": did you pass y features-first? transpose it"
            raise ShapeError(f"{caller}: x has {m} samples but y has shape {y.shape}{hint}")
        problem = describe_nonfinite("y", y)
        if problem:
            raise NonFiniteError(f"{caller}: {problem}")
        return xs, y


def _feed(xs: tuple[Array, ...]) -> Inputs:
    """What the model's forward takes: the array, or the list of arrays of a several-input model."""
    return xs[0] if len(xs) == 1 else list(xs)


@contextmanager
def _named_in(where: str, kind: type[FrameworkError] = FrameworkError) -> Iterator[None]:
    """A `kind` error raised in the block gets `where` in front of its message, keeping its class."""
    try:
        yield
    except kind as e:
        e.args = (f"{where}: {e}",)
        raise


def _labels_of(what: str, shape: tuple[int, ...], out: Array) -> "contextlib.AbstractContextManager[None]":
    """`_named_in` for a shape error of the loss on the first batch: named with the labels' whole shape."""
    return _named_in(f"{what} has shape {shape} for outputs of shape (m, {', '.join(map(str, out.shape[1:]))})",
                     ShapeError)


def _callback_list(callbacks: object) -> list[Callback]:
    """fit's `callbacks` as a list, or a ConfigError naming what was given instead."""
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Sequence):
        raise ConfigError(f"fit: callbacks must be a list of callbacks, got {a_kind(callbacks)}: "
                          f"callbacks=[{type(callbacks).__name__}(...)]")
    for i, hook in enumerate(callbacks):
        if not isinstance(hook, Callback):
            given = f"the class {hook.__name__}" if isinstance(hook, type) else f"a {type(hook).__name__}"
            raise ConfigError(f"fit: callbacks[{i}] must be a Callback, got {given}")
    return list(callbacks)


def _batch_bounds(m: int, batch_size: int, smallest: int, drop_remainder: bool) -> list[tuple[int, int]]:
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


def _stratified_split(
    xs: tuple[Array, ...], y: Labels, fraction: float, rng: np.random.Generator
) -> tuple[tuple[Array, ...], Labels, tuple[tuple[Array, ...], Labels]]:
    """Hold out `fraction` of the samples of each label value for validation."""
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
    return tuple(a[~held] for a in xs), y[~held], (tuple(a[held] for a in xs), y[held])
