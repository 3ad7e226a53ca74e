"""Resuming training from a saved file: `save` keeps the compile state (loss, optimizer with its
buffers and step counts, metrics, the fit's progress and shuffling generator, the layers' random
generators), `load_model` compiles the model again with it, and `fit(initial_epoch=...)` then trains
as an uninterrupted run does, bit for bit; files whose training state is damaged are refused."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

from framework import (
    SGD, Adam, BatchNorm, BCELoss, ConfigError, CosineDecay, CrossEntropyLoss, Dense, Dropout, FormatError, Loss, Nested,
    NonFiniteError, ReLU,
    ReduceLROnPlateau, RMSprop, Sequential, Sigmoid, StepDecay, ValueRangeError, load_model,
)
from framework.core.arrays import Array
from framework.training.data import held_out
from framework.training.optimizers import Optimizer
from framework.training.state import FitProgress

rng = np.random.default_rng(0)
X = rng.standard_normal((60, 4))
Y = (X[:, :1] + 0.3 * rng.standard_normal((60, 1)) > 0).astype(np.float64)


def dropout_model(optimizer: Optimizer) -> Sequential:
    model = Sequential([Dense(4, 8, seed=0), ReLU(), Dropout(0.25, seed=1), Dense(8, 1, seed=2), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=optimizer, metrics=["accuracy", "auc"])
    return model


def batchnorm_model(optimizer: Optimizer) -> Sequential:
    model = Sequential([Dense(4, 6, seed=0), BatchNorm(6), ReLU(), Dense(6, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=optimizer, metrics=["accuracy"])
    return model


def nested_model(optimizer: Optimizer) -> Sequential:
    """A Dropout inside a model inside a model: its generator is found through `Nested`."""
    model = Sequential([Nested(Sequential([Dense(4, 6, seed=0), ReLU(), Dropout(0.3, seed=1)])), Dense(6, 1, seed=2),
                        Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=optimizer)
    return model


OPTIMIZERS: list[Callable[[], Optimizer]] = [
    lambda: SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: Adam(StepDecay(0.05, step_size=2, gamma=0.5), clipnorm=0.5),
    lambda: RMSprop(CosineDecay(0.01, total_epochs=6), momentum=0.5, global_clipnorm=1.0),
]
FIT: dict[str, Any] = {"batch_size": 8, "validation_split": 0.25, "verbose": 0}


def same(a: list[Array], b: list[Array]) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
@pytest.mark.parametrize("make_model", [dropout_model, batchnorm_model, nested_model])
@pytest.mark.parametrize("seed", [7, None])
def test_a_saved_and_loaded_model_goes_on_training_as_an_uninterrupted_run_bit_for_bit(
    tmp_path: Path, make_optimizer: Callable[[], Optimizer], make_model: Callable[[Optimizer], Sequential],
    seed: int | None,
) -> None:
    first = make_model(make_optimizer())
    head = first.fit(X, Y, epochs=3, seed=seed, **FIT).history
    assert first.fit_progress is not None and first.fit_progress.epoch == 3
    loaded = load_model(first.save(tmp_path / "m.safetensors"))
    tail = loaded.fit(X, Y, epochs=6, initial_epoch=3, **FIT).history  # the seed is kept

    whole = make_model(make_optimizer())
    history = whole.fit(X, Y, epochs=6, seed=first.fit_progress.seed, **FIT).history
    assert same(loaded.get_weights(), whole.get_weights())
    assert {key: head[key] + tail[key] for key in history} == history  # every epoch's loss and metrics, exactly


def test_load_model_compiles_the_model_as_it_was_saved(tmp_path: Path) -> None:
    model = dropout_model(Adam(StepDecay(0.05, step_size=2), beta1=0.8, clipvalue=0.5))
    model.fit(X, Y, epochs=2, seed=3, **FIT)
    loaded = load_model(model.save(tmp_path / "m.safetensors"))
    assert type(loaded.loss) is BCELoss and list(loaded.metrics) == ["accuracy", "auc"]
    assert loaded.optimizer is not None and model.optimizer is not None
    assert type(loaded.optimizer) is Adam and loaded.optimizer.get_config() == model.optimizer.get_config()
    before, after = model.optimizer.get_state(model.named_parameters()), loaded.optimizer.get_state(loaded.named_parameters())
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert int(after["0.W/steps"]) == 2 * 6  # 45 training samples in batches of 8: 6 steps an epoch
    assert loaded.fit_progress == model.fit_progress


def test_the_file_keeps_the_optimizers_buffers_as_tensors_apart_from_the_weights(tmp_path: Path) -> None:
    model = Sequential([Dense(4, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=Adam())
    model.fit(X, Y, epochs=1, batch_size=60, verbose=0, seed=0)
    path = model.save(tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as f:
        names, metadata = set(f.keys()), f.metadata()
    assert names == {"0.W", "0.b", *(f"training/0.{p}/{part}" for p in "Wb" for part in ("steps", "0", "1"))}
    assert metadata["format_version"] == "2"
    training = json.loads(metadata["training"])
    assert training["loss"] == {"class": "BCELoss", "config": {}} and training["metrics"] == []
    assert training["optimizer"]["class"] == "Adam" and training["progress"]["epoch"] == 1
    assert training["progress"]["seed"] == 0 and training["generators"] == {}


def test_a_rate_a_callback_lowered_is_kept(tmp_path: Path) -> None:
    model = dropout_model(SGD(0.1))
    model.fit(X, Y, epochs=3, seed=0, callbacks=[ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)],
              **FIT)
    loaded = load_model(model.save(tmp_path / "m.safetensors"))
    assert isinstance(loaded.optimizer, SGD) and loaded.optimizer.lr == 0.025


def test_a_model_compiled_but_never_fit_loads_compiled_with_a_fresh_optimizer(tmp_path: Path) -> None:
    model = Sequential([Dense(4, 3, seed=0)])
    model.compile(loss=CrossEntropyLoss(), optimizer=SGD(0.1, momentum=0.5))
    loaded = load_model(model.save(tmp_path / "m.safetensors"))
    assert type(loaded.loss) is CrossEntropyLoss and loaded.fit_progress is None
    assert loaded.optimizer is not None and loaded.optimizer.get_state(loaded.named_parameters()) == {}


def test_initial_epoch_without_a_fit_to_continue_numbers_the_epochs_and_reads_the_schedule_there() -> None:
    model = Sequential([Dense(4, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(StepDecay(0.1, step_size=2, gamma=0.5)))
    history = model.fit(X, Y, epochs=5, initial_epoch=3, batch_size=60, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2 and history.epoch == [3, 4]
    assert model.optimizer is not None and model.optimizer.learning_rate == 0.025  # epoch 4: 0.1 * 0.5 ** 2


def test_a_seed_other_than_the_one_of_the_fit_continued_is_refused(tmp_path: Path) -> None:
    model = dropout_model(SGD(0.1))
    model.fit(X, Y, epochs=2, seed=5, **FIT)
    message = ("fit: initial_epoch=2 continues a fit seeded with 5, but seed=6 was passed: pass seed=5, or seed=None "
               "to continue it")
    with pytest.raises(ConfigError, match=re.escape(message)):
        model.fit(X, Y, epochs=4, initial_epoch=2, seed=6, **FIT)


@pytest.mark.parametrize("initial_epoch", [-1, 4, 10, 1.5])
def test_an_initial_epoch_outside_the_epochs_is_refused(initial_epoch: int) -> None:
    model = Sequential([Dense(4, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(0.1))
    message = (f"fit: initial_epoch must be a whole number from 0 to epochs - 1 = 3, got {initial_epoch!r}: epochs is "
               "the index training ends before, as in Keras (fit(epochs=9, initial_epoch=4) trains 5 epochs more)")
    with pytest.raises(ValueRangeError, match=re.escape(message)):
        model.fit(X, Y, epochs=4, initial_epoch=initial_epoch, verbose=0)


class Huber(Loss):
    """A loss that is not one of the framework's."""


