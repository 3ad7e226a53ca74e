"""Layer classes by name, so that a saved architecture can be rebuilt without pickle."""

from typing import TypeVar

from framework.errors import FrameworkError
from framework.layer import Module

L = TypeVar("L", bound=type[Module])

_LAYERS: dict[str, type[Module]] = {}


class UnknownLayerError(FrameworkError, ValueError):
    """A saved architecture names a layer class that is not registered."""


def register_layer(cls: L) -> L:
    """Class decorator: make a layer loadable by `load_model` under its class name.

    The layer's `get_config()` must return the keyword arguments of its constructor.
    """
    known = _LAYERS.get(cls.__name__)
    if known is not None and known is not cls:
        raise FrameworkError(f"register_layer: another class is already registered as {cls.__name__!r}: {known}")
    _LAYERS[cls.__name__] = cls
    return cls


def layer_class(name: str) -> type[Module]:
    try:
        return _LAYERS[name]
    except KeyError:
        raise UnknownLayerError(
            f"unknown layer {name!r}: import the module that defines it and decorate the class with "
            f"@register_layer before loading (registered: {', '.join(sorted(_LAYERS))})"
        ) from None
