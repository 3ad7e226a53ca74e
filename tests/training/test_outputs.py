"""Models of several outputs: one loss an output, `loss_weights`, metrics an output; the total loss and its
gradients against the losses of each output worked out by hand and against single-output models of the
same layers; the gradient checker through the `Joined` view; losses and labels that do not match the
outputs."""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, BackupAndRestore, BCELoss, Callback, ConfigError, CrossEntropyLoss, Dense, Input, Model, MSELoss, ReLU, ShapeError, Sigmoid,
    Array, check_gradients,
)
from framework.training.joined import Joined

Floats = npt.NDArray[np.float64]


def two_heads() -> Model:
    """x -> Dense(1) "dense" and x -> Dense(1) "dense_1", each head its own output."""
    x = Input(1)
    return Model(x, [Dense(1, 1, seed=0)(x), Dense(1, 1, seed=1)(x)])


def hand_set(model: Model) -> None:
    """Head 1: 1·x + 0; head 2: 0·x + 0."""
    model.set_weights([np.array([[1.0]]), np.array([0.0]), np.array([[0.0]]), np.array([0.0])])


X, Y1, Y2 = np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]]), np.array([[1.0], [1.0]])


def test_total_loss_and_per_output_losses_by_hand() -> None:
    model = two_heads()
    hand_set(model)
    assert list(model.named_outputs) == ["dense", "dense_1"]
    model.compile(loss=[MSELoss(), MSELoss()], optimizer=SGD(lr=0.1), loss_weights={"dense": 1.0, "dense_1": 2.0})
    # J1 = (1² + 2²)/2 = 2.5, J2 = ((0-1)² + (0-1)²)/2 = 1, J = 1·2.5 + 2·1 = 4.5
    assert model.evaluate(X, [Y1, Y2]) == pytest.approx({"loss": 4.5, "dense_loss": 2.5, "dense_1_loss": 1.0})


def test_one_step_follows_the_weighted_sum_of_the_gradients_by_hand() -> None:
    model = two_heads()
    hand_set(model)
    model.compile(loss={"dense_1": MSELoss(), "dense": MSELoss()}, optimizer=SGD(lr=0.1), loss_weights=[1.0, 2.0])
    history = model.fit(X, {"dense": Y1, "dense_1": Y2}, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert history.history["loss"] == [pytest.approx(4.5)]
    # dJ1/dW1 = 2/2 Σ (W1 x - 0) x = 1 + 4 = 5, dJ1/db1 = 1 + 2 = 3;
    # 2 dJ2/dW2 = 2 · 2/2 Σ (0 - 1) x = -6, 2 dJ2/db2 = 2 · Σ (0 - 1) = -4
    expected = [np.array(w) for w in ([[1 - 0.1 * 5]], [0 - 0.1 * 3], [[0 + 0.1 * 6]], [0 + 0.1 * 4])]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want)


def shared_trunk() -> tuple[Model, Model, Model]:
    """A model of two outputs (a sigmoid head, a linear head of 2) on one trunk, and the model of each
    output alone, of the same layers."""
    x = Input(3)
    h = ReLU()(Dense(3, 4, seed=0)(x))
    p, r = Sigmoid()(Dense(4, 1, seed=1)(h)), Dense(4, 2, seed=2)(h)
    return Model(x, [p, r]), Model(x, p), Model(x, r)


def gradients(model: Model, loss: BCELoss | MSELoss, x: Floats, y: Floats) -> list[Array]:
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    return [p.grad.copy() for p in model.parameters()]


