"""Callbacks: History, EarlyStopping (patience, min_delta, mode, restoring the best weights),
ModelCheckpoint, GradientCheck on a layer with a wrong backward, and the progress output."""

import csv
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, Adam, BackupAndRestore, BatchNorm, BCELoss, Callback, ConfigError, CSVLogger, Dense, Dropout, EarlyStopping,
    FormatError, GradientCheck, History, Layer, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau, ReLU,
    Sequential, Sigmoid, StepDecay, ValueRangeError, check_gradients, load_model,
)
from framework.core.arrays import Array
from framework.training.callbacks import Logs, ProgressBar

Floats = npt.NDArray[np.float64]


def data(m: int, features: int = 3, seed: int = 0) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, features))
    y = (x[:, :1] + 0.5 * rng.standard_normal((m, 1)) > 0).astype(np.float64)
    return x, y


class WeightsAtEpochEnd(Callback):
    """A copy of the model's weights at the end of every epoch."""

    def __init__(self) -> None:
        self.weights: list[list[Array]] = []

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.weights.append(self.model.get_weights())


def same(a: Sequence[Array], b: Sequence[Array]) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def overshooting_run(
    epochs: int, callbacks: Sequence[Callback], metrics: Sequence[str] = ()
) -> tuple[Sequential, dict[str, list[float]], WeightsAtEpochEnd]:
    """SGD with lr=10 on 40 samples, validated on 6: val_loss jumps around and is lowest at epoch 2
    (0-based), [1.49, 1.29, 0.15, 1.01, 0.81, 0.59, 0.63, 0.75, ...], val_accuracy highest there."""
    x, y = data(40)
    x_val, y_val = data(6, seed=100)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=10.0), metrics=metrics)
    snapshots = WeightsAtEpochEnd()
    history = model.fit(x, y, epochs=epochs, batch_size=8, validation_data=(x_val, y_val),
                        callbacks=[snapshots, *callbacks], verbose=0, seed=0)
    return model, history.history, snapshots


# History


def test_history_keeps_one_value_per_epoch_for_every_logged_key() -> None:
    history = History()
    history.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75})
    history.on_epoch_end(1, {"loss": 0.25, "accuracy": 0.875})
    assert history.history == {"loss": [0.5, 0.25], "accuracy": [0.75, 0.875]}
    assert history.epoch == [0, 1]


# EarlyStopping


def test_early_stopping_restores_the_best_weights_when_it_stops_early() -> None:
    stopper = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    model, history, snapshots = overshooting_run(12, [stopper])
    best = int(np.argmin(history["val_loss"]))
    assert best == 2
    assert stopper.best_epoch == 2
    assert stopper.stopped_epoch == 4  # epochs 3 and 4 without improvement: patience 2 runs out, as in Keras
    assert len(history["val_loss"]) == 5
    assert same(model.get_weights(), snapshots.weights[best])
    assert not same(model.get_weights(), snapshots.weights[-1])


def test_early_stopping_restores_the_best_weights_when_training_runs_all_its_epochs() -> None:
    stopper = EarlyStopping("val_loss", patience=100, restore_best_weights=True)
    model, history, snapshots = overshooting_run(8, [stopper])
    assert len(history["val_loss"]) == 8 and stopper.stopped_epoch is None
    best = int(np.argmin(history["val_loss"]))
    assert best == stopper.best_epoch == 2
    assert same(model.get_weights(), snapshots.weights[best])
    assert not same(model.get_weights(), snapshots.weights[-1])


def test_without_restore_best_weights_the_model_keeps_its_last_weights() -> None:
    stopper = EarlyStopping("val_loss", patience=2)
    model, history, snapshots = overshooting_run(12, [stopper])
    assert len(history["val_loss"]) == 5
    assert same(model.get_weights(), snapshots.weights[-1])
    assert not same(model.get_weights(), snapshots.weights[2])


class StateAtEpochEnd(Callback):
    """A copy of the model's whole state (parameters and buffers) and of its predictions on `x` at
    the end of every epoch."""

    def __init__(self, x: Floats) -> None:
        self.x, self.states, self.predictions = x, [], []

    states: list[list[Array]]
    predictions: list[Array]

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        model = cast(Sequential, self.model)
        self.states.append(model.get_weights())
        self.predictions.append(model.predict(self.x))


