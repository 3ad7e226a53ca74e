"""Keras' training API: `compile`, `fit`, `evaluate`, `predict`, for any container of layers."""

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Indices, Inputs, Labels, SampleWeights, Shape
from framework.core.errors import CallOrderError, ConfigError, ValueRangeError
from framework.core.layer import Config, Module
from framework.core.parameter import Buffer, Parameter
from framework.core.protocols import LayerCall, model_backward
from framework.core.validation import is_whole_number
from framework.losses import Loss, weighted_forward
from framework.training.callbacks import Callback, CallbackList, History, callback_list, resumed_epoch
from framework.training.data import (Data, Weights, batch_bounds, checked_validation_data, checked_weights, data, feed,
                                     held_out, inputs, rows)
from framework.training.loop import FitLoop
from framework.training.metrics import Metric, get_metric
from framework.training.optimizers import Optimizer
from framework.training.state import FitProgress


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
    fit_progress: FitProgress | None = None
    """Where the last fit stood after its last epoch: `fit(initial_epoch=fit_progress.epoch)` continues it."""
    layers: Sequence[Module]
    """Every layer, once each (a shared layer appears once)."""

    # What a container provides.
    @abstractmethod
    def forward(self, x: Inputs) -> Array: ...

    @model_backward
    @abstractmethod
    def backward(self, grad: Array, *, input_grad: bool = False) -> Array | None: ...

    @abstractmethod
    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]:
        """Every parameter once, named by layer; `trainable=True` the ones `fit` updates, `False` the frozen ones."""

    @abstractmethod
    def trace(self, x: Inputs) -> list[LayerCall]: ...

    @abstractmethod
    def get_config(self) -> Config: ...

    @abstractmethod
    def named_buffers(self) -> list[tuple[str, Buffer]]:
        """Every buffer once (BatchNorm's running statistics), named as the parameters are."""

    @abstractmethod
    def output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for an input of `input_shape` (batch first), as for a layer."""

    @abstractmethod
    def save(self, path: str | os.PathLike[str], *, include_optimizer: bool | None = None) -> Path:
        """Write weights and architecture to a file, and the training state (a container knows how)."""

    @abstractmethod
    def build(self, xs: tuple[Array, ...]) -> None:
        """Create the weights of layers that wait for their input shape (`Dense(units)`)."""

    @abstractmethod
    def get_weights(self) -> list[Array]:
        """Copies of the state: parameters, then buffers (a container knows how)."""

    @abstractmethod
    def set_weights(self, weights: Sequence[Array]) -> None:
        """Copy `weights`, as `get_weights` gives them, into the state (a container knows how)."""

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

    def set_training(self, training: bool) -> None:
        """Switch every layer between training (Dropout drops, BatchNorm uses batch statistics) and eval."""
        for module in self.layers:
            module.training = training

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
        x: Inputs | Indices,
        y: Labels,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: (tuple[Inputs | Indices, Labels] | tuple[Inputs | Indices, Labels, npt.ArrayLike | None]
                          | None) = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        seed: int | None = None,
        drop_remainder: bool = False,
        initial_epoch: int = 0,
        sample_weight: npt.ArrayLike | None = None,
        class_weight: Mapping[int, float] | None = None,
    ) -> History:
        """Train for `epochs` passes over (x, y) in minibatches of `batch_size`, shuffled each epoch
        by a generator seeded with `seed`. The last, partial batch is used, merged into the one before
        it where it is smaller than a layer can train on (BatchNorm needs 2 samples), or dropped with
        `drop_remainder=True`.

        `validation_split` holds out that fraction of (x, y), stratified by label, before
        training. `verbose`: 0 silent, 1 a progress bar (tqdm's widget in a notebook with ipywidgets;
        one line per epoch when the output is neither), 2 one line per epoch. Returns the `History`.

        `initial_epoch`, as in Keras, is the 0-based epoch to start at (`epochs` stays the index the
        training ends before). Where it is the epoch the model's last fit stopped after
        (`fit_progress`, kept by `save` and `load_model`), the fit continues that one: the same seed
        (and so the same validation split) and the shuffling generator where it was, so that
        fit(epochs=5), save, load, fit(epochs=10, initial_epoch=5) trains as fit(epochs=10) does, bit
        for bit. A `BackupAndRestore` callback chooses the epoch itself.

        `sample_weight` (one non-negative weight a sample) and `class_weight` ({class index: weight},
        1 for a class it does not name) weigh each sample's cost, as Keras does: a batch's loss is
        Σ w_i l_i / batch size, w_i the sample's weight times its class's (Keras 3 refuses the two
        together; tf.keras multiplied them, as here). A `validation_split` holds out the weights of
        its samples with them, and `validation_data` may be a triple (x_val, y_val, sample_weight_val);
        class_weight weighs the training only. The weights are checked before the first epoch.
        """
        loss, optimizer = self._compiled("fit")
        training = data(x, y, "fit", self.named_parameters(), self._takes_indices())
        _check_counts(epochs, batch_size)
        given = callback_list(callbacks)
        self.build(training[0])  # the features decide, before the split: a backup restores into built layers
        weighed = checked_weights("fit", loss, training[1], sample_weight, class_weight, self.named_parameters())
        initial_epoch = resumed_epoch(self, given, initial_epoch, epochs)
        progress = self.fit_progress if initial_epoch and self.fit_progress is not None else None
        if progress is not None and progress.epoch == initial_epoch:
            if seed is not None and seed != progress.seed:
                raise ConfigError(f"fit: initial_epoch={initial_epoch} continues a fit seeded with {progress.seed}, but "
                                  f"seed={seed} was passed: pass seed={progress.seed}, or seed=None to continue it")
            rng = np.random.default_rng(progress.seed)
        else:
            progress, rng = None, np.random.default_rng(seed)
        training, weighed, validation, val_weights = self._validation(training, weighed, validation_data,
                                                                      validation_split, loss, rng)
        if progress is not None:
            rng.bit_generator.state = progress.rng  # after the split drawn again: the shuffles go on
        loss.check_labels(training[1])  # once: each batch's forward skips this scan
        smallest = max((module.min_training_batch for module in self.layers), default=1)
        bounds = batch_bounds(training[1].shape[0], batch_size, smallest, drop_remainder)
        hooks = CallbackList(given, epochs=epochs, batches=len(bounds), verbose=verbose)
        FitLoop(model=self, loss=loss, optimizer=optimizer, metrics=self.metrics,
                evaluate=lambda xs, y: self._evaluate(xs, y, batch_size, val_weights), training=training,
                validation=validation, bounds=bounds, shuffle=shuffle, rng=rng, callbacks=hooks,
                weights=weighed.product("fit")).run(epochs, initial_epoch)
        return hooks.history

    def _validation(
        self, training: Data, weighed: Weights, validation_data: object, validation_split: float, loss: Loss,
        rng: np.random.Generator,
    ) -> tuple[Data, Weights, Data | None, SampleWeights | None]:
        """The training data and its weights, and the validation data and its weights, of a `fit`:
        `validation_data` checked, or `validation_split` of the training data held out, or no validation."""
        if validation_data is not None:
            validation, val_weights = checked_validation_data(validation_data, training, loss, self.named_parameters(),
                                                              self._takes_indices())
            return training, weighed, validation, val_weights
        if validation_split:
            held = held_out(training[1], validation_split, rng)
            return rows(training, ~held), weighed.rows(~held), rows(training, held), weighed.rows(held).given
        return training, weighed, None, None

    def evaluate(
        self, x: Inputs | Indices, y: Labels, *, batch_size: int | None = None,
        sample_weight: npt.ArrayLike | None = None,
    ) -> dict[str, float]:
        """The loss (mean over all samples; with `sample_weight`, Σ w_i l_i / m, as `fit` weighs it) and
        the compiled metrics (unweighted, as Keras' `metrics`) on (x, y), in eval mode."""
        loss, _ = self._compiled("evaluate")
        xs, y = data(x, y, "evaluate", self.named_parameters(), self._takes_indices())
        w = checked_weights("evaluate", loss, y, sample_weight, None, self.named_parameters()).product("evaluate")
        return self._evaluate(xs, y, batch_size, w)

    def predict(self, x: Inputs | Indices, *, batch_size: int | None = None) -> Array:
        """The model's output for x in eval mode, `batch_size` samples at a time (all at once by default)."""
        return self._predict(inputs(x, "predict", self.named_parameters(), self._takes_indices()), batch_size)

    def _takes_indices(self) -> bool:
        """Whether a layer takes integer indices (an `Embedding`): then integer data stay integers."""
        return any(module.takes_indices for module in self.layers)

    def _evaluate(
        self, xs: tuple[Array, ...], y: Labels, batch_size: int | None, sample_weight: SampleWeights | None = None
    ) -> dict[str, float]:
        loss, _ = self._compiled("evaluate")
        y_pred = self._predict(xs, batch_size)
        results = {"loss": float(weighted_forward(loss, y_pred, y, sample_weight).real)}
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
                return self.forward(feed(xs))
            first = self.forward(feed(tuple(a[:batch_size] for a in xs)))
            out = np.empty((m, *first.shape[1:]), dtype=first.dtype)
            out[:batch_size] = first
            for start in range(batch_size, m, batch_size):
                out[start : start + batch_size] = self.forward(feed(tuple(a[start : start + batch_size] for a in xs)))
            return out
        finally:
            for module, mode in zip(self.layers, modes):
                module.training = mode

    def _compiled(self, caller: str) -> tuple[Loss, Optimizer]:
        if self.loss is None or self.optimizer is None:
            raise CallOrderError(f"{caller}: call model.compile(loss=..., optimizer=...) first")
        return self.loss, self.optimizer


def _check_counts(epochs: int, batch_size: int) -> None:
    """fit's `epochs` and `batch_size`: whole numbers, at least 1."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not is_whole_number(value):
            raise ConfigError(f"fit: {name} must be a whole number, got {value!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueRangeError(f"fit: epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
