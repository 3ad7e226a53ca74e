"""The checks refuse a class where an instance belongs, naming the argument and what to pass (a new
user's mistake: `check_gradients(model, BCELoss, x, y)`)."""

import numpy as np
import pytest

from framework import BCELoss, ConfigError, Dense, Sequential, Sigmoid, check_gradients, check_layer, check_loss


def test_a_class_for_the_loss_or_the_model_is_refused_by_name() -> None:
    x, y = np.ones((4, 3)), np.ones((4, 1))
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    with pytest.raises(ConfigError, match=r"check_gradients: loss must be an instance, got the class BCELoss: pass BCELoss\(\)"):
        check_gradients(model, BCELoss, x, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model must be an instance, got the class Sequential: pass Sequential\(\.\.\.\)"):
        check_gradients(Sequential, BCELoss(), x, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"check_layer: layer must be an instance, got the class Dense: pass Dense\(\.\.\.\)"):
        check_layer(Dense, x)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"check_loss: loss must be an instance"):
        check_loss(BCELoss, np.full((4, 1), 0.5), y)  # type: ignore[arg-type]