def test_early_stopping_restores_batchnorm_running_statistics_with_the_weights() -> None:
    x, y = data(64, features=4)
    x_val, y_val = data(16, features=4, seed=100)
    model = Sequential([Dense(4, 8, seed=0), BatchNorm(8), ReLU(), Dense(8, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=3.0))
    stopper = EarlyStopping("val_loss", patience=100, restore_best_weights=True)
    recorder = StateAtEpochEnd(x_val)
    history = model.fit(x, y, epochs=10, batch_size=16, validation_data=(x_val, y_val), callbacks=[stopper, recorder],
                        verbose=0, seed=0)
    best = stopper.best_epoch
    assert best == int(np.argmin(history.history["val_loss"])) and best < 9
    names = [name for name, _ in model.named_weights()]
    assert names[-2:] == ["1.running_mean", "1.running_var"]
    assert same(model.get_weights(), recorder.states[best])  # the running statistics too
    assert not same(model.get_weights()[-2:], recorder.states[-1][-2:])
    assert np.array_equal(model.predict(x_val), recorder.predictions[best])


def test_early_stopping_on_val_accuracy_maximises_it_in_auto_mode() -> None:
    stopper = EarlyStopping("val_accuracy", patience=2, restore_best_weights=True)
    model, history, snapshots = overshooting_run(12, [stopper], metrics=["accuracy"])
    assert history["val_accuracy"][:3] == pytest.approx([3 / 6, 4 / 6, 6 / 6])
    assert stopper.best_epoch == 2 and stopper.stopped_epoch == 4
    assert same(model.get_weights(), snapshots.weights[2])


def drive(stopper: EarlyStopping, values: Sequence[float], monitor: str = "val_loss") -> int:
    """Feed `values` of `monitor` to `stopper` epoch by epoch, as fit does; the epochs run."""
    model = Sequential([Dense(1, 1, seed=0)])
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin()
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {"loss": 0.0, monitor: value})
        if model.stop_training:
            return epoch + 1
    return len(values)


@pytest.mark.parametrize(
    ("patience", "ran", "best", "stopped"),
    [
        (0, 3, 1, 2),  # the first epoch without improvement stops
        (1, 3, 1, 2),  # as Keras: patience 0 and 1 alike
        (2, 4, 1, 3),  # the second epoch in a row without improvement stops
        (3, 5, 1, 4),
        (4, 6, 5, None),  # epoch 5 improves before patience runs out
    ],
)
def test_patience_is_the_number_of_epochs_without_improvement_that_stops(  # as keras.callbacks.EarlyStopping counts
    patience: int, ran: int, best: int, stopped: int | None
) -> None:
    stopper = EarlyStopping("val_loss", patience=patience)
    assert drive(stopper, [1.0, 0.5, 0.75, 0.875, 0.625, 0.25]) == ran
    assert (stopper.best_epoch, stopper.stopped_epoch) == (best, stopped)


def test_min_delta_is_measured_from_the_best_value_and_must_be_exceeded() -> None:
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.25)
    # 0.75 improves on 1.0 by exactly min_delta: not enough; 0.625 is 0.375 below the best: enough
    assert drive(stopper, [1.0, 0.75, 0.625, 0.5]) == 4
    assert stopper.best_epoch == 2
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.25)
    assert drive(stopper, [1.0, 0.875, 0.8125, 0.0]) == 3  # each step is small: stops at epoch 2
    assert (stopper.best_epoch, stopper.stopped_epoch) == (0, 2)
    stopper = EarlyStopping("val_loss", patience=2, min_delta=-0.25)  # the sign is ignored
    assert drive(stopper, [1.0, 0.875, 0.8125, 0.0]) == 3


@pytest.mark.parametrize("monitor", ["accuracy", "val_accuracy", "val_auc", "val_precision", "val_recall", "val_f1"])
def test_auto_mode_maximises_accuracy_like_monitors(monitor: str) -> None:
    stopper = EarlyStopping(monitor, patience=2)
    assert drive(stopper, [0.5, 0.625, 0.75, 0.5, 0.5, 1.0], monitor) == 5
    assert (stopper.best_epoch, stopper.stopped_epoch) == (2, 4)


