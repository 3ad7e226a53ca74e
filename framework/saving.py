"""Save and load models as safetensors files: the weights as tensors, the architecture as JSON in
the metadata. Nothing is pickled, so loading never runs code from the file."""

import inspect
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
from framework.core.arrays import Array
from framework.core.errors import REBUILD_ERRORS, ConfigError, FormatError, MissingFileError, NonFiniteError
from framework.core.validation import brief, describe_nonfinite, located
from framework.core.layer import JSON
from framework.losses import BUILT_IN_LOSSES, Loss
from framework.core.budget import allocation_budget
from framework.core.parameter import Buffer, Parameter
from framework.core.registry import build_model, registered_as, spec
from framework.core.protocols import Network, Wrapper

FORMAT = "framework"
FORMAT_VERSION = 2
"""Version 2 adds the training state (`save_model(training=...)`); a file without it is written as
version 1, which every reader of this format reads."""

TRAINING = "training/"
"""The prefix of the training state's tensors (an optimizer's moments), kept apart from the weights."""

_UMASK = os.umask(0o077)
os.umask(_UMASK)
"""The process's umask, read once at import: os.umask reads it only by setting it, for the whole
process, so reading it on each save would race with other threads creating files meanwhile (set
to 0o077 for that instant, a file created meanwhile errs on the private side)."""


class Saveable(Network, Protocol):
    """A model as saving needs it: a `Network`, and the loss it was compiled with (named in the file)."""

    @property
    def loss(self) -> Loss | None: ...


