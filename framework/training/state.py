"""The training state `save` keeps of a compiled model besides its weights, as Keras' saved models
do, so that `load_model(path).fit(..., initial_epoch=...)` goes on where training stopped, bit for
bit: the loss and its arguments, the optimizer's config and each parameter's buffers and step
count, the metrics, where the last fit stands (`FitProgress`: its epoch, seed and shuffling
generator) and the states of the layers' random generators (a Dropout's). JSON and tensors, for
`framework.saving` to write in the safetensors file: nothing is pickled."""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs
import numpy as np

from framework.core.arrays import Array
from framework.core.errors import REBUILD_ERRORS, ConfigError, FormatError
from framework.core.layer import JSON, Config, Module
from framework.core.parameter import Parameter
from framework.core.protocols import Network, Wrapper
from framework.core.validation import brief
from framework.losses import BUILT_IN_LOSSES, Loss
from framework.training.metrics import Metric
from framework.training.outputs import JointLoss
from framework.training.optimizers import BUILT_IN_OPTIMIZERS, BUILT_IN_SCHEDULES, Optimizer, optimizer_from_config


@attrs.frozen
class FitProgress:
    """Where a model's last fit stood at the end of an epoch: `fit(initial_epoch=epoch)` continues it."""

    epoch: int
    """Epochs completed: the 0-based index of the next one."""
    seed: int
    """The entropy the fit's generator was seeded with: a resumed fit draws its validation split again from it."""
    rng: dict[str, Any]
    """The generator's state after that epoch: the next epoch's shuffle continues from it."""


class Restorable(Protocol):
    """What `restore_state` restores into: a compiled trainer (`Sequential`, `Model`)."""

    optimizer: Optimizer | None
    fit_progress: FitProgress | None

    @property
    def layers(self) -> Sequence[Module]: ...

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]: ...


class Compiled(Restorable, Protocol):
    """What the training state is made of, and what `compile_from_state` compiles."""

    loss: Loss | None
    metrics: dict[str, Metric]

    def compile(self, *, loss: Loss, optimizer: Optimizer, metrics: Sequence[str] = ()) -> None: ...


def not_rebuildable(loss: Loss, optimizer: Optimizer) -> str | None:
    """Why `load_model` could not rebuild the training state of a model compiled with `loss` and
    `optimizer` (a custom loss or optimizer, a schedule that is a plain function), or None."""
    if isinstance(loss, JointLoss):
        return (f"the total loss of a model of several outputs, {loss!r}, is not kept in a saved file (its "
                "outputs' losses and weights), so load_model could not rebuild it")
    if BUILT_IN_LOSSES.get(type(loss).__name__) is not type(loss):
        return f"the loss {loss!r} is not one of this framework's ({', '.join(BUILT_IN_LOSSES)})"
    if BUILT_IN_OPTIMIZERS.get(type(optimizer).__name__) is not type(optimizer):
        return f"the optimizer {optimizer!r} is not one of this framework's ({', '.join(BUILT_IN_OPTIMIZERS)})"
    if callable(optimizer.lr) and BUILT_IN_SCHEDULES.get(type(optimizer.lr).__name__) is not type(optimizer.lr):
        return f"the learning rate {optimizer.lr!r} is not one of this framework's schedules ({', '.join(BUILT_IN_SCHEDULES)})"
    return None


def training_state(model: Compiled, where: str) -> tuple[Config, dict[str, Array]]:
    """The compiled `model`'s training state, as JSON and tensors; a ConfigError naming `where` (the
    file) when `load_model` could not rebuild it (`not_rebuildable`), before anything is written."""
    loss, optimizer = model.loss, model.optimizer
    assert loss is not None and optimizer is not None, "the training state is a compiled model's"
    reason = not_rebuildable(loss, optimizer)
    if reason is not None:
        raise ConfigError(f"save: {reason}, so load_model could not rebuild the compile state (nothing was written to "
                          f"{where}): save(path, include_optimizer=False) keeps the weights and architecture only")
    progress = model.fit_progress
    state: Config = {
        "loss": {"class": type(loss).__name__, "config": loss.get_config()},
        "optimizer": {"class": type(optimizer).__name__, "config": _json(optimizer.get_config())},
        "metrics": list(model.metrics),
        "progress": None if progress is None else _json(attrs.asdict(progress)),
        "generators": {name: _json(g.bit_generator.state) for name, g in _generators(model).items()},
    }
    return state, optimizer.get_state(model.named_parameters())


def compile_from_state(model: Compiled, state: JSON, tensors: Mapping[str, Array], where: str) -> None:
    """Compile `model` as the training state `state` says (a new loss, optimizer and metrics, rebuilt
    from their configs), then `restore_state`; a FormatError naming `where` if the state is not one
    `training_state` wrote."""
    state = _mapping(state, "the training state", where)
    loss, optimizer = (_mapping(state.get(key), f"the training state's {key!r}", where) for key in ("loss", "optimizer"))
    metrics = state.get("metrics")
    if not (isinstance(metrics, list) and all(isinstance(name, str) for name in metrics)):
        raise FormatError(f"{where}: the training state's metrics must be a list of names, got {brief(metrics)}")
    name = loss.get("class")
    if not isinstance(name, str) or name not in BUILT_IN_LOSSES:
        raise FormatError(f"{where}: the loss {brief(name)} is not one of this framework's: {', '.join(BUILT_IN_LOSSES)}")
    try:
        rebuilt_loss = BUILT_IN_LOSSES[name](**_mapping(loss.get("config"), "the loss's config", where))
        rebuilt = optimizer_from_config(str(optimizer.get("class")),
                                        _mapping(optimizer.get("config"), "the optimizer's config", where), where)
        model.compile(loss=rebuilt_loss, optimizer=rebuilt, metrics=[str(m) for m in metrics])
    except FormatError:
        raise
    except REBUILD_ERRORS as e:
        raise FormatError(f"{where}: the training state does not rebuild: {e}") from e
    restore_state(model, state, tensors, where)


