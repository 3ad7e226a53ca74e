"""fit's `sample_weight` and `class_weight`, evaluate's `sample_weight`: a weighted step is PyTorch's on
the same weighted loss, class weights are the sample weights of the samples' classes (times the given
ones), the weights travel with their samples into a validation split or `validation_data`, and bad
weights are refused, before training, by name."""

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, BCELoss, BCEWithLogitsLoss, ConfigError, CrossEntropyLoss, Dense, DTypeError, MSELoss, NonFiniteError,
    Sequential, ShapeError, Sigmoid, ValueRangeError, load_model,
)
from framework.core.arrays import Array, Labels, Scalar
from framework.losses import Loss
from framework.training.data import held_out

Floats = npt.NDArray[np.float64]


def problem(m: int = 40, seed: int = 0) -> tuple[Floats, Floats, Floats]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, 3))
    return x, (x[:, :1] + 0.3 * rng.standard_normal((m, 1)) > 0.4).astype(float), rng.uniform(0, 3, m)


def classifier(loss: Loss | None = None) -> Sequential:
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=loss or BCELoss(), optimizer=SGD(lr=0.5))
    return model


def trained(sample_weight: Floats | None = None, class_weight: Mapping[int, float] | None = None) -> list[Array]:
    x, y, _ = problem()
    model = classifier()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=0, sample_weight=sample_weight, class_weight=class_weight)
    return model.get_weights()


def test_a_weighted_step_is_torchs_on_the_weighted_mean_squared_error() -> None:
    torch = pytest.importorskip("torch")
    x, _, w = problem()
    y = np.random.default_rng(1).standard_normal((40, 2))
    model = Sequential([Dense(3, 2, seed=0)])
    W, b = (a.copy() for a in model.get_weights())
    model.compile(loss=MSELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=1, batch_size=40, shuffle=False, verbose=0, sample_weight=w)
    W_t, b_t = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    cost = (torch.tensor(w)[:, None] * (torch.tensor(x) @ W_t + b_t - torch.tensor(y)) ** 2).mean()
    cost.backward()
    for ours, theirs in zip(model.get_weights(), (W - 0.1 * W_t.grad.numpy(), b - 0.1 * b_t.grad.numpy())):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)


def test_class_weight_is_the_sample_weight_of_each_samples_class() -> None:
    _, y, given = problem()
    by_class = np.where(y.ravel() == 1, 5.0, 1.0)
    for a, b in zip(trained(class_weight={0: 1.0, 1: 5.0}), trained(sample_weight=by_class)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(trained(sample_weight=given, class_weight={1: 5.0}), trained(sample_weight=given * by_class)):
        np.testing.assert_array_equal(a, b)  # the two multiply; a class not named weighs 1


def test_class_weights_of_cross_entropy_are_torchs_weight_for_indices_and_one_hot_rows() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 3)), rng.integers(0, 3, 30)
    class_weight = {0: 0.5, 1: 2.0, 2: 4.0}
    losses = []
    for labels in (y, np.eye(3)[y]):
        model = Sequential([Dense(3, 3, seed=0)])
        model.trainable = False  # the epoch's loss at the first weights
        model.compile(loss=CrossEntropyLoss(), optimizer=SGD(lr=0.1))
        losses.append(model.fit(x, labels, batch_size=30, verbose=0, class_weight=class_weight).history["loss"][0])
    z = torch.tensor(model.predict(x))
    weight = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    expected = torch.nn.functional.cross_entropy(z, torch.tensor(y), weight=weight, reduction="sum").item() / 30
    assert losses == pytest.approx([expected, expected], rel=1e-13)


def test_evaluate_with_sample_weight_is_sklearns_weighted_log_loss_times_the_mean_weight() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    x, y, w = problem()
    model = classifier()
    p = model.predict(x)
    got = model.evaluate(x, y, sample_weight=w)["loss"]
    assert got == pytest.approx(metrics.log_loss(y.ravel(), p.ravel(), sample_weight=w) * w.mean(), rel=1e-13)
    assert model.evaluate(x, y, sample_weight=np.ones(40))["loss"] == pytest.approx(model.evaluate(x, y)["loss"],
                                                                                   rel=1e-15)


