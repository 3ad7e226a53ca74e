"""Callbacks: hooks into `fit`, as in Keras. `logs` hold the epoch's loss and metrics."""

import csv
import io
import math
import numbers
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Never, Protocol

from framework.core.arrays import Array, SampleWeights
from framework.core.display import has_widgets, html_table, in_notebook
from framework.core.errors import CallOrderError, ConfigError, FormatError, ValueRangeError
from framework.gradcheck import GradCheckReport, check_gradients
from framework.losses import Loss
from framework.plots import history_html
from framework.core.parameter import Buffer, Parameter
from framework.core.protocols import Network
from framework.core.validation import a_kind, is_whole_number
from framework.saving import read_model, read_training
from framework.training.optimizers import Optimizer
from framework.training.state import FitProgress, not_rebuildable, restore_state

if TYPE_CHECKING:
    from tqdm import tqdm

Logs = Mapping[str, float]


class Trainable(Network, Protocol):
    """What callbacks need of a model."""

    stop_training: bool
    loss: Loss | None
    optimizer: Optimizer | None
    fit_progress: FitProgress | None

    def parameters(self, *, trainable: bool | None = None) -> list[Parameter]: ...

    def get_weights(self) -> list[Array]: ...

    def set_weights(self, weights: Sequence[Array]) -> None: ...

    def save(self, path: str | os.PathLike[str], *, include_optimizer: bool | None = None) -> Path: ...


class Callback:
    """Override the hooks you need; `self.model` is set by `fit` before training begins."""

    model: Trainable

    def set_model(self, model: Trainable) -> None:
        self.model = model

    def on_train_begin(self) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_end(self, batch: int, loss: float) -> None: ...

    def on_epoch_end(self, epoch: int, logs: Logs) -> None: ...

    def on_train_end(self) -> None: ...


class History(Callback):
    """`history.history["loss"]` is the loss of each epoch, and likewise for every metric."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        if not self.epoch:
            return "<History: no epochs yet>"
        last = ", ".join(f"{k} {v[-1]:.4g}" for k, v in self.history.items() if len(v) == len(self.epoch))
        return f"<History of {len(self.epoch)} epochs; last: {last}>"

    def _repr_html_(self) -> str:
        """The epochs in a notebook: a table of the logs (a row an epoch, counted from 1), then the
        training curves where matplotlib is installed."""
        names = list(self.history)
        rows = [[str(epoch + 1), *(_logged(self.history[k], i) for k in names)] for i, epoch in enumerate(self.epoch)]
        table = html_table(["epoch", *names], rows)
        return (f'<div class="fw-history"><p><b>{escape(repr(self))}</b></p>'
                f'<div style="max-height:20em;overflow-y:auto">{table}</div>{history_html(self.history)}</div>')


def _logged(values: Sequence[float], i: int) -> str:
    """Epoch i's value of a logged quantity, or "" where it has none (a diverged epoch's validation)."""
    return f"{values[i]:.4g}" if i < len(values) else ""


class _Monitor(Callback):
    """Tracks the best value of a logged quantity."""

    def __init__(self, monitor: str, mode: Literal["auto", "min", "max"], min_delta: float = 0.0) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueRangeError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.sign = (1.0 if mode == "max" else -1.0) if mode != "auto" else (
            1.0 if any(w in monitor for w in ("acc", "auc", "precision", "recall", "f1")) else -1.0
        )
        self.min_delta = abs(min_delta)
        self.best = -math.inf

    def current(self, logs: Logs) -> float:
        """The monitored value in `logs`; a ValueRangeError listing what is logged if it is not there."""
        if self.monitor not in logs:
            raise ValueRangeError(
                f"{type(self).__name__}: monitor {self.monitor!r} is not logged; logged: {', '.join(logs)}"
            )
        return logs[self.monitor]

    def improved(self, logs: Logs) -> bool:
        score = self.sign * self.current(logs)
        if score > self.best + self.min_delta:
            self.best = score
            return True
        return False


def _count(owner: str, name: str, value: object, least: int) -> int:
    """A callback's whole-number argument, at least `least`, or a ValueRangeError naming it."""
    if not is_whole_number(value) or int(value) < least:
        raise ValueRangeError(f"{owner}: {name} must be a whole number >= {least}, got {value!r}")
    return int(value)


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs in a row
    (at the first such epoch for patience 0 or 1), as Keras counts them. With
    `restore_best_weights`, the model ends with the weights of its best epoch, whether training
    stopped early or ran all its epochs. The epochs before `start_from_epoch` (0-based) are a
    warm-up, as in Keras: not compared, not counted, never the best."""

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        patience: int = 0,
        min_delta: float = 0.0,
        mode: Literal["auto", "min", "max"] = "auto",
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = _count("EarlyStopping", "patience", patience, 0)
        self.start_from_epoch = _count("EarlyStopping", "start_from_epoch", start_from_epoch, 0)
        self.restore_best_weights = restore_best_weights
        self.best_weights: list[Array] | None = None
        self.best_epoch = -1
        self.stopped_epoch: int | None = None
        self._wait = 0

    def on_train_begin(self) -> None:
        self.best, self.best_weights, self.best_epoch, self.stopped_epoch, self._wait = -math.inf, None, -1, None, 0

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.current(logs)  # an unknown monitor is named at the first epoch's end, warm-up or not
        if epoch < self.start_from_epoch:
            return
        if self.improved(logs):
            self.best_epoch, self._wait = epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()  # parameters and buffers (BatchNorm's statistics)
            return
        self._wait += 1
        if self._wait >= max(self.patience, 1):  # as Keras: `patience` epochs without improvement, then stop
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model to `path` after each epoch, or only when `monitor` improves (`save_best_only`).
    `path` may hold `{epoch}`, formatted with the 1-based epoch."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: Literal["auto", "min", "max"] = "auto",
    ) -> None:
        super().__init__(monitor, mode)
        self.path = str(path)
        self.save_best_only = save_best_only

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if not all(math.isfinite(v) for v in logs.values()):
            return  # a diverged model is never written over a good file
        if not self.save_best_only or self.improved(logs):
            self.model.save(self.path.format(epoch=epoch + 1))


class TerminateOnNaN(Callback):
    """Stop as soon as a batch's loss is NaN or infinite, saying at which epoch and batch."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self.epoch = 0
        self.message: str | None = None

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch: int, loss: float) -> None:
        if not math.isfinite(loss):
            self.message = f"TerminateOnNaN: loss is {loss} at epoch {self.epoch + 1}, batch {batch + 1}: training stopped"
            print(self.message, file=self.stream or sys.stderr)
            self.model.stop_training = True


