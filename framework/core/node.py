"""`Node`: a symbolic tensor in a graph under construction, and `Input`, where a graph starts."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from framework.core.arrays import Shape, WholeNumber
from framework.core.errors import ConfigError, FrameworkError, ShapeError
from framework.core.validation import is_whole_number

if TYPE_CHECKING:  # a node holds the module that made it; the module makes nodes: types only
    from framework.core.layer import Module


@attrs.frozen(eq=False)
class Node:
    """The output of `Input(...)` or of a layer called on nodes. `shape` has None for the batch."""

    shape: tuple[int | None, ...]
    module: "Module | None"
    parents: tuple["Node", ...]
    name: str

    def __repr__(self) -> str:
        return f"{self.name} {self.shape}"


def Input(features: WholeNumber | Sequence[WholeNumber], *, name: str = "input") -> Node:
    """Where a graph starts: `Input(64)` stands for a batch of 64-feature rows, shape (None, 64).
    Sizes may be numpy integers (`Input(x.shape[1])`, `Input(np.int64(3))`): they become ints.

    >>> import numpy as np
    >>> Input(np.int64(3)), Input((2, 3), name="images")
    (input (None, 3), images (None, 2, 3))
    """
    dims = tuple(features) if isinstance(features, Sequence) else (features,)
    if not all(is_whole_number(d) for d in dims):
        raise ConfigError(f"Input: feature sizes must be whole numbers, got {features!r}")
    if not dims or any(d < 1 for d in dims):
        raise ShapeError(f"Input needs positive feature sizes, got {features!r}")
    return Node((None, *(int(d) for d in dims)), None, (), name)


def call(module: "Module", parents: list[Node]) -> Node:
    """The node that `module` called on `parents` produces; its shape is inferred (building the
    module's weights if it waited for the input shape), and a mismatch fails here, naming nodes."""
    for parent in parents:
        if not isinstance(parent, Node):
            raise ConfigError(f"{module!r} was called on a {type(parent).__name__}: call layers on Input(...) nodes "
                            "to build a graph, or use layer.forward(array) on data")
    shapes: list[Shape] = [(1, *(int(d or 1) for d in p.shape[1:])) for p in parents]
    try:
        out = module.node_shape(shapes)
    except FrameworkError as e:
        given = ", ".join(repr(p) for p in parents)
        raise ShapeError(f"{module!r} cannot be called on {given}: {e}") from e
    return Node((None, *out[1:]), module, tuple(parents), f"{module!r}")
