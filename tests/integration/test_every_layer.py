"""Every built-in layer and loss, found through the registry, passes both checker methods on random
inputs. A new layer registered with `@register_layer` is checked here with no new test."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import framework
from framework import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, Sequential, check_layer, check_loss, load_model,
    registered_layers,
)
from framework.core.arrays import Array, Labels
from framework.core.layer import Module

LAYERS = registered_layers()
BUILT_IN = sorted(name for name, cls in LAYERS.items() if cls.__module__.startswith("framework."))


def test_the_registry_holds_every_built_in_layer() -> None:
    exported = {name for name in framework.__all__ if isinstance(getattr(framework, name), type)
                and issubclass(getattr(framework, name), Module) and getattr(framework, name).__module__ != "framework.core.layer"}
    assert exported <= set(BUILT_IN)
    assert len(BUILT_IN) >= 15


@pytest.mark.parametrize("method", ["complex", "central"])
@pytest.mark.parametrize("name", BUILT_IN)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**31 - 1), training=st.booleans())
def test_every_registered_layer_passes_the_checker(name: str, method: str, seed: int, training: bool) -> None:
    layer, inputs = LAYERS[name].example(np.random.default_rng(seed))
    layer.training = training
    report = check_layer(layer, inputs if len(inputs) > 1 else inputs[0], method=method)  # type: ignore[arg-type]
    assert report.passed, str(report)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_registered_layer_is_saved_and_loaded(name: str) -> None:
    layer, inputs = LAYERS[name].example(np.random.default_rng(0))
    if len(inputs) > 1:
        pytest.skip("a Merge layer needs a graph Model: tests/test_saving.py saves graphs")
    model = Sequential([layer])  # type: ignore[list-item]
    expected = model.predict(inputs[0])  # as after fit: the model knows its input shape
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_model(model.save(Path(folder) / f"{name}.safetensors"))
    assert loaded.get_config() == model.get_config()
    assert [n for n, _ in loaded.named_weights()] == [n for n, _ in model.named_weights()]
    np.testing.assert_array_equal(loaded.predict(inputs[0]), expected)


def loss_example(loss: Loss, rng: np.random.Generator) -> tuple[Array, Labels]:
    """Inputs each loss accepts: probabilities for BCE, logits with class indices for cross-entropy."""
    if isinstance(loss, BCELoss):
        return rng.uniform(0.05, 0.95, (6, 1)), rng.integers(0, 2, (6, 1)).astype(np.float64)
    if isinstance(loss, BCEWithLogitsLoss):
        return rng.normal(0, 3, (6, 2)), rng.integers(0, 2, (6, 2)).astype(np.float64)
    if isinstance(loss, CrossEntropyLoss):
        return rng.normal(0, 3, (6, 4)), rng.integers(0, 4, 6)
    return rng.normal(0, 3, (6, 3)), rng.normal(0, 3, (6, 3))


LOSSES = [BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss]


def test_every_built_in_loss_is_listed_here() -> None:
    assert set(LOSSES) == {cls for cls in vars(framework.losses).values()
                           if isinstance(cls, type) and issubclass(cls, Loss) and cls is not Loss}


@pytest.mark.parametrize("method", ["complex", "central"])
@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**31 - 1))
def test_every_built_in_loss_passes_the_checker(cls: type[Loss], method: str, seed: int) -> None:
    loss = cls()
    y_pred, y_true = loss_example(loss, np.random.default_rng(seed))
    report = check_loss(loss, y_pred, y_true, method=method)  # type: ignore[arg-type]
    assert report.passed, str(report)