class GradientCheck(Callback):
    """Run the gradient checker on (x, y) every `every` epochs; when a check fails, stop training and
    say so on `stream` (stderr by default), with the report. With `sample_weight` (one weight a sample
    of x, as `fit` takes them), the weighted loss is checked, the one that a weighted `fit` trains on.

    `reports` keeps (epoch, report) pairs; after a failure, `failed_report` is the report that stopped
    training, `stopped_epoch` its epoch (counted from 0, as `EarlyStopping`'s) and `message` what was
    printed."""

    def __init__(
        self, x: Array, y: Array, *, every: int = 1, method: Literal["complex", "central"] = "complex",
        mode: Literal["full", "sampled", "directional"] = "sampled", samples: int = 16,
        stream: IO[str] | None = None, sample_weight: SampleWeights | None = None,
    ) -> None:
        if every < 1:
            raise ValueRangeError(f"GradientCheck: every must be at least 1, got {every}")
        self.x, self.y, self.every, self.method, self.mode, self.samples = x, y, every, method, mode, samples
        self.sample_weight = sample_weight
        self.stream = stream
        self.reports: list[tuple[int, GradCheckReport]] = []
        self.failed_report: GradCheckReport | None = None
        self.stopped_epoch: int | None = None
        self.message: str | None = None

    def on_train_begin(self) -> None:
        self.failed_report, self.stopped_epoch, self.message = None, None, None

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if (epoch + 1) % self.every:
            return
        loss = self.model.loss
        assert loss is not None, "fit compiles the model before callbacks run"
        report = check_gradients(self.model, loss, self.x, self.y, method=self.method, mode=self.mode,
                                 samples=self.samples, sample_weight=self.sample_weight)
        self.reports.append((epoch, report))
        if not report.passed:
            self.failed_report, self.stopped_epoch = report, epoch
            self.message = f"GradientCheck: the gradient check at epoch {epoch + 1} failed; training stopped.\n{report}"
            print(self.message, file=self.stream or sys.stderr, flush=True)
            self.model.stop_training = True