def test_explicit_modes_override_auto() -> None:
    rising = [0.5, 0.625, 0.75, 0.5, 0.5]
    stopper = EarlyStopping("val_accuracy", patience=2, mode="min")
    assert drive(stopper, rising, "val_accuracy") == 3
    assert stopper.best_epoch == 0
    stopper = EarlyStopping("val_loss", patience=2, mode="max")
    assert drive(stopper, rising) == 5
    assert stopper.best_epoch == 2


def test_early_stopping_starts_afresh_on_each_fit() -> None:
    stopper = EarlyStopping("val_loss", patience=0)
    drive(stopper, [1.0, 2.0])
    first_stop = stopper.stopped_epoch
    assert first_stop == 1
    assert drive(stopper, [5.0, 4.0, 3.0]) == 3  # 5.0 is not compared with the first run's 1.0
    assert (stopper.best_epoch, stopper.stopped_epoch) == (2, None)


def test_an_unknown_monitor_is_a_clear_error_listing_the_logged_keys() -> None:
    x, y = data(20)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy"])
    with pytest.raises(ValueRangeError, match=r"EarlyStopping: monitor 'val_loss' is not logged; logged: loss, accuracy"):
        model.fit(x, y, epochs=2, callbacks=[EarlyStopping("val_loss")], verbose=0)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueRangeError, match=r"EarlyStopping: mode must be 'auto', 'min' or 'max', got 'maximum'"):
        EarlyStopping("val_loss", mode="maximum")  # type: ignore[arg-type]


# ModelCheckpoint


def test_model_checkpoint_saves_every_epoch_with_the_epoch_in_the_name(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch}.safetensors")
    _, _, snapshots = overshooting_run(3, [checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ckpt-{e}.safetensors" for e in (1, 2, 3)]
    for epoch in (1, 2, 3):
        assert same(load_model(tmp_path / f"ckpt-{epoch}.safetensors").get_weights(), snapshots.weights[epoch - 1])


def test_model_checkpoint_save_best_only_saves_the_improving_epochs(tmp_path: Path) -> None:
    numbered = ModelCheckpoint(tmp_path / "ckpt-{epoch}.safetensors", save_best_only=True)
    single = ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True)
    _, history, snapshots = overshooting_run(8, [numbered, single])
    val_loss = history["val_loss"]
    improving = [e for e in range(8) if val_loss[e] < min(val_loss[:e], default=np.inf)]
    assert improving == [0, 1, 2]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["best.safetensors"] + [f"ckpt-{e + 1}.safetensors" for e in improving]
    assert same(load_model(tmp_path / "best.safetensors").get_weights(), snapshots.weights[2])


def test_model_checkpoint_save_best_only_needs_a_logged_monitor(tmp_path: Path) -> None:
    x, y = data(20)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    checkpoint = ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True)
    with pytest.raises(ValueRangeError, match=r"ModelCheckpoint: monitor 'val_loss' is not logged; logged: loss"):
        model.fit(x, y, callbacks=[checkpoint], verbose=0)
    assert list(tmp_path.iterdir()) == []


# GradientCheck


class DoubleForgettingTwo(Layer):
    """y = 2x, but backward returns the upstream gradient without the factor 2."""

    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, grad: Array) -> Array:
        return grad


