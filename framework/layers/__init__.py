from framework.layers.activations import ReLU, Sigmoid
from framework.layers.dense import Dense

__all__ = ["Dense", "ReLU", "Sigmoid"]
