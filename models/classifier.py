"""The classic image classifier: ReLU hidden layers of 4 and 3 units and a sigmoid output (or, for
more than two classes, one logit a class), optionally standardising its input itself."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from framework import DTypeError, Dense, Input, Layer, Node, Normalization, ReLU, Sequential, Sigmoid, ValueRangeError


def mlp_classifier(
    n_features: int,
    hidden: Sequence[int] = (4, 3),
    *,
    classes: int = 2,
    seed: int = 0,
    dtype: npt.DTypeLike = np.float64,
    normalization: Normalization | None = None,
) -> Sequential:
    """Dense -> ReLU for each hidden width, then Dense(-> 1) -> Sigmoid for two classes (for
    BCELoss), or Dense(-> classes) of logits for more (for CrossEntropyLoss); He initialisation.

    Layer i draws its weights with seed `seed + i`, so a model is the same on every run. With
    `normalization` (a `Normalization` layer, adapted on the training inputs), the model starts
    with it, so that it takes raw data, and a saved model keeps the statistics.

    >>> mlp_classifier(64).summary()  # doctest: +ELLIPSIS
    ---...
    Total params: 279 (float64)
    ...
    >>> norm = Normalization()
    >>> norm.adapt(np.arange(12.0).reshape(4, 3))
    >>> mlp_classifier(3, classes=5, normalization=norm).layers  # doctest: +NORMALIZE_WHITESPACE
    [Normalization(axis=-1, features=3), Dense(3 -> 4), ReLU(), Dense(4 -> 3), ReLU(), Dense(3 -> 5)]
    """
    widths = [n_features, *hidden]
    layers = normalized_input("mlp_classifier", (n_features,), normalization, dtype)
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers += [Dense(n_in, n_out, seed=seed + i, dtype=dtype), ReLU()]
    return Sequential(layers + classifier_head("mlp_classifier", widths[-1], classes, seed + len(hidden), dtype))


def normalized_input(model: str, input_shape: tuple[int, ...], normalization: Normalization | None,
                     dtype: npt.DTypeLike) -> list[Layer | Node]:
    """[Input(input_shape), normalization] when a model starts with a Normalization layer (its
    statistics of the model's dtype), else []."""
    if normalization is None:
        return []
    statistics = normalization.mean.value.dtype
    if statistics != np.dtype(dtype):
        raise DTypeError(f"{model}: {normalization!r} has {statistics} statistics, the model {np.dtype(dtype)} "
                         f"parameters: build it with Normalization(dtype=np.{np.dtype(dtype)})")
    return [Input(input_shape), normalization]


def classifier_head(model: str, n_in: int, classes: int, seed: int, dtype: npt.DTypeLike) -> list[Layer | Node]:
    """Dense(n_in -> 1) -> Sigmoid for two classes (for BCELoss), Dense(n_in -> classes) of logits for
    more (for CrossEntropyLoss)."""
    if classes < 2:
        raise ValueRangeError(f"{model}: classes must be at least 2, got {classes}")
    last = Dense(n_in, 1 if classes == 2 else classes, seed=seed, dtype=dtype)
    return [last, Sigmoid()] if classes == 2 else [last]


def four_three_one(
    n_features: int, *, classes: int = 2, seed: int = 0, dtype: npt.DTypeLike = np.float64,
    normalization: Normalization | None = None,
) -> Sequential:
    """The 4-3-1 classifier: n_features -> 4 -> 3 -> 1 (-> classes logits for more than two classes)."""
    return mlp_classifier(n_features, (4, 3), classes=classes, seed=seed, dtype=dtype, normalization=normalization)