def test_gradient_check_stops_training_and_names_the_wrong_layer(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = data(20)
    model = Sequential([Dense(3, 2, seed=0), DoubleForgettingTwo(), Dense(2, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    check = GradientCheck(x[:8], y[:8])
    history = model.fit(x, y, epochs=5, batch_size=8, callbacks=[check], verbose=0, seed=0)
    assert history.epoch == [0]
    assert [epoch for epoch, _ in check.reports] == [0]
    report = check.reports[0][1]
    assert not report.passed
    assert report.culprits == ("layer 1 DoubleForgettingTwo()",)
    err = capsys.readouterr().err
    assert err.startswith("GradientCheck: the gradient check at epoch 1 failed; training stopped.\n")
    assert "WRONG: the backward of layer 1 DoubleForgettingTwo()" in err


def test_a_failed_gradient_check_says_when_training_stopped_and_keeps_the_report() -> None:
    x, y = data(20)
    model = Sequential([Dense(3, 2, seed=0), DoubleForgettingTwo(), Dense(2, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    stream = io.StringIO()
    check = GradientCheck(x[:8], y[:8], every=2, stream=stream)
    history = model.fit(x, y, epochs=6, batch_size=8, callbacks=[check], verbose=0, seed=0)
    assert history.epoch == [0, 1]  # the check of epoch 2 (index 1) failed: no epoch after it
    assert model.stop_training is True
    assert [epoch for epoch, _ in check.reports] == [1]
    report = check.reports[0][1]
    assert check.failed_report is report and check.stopped_epoch == 1
    assert check.message == f"GradientCheck: the gradient check at epoch 2 failed; training stopped.\n{report}"
    assert stream.getvalue() == check.message + "\n"
    assert "WRONG: the backward of layer 1 DoubleForgettingTwo(): input" in stream.getvalue()
    check.on_train_begin()  # a new fit starts with no failure
    assert check.failed_report is None and check.stopped_epoch is None and check.message is None


def test_gradient_check_runs_every_n_epochs_and_leaves_training_unchanged() -> None:
    x, y = data(20)
    check = GradientCheck(x[:8], y[:8], every=2)
    runs = []
    for callbacks in ([], [check]):
        model = Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])
        model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05))
        history = model.fit(x, y, epochs=5, batch_size=8, callbacks=callbacks, verbose=0, seed=0)
        runs.append((history, model.get_weights()))
    (plain, plain_weights), (checked, checked_weights) = runs
    assert [epoch for epoch, _ in check.reports] == [1, 3]
    assert all(report.passed for _, report in check.reports)
    assert checked.epoch == [0, 1, 2, 3, 4]
    assert checked.history == plain.history
    assert same(checked_weights, plain_weights)  # the checker leaves parameters exactly as they were


def test_gradient_check_checks_the_weighted_loss_it_is_given() -> None:
    x, y = data(20)
    w = np.linspace(0.0, 2.0, 8)
    model = Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    check = GradientCheck(x[:8], y[:8], mode="full", sample_weight=w)
    model.fit(x, y, epochs=1, batch_size=8, callbacks=[check], verbose=0, seed=0)
    ((_, report),) = check.reports
    weighted = check_gradients(model, BCELoss(), x[:8], y[:8], mode="full", sample_weight=w)
    plain = check_gradients(model, BCELoss(), x[:8], y[:8], mode="full")
    assert report.passed
    numbers = [(r.worst_backward, r.worst_numeric) for r in report.rows]
    assert numbers == [(r.worst_backward, r.worst_numeric) for r in weighted.rows]
    assert numbers != [(r.worst_backward, r.worst_numeric) for r in plain.rows]


def test_gradient_check_every_must_be_positive() -> None:
    x, y = data(4)
    with pytest.raises(ValueRangeError, match="every must be at least 1, got 0"):
        GradientCheck(x, y, every=0)


# Progress output

EPOCH_LINE = re.compile(r"Epoch [123]/3 - loss: \d+\.\d{4} - accuracy: \d\.\d{4}")


def fit_quietly(verbose: int) -> dict[str, list[float]]:
    x, y = data(20)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy"])
    return model.fit(x, y, epochs=3, batch_size=8, verbose=verbose, seed=0).history


def test_verbose_0_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    fit_quietly(0)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_1_and_2_off_a_terminal_print_one_line_per_epoch(
    verbose: int, capsys: pytest.CaptureFixture[str]
) -> None:
    history = fit_quietly(verbose)
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 3 and out.endswith("\n")
    assert all(EPOCH_LINE.fullmatch(line) for line in lines), lines
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert lines[2] == f"Epoch 3/3 - loss: {history['loss'][2]:.4f} - accuracy: {history['accuracy'][2]:.4f}"
    assert not set(out) & set("\r|#%█")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_verbose_1_on_a_terminal_draws_a_bar_and_verbose_2_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    bar, lines = Terminal(), Terminal()
    monkeypatch.setattr("sys.stdout", bar)
    fit_quietly(1)
    monkeypatch.setattr("sys.stdout", lines)
    fit_quietly(2)
    assert "\r" in bar.getvalue() and "Epoch 3/3: 100%" in bar.getvalue() and "3/3 [" in bar.getvalue()
    assert len(lines.getvalue().splitlines()) == 3
    assert all(EPOCH_LINE.fullmatch(line) for line in lines.getvalue().splitlines())


def test_on_a_terminal_each_epochs_logs_with_the_validation_metrics_stand_whole_below_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setenv("COLUMNS", "80")
    x, y = data(20)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy", "precision", "recall", "f1"])
    history = model.fit(x, y, epochs=2, batch_size=8, validation_data=(x[:6], y[:6]), verbose=1, seed=0).history
    logs = [line for line in terminal.getvalue().split("\n") if line.startswith("  loss: ")]
    expected = " - ".join(f"{key}: {values[1]:.4f}" for key, values in history.items())
    assert len(logs) == 2 and logs[1] == f"  {expected}" and len(logs[1]) > 80
    assert "val_f1: " in logs[1]


def test_progress_bar_writes_to_the_stream_it_is_given() -> None:
    stream = io.StringIO()
    progress = ProgressBar(2, 1, stream=stream)
    for epoch in range(2):
        progress.on_epoch_begin(epoch)
        progress.on_batch_end(0, 0.5)
        progress.on_epoch_end(epoch, {"loss": 0.5, "val_loss": 0.25})
    assert stream.getvalue() == "Epoch 1/2 - loss: 0.5000 - val_loss: 0.2500\nEpoch 2/2 - loss: 0.5000 - val_loss: 0.2500\n"


# EarlyStopping: start_from_epoch and its arguments


def test_start_from_epoch_ignores_the_warm_up_epochs() -> None:
    values = [0.1, 5.0, 1.0, 0.9, 1.2, 1.3]
    stopper = EarlyStopping("val_loss", patience=2)
    assert drive(stopper, values) == 3  # 0.1 at epoch 0 is the best; 2 epochs without improvement stop
    stopper = EarlyStopping("val_loss", patience=2, start_from_epoch=2)
    assert drive(stopper, values) == 6  # epochs 0 and 1 not compared: 1.0, then 0.9 the best, then 2 worse
    assert (stopper.best_epoch, stopper.stopped_epoch) == (3, 5)


def test_start_from_epoch_restores_the_best_weights_of_the_epochs_after_the_warm_up() -> None:
    stopper = EarlyStopping("val_loss", patience=100, restore_best_weights=True, start_from_epoch=3)
    model, history, snapshots = overshooting_run(8, [stopper])
    val_loss = history["val_loss"]  # lowest at epoch 2, in the warm-up
    best = 3 + int(np.argmin(val_loss[3:]))
    assert int(np.argmin(val_loss)) == 2 and stopper.best_epoch == best
    assert same(model.get_weights(), snapshots.weights[best])


def test_an_unknown_monitor_is_named_at_the_first_epochs_end_even_in_the_warm_up() -> None:
    stopper = EarlyStopping("val_loss", start_from_epoch=5)
    with pytest.raises(ValueRangeError, match=r"EarlyStopping: monitor 'val_loss' is not logged; logged: loss"):
        drive(stopper, [1.0], monitor="loss")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EarlyStopping(start_from_epoch=-1), "EarlyStopping: start_from_epoch must be a whole number >= 0, got -1"),
        (lambda: EarlyStopping(patience=-2), "EarlyStopping: patience must be a whole number >= 0, got -2"),
        (lambda: EarlyStopping(patience=1.5),  # type: ignore[arg-type]
         "EarlyStopping: patience must be a whole number >= 0, got 1.5"),
    ],
)
def test_early_stopping_refuses_counts_that_are_not_whole_and_non_negative(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueRangeError, match=re.escape(message)):
        make()