def _settable_rate(owner: str, optimizer: Optimizer | None) -> Optimizer:
    """The optimizer whose `lr` a callback sets: one with a float rate (a schedule's rate is the
    schedule's to choose)."""
    if optimizer is None:
        raise CallOrderError(f"{owner}: the model has no optimizer; call model.compile(...) first")
    if callable(optimizer.lr):
        raise ValueRangeError(f"{owner}: the optimizer's lr is a schedule, {optimizer.lr!r}, whose rate {owner} cannot "
                              f"set; give the optimizer a float lr, {type(optimizer).__name__}(lr=0.01)")
    return optimizer


class ReduceLROnPlateau(_Monitor):
    """Multiply the optimizer's `lr` by `factor` when `monitor` has not improved by more than
    `min_delta` for `patience` epochs, never below `min_lr`, then wait `cooldown` epochs before
    counting again; Keras' callback, argument for argument. `optimizer.lr` shows the rate in force.

    >>> from framework import Dense, MSELoss, SGD, Sequential
    >>> model = Sequential([Dense(1, 1, seed=0)])
    >>> model.compile(loss=MSELoss(), optimizer=SGD(lr=0.1))
    >>> reduce = ReduceLROnPlateau("loss", factor=0.5, patience=1, min_delta=0.0)
    >>> reduce.set_model(model); reduce.on_train_begin()
    >>> for epoch, loss in enumerate([1.0, 1.0, 1.0, 0.5, 0.5]):
    ...     reduce.on_epoch_end(epoch, {"loss": loss})
    ...     print(model.optimizer.lr)
    0.1
    0.05
    0.025
    0.025
    0.0125
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        factor: float = 0.1,
        patience: int = 10,
        mode: Literal["auto", "min", "max"] = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.factor, self.min_lr = float(factor), float(min_lr)
        if not 0 < self.factor < 1:
            raise ValueRangeError(f"ReduceLROnPlateau: factor must be between 0 and 1 (0 < factor < 1), got {factor!r}: "
                                  "the rate is multiplied by it")
        if not (math.isfinite(self.min_lr) and self.min_lr >= 0):
            raise ValueRangeError(f"ReduceLROnPlateau: min_lr must be a finite rate >= 0, got {min_lr!r}")
        self.patience = _count("ReduceLROnPlateau", "patience", patience, 0)
        self.cooldown = _count("ReduceLROnPlateau", "cooldown", cooldown, 0)
        self._wait = self._cooldown_left = 0

    def on_train_begin(self) -> None:
        _settable_rate("ReduceLROnPlateau", self.model.optimizer)
        self.best, self._wait, self._cooldown_left = -math.inf, 0, 0

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self._cooldown_left:
            self._cooldown_left -= 1
            self._wait = 0
        if self.improved(logs):
            self._wait = 0
            return
        if self._cooldown_left:
            return
        self._wait += 1
        optimizer = _settable_rate("ReduceLROnPlateau", self.model.optimizer)
        assert isinstance(optimizer.lr, float), "_settable_rate refuses a schedule"
        if self._wait >= self.patience and optimizer.lr > self.min_lr:
            optimizer.lr = max(optimizer.lr * self.factor, self.min_lr)
            self._wait, self._cooldown_left = 0, self.cooldown


class LearningRateScheduler(Callback):
    """Set the optimizer's `lr` to `schedule(epoch, lr)` at the start of each epoch (0-based, `lr` the
    rate in force), as Keras' callback does.

    >>> from framework import Dense, MSELoss, SGD, Sequential
    >>> model = Sequential([Dense(1, 1, seed=0)])
    >>> model.compile(loss=MSELoss(), optimizer=SGD(lr=0.1))
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2)
    >>> halve.set_model(model); halve.on_train_begin()
    >>> for epoch in range(4):
    ...     halve.on_epoch_begin(epoch)
    ...     print(model.optimizer.lr)
    0.1
    0.1
    0.05
    0.025
    """

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        if not callable(schedule):
            raise ValueRangeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr, got "
                                  f"{a_kind(schedule)}")
        self.schedule = schedule

    def on_train_begin(self) -> None:
        _settable_rate("LearningRateScheduler", self.model.optimizer)

    def on_epoch_begin(self, epoch: int) -> None:
        optimizer = _settable_rate("LearningRateScheduler", self.model.optimizer)
        assert isinstance(optimizer.lr, float), "_settable_rate refuses a schedule"
        lr = self.schedule(epoch, optimizer.lr)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
            raise ValueRangeError(f"LearningRateScheduler: schedule({epoch}, {optimizer.lr}) returned {lr!r}; it must "
                                  "return a positive finite learning rate (a float)")
        optimizer.lr = float(lr)


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file: a header `epoch,<logged names, sorted>`, then
    the 0-based epoch and the values (numpy's shortest repr that reads back to the same float), as
    Keras' callback does. With `append`, rows go after those of an earlier fit (whose header must
    name the same columns), else the file is written afresh. The file is opened for each row and
    closed after it: a fit that stops on an error leaves every finished epoch in it."""

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueRangeError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.filename, self.separator, self.append = Path(filename), separator, append
        self._header: str | None = None
        """The file's header line, once known: read from the file appended to, or written at the first epoch."""

    def on_train_begin(self) -> None:
        self._header = None
        if self.append and self.filename.exists():
            with self.filename.open(newline="") as f:
                self._header = f.readline().rstrip("\r\n") or None
        else:
            self.filename.parent.mkdir(parents=True, exist_ok=True)
            self.filename.write_text("")

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        keys = sorted(logs)
        header = self._row(["epoch", *keys])
        if self._header is not None and self._header != header:
            raise ValueRangeError(f"CSVLogger: {self.filename} has the columns {self._header!r}, but this fit logs "
                                  f"{header!r}: append to a file of the same columns, or pass append=False")
        with self.filename.open("a", newline="") as f:
            if self._header is None:
                f.write(header + "\r\n")
                self._header = header
            f.write(self._row([str(epoch), *(repr(float(logs[key])) for key in keys)]) + "\r\n")

    def _row(self, cells: Sequence[str]) -> str:
        """One line of the file, as the csv module writes it (quoted where a cell holds the separator)."""
        line = io.StringIO()
        csv.writer(line, delimiter=self.separator, lineterminator="").writerow(cells)
        return line.getvalue()