def save_model(
    model: Saveable, path: str | os.PathLike[str], training: JSON = None, training_tensors: Mapping[str, Array] | None = None
) -> Path:
    """Write `model` to `path` atomically: a crash mid-save leaves any earlier file intact. The file
    names the loss the model was compiled with, when it is a built-in one (see `saved_loss`). With
    `training` (JSON) and `training_tensors`, the file keeps them too: what `read_training` gives back
    (the trainer's compile state, made and read by `framework.training.state`)."""
    safetensors = _safetensors()
    path = Path(path)
    if path.is_dir():
        raise FormatError(f"save: {path} is a directory, not a model file: pass the path of the file to write, "
                          f"such as {path / 'model.safetensors'}")
    _check_rebuildable(model, "save", path)
    architecture = _plain(spec(model), "architecture", path)
    metadata = {"format": FORMAT, "format_version": "1", "architecture": json.dumps(architecture)}
    if model.loss is not None and BUILT_IN_LOSSES.get(type(model.loss).__name__) is type(model.loss):
        metadata["loss"] = type(model.loss).__name__
    if training is not None:
        metadata |= {"format_version": str(FORMAT_VERSION), "training": json.dumps(_plain(training, "training", path))}
    weights: list[tuple[str, Parameter | Buffer]] = [*model.named_parameters(), *model.named_buffers()]
    named = [(name, w.value) for name, w in weights]
    named += [(TRAINING + name, array) for name, array in (training_tensors or {}).items()]
    for name, array in named:
        problem = describe_nonfinite(name, array)
        if problem:
            raise NonFiniteError(f"save: {problem}; a diverged model is not saved (nothing was written to {path})")
    tensors = {name: np.ascontiguousarray(array).reshape(array.shape) for name, array in named}  # 0-d stays 0-d
    data = safetensors.numpy.save(tensors, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        temporary = Path(f.name)
        try:
            os.chmod(temporary, 0o666 & ~_UMASK)  # as open() would create it; the temporary file is 0600
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            f.close()
            temporary.unlink()
            raise
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _plain(value: object, where: str, path: Path) -> JSON:
    """`value`, a config, as plain JSON data: the numpy scalars a custom layer's `get_config()` may
    return become Python's (np.integer -> int, np.floating -> float, np.bool_ -> bool) and tuples
    become lists, so that `load_model` rebuilds it as it was; anything else JSON cannot hold (an
    array, an object) is a ConfigError naming where it is in the architecture."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):  # before float: np.float64 is one
        return float(value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]", path) for i, item in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item, f"{where}[{key!r}]", path) for key, item in value.items()}
    raise ConfigError(f"save: {where} is {brief(value)} (a {type(value).__name__}), which the architecture's JSON "
                      "cannot hold: get_config() must return numbers, strings, None, lists and dicts with string keys "
                      f"(nothing was written to {path})")


def _check_rebuildable(model: Network, where: str, path: Path) -> None:
    """Refuse a model that `load_model` could not rebuild, before anything is written: a class (of the
    model or of a layer) not registered under its name, or a layer whose `get_config()` does not fit
    its constructor. A nested model is checked in turn, as `load_model` would rebuild it."""
    _check_registered(model, where, path, "@register_model")
    for i, layer in enumerate(model.layers):
        here = f"{where}: layer {i} {brief(layer)}"
        _check_registered(layer, here, path, "@register_layer")
        config, signature = layer.get_config(), inspect.signature(type(layer))
        try:
            signature.bind(**config)
        except TypeError as e:
            named = [p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            wanted = ", ".join(f"{p.name!r}: ..." for p in named)
            raise ConfigError(
                f"{here}: get_config() returns {brief(config)}, from which load_model cannot rebuild it ({e}): override "
                f"get_config() to return the constructor's arguments ({{{wanted}}}) (nothing was written to {path})"
            ) from None
        if isinstance(layer, Wrapper):
            _check_rebuildable(layer.wrapped_model(), here, path)


def _check_registered(item: object, where: str, path: Path, decorator: str) -> None:
    cls = type(item)
    known = registered_as(cls)
    if known is None:
        problem = f"{cls.__name__} is not registered, so load_model could not rebuild it: register it with {decorator}"
    elif known is not cls:
        problem = (f"another class, {known.__module__}.{known.__qualname__}, is registered as {cls.__name__!r} and "
                   f"load_model would rebuild that one: give this class a name of its own and register it with {decorator}")
    else:
        return
    raise ConfigError(f"{where}: {problem} (nothing was written to {path})")


def read_model(path: str | os.PathLike[str]) -> Saveable:
    """Rebuild the model saved at `path`, weights and all, from the classes registered under the names
    the file gives (`framework.load_model` checks it is a model). Custom layers must be registered
    (`@register_layer`) before loading."""
    path = Path(path)
    with _opened(path) as (f, metadata):
        held = sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())
        with allocation_budget(2 * held + 4096):  # room for small slips, which the checks below name
            model = _build(path, metadata["architecture"])
        expected: dict[str, Parameter | Buffer] = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        weights = {name for name in f.keys() if not name.startswith(TRAINING)}
        if weights != set(expected):
            raise FormatError(
                f"{path}: the tensors {sorted(weights)} do not match the architecture's parameters {sorted(expected)}"
            )
        for name, p in expected.items():
            _read(path, f, name, p)
    return model


def read_training(path: str | os.PathLike[str]) -> tuple[JSON, dict[str, Array]]:
    """The training state `save_model` kept in the file at `path`: its JSON (None when the file has
    none: saved uncompiled, or without it) and its tensors by name (the prefix `TRAINING` taken
    off), each checked to be finite."""
    path = Path(path)
    with _opened(path) as (f, metadata):
        if "training" not in metadata:
            return None, {}
        try:
            training: JSON = json.loads(metadata["training"])
        except (ValueError, RecursionError) as e:
            raise FormatError(f"{path}: the training state is not valid JSON: {e}") from e
        tensors = {name[len(TRAINING):]: f.get_tensor(name) for name in f.keys() if name.startswith(TRAINING)}
    for name, tensor in tensors.items():
        problem = describe_nonfinite(f"tensor {TRAINING + name!r}", tensor)
        if problem:
            raise NonFiniteError(f"{path}: {problem}; the training state must be finite (save refuses it too)")
    return training, tensors


def saved_loss(path: str | os.PathLike[str]) -> Loss | None:
    """A new instance of the loss that the model saved at `path` was compiled with, or None when the
    file names none (saved before compile, or compiled with a loss that is not built in).

    >>> import tempfile
    >>> from framework import Adam, CrossEntropyLoss, Dense, Sequential
    >>> model = Sequential([Dense(4, 3, seed=0)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     before = saved_loss(model.save(Path(folder) / "m.safetensors"))
    ...     model.compile(loss=CrossEntropyLoss(), optimizer=Adam())
    ...     after = saved_loss(model.save(Path(folder) / "m.safetensors"))
    >>> before, after
    (None, CrossEntropyLoss())
    """
    path = Path(path)
    with _opened(path) as (_, metadata):
        name = metadata.get("loss")
    if name is None:
        return None
    if name not in BUILT_IN_LOSSES:
        raise FormatError(f"{path} names the loss {name!r}, which is not one of this framework's: "
                          f"{', '.join(BUILT_IN_LOSSES)} (edited or damaged)")
    return BUILT_IN_LOSSES[name]()


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """The open safetensors file at `path` and its metadata, checked to be a model of this
    framework; an unreadable or missing file is a FormatError, raised here or in the block."""
    safetensors = _safetensors()
    if path.is_dir():
        raise FormatError(f"{path} is a directory, not a model file: pass the path of the file that save wrote")
    try:
        with safetensors.safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            _check_header(path, metadata)
            yield f, metadata
    except safetensors.SafetensorError as e:
        raise FormatError(f"{path} is not a readable safetensors file (truncated, or another format): {e}") from e
    except FileNotFoundError as e:
        raise MissingFileError(f"{path} does not exist: check the path, and the working directory it is relative to") from e


def _safetensors() -> ModuleType:
    try:
        import safetensors.numpy
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("saving and loading models needs safetensors: pip install 'framework[io]'") from e
    return safetensors


def _check_header(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT or "architecture" not in metadata:
        raise FormatError(f"{path} is a safetensors file but not a model saved by framework (no architecture)")
    version = metadata.get("format_version", "")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise FormatError(f"{path} has format version {version!r}; this framework reads versions up to {FORMAT_VERSION}")


def _build(path: Path, architecture_json: str) -> Saveable:
    try:
        architecture = json.loads(architecture_json)
    except (ValueError, RecursionError) as e:  # ValueError: not JSON, or an integer of more than 4300 digits
        raise FormatError(f"{path}: the architecture is not valid JSON: {e}") from e
    try:
        model: Saveable = build_model(architecture, "the architecture")
    except REBUILD_ERRORS as e:
        raise located(e, str(path))
    return model


def _read(path: Path, f: Any, name: str, p: Parameter | Buffer) -> None:
    """Copy tensor `name` of the open file `f` into `p`, once its dtype, shape and values are right."""
    stored = f.get_slice(name)
    dtype, shape, wanted = stored.get_dtype(), tuple(stored.get_shape()), _safetensors_dtype(p.value.dtype)
    if dtype != wanted:
        raise FormatError(
            f"{path}: tensor {name!r} is stored as {dtype}, the architecture wants {p.value.dtype} ({wanted}): convert "
            f"it to {p.value.dtype} where the file was written, or save the model again with this framework"
        )
    if shape != p.value.shape:
        raise FormatError(f"{path}: tensor {name!r} has shape {shape}, the architecture wants {p.value.shape}: "
                          "the file does not match its own architecture (edited or damaged)")
    tensor = f.get_tensor(name)
    problem = describe_nonfinite(f"tensor {name!r}", tensor)
    if problem:
        raise NonFiniteError(f"{path}: {problem}; a model with NaN or inf weights is not loaded (save refuses them too)")
    if isinstance(p, Buffer) and p.minimum is not None and tensor.size and tensor.min() < p.minimum:
        raise FormatError(f"{path}: tensor {name!r} holds {tensor.min()}, below the least value its layer allows "
                          f"({p.minimum}): the file was edited or damaged")
    np.copyto(p.value, tensor)


def _safetensors_dtype(dtype: np.dtype[Any]) -> str:
    """The name safetensors gives `dtype`: F64 for float64, I64 for int64, BOOL for bool."""
    return "BOOL" if dtype.kind == "b" else f"{dtype.kind.upper()}{dtype.itemsize * 8}"