def test_the_epochs_loss_is_the_weighted_loss_over_every_sample() -> None:
    x, y, w = problem()
    model = Sequential([Dense(3, 1, seed=0)])
    model.trainable = False
    model.compile(loss=BCEWithLogitsLoss(pos_weight=2.0), optimizer=SGD(lr=0.1))
    history = model.fit(x, y, batch_size=16, verbose=0, seed=0, sample_weight=w)  # batches of 16, 16 and 8
    assert history.history["loss"][0] == pytest.approx(model.evaluate(x, y, sample_weight=w)["loss"], rel=1e-13)


def test_a_validation_split_holds_out_the_weights_of_its_samples_but_not_the_class_weights() -> None:
    x, y, w = problem()
    model = classifier()
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=3, validation_split=0.25, sample_weight=w,
                        class_weight={1: 4.0})
    held = held_out(y, 0.25, np.random.default_rng(3))  # fit's generator draws the split first
    expected = model.evaluate(x[held], y[held], sample_weight=w[held])["loss"]
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-13)


def test_validation_data_may_carry_the_weights_of_its_samples() -> None:
    x, y, w = problem()
    x_val, y_val, w_val = problem(20, seed=1)
    model = classifier()
    history = model.fit(x, y, verbose=0, seed=0, validation_data=(x_val, y_val, w_val), sample_weight=w)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x_val, y_val, sample_weight=w_val)["loss"],
                                                           rel=1e-13)
    model = classifier()
    history = model.fit(x, y, verbose=0, seed=0, validation_data=(x_val, y_val, None), sample_weight=w)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x_val, y_val)["loss"], rel=1e-13)