class BackupAndRestore(Callback):
    """Resume a `fit` that was interrupted (an error, a killed process) from its last completed epoch,
    as Keras' callback does: at each epoch's end the model is saved to `backup_dir` with its training
    state (weights, optimizer state, the fit's progress and shuffling generator); a `fit` given this
    callback again first restores that backup, if there is one, and goes on from the epoch after it,
    so that the final weights are those of an uninterrupted run, bit for bit. The backup is deleted
    when training ends (`delete_checkpoint=False` keeps it). Fit again with the same arguments (the
    seed may be left out: the backup keeps it) and a model compiled alike."""

    FILE = "backup.safetensors"

    def __init__(self, backup_dir: str | os.PathLike[str], *, delete_checkpoint: bool = True) -> None:
        self.backup_dir = Path(backup_dir)
        if self.backup_dir.exists() and not self.backup_dir.is_dir():
            raise ValueRangeError(f"BackupAndRestore: backup_dir {self.backup_dir} is a file, not a folder: pass a "
                                  "folder for the backup (it is made if missing)")
        self.path = self.backup_dir / self.FILE
        self.delete_checkpoint = delete_checkpoint

    def restore(self) -> int | None:
        """Put the backup, if there is one, into the model (built and compiled): its weights and
        training state. The epoch to go on from, or None without a backup."""
        if not self.path.exists():
            return None
        where = f"BackupAndRestore: {self.path}"
        saved = read_model(self.path)
        if saved.get_config() != self.model.get_config():
            raise FormatError(f"{where} is the backup of another model (another architecture): pass another "
                              "backup_dir, or delete this one to start afresh")
        training, tensors = read_training(self.path)
        if training is None:
            raise FormatError(f"{where} holds no training state to resume from (saved with include_optimizer=False?)")
        weights: list[tuple[str, Parameter | Buffer]] = [*saved.named_parameters(), *saved.named_buffers()]
        values = {name: w.value for name, w in weights}
        self.model.set_weights([values[name] for name, _ in (*self.model.named_parameters(), *self.model.named_buffers())])
        restore_state(self.model, training, tensors, where)
        if self.model.fit_progress is None:
            raise FormatError(f"{where} was saved before any epoch ended: it has no epoch to resume from")
        return self.model.fit_progress.epoch

    def on_train_begin(self) -> None:
        loss, optimizer = self.model.loss, self.model.optimizer
        assert loss is not None and optimizer is not None, "fit compiles the model before callbacks run"
        reason = not_rebuildable(loss, optimizer)
        if reason is not None:
            raise ConfigError(f"BackupAndRestore: {reason}, so a backup could not be restored: compile the model with "
                              "a built-in loss, optimizer and schedule")

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        self.model.save(self.path, include_optimizer=True)

    def on_train_end(self) -> None:
        if self.delete_checkpoint:
            self.path.unlink(missing_ok=True)