def restore_state(model: Restorable, state: JSON, tensors: Mapping[str, Array], where: str) -> None:
    """Put the saved state into the compiled `model`'s optimizer (which must be of the saved class):
    its learning rate (a callback may have lowered it) and each parameter's buffers and step count;
    and the model's `fit_progress` and its layers' random generators. Checked before anything is set."""
    state = _mapping(state, "the training state", where)
    optimizer = model.optimizer
    assert optimizer is not None, "restore_state restores into a compiled model"
    saved = _mapping(state.get("optimizer"), "the training state's 'optimizer'", where)
    if saved.get("class") != type(optimizer).__name__:
        raise FormatError(f"{where}: the training state is of a {brief(saved.get('class'))} optimizer, but the model is "
                          f"compiled with {optimizer!r}: compile it with the optimizer it was trained with")
    lr = _mapping(saved.get("config"), "the optimizer's config", where).get("lr")
    if callable(optimizer.lr) != isinstance(lr, dict) or not (isinstance(lr, dict) or isinstance(lr, float) and lr > 0):
        raise FormatError(f"{where}: the saved learning rate {brief(lr)} does not fit the optimizer's, {optimizer.lr!r}")
    progress = _progress(state.get("progress"), where)
    generators = _generators(model)
    states = _mapping(state.get("generators"), "the training state's 'generators'", where)
    if set(states) != set(generators):
        raise FormatError(f"{where}: the training state has random generators {sorted(states)}, the model "
                          f"{sorted(generators)} (edited, or another model's)")
    for name, generator in generators.items():  # each state tried on a copy first
        _set_state(np.random.Generator(type(generator.bit_generator)()), states[name],
                   f"{where}: the state of the generator {name!r}")
    optimizer.set_state(model.named_parameters(), tensors, where)
    if isinstance(lr, float):
        optimizer.lr = lr
    model.fit_progress = progress
    for name, generator in generators.items():
        _set_state(generator, states[name], f"{where}: the state of the generator {name!r}")


def progress_state(generator: np.random.Generator) -> tuple[int, dict[str, Any]]:
    """(the entropy `generator` was seeded with, its state now), for a `FitProgress`."""
    entropy = generator.bit_generator.seed_seq.entropy  # type: ignore[attr-defined]
    assert isinstance(entropy, int), "fit seeds its generator with an int or None"
    return entropy, dict(generator.bit_generator.state)


def _generators(model: Network | Restorable) -> dict[str, np.random.Generator]:
    """The numpy Generators the model's layers hold as attributes (a Dropout's `_rng`), those of the
    models a layer wraps (`Nested`) included, by layer index and path: `"2._rng"`, `"0.block.drop._rng"`,
    `"1.0.2._rng"` (layer 2 of the model that layer 1 wraps)."""
    found: dict[str, np.random.Generator] = {}
    for i, layer in enumerate(model.layers):
        for path, module in [("", layer), *layer.named_modules()]:
            here = f"{i}.{path}" if path else str(i)
            found |= {f"{here}.{name}": value for name, value in vars(module).items()
                      if isinstance(value, np.random.Generator)}
            if isinstance(module, Wrapper):
                found |= {f"{here}.{name}": value for name, value in _generators(module.wrapped_model()).items()}
    return found


def _progress(item: JSON, where: str) -> FitProgress | None:
    if item is None:
        return None
    fields = _mapping(item, "the training state's 'progress'", where)
    epoch, seed, rng = fields.get("epoch"), fields.get("seed"), fields.get("rng")
    if not (isinstance(epoch, int) and epoch >= 1 and isinstance(seed, int) and isinstance(rng, dict)):
        raise FormatError(f"{where}: the training state's progress {brief(item)} is not an epoch >= 1, a seed and a "
                          "generator's state (edited or damaged)")
    _set_state(np.random.default_rng(), rng, f"{where}: the fit's generator")  # refused here, not at the next fit
    return FitProgress(epoch, seed, rng)


def _set_state(generator: np.random.Generator, state: JSON, what: str) -> None:
    try:
        generator.bit_generator.state = state  # type: ignore[assignment]
    except REBUILD_ERRORS as e:
        raise FormatError(f"{what} is not one numpy can set ({e}): edited or damaged") from e


def _mapping(item: JSON, what: str, where: str) -> dict[str, JSON]:
    if not isinstance(item, dict):
        raise FormatError(f"{where}: {what} must be a JSON object, got {brief(item)} (edited or damaged)")
    return item


def _json(value: object) -> JSON:
    """A config or a generator's state as JSON: dicts, lists, numbers, strings (an attrs schedule's
    config is already one; a generator's state holds Python ints)."""
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, np.integer | np.floating):
        return value.item()
    raise ConfigError(f"save: {brief(value)} in the training state is not JSON")
