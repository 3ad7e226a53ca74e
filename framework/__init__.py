"""A typed mini-Keras on numpy: layers that own their forward, backward and cache, and a gradient
checker that proves every gradient right and names the layer that is wrong."""

from framework.arrays import Array
from framework.callbacks import Callback, EarlyStopping, GradientCheck, History, ModelCheckpoint, TerminateOnNaN
from framework.errors import (
    CallOrderError, ConfigError, DTypeError, FormatError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError,
)
from framework.gradcheck import GradCheckReport, GradCheckRow, check_gradients, check_layer, check_loss
from framework.layer import Layer
from framework.learner import BackpropReport, FunctionReport, check_backprop, check_function
from framework.graph.model import Model
from framework.graph.node import Input, Node
from framework.layer import Merge, Module
from framework.layers import (
    ELU, Add, BatchNorm, Concatenate, Dense, Dropout, Flatten, Identity, LeakyReLU, Multiply, Normalization, ReLU,
    Sigmoid, Softmax, Tanh,
)
from framework.nested import Nested
from framework.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from framework.optimizers import SGD, Adam, CosineDecay, ExponentialDecay, Optimizer, RMSprop, Schedule, StepDecay
from framework.parameter import Buffer, Parameter
from framework.registry import register_layer, register_model
from framework.saving import load_model
from framework.sequential import Sequential

__all__ = [
    "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss",
    "Adam", "Add", "Array", "BCELoss", "BackpropReport", "FunctionReport", "check_backprop", "check_function", "BatchNorm", "Buffer", "CallOrderError", "Callback",
    "Concatenate", "ConfigError", "CosineDecay", "DTypeError", "Dense", "Dropout", "ELU", "EarlyStopping",
    "ExponentialDecay", "Flatten", "FormatError", "FrameworkError", "GradCheckReport", "GradCheckRow", "GradientCheck", "History",
    "Identity", "Input", "Layer", "LeakyReLU", "Loss", "Merge", "Model", "ModelCheckpoint",
    "Module", "Multiply", "Nested", "Normalization", "Node", "NonFiniteError", "Optimizer", "Parameter", "RMSprop",
    "ReLU", "SGD", "Schedule", "Sequential", "ShapeError", "Sigmoid", "Softmax", "StepDecay",
    "Tanh", "TerminateOnNaN", "ValueRangeError", "check_gradients", "check_layer", "check_loss", "load_model", "register_layer",
    "register_model",
]