def test_a_weighted_fit_resumed_from_a_file_is_the_uninterrupted_one_and_keeps_pos_weight(tmp_path: Path) -> None:
    x, y, w = problem()
    arguments = {"batch_size": 8, "validation_split": 0.25, "verbose": 0, "sample_weight": w,
                 "class_weight": {1: 3.0}}

    def model() -> Sequential:
        m = Sequential([Dense(3, 1, seed=0)])
        m.compile(loss=BCEWithLogitsLoss(pos_weight=2.5), optimizer=SGD(lr=0.3))
        return m

    first = model()
    first.fit(x, y, epochs=2, seed=4, **arguments)  # type: ignore[arg-type]
    loaded = load_model(first.save(tmp_path / "m.safetensors"))
    assert repr(loaded.loss) == "BCEWithLogitsLoss(pos_weight=2.5)"
    loaded.fit(x, y, epochs=4, initial_epoch=2, **arguments)  # type: ignore[arg-type]
    whole = model()
    whole.fit(x, y, epochs=4, seed=4, **arguments)  # type: ignore[arg-type]
    for a, b in zip(loaded.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


class Plain(Loss):
    """A custom loss that overrides forward and knows nothing of weights."""

    def forward(self, y_pred: Array, y_true: Labels) -> Scalar:
        self._diff = y_pred - y_true
        return float(np.mean(self._diff**2))

    def backward(self) -> Array:
        return 2 * self._diff / self._diff.size


def test_without_weights_fit_calls_the_loss_as_before_and_a_loss_without_weights_refuses_them() -> None:
    x, y, w = problem()
    model = classifier(Plain())
    model.fit(x, y, verbose=0)  # forward(y_pred, y_true): nothing else is passed
    with pytest.raises(ConfigError, match=re.escape("fit(sample_weight): Plain() takes no sample_weight")):
        model.fit(x, y, verbose=0, sample_weight=w)
    with pytest.raises(ConfigError, match=re.escape("fit(class_weight): Plain() takes no sample_weight")):
        model.fit(x, y, verbose=0, class_weight={0: 2.0})


_M = "fit: sample_weight must"
BAD = [
    ({"sample_weight": np.ones(39)}, ShapeError, f"{_M} hold one weight a sample, shape (40,), got shape (39,)"),
    ({"sample_weight": np.ones((40, 1))}, ShapeError, "got shape (40, 1): pass sample_weight.ravel()"),
    ({"sample_weight": np.r_[np.ones(39), -1.0]}, ValueRangeError, f"{_M} be non-negative, got -1.0 for sample 39"),
    ({"sample_weight": np.r_[np.inf, np.ones(39)]}, NonFiniteError, "fit: sample_weight"),
    ({"sample_weight": np.array(["1"] * 40)}, DTypeError, f"{_M} hold numbers, got dtype <U1"),
    ({"sample_weight": np.zeros(40)}, ValueRangeError, "fit: every sample has weight 0 (sample_weight times "
                                                       "class_weight)"),
    ({"class_weight": {0: 0.0, 1: 0.0}}, ValueRangeError, "fit: every sample has weight 0"),
    ({"class_weight": {2: 1.0}}, ValueRangeError, "fit: class_weight names class 2, which no label has: the labels "
                                                  "hold the classes 0, 1"),
    ({"class_weight": {1: -2.0}}, ValueRangeError, "fit: class_weight[1] must be a finite, non-negative number, got "
                                                   "-2.0"),
    ({"class_weight": {1: float("nan")}}, ValueRangeError, "fit: class_weight[1] must be a finite"),
    ({"class_weight": {1.5: 2.0}}, ConfigError, "fit: class_weight's keys must be class indices (ints), got 1.5"),
    ({"class_weight": [1.0, 5.0]}, ConfigError, "fit: class_weight must be a dict from class index to weight, such as "
                                                "{0: 1.0, 1: 5.0}, got a list"),
    ({"validation_data": (np.ones((5, 3)), np.ones((5, 1)), np.ones(4))}, ShapeError,
     "fit(validation_data): sample_weight must hold one weight a sample, shape (5,), got shape (4,)"),
    ({"validation_data": (np.ones((5, 3)), np.ones((5, 1)), np.zeros(5))}, ValueRangeError,
     "fit(validation_data): every sample has weight 0"),
]


@pytest.mark.parametrize(("arguments", "error", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_weights_are_refused_before_training(arguments: dict[str, object], error: type[Exception],
                                                 message: str) -> None:
    x, y, _ = problem()
    model = classifier()
    before = model.get_weights()
    with pytest.raises(error, match=re.escape(message)):
        model.fit(x, y, verbose=0, **arguments)  # type: ignore[arg-type]
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("loss", "y", "error", "message"),
    [
        (MSELoss(), np.ones((40, 1)), ConfigError, "fit(class_weight): MSELoss() takes no class_weight: its labels are "
                                                   "values, not classes; weigh the samples with sample_weight instead"),
        (BCELoss(), np.full((40, 1), 0.3), ValueRangeError, "fit(class_weight): BCELoss(): class_weight needs 0/1 "
                                                            "labels, got values from 0.3 to 0.3"),
        (BCELoss(), np.ones((40, 2)), ShapeError, "fit(class_weight): BCELoss(): class_weight needs one 0/1 label a "
                                                  "sample (one sigmoid output), got labels of shape (40, 2)"),
    ],
    ids=["regression", "soft labels", "several columns"],
)
def test_class_weight_needs_labels_that_are_classes(loss: Loss, y: Floats, error: type[Exception],
                                                    message: str) -> None:
    x, _, _ = problem()
    model = Sequential([Dense(3, y.shape[1], seed=0)])
    model.compile(loss=loss, optimizer=SGD(lr=0.1))
    with pytest.raises(error, match=re.escape(message)):
        model.fit(x, y, verbose=0, class_weight={0: 1.0})


def test_evaluate_refuses_bad_weights_by_name() -> None:
    x, y, _ = problem()
    message = "evaluate: sample_weight must hold one weight a sample, shape (40,), got shape (3,)"
    with pytest.raises(ShapeError, match=re.escape(message)):
        classifier().evaluate(x, y, sample_weight=np.ones(3))