def test_the_total_loss_and_its_gradient_are_the_weighted_sums_of_the_single_output_ones() -> None:
    rng = np.random.default_rng(0)
    x, yp, yr = rng.standard_normal((10, 3)), rng.integers(0, 2, (10, 1)).astype(float), rng.standard_normal((10, 2))
    both, first, second = shared_trunk()
    both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD(), loss_weights=[0.3, 2.0])
    joined = Joined(both)
    y = joined.join([yp, yr], "test")
    total = joined.joint.forward(joined.forward(x), y)
    joined.backward(joined.joint.backward())
    got = {name: p.grad.copy() for name, p in both.named_parameters()}
    assert total == pytest.approx(0.3 * BCELoss().forward(first.forward(x), yp) + 2.0 * MSELoss().forward(second.forward(x), yr))
    g1 = dict(zip([n for n, _ in first.named_parameters()], gradients(first, BCELoss(), x, yp)))
    g2 = dict(zip([n for n, _ in second.named_parameters()], gradients(second, MSELoss(), x, yr)))
    by_id = {id(p): name for name, p in both.named_parameters()}
    expected = {name: np.zeros_like(g) for name, g in got.items()}  # the trunk's: the sum of both heads'
    for model, g, w in ((first, g1, 0.3), (second, g2, 2.0)):  # the sub-models name their layers themselves
        for name, p in model.named_parameters():
            expected[by_id[id(p)]] = expected[by_id[id(p)]] + w * g[name]
    for name, grad in got.items():
        np.testing.assert_allclose(grad, expected[name], rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("method", ["complex", "central"])
def test_the_gradient_checker_passes_through_the_joined_view(method: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    both, _, _ = shared_trunk()
    both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD(), loss_weights=[1.0, 0.5])
    joined = Joined(both)
    y = joined.join([rng.integers(0, 2, (6, 1)), rng.standard_normal((6, 2))], "check")
    report = check_gradients(joined, joined.joint, x, y, method=method)  # type: ignore[arg-type]
    assert report.passed, report


def test_fit_evaluate_predict_with_class_indices_and_metrics_by_output() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3))
    classes, flag = rng.integers(0, 3, 40), (x[:, :1] > 0).astype(float)
    inp = Input(3)
    h = ReLU()(Dense(3, 8, seed=0)(inp))
    model = Model(inp, [Dense(8, 3, seed=1)(h), Sigmoid()(Dense(8, 1, seed=2)(h))])
    names = list(model.named_outputs)
    model.compile(loss=[CrossEntropyLoss(), BCELoss()], optimizer=SGD(lr=0.5),
                  metrics={names[0]: "accuracy", names[1]: ["accuracy", "auc"]})
    history = model.fit(x, [classes, flag], epochs=3, batch_size=16, verbose=0, seed=0,
                        validation_data=(x[:10], [classes[:10], flag[:10]]))
    a, b = names
    assert list(history.history) == ["loss", f"{a}_loss", f"{b}_loss", f"{a}_accuracy", f"{b}_accuracy", f"{b}_auc",
                                     "val_loss", f"val_{a}_loss", f"val_{b}_loss", f"val_{a}_accuracy",
                                     f"val_{b}_accuracy", f"val_{b}_auc"]
    logits, p = model.predict(x, batch_size=16)
    assert logits.shape == (40, 3) and p.shape == (40, 1)
    results = model.evaluate(x, [classes, flag])
    assert results[f"{a}_loss"] == pytest.approx(CrossEntropyLoss().forward(logits, classes))
    assert results[f"{b}_loss"] == pytest.approx(BCELoss().forward(p, flag))
    assert results["loss"] == pytest.approx(results[f"{a}_loss"] + results[f"{b}_loss"])
    assert results[f"{a}_accuracy"] == pytest.approx(np.mean(logits.argmax(axis=1) == classes))
    assert results[f"{b}_accuracy"] == pytest.approx(np.mean((p > 0.5) == (flag > 0.5)))


def test_one_loss_for_every_output_and_predict_before_compile() -> None:
    both, first, second = shared_trunk()
    x = np.random.default_rng(3).standard_normal((5, 3))
    p, r = both.predict(x)
    np.testing.assert_array_equal(p, first.predict(x))
    assert [a.shape for a in both.predict_all(x)] == [(5, 1), (5, 2)]
    both.compile(loss=MSELoss(), optimizer=SGD())  # as Keras: the loss of each output
    y = [np.zeros((5, 1)), np.zeros((5, 2))]
    assert both.evaluate(x, y)["loss"] == pytest.approx(float(np.mean(p ** 2) + np.mean(r ** 2)))


