"""Datasets that ship with a package, so that nothing is downloaded at run time."""

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from framework.arrays import Array, float_dtype


@attrs.frozen
class Split:
    """A train/test split, batch first: x (m, features), y (m, 1) of 0/1."""

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    description: str


def _sklearn() -> Any:
    try:
        import sklearn  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("the digits dataset needs scikit-learn: pip install 'framework[datasets]'") from e
    return sklearn


def load_digits_binary(*, test_size: float = 0.25, seed: int = 0, dtype: npt.DTypeLike = np.float64) -> Split:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images of 64 pixels) as a binary task:
    is the digit odd (y = 1) or even (y = 0)? About half the images are odd.

    The split is stratified; the pixels are standardised with the training set's mean and
    standard deviation only.
    """
    _sklearn()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    dt = float_dtype(dtype)
    digits = load_digits()
    x, y = digits.data, (digits.target % 2 == 1).astype(dt).reshape(-1, 1)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    return Split(
        scaler.transform(x_train).astype(dt),
        y_train,
        scaler.transform(x_test).astype(dt),
        y_test,
        f"scikit-learn digits, odd (1) vs even (0): {len(x_train)} train / {len(x_test)} test images of 8x8 pixels",
    )
