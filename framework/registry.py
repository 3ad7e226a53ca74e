"""Layer classes by name, so that a saved architecture can be rebuilt without pickle."""

from typing import Any, Protocol, TypeVar

from framework.errors import FrameworkError
from framework.layer import Config, Module

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


class Rebuildable(Protocol):
    """A model class that `load_model` can rebuild from its config."""

    @classmethod
    def from_config(cls, config: Config) -> Any: ...


M = TypeVar("M", bound=type[Rebuildable])
_MODELS: dict[str, type[Rebuildable]] = {}


def register_model(cls: M) -> M:
    """Class decorator for model classes (`Sequential`, `Model`): saved models and models nested as
    layers are rebuilt by class name."""
    _MODELS[cls.__name__] = cls
    return cls


def model_class(name: str) -> type[Rebuildable]:
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownLayerError(f"unknown model class {name!r}; known: {', '.join(sorted(_MODELS))}") from None
