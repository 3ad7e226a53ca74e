"""`FitLoop`: the epochs of one `fit`, each a pass of `train_step` over the minibatches, with the
callbacks' hooks, the epoch's loss and metrics, the validation, and the divergence of the model."""

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import cast

import attrs
import numpy as np

from framework.core.arrays import Array, Inputs, Labels, SampleWeights
from framework.core.errors import NonFiniteError
from framework.core.guard import floating_point_errors
from framework.core.layer import Layer, reusing_workspace
from framework.core.parameter import Parameter, same_parameters
from framework.losses import Loss
from framework.training.callbacks import CallbackList, Logs, Trainable
from framework.training.data import Data, feed, labels_of
from framework.training.metrics import Metric
from framework.training.objective import Objective, objective
from framework.training.optimizers import Optimizer
from framework.training.state import FitProgress, progress_state
from framework.training.streams import Stream


@attrs.define(kw_only=True, eq=False)
class FitLoop:
    """What one `fit` trains: the model, its loss, optimizer and metrics, the checked training data
    cut at `bounds`, the validation data (if any) and the callbacks."""

    model: Trainable
    loss: Loss
    optimizer: Optimizer
    metrics: dict[str, Metric]
    evaluate: Callable[[tuple[Array, ...], Labels], dict[str, float]]
    """The validation's loss and metrics, in eval mode."""
    training: Data | Stream
    validation: Data | None
    bounds: list[tuple[int, int]]
    """(start, stop) of each minibatch of an epoch."""
    shuffle: bool
    rng: np.random.Generator
    """Shuffles each epoch; its seed and its state after each epoch are the model's `fit_progress`."""
    callbacks: CallbackList
    weights: SampleWeights | None = None
    """The training samples' weights (fit's sample_weight times its class_weight), or None."""
    named: list[tuple[str, Parameter]] = attrs.field(init=False, factory=list)
    """The parameters as training began: a forward must not change them."""
    params: list[Parameter] = attrs.field(init=False, factory=list)
    """The parameters the optimizer updates (a frozen layer's gradients are computed, not applied)."""
    predictions: Array | None = attrs.field(init=False, default=None)
    """The epoch's outputs, for its metrics: made on the first batch, kept for every epoch."""
    initial_epoch: int = attrs.field(init=False, default=0)
    validate: Callable[[], dict[str, float]] | None = None
    """The validation's loss and metrics when its data is a stream (`validation` is None then)."""
    workspace: Sequence[Layer] = ()
    """The layers that reuse their arrays within a training step (`Layer.reuse_workspace`), and only there."""
    objective: Objective = attrs.field(init=False)
    """How a step takes the loss and back-propagates it (`objective`)."""

    def __attrs_post_init__(self) -> None:
        self.objective = objective(self.model, self.loss)

    def run(self, epochs: int, initial_epoch: int = 0) -> None:
        """Train the epochs from `initial_epoch` up to `epochs` (0-based indices, as Keras counts), or
        until a callback sets `model.stop_training`. After each epoch, before the callbacks see its
        end, the model's `fit_progress` says where training stands (what a backup saves)."""
        model = self.model
        self.initial_epoch = initial_epoch
        self.callbacks.set_model(model)
        self.callbacks.on_train_begin()
        self.named = model.named_parameters()
        self.params = model.parameters(trainable=True)
        model.stop_training = False
        model.set_training(True)
        try:
            for epoch in range(initial_epoch, epochs):
                self.optimizer.epoch = epoch
                self.callbacks.on_epoch_begin(epoch)
                logs = self.run_epoch(epoch)
                model.fit_progress = FitProgress(epoch + 1, *progress_state(self.rng))
                self.callbacks.on_epoch_end(epoch, logs)
                if model.stop_training:
                    break
        finally:
            for layer in self.workspace:
                layer.release_workspace()
        self.callbacks.on_train_end()

    def run_epoch(self, epoch: int) -> Logs:
        """One pass over the minibatches, shuffled with `shuffle`; its logs. A batch whose loss is not
        finite raises a NonFiniteError, unless a callback (TerminateOnNaN) stops training."""
        streamed = isinstance(self.training, Stream)
        batches, y, count = self._batches()
        outs: list[Array] = []
        labels: list[Labels] = []
        total, seen = 0.0, 0
        diverged: NonFiniteError | None = None
        for batch, (xb, yb, wb) in enumerate(batches):
            diverged = None
            self.loss.labels_checked = not streamed  # fit checked arrays once: each batch's forward skips this scan
            try:
                cost, out = self.train_step(xb, yb, first=epoch == self.initial_epoch and batch == 0,
                                            check_parameters=batch in (0, count - 1), sample_weight=wb)
            except NonFiniteError as e:  # x and y were checked: this is the model's doing
                cost, diverged = math.nan, e
            else:
                total += cost * yb.shape[0]
                if streamed and self.metrics:
                    outs.append(out.copy())  # a view of a layer's workspace, when the last layer passes its input on
                    labels.append(yb)
                else:
                    self._record(out, seen, seen + yb.shape[0])
                seen += yb.shape[0]
            finally:
                self.loss.labels_checked = False
            self.callbacks.on_batch_end(batch, cost)
            if diverged is not None and not self.model.stop_training:
                raise NonFiniteError(
                    f"fit: training diverged at epoch {epoch + 1}, batch {batch + 1}: {diverged}; "
                    "pass callbacks=[TerminateOnNaN()] to stop instead of raising"
                ) from diverged
            if self.model.stop_training:
                break
        if outs:
            self.predictions, y = np.concatenate(outs), cast(Labels, np.concatenate(labels))
        return self._logs(y[:seen], total, validate=diverged is None)

    def _batches(self) -> tuple[Iterator[tuple[Inputs, Labels, SampleWeights | None]], Labels, int]:
        """The epoch's minibatches (x, y, the samples' weights or None), shuffled with `shuffle`, the
        labels in their order (a stream's: none, its batches' are kept as they come) and the number of
        batches. A stream's batches carry no weights (`fit` refuses sample_weight and class_weight with one)."""
        if isinstance(self.training, Stream):
            stream = self.training
            batches = ((feed(xs), y, None) for xs, y in stream.epoch(self.rng if self.shuffle else None)
                       if y is not None)
            return batches, np.empty(0), stream.batches() or 1
        (xs, y), w = self.training, self.weights
        if self.shuffle:
            order = self.rng.permutation(y.shape[0])
            xs, y = tuple(a[order] for a in xs), y[order]
            w = None if w is None else w[order]
        return (((feed(tuple(a[start:stop] for a in xs)), y[start:stop], None if w is None else w[start:stop])
                 for start, stop in self.bounds), y, len(self.bounds))

    def train_step(
        self, xb: Inputs, yb: Labels, *, first: bool, check_parameters: bool, sample_weight: SampleWeights | None = None
    ) -> tuple[float, Array]:
        """Forward, loss (weighted by the batch's `sample_weight`, if any), backward and the optimizer's
        update on one minibatch, under one floating-point guard; the loss and the output. The `first`
        batch of the fit names a wrong shape of the labels (y, and y_val against the same output);
        `check_parameters` checks that the forward kept the parameters (a walk of the layers: early,
        and once every epoch)."""
        model, loss = self.model, self.loss
        with floating_point_errors("fit"), reusing_workspace(self.workspace):  # one np.errstate for the step's calls
            out = self.objective.outputs(xb)
            with labels_of("fit: y", yb.shape if isinstance(self.training, Stream) else self.training[1].shape,
                           out) if first else nullcontext():
                cost = self.objective.forward(xb, out, yb, sample_weight)
            self.objective.backward()
            self.optimizer.step(self.params)
        if first and self.validation is not None:  # y_val against a real output, before an epoch
            y_val = self.validation[1]
            with labels_of("fit(validation_data): y_val", y_val.shape, out):
                loss.forward(out[: len(y_val)], y_val[: len(out)])
        if check_parameters:
            same_parameters("fit", self.named, model.named_parameters())
        return cost, out

    def _record(self, out: Array, start: int, stop: int) -> None:
        """Keep a batch's output as samples `start:stop` of the epoch, for the epoch's metrics."""
        if not self.metrics:
            return
        if self.predictions is None:
            assert not isinstance(self.training, Stream), "a stream's outputs are kept as they come"
            self.predictions = np.empty((self.training[1].shape[0], *out.shape[1:]), dtype=out.dtype)
        self.predictions[start:stop] = out

    def _logs(self, y: Labels, total: float, *, validate: bool) -> dict[str, float]:
        """The epoch's mean loss and metrics over its samples `y` (those trained on before a stop),
        with the validation's as `val_...` unless the epoch diverged."""
        seen = y.shape[0]
        logs = {"loss": total / seen if seen else math.nan}
        if self.predictions is not None and seen:
            probabilities = self.loss.probabilities(self.predictions[:seen])
            logs |= {name: metric(y, probabilities) for name, metric in self.metrics.items()}
        if validate:
            scores = (self.evaluate(*self.validation) if self.validation is not None
                      else self.validate() if self.validate is not None else {})
            logs |= {f"val_{k}": v for k, v in scores.items()}
        return logs
