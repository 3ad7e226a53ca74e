"""Layer classes by name, so that a saved architecture can be rebuilt without pickle."""

import types
from typing import Any, Literal, Protocol, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import numpy as np

from framework.core.errors import REBUILD_ERRORS, FormatError, FrameworkError
from framework.core.layer import JSON, Config, Module
from framework.core.validation import brief, located

L = TypeVar("L", bound=type[Module])

_LAYERS: dict[str, type[Module]] = {}


class UnknownLayerError(FormatError):
    """A saved architecture names a layer (or model) class that is not registered."""


def register_layer(cls: L) -> L:
    """Class decorator: make a layer loadable by `load_model` under its class name.

    The layer's `get_config()` must return the keyword arguments of its constructor.
    """
    known = _LAYERS.get(cls.__name__)
    if known is not None and known is not cls:
        raise FrameworkError(f"register_layer: another class is already registered as {cls.__name__!r}: {known}")
    _LAYERS[cls.__name__] = cls
    return cls


def registered_layers() -> dict[str, type[Module]]:
    """The layer classes that `load_model` can rebuild, by class name: the built-in ones and every class
    decorated with `@register_layer` so far. A copy: changing it registers nothing."""
    return dict(_LAYERS)


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


def is_model(item: object) -> bool:
    """Whether `item` is an instance of a registered model class (`Sequential`, `Model`)."""
    return any(isinstance(item, cls) for cls in _MODELS.values())


def model_class(name: str) -> type[Rebuildable]:
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownLayerError(f"unknown model class {name!r}; known: {', '.join(sorted(_MODELS))}") from None


def registered_as(cls: type) -> type | None:
    """The class that `load_model` rebuilds under `cls`'s name (a layer or a model class), or None."""
    return _LAYERS.get(cls.__name__) or _MODELS.get(cls.__name__)


class Described(Protocol):
    """A layer or a model: it gives the constructor arguments that rebuild it."""

    def get_config(self) -> Config: ...


def make_spec(class_name: str, config: Config) -> Config:
    """`{"class": class_name, "config": config}`: what `build_layer` and `build_model` rebuild."""
    return {"class": class_name, "config": config}


def spec(item: Described) -> Config:
    """What a saved architecture holds for a layer or a model, `make_spec(name, config)`, with
    `"trainable": false` for a frozen layer and `"frozen": [paths]` for the frozen layers it holds
    (`"d1"`, `"blocks.0"`), which `build_layer` rebuilds frozen."""
    entry = make_spec(type(item).__name__, item.get_config())
    if isinstance(item, Module):
        if not item.trainable:
            entry["trainable"] = False
        frozen: list[JSON] = [path for path, module in item.named_modules() if not module.trainable]
        if frozen:
            entry["frozen"] = frozen
    return entry


def build_layer(item: object, where: str) -> Module:
    """The layer that a saved `spec` describes; an error names `where` ("layer 2"), the class, and
    what the constructor refused."""
    name, config = _spec(item, where)
    trainable = cast(Config, item).get("trainable", True)
    if not isinstance(trainable, bool):
        raise FormatError(f"{where} {name}: trainable must be true or false, got {brief(trainable)}")
    try:
        cls = layer_class(name)
        _check_arguments(cls, config)
        layer = cls(**config)
    except REBUILD_ERRORS as e:  # an error of ours names the argument; show the config with any other
        raise located(e, f"{where} {name}" if isinstance(e, FrameworkError) else f"{where} {name} {brief(config)}")
    layer.trainable = trainable
    frozen = cast(Config, item).get("frozen", [])
    held = dict(layer.named_modules())
    if not (isinstance(frozen, list) and all(isinstance(path, str) and path in held for path in frozen)):
        raise FormatError(f"{where} {name}: frozen must list paths of the layers it holds ({', '.join(held) or 'none'}), "
                          f"got {brief(frozen)}")
    for path in frozen:
        held[cast(str, path)].trainable = False
    return layer


def build_model(item: object, where: str) -> Any:
    """The model (`Sequential`, `Model`) that a saved `make_spec(name, config)` describes."""
    name, config = _spec(item, where)
    return model_class(name).from_config(config)


def _spec(item: object, where: str) -> tuple[str, Config]:
    if not (isinstance(item, dict) and isinstance(item.get("class"), str) and isinstance(item.get("config"), dict)):
        raise FormatError(f"{where} must be {{'class': name, 'config': {{...}}}}, got {brief(item)}")
    return item["class"], item["config"]


_JSON_TYPES: dict[type, type | tuple[type, ...]] = {int: int, float: (int, float), str: str, bool: bool, type(None): type(None)}


def _check_arguments(cls: type[Module], config: Config) -> None:
    """Refuse an argument whose JSON type the constructor's annotation does not admit (a string or a
    float for an int, false for an axis), naming it. Annotations other than int, float, str, bool,
    None, a Literal or a union of these are left to the constructor to judge."""
    try:
        hints = get_type_hints(cls.__init__)
    except (NameError, TypeError):
        return
    for key, value in config.items():
        if key in hints and _fits(value, hints[key]) is False:
            raise FormatError(f"{key} must be {_describe(hints[key])}, got {brief(value)}")


def _numpy_scalar(hint: object) -> bool:
    """Whether `hint` is a numpy scalar type (`np.integer[Any]` in `WholeNumber`), which a JSON value
    never is: a constructor takes one besides the Python type that JSON holds."""
    origin = get_origin(hint) or hint
    return isinstance(origin, type) and issubclass(origin, np.generic)


def _fits(value: object, hint: object) -> bool | None:
    """Whether JSON `value` fits annotation `hint`; None when the hint is not a simple one."""
    if isinstance(hint, type) and hint in _JSON_TYPES:
        return isinstance(value, _JSON_TYPES[hint]) and (hint is bool or not isinstance(value, bool))
    if _numpy_scalar(hint):
        return False
    if get_origin(hint) is Literal:
        return any(value == choice and type(value) is type(choice) for choice in get_args(hint))
    if get_origin(hint) in (Union, types.UnionType):
        fits = [_fits(value, option) for option in get_args(hint)]
        return None if None in fits else any(fits)
    return None


def _describe(hint: object) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(hint))
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(option) for option in get_args(hint) if not _numpy_scalar(option))
    return "None" if hint is type(None) else getattr(hint, "__name__", str(hint))