def test_a_compile_state_load_model_could_not_rebuild_is_left_out_or_refused(tmp_path: Path) -> None:
    model = Sequential([Dense(4, 1, seed=0)])
    model.compile(loss=Huber(), optimizer=Adam())
    assert load_model(model.save(tmp_path / "m.safetensors")).loss is None  # by default: weights and architecture
    message = ("save: the loss Huber() is not one of this framework's (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, "
               f"MSELoss), so load_model could not rebuild the compile state (nothing was written to {tmp_path / 'n'}): "
               "save(path, include_optimizer=False) keeps the weights and architecture only")
    with pytest.raises(ConfigError, match=re.escape(message)):
        model.save(tmp_path / "n", include_optimizer=True)
    model.compile(loss=BCELoss(), optimizer=SGD(lambda epoch: 0.1))
    with pytest.raises(ConfigError, match=r"save: the learning rate <function .*> is not one of this framework's "
                                          r"schedules \(StepDecay, ExponentialDecay, CosineDecay\)"):
        model.save(tmp_path / "n", include_optimizer=True)
    assert not (tmp_path / "n").exists()


# Damaged training states


def saved_state(tmp_path: Path) -> tuple[Path, dict[str, Array], dict[str, str]]:
    model = dropout_model(Adam())
    model.fit(X, Y, epochs=1, seed=0, **FIT)
    path = model.save(tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as f:
        return path, {name: f.get_tensor(name) for name in f.keys()}, f.metadata()


def rewrite(path: Path, tensors: dict[str, Array], metadata: dict[str, str], **training: object) -> None:
    """Write the file again, the training state's entries replaced by `training`."""
    state = json.loads(metadata["training"]) | training
    safetensors.numpy.save_file(tensors, str(path), metadata=metadata | {"training": json.dumps(state)})


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t, m: (t, m | {"training": "{not json"}), "the training state is not valid JSON"),
        (lambda t, m: ({k: v for k, v in t.items() if k != "training/0.W/1"}, m),
         "Adam's buffer 1 of '0.W' should be (4, 8) float64, got nothing (edited or damaged)"),
        (lambda t, m: (t | {"training/0.W/0": np.zeros((8, 4))}, m),
         "Adam's buffer 0 of '0.W' should be (4, 8) float64, got (8, 4) float64"),
        (lambda t, m: (t | {"training/0.W/steps": np.array(-1)}, m), "Adam's step count of '0.W' is array(-1)"),
        (lambda t, m: (t | {"training/9.W/0": np.zeros(2)}, m),
         "Adam state ['9.W/0'] belongs to no parameter of the model"),
        (lambda t, m: (t | {"training/0.W/0": np.full((4, 8), np.nan)}, m), "the training state must be finite"),
    ],
)
def test_a_damaged_training_state_is_a_format_error_naming_the_file(
    tmp_path: Path, damage: Callable[[dict[str, Array], dict[str, str]], tuple[dict[str, Array], dict[str, str]]],
    message: str,
) -> None:
    path, tensors, metadata = saved_state(tmp_path)
    damaged, labels = damage(tensors, metadata)
    safetensors.numpy.save_file(damaged, str(path), metadata=labels)
    with pytest.raises((FormatError, NonFiniteError), match=re.escape(message)) as raised:  # NaN: as in the weights
        load_model(path)
    assert str(path) in str(raised.value)
    assert load_model(path, compile=False).loss is None  # the weights still load


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"optimizer": {"class": "Adagrad", "config": {}}}, "the optimizer 'Adagrad' is not one of this framework's"),
        ({"loss": {"class": "FocalLoss", "config": {}}}, "the loss 'FocalLoss' is not one of this framework's"),
        ({"loss": {"class": "BCELoss", "config": {"gamma": 2}}}, "the training state does not rebuild"),
        ({"metrics": "accuracy"}, "the training state's metrics must be a list of names, got 'accuracy'"),
        ({"progress": {"epoch": 0, "seed": 1, "rng": {}}}, "is not an epoch >= 1, a seed and a generator's state"),
        ({"progress": {"epoch": 1, "seed": 1, "rng": {"bit_generator": "MT19937"}}},
         "the fit's generator is not one numpy can set"),
        ({"generators": {}}, "the training state has random generators [], the model ['2._rng']"),
        ({"generators": {"2._rng": {"bit_generator": "PCG64", "state": 5}}},
         "the state of the generator '2._rng' is not one numpy can set"),
    ],
)
def test_a_training_state_of_the_wrong_structure_is_a_format_error(
    tmp_path: Path, training: dict[str, object], message: str
) -> None:
    path, tensors, metadata = saved_state(tmp_path)
    rewrite(path, tensors, metadata, **training)
    with pytest.raises(FormatError, match=re.escape(message)):
        load_model(path)


def test_fit_progress_is_the_generator_after_the_split_and_one_shuffle_an_epoch() -> None:
    model = dropout_model(SGD(0.1))
    model.fit(X, Y, epochs=2, seed=11, **FIT)
    reference = np.random.default_rng(11)
    held = held_out(Y, 0.25, reference)
    for _ in range(2):
        reference.permutation(int((~held).sum()))
    assert model.fit_progress == FitProgress(2, 11, dict(reference.bit_generator.state))