def test_losses_weights_and_metrics_that_do_not_match_the_outputs() -> None:
    both, first, _ = shared_trunk()
    a, b = both.named_outputs
    with pytest.raises(ConfigError, match=rf"compile: loss has 1 entry, but the model has 2 outputs \('{a}', '{b}'\)"):
        both.compile(loss=[BCELoss()], optimizer=SGD())
    with pytest.raises(ConfigError, match=rf"compile: loss names 'head' and misses '{b}'; the model's outputs are"):
        both.compile(loss={a: BCELoss(), "head": MSELoss()}, optimizer=SGD())
    with pytest.raises(ConfigError, match=rf"compile: the loss of output '{b}' must be a Loss, got a str"):
        both.compile(loss=[BCELoss(), "mse"], optimizer=SGD())  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="compile: loss_weights has 3 entries, but the model has 2 outputs"):
        both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD(), loss_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match=rf"compile: loss_weights\['{b}'\] must be a finite number >= 0, got -1"):
        both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD(), loss_weights=[1.0, -1])
    with pytest.raises(ConfigError, match="compile: metrics names 'out', which are not outputs of the model"):
        both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD(), metrics={"out": ["mae"]})
    with pytest.raises(ConfigError, match="this model has one output"):
        first.compile(loss=[BCELoss()], optimizer=SGD(), loss_weights=[2.0])
    with pytest.raises(ConfigError, match="a dict by output name is for a model of several outputs"):
        first.compile(loss=BCELoss(), optimizer=SGD(), metrics={"sigmoid": ["accuracy"]})
    first.compile(loss=[BCELoss()], optimizer=SGD())  # a list of one, for one output: that loss
    assert isinstance(first.loss, BCELoss)


def test_labels_that_do_not_match_the_outputs_fail_before_any_update() -> None:
    both, _, _ = shared_trunk()
    a, b = both.named_outputs
    both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD())
    x, yp, yr = np.zeros((4, 3)), np.zeros((4, 1)), np.zeros((4, 2))
    before = both.get_weights()
    with pytest.raises(ConfigError, match=r"fit: the model has 2 outputs .*y must be a list of label arrays .*"
                                          r"got one array of shape \(4, 1\)"):
        both.fit(x, yp, verbose=0)
    with pytest.raises(ConfigError, match="fit: y has 1 entry, but the model has 2 outputs"):
        both.fit(x, [yp], verbose=0)
    with pytest.raises(ConfigError, match=f"fit: y names 'c' and misses '{b}'"):
        both.fit(x, {a: yp, "c": yr}, verbose=0)
    with pytest.raises(ShapeError, match=rf"fit: y\['{b}'\] has shape \(3, 2\), but y\['{a}'\] has 4 samples"):
        both.fit(x, [yp, yr[:3]], verbose=0)
    with pytest.raises(ShapeError, match=rf"fit: y\['{b}'\], for the output '{b}' of samples of shape \(2,\): MSELoss\(\): "
                                         r"y_pred has shape \(4, 2\) but y_true has shape \(4, 3\)"):
        both.fit(x, [yp, np.zeros((4, 3))], verbose=0)
    with pytest.raises(ShapeError, match=rf"fit\(validation_data\): y_val\['{b}'\], for the output '{b}' of samples"):
        both.fit(x, [yp, yr], validation_data=(x, [yp, np.zeros((4, 3))]), verbose=0)
    with pytest.raises(ConfigError, match="evaluate: y has 3 entries"):
        both.evaluate(x, [yp, yr, yr])
    for got, want in zip(both.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_a_callback_sees_the_model_through_its_view_and_stops_it() -> None:
    both, _, _ = shared_trunk()
    both.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD())

    class StopAtOnce(Callback):
        def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
            self.logs = logs
            self.model.stop_training = True

    stop = StopAtOnce()
    history = both.fit(np.zeros((4, 3)), [np.zeros((4, 1)), np.zeros((4, 2))], epochs=5, callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) == 1 and both.stop_training
    assert set(stop.logs) == {"loss", "sigmoid_loss", "dense_2_loss"}


