from framework.layers.activations import ELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from framework.layers.conv import Conv2D
from framework.layers.dense import Dense
from framework.layers.merge import Add, Concatenate, Multiply
from framework.layers.preprocessing import Normalization
from framework.layers.regularization import BatchNorm, Dropout
from framework.layers.shape import Flatten, Identity

__all__ = [
    "ELU", "Add", "BatchNorm", "Concatenate", "Conv2D", "Dense", "Dropout", "Flatten", "Identity", "LeakyReLU", "Multiply",
    "Normalization", "ReLU", "Sigmoid", "Softmax", "Tanh",
]
