"""The checks refuse a class where an instance belongs, naming the argument and what to pass (a new
user's mistake: `check_gradients(model, BCELoss, x, y)`), and an argument out of its place (a model
given to check_layer, the arguments in another order), naming it and the call's signature."""

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


def test_arguments_out_of_place_are_refused_by_name_with_the_signature() -> None:
    """A model given to check_layer, a layer to check_gradients, or the arguments in another order: a
    ConfigError naming the argument and what came, not an AttributeError from deep inside."""
    x, y = np.ones((4, 3)), np.ones((4, 1))
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    with pytest.raises(ConfigError, match=r"^check_layer: layer must be a Layer \(or a Merge layer\), got a Sequential: a "
                                          r"model; check it with check_gradients\(model, loss, x, y\)"):
        check_layer(model, x)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^check_gradients: model must be a Sequential or a Model, got a Dense: a layer; "
                                          r"check it with check_layer\(layer, x\)"):
        check_gradients(Dense(3, 1, seed=0), BCELoss(), x, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^check_gradients: model must be a Sequential or a Model, got a ndarray: the "
                                          r"arguments are check_gradients\(model, loss, x, y\)"):
        check_gradients(x, y, model, BCELoss())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^check_gradients: loss must be a Loss \(BCELoss\(\), say\), got a ndarray"):
        check_gradients(model, x, y, BCELoss())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^check_loss: loss must be a Loss .*, got a Sequential: the arguments are "
                                          r"check_loss\(loss, y_pred, y_true\)"):
        check_loss(model, x, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^check_layer: layer must be a Layer .*, got a ndarray: the arguments are "
                                          r"check_layer\(layer, x\)"):
        check_layer(x, Dense(3, 1))  # type: ignore[arg-type]