def test_one_sample_weight_weighs_every_output_by_hand() -> None:
    model = two_heads()
    hand_set(model)
    model.compile(loss=[MSELoss(), MSELoss()], optimizer=SGD(lr=0.1), loss_weights=[1.0, 2.0])
    w = np.array([1.0, 3.0])
    # J1 = (1·1² + 3·2²)/2 = 6.5, J2 = (1·1 + 3·1)/2 = 2, J = 6.5 + 2·2 = 10.5; the outputs' losses logged
    # as metrics are unweighted (2.5 and 1), as every metric is
    assert model.evaluate(X, [Y1, Y2], sample_weight=w) == pytest.approx(
        {"loss": 10.5, "dense_loss": 2.5, "dense_1_loss": 1.0})
    history = model.fit(X, [Y1, Y2], sample_weight=w, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert history.history["loss"] == [pytest.approx(10.5)]
    # dJ1/dW1 = 2/2 Σ w_i (W1 x_i) x_i = 1 + 12 = 13, dJ1/db1 = 1 + 6 = 7;
    # 2 dJ2/dW2 = 2 · 2/2 Σ w_i (0 - 1) x_i = -14, 2 dJ2/db2 = 2 · Σ w_i (0 - 1) = -8
    expected = [np.array(v) for v in ([[1 - 1.3]], [0 - 0.7], [[0 + 1.4]], [0 + 0.8])]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want)


def test_validation_of_several_outputs_keeps_its_sample_weights() -> None:
    model = two_heads()
    hand_set(model)
    model.compile(loss=[MSELoss(), MSELoss()], optimizer=SGD(lr=0.1))
    w = np.array([1.0, 3.0])
    history = model.fit(X, [Y1, Y2], validation_data=(X, [Y1, Y2], w), epochs=1, batch_size=2, verbose=0)
    weighted, plain = (model.evaluate(X, [Y1, Y2], sample_weight=v)["loss"] for v in (w, None))
    assert history.history["val_loss"] == [pytest.approx(weighted)] and weighted != pytest.approx(plain)


def test_class_weight_and_one_weight_array_an_output_are_refused_for_several_outputs() -> None:
    model = two_heads()
    model.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD())
    flags = np.array([[0.0], [1.0]])
    with pytest.raises(ConfigError, match=r"class_weight is for a model of one output \(as in Keras\); this one has 2 "
                                          r"\('dense', 'dense_1'\)"):
        model.fit(X, [flags, Y2], class_weight={0: 1.0, 1: 2.0}, verbose=0)
    for per_output in ([np.ones(2), np.ones(2)], {"dense": np.ones(2), "dense_1": np.ones(2)}):
        with pytest.raises(ConfigError, match=r"fit: sample_weight must be one weight a sample \(shape \(m,\)\), for "
                                              r"every output"):
            model.fit(X, [flags, Y2], sample_weight=per_output, verbose=0)  # type: ignore[arg-type]


def test_several_outputs_resume_with_initial_epoch_but_refuse_a_backup_by_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y1, y2 = rng.standard_normal((40, 1)), rng.standard_normal((40, 1)), rng.standard_normal((40, 1))

    def compiled() -> Model:
        model = two_heads()
        model.compile(loss=[MSELoss(), MSELoss()], optimizer=SGD(lr=0.1))
        return model

    whole, half = compiled(), compiled()
    whole.fit(x, [y1, y2], epochs=4, batch_size=8, validation_split=0.25, seed=0, verbose=0)
    half.fit(x, [y1, y2], epochs=2, batch_size=8, validation_split=0.25, seed=0, verbose=0)
    assert half.fit_progress is not None and half.fit_progress.epoch == 2  # the model's, not its Joined view's
    half.fit(x, [y1, y2], epochs=4, initial_epoch=2, batch_size=8, validation_split=0.25, verbose=0)
    for got, want in zip(half.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ConfigError, match=r"BackupAndRestore: the total loss of a model of several outputs"):
        compiled().fit(x, [y1, y2], epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    with pytest.raises(ConfigError, match=r"save: the total loss of a model of several outputs"):
        half.save(tmp_path / "model.safetensors", include_optimizer=True)
