"""Keras' training API: `compile`, `fit`, `evaluate`, `predict`, for any container of layers."""

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Indices, Inputs, Labels, SampleWeights, Shape
from framework.core.errors import CallOrderError, ConfigError, ValueRangeError
from framework.core.layer import Config, Layer, Module
from framework.core.parameter import Buffer, Parameter
from framework.core.protocols import LayerCall, model_backward
from framework.core.validation import a_kind, is_whole_number
from framework.layers.activations import Sigmoid
from framework.losses import BCEWithLogitsLoss, Loss, weighted_forward
from framework.training.callbacks import Callback, CallbackList, History, callback_list, resumed_epoch
from framework.training.data import (Data, Weights, batch_bounds, checked_validation_data, checked_weights, data, feed,
                                     held_out, inputs, rows)
from framework.training.loop import FitLoop
from framework.training.metrics import Metric
from framework.training.optimizers import Optimizer
from framework.training.state import FitProgress
from framework.training.streams import Dataset, Stream, collected, is_stream, stream_of
from framework.training.outputs import (Losses, MetricNames, Targets, View, compiled_loss, compiled_metrics,
                                        each_output_labelled, each_output_predicted)
from framework.training.outputs import Weights as LossWeights


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

    def workspace_layers(self) -> list[Layer]:
        """The layers that may reuse their arrays in a training step (`Layer.reuse_workspace`): those whose
        outputs and gradients only the model reads. None here; `Sequential` says which of its own."""
        return []

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

    @property
    def named_outputs(self) -> Mapping[str, Shape | None]:
        """Each output's name and the shape of one of its samples (None where not known before a build):
        a graph `Model` names its outputs after the layers that give them."""
        return {"output": None}

    def joined(self) -> View | None:
        """The model seen as one of one output (its outputs side by side), for `fit`, `evaluate` and
        `predict`; None for a model of one output."""
        return None

    def compile(self, *, loss: Losses, optimizer: Optimizer, metrics: MetricNames = (),
                loss_weights: LossWeights | None = None) -> None:
        """Choose the loss, the optimizer and the metrics (names from `framework.training.metrics.METRICS`).
        A model of several outputs takes one loss an output, a list in the outputs' order or a dict by
        output name (one Loss is used for each), weighted by `loss_weights` (1 each by default) into the
        total loss; `metrics` a list for every output, or a dict by output name
        (`framework.training.outputs`)."""
        expected = (("loss", loss, Loss, "a Loss", "BCELoss()"), ("optimizer", optimizer, Optimizer, "an Optimizer", "Adam()"))
        for what, value, base, kind, example in expected:
            if not isinstance(value, base | list | tuple | Mapping if what == "loss" else base):  # a list: compiled_loss
                given = f"the class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"
                example = f"{value.__name__}()" if isinstance(value, type) else example
                raise ConfigError(f"compile: {what} must be {kind}, got {given}: pass an instance, such as {what}={example}")
        self._refuse_sigmoid_twice(loss)
        self.loss, self.optimizer = compiled_loss(loss, loss_weights, self.named_outputs), optimizer
        self.metrics = compiled_metrics(metrics, self.loss)

    def output_layers(self) -> list[Module | None]:
        """The layer that gives each output, in the outputs' order (a `Sequential`'s last)."""
        return list(self.layers[-1:])

    def _refuse_sigmoid_twice(self, loss: Losses) -> None:
        """A ConfigError for `BCEWithLogitsLoss` on an output that a `Sigmoid` gives: the loss applies
        the sigmoid itself, so it would be applied twice (as compile refuses softmax into CrossEntropyLoss)."""
        layers = self.output_layers()
        losses = (list(loss.values()) if isinstance(loss, Mapping) else list(loss) if isinstance(loss, list | tuple)
                  else [loss] * len(layers))
        for layer, each in zip(layers, losses):
            if isinstance(each, BCEWithLogitsLoss) and isinstance(layer, Sigmoid):
                raise ConfigError(f"compile: {each!r} takes logits and applies the sigmoid itself, but the output comes "
                                  f"from {layer!r}: remove the model's final Sigmoid(), or use BCELoss()")

    @each_output_labelled
    def fit(
        self,
        x: Inputs | Indices | Dataset | Iterable[Any],
        y: Targets | None = None,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: (tuple[Inputs | Indices, Targets] | tuple[Inputs | Indices, Targets, npt.ArrayLike | None]
                          | Dataset | Iterable[Any] | None) = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        seed: int | None = None,
        drop_remainder: bool = False,
        initial_epoch: int = 0,
        sample_weight: npt.ArrayLike | None = None,
        class_weight: Mapping[int, float] | None = None,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
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
        class_weight weighs the training only. The weights are checked before the first epoch. A model
        of several outputs takes one sample_weight for all its outputs, and no class_weight (as Keras).

        x may also be read a batch at a time (`framework.training.streams`): a `Dataset` or an iterable
        of (x, y) batches (y left out), `steps_per_epoch` batches an epoch (a Dataset's `len` by
        default; required for a generator), or `np.memmap` arrays, read in blocks of `batch_size`;
        `validation_data` likewise, `validation_steps` batches of it each epoch. Such batches carry no
        weights: sample_weight and class_weight are refused with them. `initial_epoch` and
        `BackupAndRestore` resume the model, its optimizer and the shuffling generator of memmap blocks;
        a Dataset or a generator gives the batches it gives (bit for bit only if they are the same).
        """
        loss, optimizer = self._compiled("fit")
        _check_counts(epochs, batch_size)
        given = callback_list(callbacks)
        validate = self._validation_stream(validation_data, validation_steps, batch_size)
        training: Data | Stream
        if is_stream(x):
            _refuse_weights("fit", x, sample_weight=sample_weight, class_weight=class_weight)
            if validation_split:
                raise ConfigError(f"fit: validation_split holds out part of arrays in memory; x is {a_kind(x)}: "
                                  "pass validation_data (arrays, a Dataset or a generator of batches)")
            training, reference = self._training_stream(x, y, steps_per_epoch, batch_size, drop_remainder)
            weighed = Weights()
        else:  # y joined for several outputs: see each_output_labelled
            training = data(cast(Inputs | Indices, x), cast(Labels, y), "fit", self._casts_to(),
                            self._takes_indices())
            self.build(training[0])  # the features decide, before the split: a backup restores into built layers
            weighed = checked_weights("fit", loss, training[1], sample_weight, class_weight, self._casts_to())
            reference = training
        initial_epoch = resumed_epoch(self, given, initial_epoch, epochs)
        progress = self.fit_progress if initial_epoch and self.fit_progress is not None else None
        if progress is not None and progress.epoch == initial_epoch:
            if seed is not None and seed != progress.seed:
                raise ConfigError(f"fit: initial_epoch={initial_epoch} continues a fit seeded with {progress.seed}, but "
                                  f"seed={seed} was passed: pass seed={progress.seed}, or seed=None to continue it")
            rng = np.random.default_rng(progress.seed)
        else:
            progress, rng = None, np.random.default_rng(seed)
        reference, weighed, validation, val_weights = self._validation(
            reference, weighed, None if validate else validation_data, validation_split, loss, rng)
        if progress is not None:
            rng.bit_generator.state = progress.rng  # after the split drawn again: the shuffles go on
        bounds: list[tuple[int, int]] = []
        if isinstance(training, Stream):
            batches = training.batches()
            assert batches is not None, "_training_stream refuses a stream without a count of batches"
        else:
            training = reference
            loss.check_labels(training[1])  # once: each batch's forward skips this scan
            smallest = max((module.min_training_batch for module in self.layers), default=1)
            bounds = batch_bounds(training[1].shape[0], batch_size, smallest, drop_remainder)[:steps_per_epoch]
            batches = len(bounds)
        hooks = CallbackList(given, epochs=epochs, batches=batches, verbose=verbose)
        FitLoop(model=self, loss=loss, optimizer=optimizer, metrics=self.metrics,
                evaluate=lambda xs, y: self._evaluate(xs, y, batch_size, val_weights), training=training,
                validation=validation, bounds=bounds, shuffle=shuffle, rng=rng, callbacks=hooks,
                weights=weighed.product("fit"), validate=validate, workspace=self.workspace_layers()).run(epochs, initial_epoch)
        return hooks.history

    def _training_stream(self, x: object, y: object, steps: int | None, batch_size: int,
                         drop_remainder: bool) -> tuple[Stream, Data]:
        """fit's stream of training batches, and its first batch (checked; the model's lazy layers built on
        it), which arrays of validation_data are checked against."""
        smallest = max((module.min_training_batch for module in self.layers), default=1)
        training = stream_of(x, y, "fit", self._casts_to(), batch_size=batch_size, steps=steps, labelled=True,
                             labels=self._loss_labels, smallest=smallest, drop_remainder=drop_remainder,
                             indices=self._takes_indices())
        xs, labels = training.first()
        self.build(xs)
        if training.batches() is None:
            raise ConfigError(f"fit: {training.kind} has no len: pass steps_per_epoch, the batches of an epoch")
        assert labels is not None, "a fit's batches carry labels"
        return training, (xs, labels)

    def _validation_stream(self, validation_data: object, steps: int | None,
                           batch_size: int) -> Callable[[], dict[str, float]] | None:
        """The validation of a `fit` whose `validation_data` is read a batch at a time: its loss and metrics
        over `steps` batches (all by default), in eval mode; None for arrays in memory."""
        if validation_data is None or not is_stream(validation_data):
            if steps is not None:
                raise ConfigError("fit: validation_steps counts the batches of a validation_data read a batch at a "
                                  "time (a Dataset, a generator, memmap arrays)")
            return None
        if isinstance(validation_data, tuple | list) and len(validation_data) == 3:
            _refuse_weights("fit(validation_data)", validation_data, sample_weight=validation_data[2])
        x, y = validation_data[:2] if isinstance(validation_data, tuple | list) else (validation_data, None)
        stream = stream_of(x, y, "fit(validation_data)", self._casts_to(), batch_size=batch_size,
                           steps=steps, labelled=True, labels=self._loss_labels, indices=self._takes_indices())
        return lambda: self._scores(*self._predict_stream(stream))

    def _validation(
        self, training: Data, weighed: Weights, validation_data: object, validation_split: float, loss: Loss,
        rng: np.random.Generator,
    ) -> tuple[Data, Weights, Data | None, SampleWeights | None]:
        """The training data and its weights, and the validation data and its weights, of a `fit`:
        `validation_data` checked, or `validation_split` of the training data held out, or no validation."""
        if validation_data is not None:
            validation, val_weights = checked_validation_data(validation_data, training, loss, self._casts_to(),
                                                              self._takes_indices())
            return training, weighed, validation, val_weights
        if validation_split:
            held = held_out(training[1], validation_split, rng)
            return rows(training, ~held), weighed.rows(~held), rows(training, held), weighed.rows(held).given
        return training, weighed, None, None

    @each_output_labelled
    def evaluate(
        self, x: Inputs | Indices | Dataset | Iterable[Any], y: Targets | None = None, *, batch_size: int | None = None,
        steps: int | None = None, sample_weight: npt.ArrayLike | None = None,
    ) -> dict[str, float]:
        """The loss (mean over all samples; with `sample_weight`, Σ w_i l_i / m, as `fit` weighs it) and
        the compiled metrics (unweighted, as Keras' `metrics`) on (x, y), in eval mode; x read a batch
        at a time as `fit` reads it, `steps` batches of it (all by default; no sample_weight then)."""
        loss, _ = self._compiled("evaluate")
        if is_stream(x):
            _refuse_weights("evaluate", x, sample_weight=sample_weight)
            return self._scores(*self._predict_stream(stream_of(
                x, y, "evaluate", self._casts_to(), batch_size=batch_size, steps=steps, labelled=True,
                labels=self._loss_labels, indices=self._takes_indices())))
        xs, y = data(cast(Inputs | Indices, x), cast(Labels, y), "evaluate", self._casts_to(),
                     self._takes_indices())
        w = checked_weights("evaluate", loss, y, sample_weight, None, self._casts_to()).product("evaluate")
        return self._evaluate(xs, y, batch_size, w)

    @each_output_predicted
    def predict(self, x: Inputs | Indices | Dataset | Iterable[Any], *, batch_size: int | None = None,
                steps: int | None = None) -> Array:
        """The model's output for x in eval mode, `batch_size` samples at a time (all at once by default);
        for a model of several outputs, a list of them (see `predict_all`). x may be read a batch at a
        time, as `fit` reads it (batches of x alone, or (x, y) pairs whose y is ignored), `steps` batches."""
        if is_stream(x):
            stream = stream_of(x, None, "predict", self._casts_to(), batch_size=batch_size, steps=steps,
                               labelled=False, indices=self._takes_indices())
            return self._predict_stream(stream)[0]
        return self._predict(inputs(cast(Inputs | Indices, x), "predict", self._casts_to(),
                                    self._takes_indices()), batch_size)

    def _casts_to(self) -> list[tuple[str, Parameter]]:
        """The parameters whose dtype fit, evaluate and predict cast float data to: the model's, or, before a
        lazy model is built (its first layer waits for the input's shape), one that stands for the dtype its
        layers are declared with, so that float32 data reach a float64 model as float64."""
        named = self.named_parameters()
        declared = None if named else next(_declared_dtypes(self.layers), None)
        if declared is None:
            return named
        return [(f"the dtype of {declared[0]!r}", Parameter(np.empty(0, declared[1])))]

    def _takes_indices(self) -> bool:
        """Whether a layer takes integer indices (an `Embedding`): then integer data stay integers."""
        return any(module.takes_indices for module in self.layers)

    def _loss_labels(self, y: object, caller: str) -> Labels:
        """A batch's labels as the loss takes them: y itself for a model of one output (`Joined`, the
        view of a model of several, joins one array an output)."""
        return cast(Labels, np.asarray(y))

    def _predict_stream(self, stream: Stream) -> tuple[Array, Labels]:
        """The outputs for every batch of `stream`, in eval mode, and the batches' labels, concatenated."""
        modes = [module.training for module in self.layers]
        self.set_training(False)
        try:
            out, y = collected(stream, lambda xs: self.forward(feed(xs)))
        finally:
            for module, mode in zip(self.layers, modes):
                module.training = mode
        return out, cast(Labels, np.empty(0) if y is None else y)

    def predict_all(self, x: Inputs | Indices | Dataset | Iterable[Any], *, batch_size: int | None = None,
                    steps: int | None = None) -> list[Array]:
        """`predict`, typed as a list: one array an output (one for a model of one output)."""
        out = self.predict(x, batch_size=batch_size, steps=steps)
        return out if isinstance(out, list) else [out]

    def _evaluate(
        self, xs: tuple[Array, ...], y: Labels, batch_size: int | None, sample_weight: SampleWeights | None = None
    ) -> dict[str, float]:
        return self._scores(self._predict(xs, batch_size), y, sample_weight)

    def _scores(self, y_pred: Array, y: Labels, sample_weight: SampleWeights | None = None) -> dict[str, float]:
        """The loss (weighted by `sample_weight`, if any) and the compiled metrics of the outputs `y_pred`
        against the labels `y`."""
        loss, _ = self._compiled("evaluate")
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


def _refuse_weights(caller: str, x: object, **weights: object) -> None:
    """A ConfigError naming the weights (`sample_weight`, `class_weight`) given with data read a batch at a
    time, whose batches are pairs (x, y) that carry none."""
    given = [name for name, w in weights.items() if w is not None]
    if given:
        raise ConfigError(f"{caller}: {' and '.join(given)} weigh arrays in memory; x is {a_kind(x)}, read a batch at "
                          "a time, whose batches (x, y) carry no weights: pass arrays, or leave the weights out")


def _declared_dtypes(layers: Sequence[Module]) -> Iterator[tuple[Module, np.dtype[Any]]]:
    """Each layer (inside nested models too) that declares the float dtype of its parameters (`dtype=`), and it."""
    for layer in layers:
        inner = getattr(layer, "wrapped_model", None)
        if callable(inner):
            yield from _declared_dtypes(inner().layers)
        dtype = getattr(layer, "dtype", None)
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            yield layer, dtype
