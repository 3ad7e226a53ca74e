"""A typed mini-Keras on numpy: layers that own their forward, backward and cache, and a gradient
checker that proves every gradient right and names the layer that is wrong."""

from framework.arrays import Array
from framework.errors import CallOrderError, DTypeError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError
from framework.gradcheck import GradCheckReport, GradCheckRow, check_gradients, check_layer, check_loss
from framework.layer import Layer
from framework.layers import Dense, ReLU, Sigmoid
from framework.losses import BCELoss, Loss
from framework.parameter import Parameter
from framework.sequential import Sequential

__all__ = [
    "Array", "BCELoss", "CallOrderError", "DTypeError", "Dense", "FrameworkError", "GradCheckReport",
    "GradCheckRow", "Layer", "Loss", "NonFiniteError", "Parameter", "ReLU", "Sequential", "ShapeError",
    "Sigmoid", "ValueRangeError", "check_gradients", "check_layer", "check_loss",
]
