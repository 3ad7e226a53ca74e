"""The seed's network, written the way the course writes it, with both of the seed's bugs, and what
check_backprop and check_function say about it.

A 4-3-1 network (ReLU, ReLU, sigmoid; small weights, zero biases) on 64 digits of 8x8 pixels, in the course's
layout: X (64 features, 64 samples), W1 (4, 64), b1 (4, 1). Its backward has two bugs:

1. the sigmoid's derivative evaluated on Z3 instead of A3: dZ3 = dA3 * Z3 * (1 - Z3);
2. the 1/m left out of dW3.

The learner's own numerical check disagreed on one entry of W3 and they could not tell which line was
wrong, or whether the values were close enough. check_backprop names the entry, the line and why.

Run: python examples/learner_backprop.py
"""

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from framework import Array, check_backprop, check_function
from framework.datasets import load_digits_binary

Floats = npt.NDArray[np.float64]
Cache = tuple[Array, ...]


def initialize_parameters(layer_dims: list[int], seed: int = 2) -> dict[str, Floats]:
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):  # small weights and zero biases, as the course starts
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * 0.1 / np.sqrt(layer_dims[l - 1])
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters


def sigmoid(Z: Array) -> Array:
    return 1 / (1 + np.exp(-Z))


def relu(Z: Array) -> Array:
    return np.maximum(0, Z)


def forward_propagation(X: Array, parameters: Mapping[str, Array]) -> tuple[Array, Cache]:
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def compute_cost(A3: Array, Y: Array) -> Array:
    m = Y.shape[1]
    cost: Array = np.squeeze(-1.0 / m * np.sum(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)))
    return cost


def backward_propagation(X: Array, Y: Array, cache: Cache, *, fixed: bool = False) -> dict[str, Array]:
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dA3 = -(np.divide(Y, A3) - np.divide(1 - Y, 1 - A3))
    dZ3 = dA3 * A3 * (1 - A3) if fixed else dA3 * Z3 * (1 - Z3)  # BUG 1: sigmoid'(Z3) is A3 * (1 - A3)
    dW3 = 1.0 / m * np.dot(dZ3, A2.T) if fixed else np.dot(dZ3, A2.T)  # BUG 2: the 1/m is left out
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dA3": dA3, "dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def main() -> None:
    data = load_digits_binary()
    X, Y = data.x_train[:64].T, data.y_train[:64].T  # the course's layout: (features, samples)
    parameters = initialize_parameters([X.shape[0], 4, 3, 1])
    A3, cache = forward_propagation(X, parameters)
    grads = backward_propagation(X, Y, cache)

    def cost(p: Mapping[str, Array]) -> Array:
        return compute_cost(forward_propagation(X, p)[0], Y)

    print(f"{data.description}; X {X.shape}, Y {Y.shape}, cost {float(cost(parameters)):.6f}\n")
    print("=== check_backprop(parameters, grads, X, Y, ['relu', 'relu', 'sigmoid']) ===")
    print(check_backprop(parameters, grads, X, Y, ["relu", "relu", "sigmoid"]))
    print("\n=== check_function(cost, parameters, {'dW3': grads['dW3']}): the seed's own check, done right ===")
    print(check_function(cost, parameters, {"dW3": grads["dW3"]}))
    print("\n=== check_function(cost, parameters, grads): every gradient ===")
    print(check_function(cost, parameters, grads))
    fixed = backward_propagation(X, Y, cache, fixed=True)
    print("\n=== Both lines fixed ===")
    print(check_backprop(parameters, fixed, X, Y, ["relu", "relu", "sigmoid"]).verdict)
    print(check_function(cost, parameters, fixed))


if __name__ == "__main__":
    main()