# ReduceLROnPlateau and LearningRateScheduler


def rates(callback: Callback, values: Sequence[float], monitor: str = "val_loss", lr: float = 0.1) -> list[float]:
    """The optimizer's lr after each epoch's end, `values` of `monitor` fed to `callback` as fit does."""
    model = Sequential([Dense(1, 1, seed=0)])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=lr))
    callback.set_model(model)
    callback.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": 0.0, monitor: value})
        assert isinstance(model.optimizer, SGD) and isinstance(model.optimizer.lr, float)
        seen.append(model.optimizer.lr)
    return seen


def test_reduce_lr_on_plateau_by_hand() -> None:
    reduce = ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_delta=0.1, cooldown=1, min_lr=0.02)
    values = [1.0, 0.95, 0.92, 0.85, 0.84, 0.83, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    # epoch 0 best 1.0; 1, 2 not below 1.0 - 0.1: the second halves the rate, then 1 epoch of cooldown (3,
    # where 0.85 is a new best); 4, 5 not below 0.75: halved; cooldown at 6 (a new best, 0.5); 7, 8: halved
    # to 0.0125, raised to min_lr; cooldown at 9; 10, 11: at min_lr already, left there
    assert rates(reduce, values) == [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02]


def test_reduce_lr_on_plateau_with_patience_0_reduces_at_every_epoch_without_improvement_and_maximises_accuracy() -> None:
    reduce = ReduceLROnPlateau("val_accuracy", factor=0.5, patience=0, min_delta=0.0)
    assert rates(reduce, [0.5, 0.625, 0.625, 0.75, 0.5], "val_accuracy") == [0.1, 0.1, 0.05, 0.05, 0.025]
    reduce = ReduceLROnPlateau("val_accuracy", factor=0.5, patience=0, min_delta=0.0, mode="min")
    assert rates(reduce, [0.5, 0.625], "val_accuracy") == [0.1, 0.05]


def test_reduce_lr_on_plateau_starts_afresh_on_each_fit() -> None:
    reduce = ReduceLROnPlateau("val_loss", factor=0.5, patience=0, min_delta=0.0, cooldown=3)
    assert rates(reduce, [1.0, 2.0]) == [0.1, 0.05]
    assert rates(reduce, [5.0, 6.0]) == [0.1, 0.05]  # 5.0 not compared with 1.0, and no cooldown left over


class RateAtEachBatch(Callback):
    """The rate each batch of a fit was trained with."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_batch_end(self, batch: int, loss: float) -> None:
        assert self.model.optimizer is not None
        self.rates.append(self.model.optimizer.learning_rate)


def fit_with(callback: Callback, epochs: int = 4) -> tuple[Sequential, RateAtEachBatch]:
    x, y = data(24)
    model = Sequential([Dense(3, 2, seed=0), ReLU(), Dense(2, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1, momentum=0.5))
    recorder = RateAtEachBatch()
    model.fit(x, y, epochs=epochs, batch_size=12, callbacks=[callback, recorder], verbose=0, seed=0)
    return model, recorder


def test_fit_trains_each_epoch_at_the_rate_the_callbacks_set() -> None:
    # min_delta=10: no epoch improves on the first, so each epoch's end from the second on halves the rate
    plateau, by_plateau = fit_with(ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0))
    scheduled, by_schedule = fit_with(LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** max(epoch - 1, 0)))
    assert by_plateau.rates == by_schedule.rates == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert same(plateau.get_weights(), scheduled.get_weights())
    assert isinstance(plateau.optimizer, SGD) and plateau.optimizer.lr == 0.0125  # after the last epoch's end


def test_learning_rate_scheduler_is_given_the_epoch_and_the_rate_in_force() -> None:
    calls: list[tuple[int, float]] = []

    def schedule(epoch: int, lr: float) -> float:
        calls.append((epoch, lr))
        return lr * 0.5 if epoch % 2 else lr

    assert rates(LearningRateScheduler(schedule), [0.0] * 4) == [0.1, 0.05, 0.05, 0.025]
    assert calls == [(0, 0.1), (1, 0.1), (2, 0.05), (3, 0.05)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ReduceLROnPlateau(factor=1.0), "ReduceLROnPlateau: factor must be between 0 and 1 (0 < factor < 1), got 1.0"),
        (lambda: ReduceLROnPlateau(factor=0), "factor must be between 0 and 1 (0 < factor < 1), got 0"),
        (lambda: ReduceLROnPlateau(min_lr=-0.1), "ReduceLROnPlateau: min_lr must be a finite rate >= 0, got -0.1"),
        (lambda: ReduceLROnPlateau(patience=-1), "ReduceLROnPlateau: patience must be a whole number >= 0, got -1"),
        (lambda: ReduceLROnPlateau(cooldown=0.5),  # type: ignore[arg-type]
         "ReduceLROnPlateau: cooldown must be a whole number >= 0, got 0.5"),
        (lambda: ReduceLROnPlateau(mode="lowest"),  # type: ignore[arg-type]
         "ReduceLROnPlateau: mode must be 'auto', 'min' or 'max', got 'lowest'"),
        (lambda: LearningRateScheduler(0.1),  # type: ignore[arg-type]
         "LearningRateScheduler: schedule must be a function (epoch, lr) -> lr, got a float"),
    ],
)
def test_rate_callbacks_refuse_bad_arguments(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueRangeError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("returned", [-0.5, 0.0, float("nan"), "0.1", None, True])
def test_learning_rate_scheduler_refuses_a_rate_that_is_not_a_positive_number(returned: object) -> None:
    message = f"LearningRateScheduler: schedule(0, 0.1) returned {returned!r}; it must return a positive finite learning rate"
    with pytest.raises(ValueRangeError, match=re.escape(message)):
        rates(LearningRateScheduler(lambda epoch, lr: returned), [0.0])  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize("callback", [ReduceLROnPlateau("loss"), LearningRateScheduler(lambda epoch, lr: lr)])
def test_rate_callbacks_refuse_an_optimizer_whose_rate_is_a_schedule_before_training(callback: Callback) -> None:
    x, y = data(20)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=StepDecay(0.1, step_size=2)))
    name = type(callback).__name__
    message = (f"{name}: the optimizer's lr is a schedule, StepDecay(initial=0.1, step_size=2, gamma=0.1), whose rate "
               f"{name} cannot set; give the optimizer a float lr, SGD(lr=0.01)")
    weights = model.get_weights()
    with pytest.raises(ValueRangeError, match=re.escape(message)):
        model.fit(x, y, epochs=2, callbacks=[callback], verbose=0)
    assert same(model.get_weights(), weights)


def test_reduce_lr_on_plateau_names_an_unknown_monitor_at_the_first_epochs_end() -> None:
    x, y = data(20)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy"])
    with pytest.raises(ValueRangeError, match=r"ReduceLROnPlateau: monitor 'val_loss' is not logged; logged: loss, accuracy"):
        model.fit(x, y, epochs=2, callbacks=[ReduceLROnPlateau()], verbose=0)


# CSVLogger


def test_csv_logger_writes_a_header_and_a_row_per_epoch_by_hand(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path / "logs" / "training.csv")
    logger.set_model(Sequential([Dense(1, 1, seed=0)]))
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625})
    logger.on_epoch_end(1, {"loss": 0.1 + 0.2, "accuracy": 1.0, "val_loss": np.float64(0.25)})
    logger.on_train_end()
    assert (tmp_path / "logs" / "training.csv").read_bytes() == (
        b"epoch,accuracy,loss,val_loss\r\n0,0.75,0.5,0.625\r\n1,1.0,0.30000000000000004,0.25\r\n"
    )


def test_csv_logger_holds_what_history_holds_and_appends_to_an_earlier_fit(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    _, first, _ = overshooting_run(3, [CSVLogger(path, separator=";")], metrics=["accuracy"])
    _, second, _ = overshooting_run(2, [CSVLogger(path, separator=";", append=True)], metrics=["accuracy"])
    with path.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2", "0", "1"]  # epochs count from 0 in each fit, as Keras'
    for column, key in enumerate(rows[0][1:], start=1):
        assert [float(row[column]) for row in rows[1:]] == first[key] + second[key]  # exact: repr reads back


def test_csv_logger_without_append_writes_the_file_afresh(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    path.write_text("old contents\n")
    overshooting_run(2, [CSVLogger(path)])
    assert path.read_text().splitlines()[0] == "epoch,loss,val_loss" and len(path.read_text().splitlines()) == 3


def test_csv_logger_refuses_to_append_other_columns_and_a_separator_of_two_characters(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    overshooting_run(1, [CSVLogger(path)], metrics=["accuracy"])
    message = (f"CSVLogger: {path} has the columns 'epoch,accuracy,loss,val_accuracy,val_loss', but this fit logs "
               "'epoch,loss,val_loss': append to a file of the same columns, or pass append=False")
    with pytest.raises(ValueRangeError, match=re.escape(message)):
        overshooting_run(1, [CSVLogger(path, append=True)])
    with pytest.raises(ValueRangeError, match=re.escape("CSVLogger: separator must be one character, got '::'")):
        CSVLogger(path, separator="::")


# BackupAndRestore


class Interrupt(Exception):
    """What a crash mid-fit raises."""


class CrashAt(Callback):
    """Raise Interrupt at batch `batch` of epoch `epoch` (at its end with batch=None), once."""

    def __init__(self, epoch: int, batch: int | None) -> None:
        self.epoch, self.batch, self.current, self.armed = epoch, batch, -1, True

    def on_epoch_begin(self, epoch: int) -> None:
        self.current = epoch

    def on_batch_end(self, batch: int, loss: float) -> None:
        if self.armed and (self.current, batch) == (self.epoch, self.batch):
            self.armed = False
            raise Interrupt

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.armed and (epoch, None) == (self.epoch, self.batch):
            self.armed = False
            raise Interrupt


def backup_model() -> Sequential:
    model = Sequential([Dense(3, 6, seed=0), BatchNorm(6), ReLU(), Dropout(0.2, seed=3), Dense(6, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=Adam(StepDecay(0.05, step_size=2)), metrics=["accuracy"])
    return model


def backup_fit(model: Sequential, callbacks: Sequence[Callback], seed: int | None = 4) -> dict[str, list[float]]:
    x, y = data(40)
    return model.fit(x, y, epochs=6, batch_size=8, validation_split=0.25, callbacks=callbacks, verbose=0,
                     seed=seed).history


@pytest.mark.parametrize(("epoch", "batch"), [(3, 1), (3, None), (0, None), (5, None)])
@pytest.mark.parametrize("same_model", [True, False])
def test_a_fit_interrupted_and_fit_again_ends_with_the_weights_of_an_uninterrupted_run(
    tmp_path: Path, epoch: int, batch: int | None, same_model: bool
) -> None:
    whole = backup_model()
    history = backup_fit(whole, [])
    model = backup_model()
    with pytest.raises(Interrupt):
        backup_fit(model, [BackupAndRestore(tmp_path), CrashAt(epoch, batch)])
    assert (tmp_path / "backup.safetensors").exists()
    again = model if same_model else backup_model()  # the seed left out: the backup keeps it
    resumed = backup_fit(again, [BackupAndRestore(tmp_path)], seed=None)
    done = epoch + 1 if batch is None else epoch  # a crash at an epoch's end comes after its backup
    assert resumed == ({key: values[done:] for key, values in history.items()} if done < 6 else {})
    assert same(again.get_weights(), whole.get_weights())
    assert not (tmp_path / "backup.safetensors").exists()  # deleted once training ended


def test_without_a_backup_the_fit_starts_at_epoch_0_and_delete_checkpoint_false_keeps_the_last(tmp_path: Path) -> None:
    model = backup_model()
    history = backup_fit(model, [BackupAndRestore(tmp_path / "new", delete_checkpoint=False)])
    assert len(history["loss"]) == 6
    kept = load_model(tmp_path / "new" / "backup.safetensors")
    assert same(kept.get_weights(), model.get_weights()) and kept.fit_progress == model.fit_progress


def test_a_backup_of_another_model_or_without_training_state_is_refused(tmp_path: Path) -> None:
    other = Sequential([Dense(3, 2, seed=0), ReLU(), Dense(2, 1, seed=1), Sigmoid()])
    other.compile(loss=BCELoss(), optimizer=Adam())
    other.save(tmp_path / "backup.safetensors")
    message = (f"BackupAndRestore: {tmp_path / 'backup.safetensors'} is the backup of another model (another "
               "architecture): pass another backup_dir, or delete this one to start afresh")
    with pytest.raises(FormatError, match=re.escape(message)):
        backup_fit(backup_model(), [BackupAndRestore(tmp_path)])
    backup_model().save(tmp_path / "backup.safetensors", include_optimizer=False)
    with pytest.raises(FormatError, match=r"holds no training state to resume from \(saved with include_optimizer=False\?\)"):
        backup_fit(backup_model(), [BackupAndRestore(tmp_path)])


def test_backup_and_restore_refuses_what_it_could_not_restore(tmp_path: Path) -> None:
    model = backup_model()
    model.compile(loss=BCELoss(), optimizer=Adam(lambda epoch: 0.01))
    with pytest.raises(ConfigError, match=r"BackupAndRestore: the learning rate <function .*> is not one of this "
                                          r"framework's schedules .*: compile the model with a built-in loss"):
        backup_fit(model, [BackupAndRestore(tmp_path)])
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueRangeError, match=r"BackupAndRestore: backup_dir .*file is a file, not a folder"):
        BackupAndRestore(tmp_path / "file")
    with pytest.raises(ConfigError, match=r"fit: callbacks hold 2 BackupAndRestore callbacks; one restores the fit"):
        backup_fit(backup_model(), [BackupAndRestore(tmp_path), BackupAndRestore(tmp_path / "b")])
