"""Keras' training API: `compile`, `fit`, `evaluate`, `predict`, for any container of layers."""

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, overload

import numpy as np

from framework.arrays import Array
from framework.layer import Config
from framework.layer_call import LayerCall
from framework.callbacks import Callback, History, ProgressBar
from framework.errors import CallOrderError, DTypeError, NonFiniteError, ShapeError, ValueRangeError, describe_nonfinite
from framework.losses import Loss
from framework.metrics import Metric, get_metric
from framework.optimizers import Optimizer
from framework.parameter import Parameter


class Trainer(ABC):
    """The training half of a model. A container (`Sequential`) supplies forward, backward and
    parameters; this class turns them into Keras' workflow.

    >>> from framework import BCELoss, Dense, Sequential, Sigmoid
    >>> from framework.optimizers import SGD
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

    # What a container provides.
    @abstractmethod
    def forward(self, x: Array) -> Array: ...

    @overload
    def backward(self, grad: Array, *, input_grad: Literal[False] = False) -> None: ...
    @overload
    def backward(self, grad: Array, *, input_grad: Literal[True]) -> Array: ...
    @overload
    def backward(self, grad: Array, *, input_grad: bool) -> Array | None: ...

    @abstractmethod
    def backward(self, grad: Array, *, input_grad: bool = False) -> Array | None: ...

    @abstractmethod
    def parameters(self) -> list[Parameter]: ...

    @abstractmethod
    def named_parameters(self) -> list[tuple[str, Parameter]]: ...

    @abstractmethod
    def trace(self, x: Array) -> list[LayerCall]: ...

    @abstractmethod
    def get_config(self) -> Config: ...

    def compile(self, *, loss: Loss, optimizer: Optimizer, metrics: Sequence[str] = ()) -> None:
        """Choose the loss, the optimizer and the metrics (names from `framework.metrics.METRICS`)."""
        if not isinstance(loss, Loss):
            raise TypeError(f"compile: loss must be a Loss, got {type(loss).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"compile: optimizer must be an Optimizer, got {type(optimizer).__name__}")
        self.loss, self.optimizer = loss, optimizer
        self.metrics = {name: get_metric(name) for name in metrics}

    def fit(
        self,
        x: Array,
        y: Array,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple[Array, Array] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        seed: int | None = None,
    ) -> History:
        """Train for `epochs` passes over (x, y) in minibatches of `batch_size` (the last, partial
        batch is used), shuffled each epoch by a generator seeded with `seed`.

        `validation_split` holds out that fraction of (x, y), stratified by label, before
        training. `verbose`: 0 silent, 1 a progress bar (one line per epoch when the output is
        not a terminal), 2 one line per epoch. Returns the `History`.
        """
        loss, optimizer = self._compiled("fit")
        x, y = self._data(x, y, "fit")
        if epochs < 1 or batch_size < 1:
            raise ValueRangeError(f"fit: epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
        rng = np.random.default_rng(seed)
        if validation_data is None and validation_split:
            x, y, validation_data = _stratified_split(x, y, validation_split, rng)
        if validation_data is not None:
            validation_data = self._data(*validation_data, "fit(validation_data)")
        m = x.shape[0]
        batches = math.ceil(m / batch_size)
        history = History()
        hooks: list[Callback] = [history, *callbacks]
        if verbose:
            hooks.append(ProgressBar(epochs, batches, lines=verbose == 2))
        for hook in hooks:
            hook.set_model(self)
            hook.on_train_begin()
        params = self.parameters()
        self.stop_training = False
        predictions = np.empty_like(y, dtype=x.dtype) if self.metrics else None
        for epoch in range(epochs):
            optimizer.epoch = epoch
            for hook in hooks:
                hook.on_epoch_begin(epoch)
            order = rng.permutation(m) if shuffle else None
            xs, ys = (x[order], y[order]) if order is not None else (x, y)
            total, seen = 0.0, 0
            for batch, start in enumerate(range(0, m, batch_size)):
                xb, yb = xs[start : start + batch_size], ys[start : start + batch_size]
                out = self.forward(xb)
                diverged: NonFiniteError | None = None
                try:
                    cost = float(loss.forward(out, yb).real)
                except NonFiniteError as e:
                    cost, diverged = math.nan, e
                else:
                    self.backward(loss.backward())
                    optimizer.step(params)
                    total += cost * xb.shape[0]
                    if predictions is not None:
                        predictions[seen : seen + xb.shape[0]] = out
                    seen += xb.shape[0]
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
                logs |= {name: metric(ys[:seen], predictions[:seen]) for name, metric in self.metrics.items()}
            if validation_data is not None and diverged is None:
                logs |= {f"val_{k}": v for k, v in self.evaluate(*validation_data, batch_size=batch_size).items()}
            for hook in hooks:
                hook.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for hook in hooks:
            hook.on_train_end()
        return history

    def evaluate(self, x: Array, y: Array, *, batch_size: int | None = None) -> dict[str, float]:
        """The loss (mean over all samples) and the compiled metrics on (x, y)."""
        loss, _ = self._compiled("evaluate")
        x, y = self._data(x, y, "evaluate")
        y_pred = self.predict(x, batch_size=batch_size)
        results = {"loss": float(loss.forward(y_pred, y).real)}
        return results | {name: metric(y, y_pred) for name, metric in self.metrics.items()}

    def predict(self, x: Array, *, batch_size: int | None = None) -> Array:
        """The model's output for x, computed `batch_size` samples at a time (all at once by default)."""
        x = self._inputs(x, "predict")
        if batch_size is not None and batch_size < 1:
            raise ValueRangeError(f"predict: batch_size must be at least 1, got {batch_size}")
        if batch_size is None or batch_size >= x.shape[0]:
            return self.forward(x)
        first = self.forward(x[:batch_size])
        out = np.empty((x.shape[0], *first.shape[1:]), dtype=first.dtype)
        out[:batch_size] = first
        for start in range(batch_size, x.shape[0], batch_size):
            out[start : start + batch_size] = self.forward(x[start : start + batch_size])
        return out

    def get_weights(self) -> list[Array]:
        """Copies of every parameter's value, in `parameters()` order."""
        return [p.value.copy() for p in self.parameters()]

    def set_weights(self, weights: Sequence[Array]) -> None:
        params = self.parameters()
        if len(weights) != len(params):
            raise ShapeError(f"set_weights: the model has {len(params)} parameters, got {len(weights)} arrays")
        for p, w in zip(params, weights):
            if w.shape != p.value.shape:
                raise ShapeError(f"set_weights: {p.name} has shape {p.value.shape}, got {w.shape}")
            np.copyto(p.value, w)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write weights and architecture to a safetensors file (see `framework.load_model`)."""
        from framework.saving import save_model

        return save_model(self, path)

    def _compiled(self, caller: str) -> tuple[Loss, Optimizer]:
        if self.loss is None or self.optimizer is None:
            raise CallOrderError(f"{caller}: call model.compile(loss=..., optimizer=...) first")
        return self.loss, self.optimizer

    def _inputs(self, x: Array, caller: str) -> Array:
        """x as a float array of the model's dtype (ints and bools converted, objects refused),
        scanned once for NaN/inf."""
        x = np.asarray(x)
        dtype = self.parameters()[0].value.dtype if self.parameters() else np.dtype(np.float64)
        if x.dtype.kind in "biu":
            x = x.astype(dtype)
        elif x.dtype.kind != "f":
            raise DTypeError(f"{caller}: x must hold numbers, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ShapeError(f"{caller}: x must be (batch, features), got shape {x.shape}")
        if x.shape[0] == 0:
            raise ShapeError(f"{caller}: x is empty, shape {x.shape}")
        problem = describe_nonfinite("x", x)
        if problem:
            raise NonFiniteError(f"{caller}: {problem}")
        return x

    def _data(self, x: Array, y: Array, caller: str) -> tuple[Array, Array]:
        x = self._inputs(x, caller)
        y = np.asarray(y)
        if y.dtype.kind in "biu":
            y = y.astype(x.dtype)
        elif y.dtype.kind != "f":
            raise DTypeError(f"{caller}: y must hold numbers, got dtype {y.dtype}")
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ShapeError(f"{caller}: x has {x.shape[0]} samples but y has shape {y.shape}")
        problem = describe_nonfinite("y", y)
        if problem:
            raise NonFiniteError(f"{caller}: {problem}")
        return x, y


def _stratified_split(
    x: Array, y: Array, fraction: float, rng: np.random.Generator
) -> tuple[Array, Array, tuple[Array, Array]]:
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
    return x[~held], y[~held], (x[held], y[held])
