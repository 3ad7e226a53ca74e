"""A typed mini-Keras on numpy: layers that own their forward, backward and cache, and a gradient
checker that proves every gradient right and names the layer that is wrong."""

from framework.arrays import Array
from framework.callbacks import Callback, EarlyStopping, GradientCheck, History, ModelCheckpoint, TerminateOnNaN
from framework.errors import (
    CallOrderError, ConfigError, DTypeError, FormatError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError,
)
from framework.gradcheck import GradCheckReport, GradCheckRow, check_gradients, check_layer, check_loss
from framework.layer import Layer
from framework.layers import Dense, ReLU, Sigmoid
from framework.losses import BCELoss, Loss
from framework.optimizers import SGD, Adam, CosineDecay, ExponentialDecay, Optimizer, RMSprop, Schedule, StepDecay
from framework.parameter import Parameter
from framework.registry import register_layer
from framework.saving import load_model
from framework.sequential import Sequential

__all__ = [
    "Adam", "Array", "BCELoss", "CallOrderError", "Callback", "ConfigError", "CosineDecay", "DTypeError", "Dense", "EarlyStopping",
    "ExponentialDecay", "FormatError", "FrameworkError", "GradCheckReport", "GradCheckRow", "GradientCheck",
    "History", "Layer", "Loss", "ModelCheckpoint", "NonFiniteError", "Optimizer", "Parameter", "RMSprop", "ReLU",
    "SGD", "Schedule", "Sequential", "ShapeError", "Sigmoid", "StepDecay", "TerminateOnNaN", "ValueRangeError",
    "check_gradients", "check_layer", "check_loss", "load_model", "register_layer",
]
