"""`LayerCall`: one call of a layer inside a model's forward."""

import attrs

from framework.arrays import Array
from framework.layer import Layer


@attrs.frozen
class LayerCall:
    """One call of a layer in a model's forward: its qualified name, the layer and the input it got."""

    name: str
    layer: Layer
    x: Array
