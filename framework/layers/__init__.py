from framework.layers.activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, SiLU, Softmax, Softplus, Swish, Tanh
from framework.layers.conv import Conv2D
from framework.layers.dense import Dense
from framework.layers.embedding import Embedding
from framework.layers.layer_norm import LayerNorm
from framework.layers.merge import Add, Concatenate, Multiply
from framework.layers.pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D
from framework.layers.preprocessing import Normalization
from framework.layers.regularization import BatchNorm, Dropout
from framework.layers.shape import Flatten, Identity, Reshape

__all__ = [
    "ELU", "Add", "AvgPool2D", "BatchNorm", "Concatenate", "Conv2D", "Dense", "Dropout", "Flatten", "GlobalAvgPool2D",
    "GlobalMaxPool2D", "Identity", "LeakyReLU", "MaxPool2D", "Multiply", "Normalization", "ReLU", "Reshape", "Sigmoid",
    "Softmax", "Tanh", "GELU", "Swish", "SiLU", "Softplus", "LayerNorm", "Embedding",
]
