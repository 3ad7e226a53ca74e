"""`LayerCall`: one call of a layer inside a model's forward."""

import attrs

from framework.arrays import Array
from framework.layer import Module


@attrs.frozen
class LayerCall:
    """One call of a layer in a model's forward: its qualified name, the layer and the input it got."""

    name: str
    layer: Module
    x: Array | tuple[Array, ...]
    """The input, or the inputs of a `Merge` layer."""
