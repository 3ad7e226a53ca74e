"""A typed mini-Keras on numpy: layers that own their forward, backward and cache, and a gradient
checker that proves every gradient right and names the layer that is wrong.

The public API, by the layers of the house (bottom up): core, layers, losses, gradcheck, learner,
training, containers."""

from framework.core.arrays import Array, Labels
from framework.core.complex_parts import SharedReal
from framework.core.errors import (
    CallOrderError, ConfigError, DTypeError, FormatError, FrameworkError, NondeterministicError, NonFiniteError, StackingError,
    ShapeError, ValueRangeError,
)
from framework.core.layer import Config, Layer, Merge, Module
from framework.core.node import Input, Node
from framework.core.parameter import Buffer, Parameter
from framework.core.registry import register_layer, register_model, registered_layers
from framework.layers import (
    ELU, Add, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, GlobalMaxPool2D,
    Identity, LeakyReLU, MaxPool2D, Multiply, Normalization, ReLU, Reshape, Sigmoid, Softmax, Tanh,
)
from framework.layers import GELU, Embedding, LayerNorm, SiLU, Softplus, Swish
from framework.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from framework.gradcheck import GradCheckReport, GradCheckRow, check_gradients, check_layer, check_loss
from framework.learner import BackpropReport, FunctionReport, check_backprop, check_function
from framework.training.callbacks import (
    BackupAndRestore, Callback, CSVLogger, EarlyStopping, GradientCheck, History, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
    TerminateOnNaN,
)
from framework.training.streams import Dataset
from framework.training.optimizers import SGD, Adam, CosineDecay, ExponentialDecay, Optimizer, RMSprop, Schedule, StepDecay
from framework.containers.loading import load_model
from framework.containers.model import Model
from framework.containers.nested import Nested
from framework.containers.sequential import Sequential

__all__ = [
    "Adam", "Add", "AvgPool2D", "Array", "BackpropReport", "BatchNorm", "BCELoss", "BCEWithLogitsLoss", "Buffer", "Callback",
    "CallOrderError", "check_backprop", "check_function", "check_gradients", "check_layer", "check_loss",
    "Concatenate", "Config", "ConfigError", "Conv2D", "CosineDecay", "CrossEntropyLoss", "Dataset", "Dense", "Dropout", "DTypeError",
    "EarlyStopping", "ELU", "ExponentialDecay", "Flatten", "FormatError", "FrameworkError", "FunctionReport",
    "GlobalAvgPool2D", "GlobalMaxPool2D", "GradCheckReport", "GradCheckRow", "GradientCheck", "History", "Identity", "Input", "Labels", "Layer", "LeakyReLU",
    "load_model", "Loss", "MaxPool2D", "Merge", "Model", "ModelCheckpoint", "Module", "MSELoss", "Multiply", "Nested", "Node",
    "NondeterministicError", "NonFiniteError", "StackingError", "Normalization", "Optimizer", "Parameter", "register_layer", "register_model",
    "registered_layers", "ReLU", "Reshape", "RMSprop", "Schedule", "Sequential", "SGD", "ShapeError", "SharedReal", "Sigmoid", "Softmax",
    "StepDecay", "Tanh", "TerminateOnNaN", "ValueRangeError",
    "GELU", "Swish", "SiLU", "Softplus", "LayerNorm", "Embedding",
    "BackupAndRestore", "CSVLogger", "LearningRateScheduler", "ReduceLROnPlateau",
]