def resumed_epoch(model: Trainable, callbacks: Sequence[Callback], initial_epoch: int, epochs: int) -> int:
    """fit's `initial_epoch`, checked against `epochs`; or the epoch the `BackupAndRestore` among
    `callbacks` restored the model to, when it had a backup."""
    if not is_whole_number(initial_epoch) or not 0 <= initial_epoch < epochs:
        raise ValueRangeError(f"fit: initial_epoch must be a whole number from 0 to epochs - 1 = {epochs - 1}, got "
                              f"{initial_epoch!r}: epochs is the index training ends before, as in Keras "
                              f"(fit(epochs={epochs + 5}, initial_epoch={epochs}) trains 5 epochs more)")
    backups = [callback for callback in callbacks if isinstance(callback, BackupAndRestore)]
    if len(backups) > 1:
        raise ConfigError(f"fit: callbacks hold {len(backups)} BackupAndRestore callbacks; one restores the fit")
    for backup in backups:
        backup.set_model(model)
        restored = backup.restore()
        if restored is not None:
            return restored
    return int(initial_epoch)


def format_logs(logs: Logs) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar(Callback):
    """A tqdm bar per epoch on a terminal, and tqdm's widget bar in a Jupyter notebook where ipywidgets
    is installed, with the epoch's logs (the validation metrics too) on a line below it; one line per
    epoch otherwise (a notebook without ipywidgets, a file, a pipe)."""

    def __init__(self, epochs: int, batches: int, *, lines: bool = False, stream: IO[str] | None = None) -> None:
        self.epochs, self.batches = epochs, batches
        self.stream = stream or sys.stdout
        self.lines = lines
        self.bar: "tqdm[Never] | None" = None
        self._loss_sum = 0.0

    def on_epoch_begin(self, epoch: int) -> None:
        self._loss_sum = 0.0
        if not self.lines and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.batches, desc=f"Epoch {epoch + 1}/{self.epochs}", file=self.stream,
                            leave=True, dynamic_ncols=True)
        elif not self.lines and in_notebook() and has_widgets():
            from tqdm.notebook import tqdm as notebook_tqdm

            self.bar = notebook_tqdm(total=self.batches, desc=f"Epoch {epoch + 1}/{self.epochs}", leave=True)

    def on_batch_end(self, batch: int, loss: float) -> None:
        self._loss_sum += loss
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss: {self._loss_sum / (batch + 1):.4f}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.bar is not None:  # the bar keeps its width; the logs, validation too, go whole on a line below
            self.bar.set_postfix_str(f"loss: {logs['loss']:.4f}")
            self.bar.close()
            self.bar = None
            print(f"  {format_logs(logs)}", file=self.stream, flush=True)
        else:
            print(f"Epoch {epoch + 1}/{self.epochs} - {format_logs(logs)}", file=self.stream, flush=True)


Callbacks = Sequence[Callback]


class CallbackList(Callback):
    """The callbacks of one `fit` as one callback, as Keras' `CallbackList`: the `History` first, the
    callbacks given, then, with `verbose`, the `ProgressBar` of `epochs` epochs of `batches` batches."""

    def __init__(self, callbacks: Callbacks, *, epochs: int, batches: int, verbose: int) -> None:
        self.history = History()
        self.callbacks: list[Callback] = [self.history, *callbacks]
        if verbose:
            self.callbacks.append(ProgressBar(epochs, batches, lines=verbose == 2))

    def on_train_begin(self) -> None:
        for callback in self.callbacks:
            callback.set_model(self.model)
            callback.on_train_begin()

    def on_epoch_begin(self, epoch: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch)

    def on_batch_end(self, batch: int, loss: float) -> None:
        for callback in self.callbacks:
            callback.on_batch_end(batch, loss)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_end(self) -> None:
        for callback in self.callbacks:
            callback.on_train_end()


def callback_list(callbacks: object) -> list[Callback]:
    """fit's `callbacks` as a list, or a ConfigError naming what was given instead."""
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Sequence):
        raise ConfigError(f"fit: callbacks must be a list of callbacks, got {a_kind(callbacks)}: "
                          f"callbacks=[{type(callbacks).__name__}(...)]")
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            given = f"the class {callback.__name__}" if isinstance(callback, type) else f"a {type(callback).__name__}"
            raise ConfigError(f"fit: callbacks[{i}] must be a Callback, got {given}")
    return list(callbacks)
