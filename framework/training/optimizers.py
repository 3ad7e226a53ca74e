"""Optimizers (`SGD`, `Adam`, `RMSprop`) that update parameters in place from their gradients, with
Keras' gradient clipping, and learning-rate schedules (`StepDecay`, `ExponentialDecay`, `CosineDecay`).

The formulas are torch.optim's. Every buffer a step needs is allocated on a parameter's first step,
in the parameter's dtype, and reused on every step after it.
"""

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict, Unpack

import attrs
import numpy as np

from framework.core.arrays import FLOAT_DTYPES, Array
from framework.core.errors import ConfigError, DTypeError, FormatError, ShapeError, ValueRangeError
from framework.core.guard import guarded
from framework.core.parameter import Parameter, Replacements
from framework.core.validation import brief


def _check(owner: object, name: str, value: object, ok: bool, expected: str) -> None:
    """Raise a ValueRangeError naming `owner` and the argument unless `ok`."""
    if not ok:
        raise ValueRangeError(f"{owner}: {name}={value!r} is out of range, expected {expected}")


class Schedule(Protocol):
    """A learning rate per epoch: `schedule(epoch)` for a 0-based epoch. Any such callable will do;
    an attrs class also has a config (see `Optimizer.get_config`)."""

    def __call__(self, epoch: int) -> float: ...


@attrs.frozen
class StepDecay:
    """`initial * gamma ** (epoch // step_size)`: the rate falls by `gamma` every `step_size` epochs.

    >>> schedule = StepDecay(0.1, step_size=10, gamma=0.5)
    >>> [schedule(epoch) for epoch in (0, 9, 10, 25)]
    [0.1, 0.1, 0.05, 0.025]
    """

    initial: float = attrs.field(converter=float)
    step_size: int
    gamma: float = attrs.field(default=0.1, converter=float)

    def __attrs_post_init__(self) -> None:
        _check(self, "initial", self.initial, math.isfinite(self.initial) and self.initial > 0, "> 0")
        _check(self, "step_size", self.step_size, self.step_size >= 1, "an int >= 1")
        _check(self, "gamma", self.gamma, 0 < self.gamma <= 1, "0 < gamma <= 1")

    def __call__(self, epoch: int) -> float:
        _check(self, "epoch", epoch, epoch >= 0, ">= 0")
        return self.initial * self.gamma ** (epoch // self.step_size)


@attrs.frozen
class ExponentialDecay:
    """`initial * gamma ** epoch`.

    >>> schedule = ExponentialDecay(0.1, gamma=0.5)
    >>> [schedule(epoch) for epoch in (0, 1, 3)]
    [0.1, 0.05, 0.0125]
    """

    initial: float = attrs.field(converter=float)
    gamma: float = attrs.field(converter=float)

    def __attrs_post_init__(self) -> None:
        _check(self, "initial", self.initial, math.isfinite(self.initial) and self.initial > 0, "> 0")
        _check(self, "gamma", self.gamma, 0 < self.gamma <= 1, "0 < gamma <= 1")

    def __call__(self, epoch: int) -> float:
        _check(self, "epoch", epoch, epoch >= 0, ">= 0")
        return self.initial * self.gamma**epoch


@attrs.frozen
class CosineDecay:
    """Half a cosine from `initial` down to `minimum` over `total_epochs`, then `minimum`:
    `minimum + (initial - minimum) * (1 + cos(pi * min(epoch, total_epochs) / total_epochs)) / 2`.

    >>> schedule = CosineDecay(0.1, total_epochs=10)
    >>> [round(schedule(epoch), 6) for epoch in (0, 5, 10, 20)]
    [0.1, 0.05, 0.0, 0.0]
    """

    initial: float = attrs.field(converter=float)
    total_epochs: int
    minimum: float = attrs.field(default=0.0, converter=float)

    def __attrs_post_init__(self) -> None:
        _check(self, "initial", self.initial, math.isfinite(self.initial) and self.initial > 0, "> 0")
        _check(self, "total_epochs", self.total_epochs, self.total_epochs >= 1, "an int >= 1")
        _check(self, "minimum", self.minimum, 0 <= self.minimum <= self.initial, f"0 <= minimum <= initial={self.initial}")

    def __call__(self, epoch: int) -> float:
        _check(self, "epoch", epoch, epoch >= 0, ">= 0")
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.minimum + (self.initial - self.minimum) * (1 + math.cos(math.pi * progress)) / 2


def schedule_config(schedule: Schedule) -> dict[str, object]:
    """`{"class": name, **fields}` of a schedule that is an attrs class, such as `StepDecay`.

    >>> schedule_config(StepDecay(0.1, step_size=10))
    {'class': 'StepDecay', 'initial': 0.1, 'step_size': 10, 'gamma': 0.1}
    """
    cls = type(schedule)
    if not attrs.has(cls):
        raise ConfigError(
            f"schedule {schedule!r} has no config to save: it is not an attrs class; define it as an "
            "@attrs.frozen class whose fields are its arguments, as StepDecay is"
        )
    return {"class": cls.__name__, **{field.name: getattr(schedule, field.name) for field in attrs.fields(cls)}}


CHUNK = 32768
"""Entries (whole rows of a parameter) a step updates at a time: the scratch of a chunk stays in the
CPU's cache, so that a big parameter crosses memory once a step, not once an operation (1.5x faster)."""


class Clipping(TypedDict, total=False):
    """Keras' gradient clipping, an argument of every optimizer; at most one of them (None: off).

    - `clipnorm`: each parameter's gradient g becomes g c / max(‖g‖, c), its L2 norm at most c;
    - `global_clipnorm`: every gradient is scaled by c / max(‖(g₁, g₂, ...)‖, c), the norm of all of
      the step's gradients together (torch.nn.utils.clip_grad_norm_, without its 1e-6);
    - `clipvalue`: each entry of each gradient is clipped to [-c, c] (clip_grad_value_).

    A gradient within its limit is used unchanged, bit for bit. The optimizer clips what it applies,
    as Keras does: `p.grad` stays the gradient backward computed. Weight decay is added after
    clipping, g' + wd θ, as torch's clip-then-step does."""

    clipnorm: float | None
    clipvalue: float | None
    global_clipnorm: float | None


@attrs.define(eq=False)
class _Slot:
    """One parameter's buffers, allocated on its first step and reused by every step after it."""

    param: Parameter  # held so that id(param), the key of this slot, is not reused while the slot lives
    dtype: np.dtype[Any]  # the parameter's, when the slot was made
    shape: tuple[int, ...]
    state: tuple[Array, ...]  # the optimizer's own buffers (momentum, moments), zeros at first
    tmp: Array  # scratch for the parameter, or for one chunk of its rows
    g: Array | None  # the same for the gradient as applied (clipped, g + wd θ), with clipping or weight decay
    steps: int = 0  # steps taken so far


@attrs.frozen
class _Plan:
    """The slots of a step's parameters, in order, checked when made: a later step with the same
    parameters (the same objects) and no value replaced since (`Replacements.count`) takes them as
    they are, as a Chain takes its layers' checks."""

    params: list[Parameter]
    count: int
    slots: list[_Slot]
    whole: bool
    """Every parameter is updated whole, with nothing to clip or decay: `_update` alone."""

    def holds(self, params: Sequence[Parameter]) -> bool:
        return len(params) == len(self.params) and all(map(operator.is_, params, self.params))


class Optimizer:
    """Base class: `step(params)` updates each `p.value` in place from `p.grad`.

    `lr` is a float or a `Schedule`, read at `epoch` (which the training loop sets). `weight_decay`
    adds the L2 term to the gradient, g + wd θ, as torch.optim does; `clipnorm`, `global_clipnorm` or
    `clipvalue` clip the gradient first (see `Clipping`). State is kept per parameter, created on
    the parameter's first step; `reset()` drops it.

    Subclasses override `_buffers()` (how many buffers of the parameter's shape their state holds)
    and `_update(value, g, state, tmp, lr, steps)`, which `step` calls on chunks of rows.

    >>> optimizer = SGD(lr=ExponentialDecay(0.1, gamma=0.5))
    >>> optimizer.epoch = 2
    >>> optimizer.learning_rate
    0.025
    """

    def __init__(self, lr: float | Schedule, *, weight_decay: float = 0.0, **clipping: Unpack[Clipping]) -> None:
        if callable(lr):
            self.lr: float | Schedule = lr
        else:
            self.lr = float(lr)
            _check(self, "lr", lr, math.isfinite(self.lr) and self.lr > 0, "a positive finite learning rate")
        self.weight_decay = float(weight_decay)
        _check(self, "weight_decay", weight_decay, math.isfinite(self.weight_decay) and self.weight_decay >= 0, ">= 0")
        self.clipnorm, self.clipvalue, self.global_clipnorm = self._clipping(clipping)
        self.epoch = 0
        self._slots: dict[int, _Slot] = {}
        self._plan: _Plan | None = None
        """The slots of the last step's parameters: checked once, not once a step."""

    def _clipping(self, clipping: Clipping) -> tuple[float | None, float | None, float | None]:
        """(clipnorm, clipvalue, global_clipnorm), each None or a positive finite float, at most one set."""
        unknown = set(clipping) - set(Clipping.__annotations__)
        if unknown:
            raise ConfigError(f"{self!r}: unknown argument {', '.join(map(repr, sorted(unknown)))}; the clipping "
                              "arguments are clipnorm, clipvalue and global_clipnorm")
        given: dict[str, float | None] = {"clipnorm": clipping.get("clipnorm"), "clipvalue": clipping.get("clipvalue"),
                                          "global_clipnorm": clipping.get("global_clipnorm")}
        limits = {name: None if value is None else float(value) for name, value in given.items()}
        for name, limit in limits.items():
            if limit is not None:
                _check(self, name, given[name], math.isfinite(limit) and limit > 0,
                       "a positive finite limit, or None for no clipping")
        chosen = [f"{name}={limit}" for name, limit in limits.items() if limit is not None]
        if len(chosen) > 1:
            raise ConfigError(f"{self!r}: only one of clipnorm, clipvalue and global_clipnorm can be set, as in Keras; "
                              f"got {', '.join(chosen)}")
        return limits["clipnorm"], limits["clipvalue"], limits["global_clipnorm"]

    @property
    def learning_rate(self) -> float:
        """The learning rate at `self.epoch`."""
        return float(self.lr(self.epoch)) if callable(self.lr) else self.lr

    @guarded
    def step(self, params: Sequence[Parameter]) -> None:
        """Update each parameter in place from its gradient (the gradients are left as they are)."""
        lr = self.learning_rate
        plan = self._plan
        if plan is None or plan.count != Replacements.count or not plan.holds(params):
            plan = self._plan = self._planned(params)
        update = self._update
        if plan.whole:  # nothing to clip or decay, no parameter in chunks: the update alone
            for slot in plan.slots:
                slot.steps += 1
                p = slot.param
                update(p.value, p.grad, slot.state, slot.tmp, lr, slot.steps)
            return
        scale = 1.0 if self.global_clipnorm is None else _norm_scale([p.grad for p in params], self.global_clipnorm)
        for slot in plan.slots:
            slot.steps += 1
            p = slot.param
            if self.clipnorm is not None:
                scale = _norm_scale([p.grad], self.clipnorm)
            if p.value.size <= CHUNK:
                self._chunk(p.value, p.grad, slot.state, slot, lr, scale)
                continue
            rows = len(slot.tmp)
            for start in range(0, len(p.value), rows):
                part = slice(start, start + rows)
                self._chunk(p.value[part], p.grad[part], [a[part] for a in slot.state], slot, lr, scale)

    def _planned(self, params: Sequence[Parameter]) -> _Plan:
        """The slots of `params`, in order, each checked against its parameter (made on its first step)."""
        slots = []
        for p in params:
            slot = self._slots.get(id(p))
            if slot is None:
                slot = self._slots[id(p)] = self._new_slot(p)
            elif slot.shape != p.value.shape or slot.dtype != p.value.dtype:
                self._raise_changed(p, slot)
            slots.append(slot)
        whole = all(slot.g is None and slot.param.value.size <= CHUNK for slot in slots)
        return _Plan(list(params), Replacements.count, slots, whole)

    def reset(self) -> None:
        """Drop every parameter's state: the next step is a first step again."""
        self._slots.clear()
        self._plan = None

    def get_state(self, named: Sequence[tuple[str, Parameter]]) -> dict[str, Array]:
        """The state of each of the parameters `named` that has taken a step, as arrays named by the
        parameter's name: `"0.W/steps"` (0-d int64), `"0.W/0"`, `"0.W/1"`, ... (its buffers, Adam's
        m and v). Copies: what `set_state` takes back."""
        state: dict[str, Array] = {}
        for name, p in named:
            slot = self._slots.get(id(p))
            if slot is not None:
                state[f"{name}/steps"] = np.array(slot.steps, dtype=np.int64)
                state |= {f"{name}/{i}": a.copy() for i, a in enumerate(slot.state)}
        return state

    def set_state(self, named: Sequence[tuple[str, Parameter]], state: Mapping[str, Array], where: str) -> None:
        """Give each of the parameters `named` the state `get_state` gave for its name (a parameter it
        does not name starts afresh); a FormatError naming `where` (the file) if an array is missing,
        left over or not of its parameter's shape and dtype. Nothing is set when one is wrong."""
        slots: dict[int, _Slot] = {}
        for name, p in named:
            if f"{name}/steps" not in state:
                continue
            slot = self._new_slot(p)
            steps = state[f"{name}/steps"]
            if steps.shape != () or steps.dtype.kind not in "iu" or int(steps) < 1:
                raise FormatError(f"{where}: {type(self).__name__}'s step count of {name!r} is {brief(steps)}, "
                                  "expected a whole number >= 1 (edited or damaged)")
            for i, buffer in enumerate(slot.state):
                saved = state.get(f"{name}/{i}")
                if saved is None or saved.shape != buffer.shape or saved.dtype != buffer.dtype:
                    got = "nothing" if saved is None else f"{saved.shape} {saved.dtype}"
                    raise FormatError(f"{where}: {type(self).__name__}'s buffer {i} of {name!r} should be "
                                      f"{buffer.shape} {buffer.dtype}, got {got} (edited or damaged)")
                np.copyto(buffer, saved)
            slot.steps = int(steps)
            slots[id(p)] = slot
        used = {f"{name}/{part}" for name, p in named if id(p) in slots
                for part in ("steps", *map(str, range(len(slots[id(p)].state))))}
        left = sorted(set(state) - used)
        if left:
            raise FormatError(f"{where}: {type(self).__name__} state {left} belongs to no parameter of the model "
                              "(edited or damaged, or another model's)")
        self._slots, self._plan = slots, None

    def get_config(self) -> dict[str, object]:
        """The constructor's arguments, JSON-ready; a schedule as `{"class": name, **fields}`."""
        lr = schedule_config(self.lr) if callable(self.lr) else self.lr
        return {"lr": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    def _buffers(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement _buffers()")

    def _update(self, value: Array, g: Array, state: Sequence[Array], tmp: Array, lr: float, steps: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update(value, g, state, tmp, lr, steps)")

    def _chunk(self, value: Array, g: Array, state: Sequence[Array], slot: _Slot, lr: float, scale: float) -> None:
        """Update `value`, a whole parameter or a chunk of its rows, from its gradient `g`, scaled by
        `scale` (a norm's clipping) or clipped to ±clipvalue, then with weight decay."""
        tmp = slot.tmp if slot.tmp.shape == value.shape else slot.tmp[: len(value)]
        if slot.g is not None:  # tmp is free until _update: it holds wd θ meanwhile
            applied = slot.g if slot.g.shape == value.shape else slot.g[: len(value)]
            if self.clipvalue is not None:
                g = np.clip(g, -self.clipvalue, self.clipvalue, out=applied)
            elif scale != 1.0:
                g = np.multiply(g, scale, out=applied)
            if self.weight_decay:
                np.multiply(value, self.weight_decay, out=tmp)
                g = np.add(tmp, g, out=applied)  # g + wd θ
        self._update(value, g, state, tmp, lr, slot.steps)

    def _new_slot(self, p: Parameter) -> _Slot:
        if p.value.dtype not in FLOAT_DTYPES:
            raise DTypeError(
                f"{self!r}: parameter {p.name!r} is {p.value.dtype}; optimizers update float32 or float64 parameters"
            )
        state = tuple(np.zeros_like(p.value) for _ in range(self._buffers()))
        rows = max(1, CHUNK // max(1, math.prod(p.value.shape[1:])))
        tmp = np.empty_like(p.value if p.value.size <= CHUNK else p.value[:rows])
        clipped = self.clipnorm is not None or self.clipvalue is not None or self.global_clipnorm is not None
        return _Slot(p, p.value.dtype, p.value.shape, state, tmp,
                     np.empty_like(tmp) if self.weight_decay or clipped else None)

    def _raise_changed(self, p: Parameter, slot: _Slot) -> None:
        raise (ShapeError if slot.shape != p.value.shape else DTypeError)(
            f"{self!r}: parameter {p.name!r} is now {p.value.shape} {p.value.dtype}, but its optimizer state "
            f"was made for {slot.shape} {slot.dtype}; call reset() after replacing a model's parameters"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr!r})"


def _norm_scale(grads: Sequence[Array], limit: float) -> float:
    """limit / max(‖grads‖, limit), the factor that brings the L2 norm of `grads` together down to `limit`:
    1.0 when it is within it (and for zero gradients)."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    return 1.0 if norm <= limit else limit / norm


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD:

        g = grad + wd θ
        b = g on the first step, then b = momentum b + g
        θ -= lr (g + momentum b)    with nesterov=True
        θ -= lr b                   with momentum, else θ -= lr g

    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad[...] = [0.5, -1.0]
    >>> optimizer = SGD(lr=0.1, momentum=0.9)
    >>> optimizer.step([p])
    >>> optimizer.step([p])
    >>> p.value.round(6)
    array([0.855, 2.29 ])
    """

    def __init__(
        self, lr: float | Schedule = 0.01, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
        **clipping: Unpack[Clipping],
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, **clipping)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        _check(self, "momentum", momentum, 0 <= self.momentum < 1, "0 <= momentum < 1")
        if self.nesterov and self.momentum == 0:
            raise ValueRangeError(f"{self!r}: nesterov=True needs momentum > 0; pass momentum=0.9, say, or nesterov=False")

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _buffers(self) -> int:
        return 1 if self.momentum else 0

    def _update(self, value: Array, g: Array, state: Sequence[Array], tmp: Array, lr: float, steps: int) -> None:
        if self.momentum:
            (b,) = state
            if steps == 1:
                np.copyto(b, g)  # b = g on the first step
            else:
                b *= self.momentum
                np.add(b, g, out=b)  # b = momentum b + g
            if self.nesterov:
                np.multiply(b, self.momentum, out=tmp)
                g = np.add(tmp, g, out=tmp)  # g + momentum b
            else:
                g = b
        np.multiply(g, lr, out=tmp)
        np.subtract(value, tmp, out=value)


class Adam(Optimizer):
    """Adam, as torch.optim.Adam (without amsgrad), t counting this parameter's steps from 1:

        g = grad + wd θ
        m = beta1 m + (1 - beta1) g
        v = beta2 v + (1 - beta2) g²
        θ -= lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad[...] = [0.5, -1.0]
    >>> Adam(lr=0.1).step([p])
    >>> p.value.round(6)  # the first step moves each entry by lr, whatever the size of its gradient
    array([0.9, 2.1])
    """

    def __init__(
        self,
        lr: float | Schedule = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        **clipping: Unpack[Clipping],
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, **clipping)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        _check(self, "beta1", beta1, 0 <= self.beta1 < 1, "0 <= beta1 < 1")
        _check(self, "beta2", beta2, 0 <= self.beta2 < 1, "0 <= beta2 < 1")
        _check(self, "eps", eps, math.isfinite(self.eps) and self.eps > 0, "eps > 0")

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _buffers(self) -> int:
        return 2

    def _update(self, value: Array, g: Array, state: Sequence[Array], tmp: Array, lr: float, steps: int) -> None:
        m, v = state
        m *= self.beta1
        np.multiply(g, 1 - self.beta1, out=tmp)
        np.add(m, tmp, out=m)  # m = beta1 m + (1 - beta1) g
        v *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta2
        np.add(v, tmp, out=v)  # v = beta2 v + (1 - beta2) g²
        correction1 = 1 - self.beta1**steps
        root_correction2 = math.sqrt(1 - self.beta2**steps)
        # lr m̂ / (sqrt(v̂) + eps) = (lr sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2)), one pass less
        np.sqrt(v, out=tmp)
        tmp += self.eps * root_correction2
        np.divide(m, tmp, out=tmp)
        tmp *= lr * root_correction2 / correction1
        np.subtract(value, tmp, out=value)


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop with alpha=rho (not centered):

        g = grad + wd θ
        v = rho v + (1 - rho) g²
        b = momentum b + g / (sqrt(v) + eps);  θ -= lr b    with momentum (b starts at 0)
        θ -= lr g / (sqrt(v) + eps)                         without

    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad[...] = [0.5, -1.0]
    >>> RMSprop(lr=0.01, rho=0.75).step([p])
    >>> p.value.round(6)  # the first step moves each entry by lr / sqrt(1 - rho)
    array([0.98, 2.02])
    """

    def __init__(
        self,
        lr: float | Schedule = 0.001,
        rho: float = 0.9,
        eps: float = 1e-7,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        **clipping: Unpack[Clipping],
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay, **clipping)
        self.rho = float(rho)
        self.eps = float(eps)
        self.momentum = float(momentum)
        _check(self, "rho", rho, 0 <= self.rho < 1, "0 <= rho < 1")
        _check(self, "eps", eps, math.isfinite(self.eps) and self.eps > 0, "eps > 0")
        _check(self, "momentum", momentum, 0 <= self.momentum < 1, "0 <= momentum < 1")

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "rho": self.rho, "eps": self.eps, "momentum": self.momentum}

    def _buffers(self) -> int:
        return 2 if self.momentum else 1

    def _update(self, value: Array, g: Array, state: Sequence[Array], tmp: Array, lr: float, steps: int) -> None:
        v = state[0]
        v *= self.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.rho
        np.add(v, tmp, out=v)  # v = rho v + (1 - rho) g²
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)  # g / (sqrt(v) + eps)
        if self.momentum:
            b = state[1]
            b *= self.momentum
            np.add(b, tmp, out=b)  # b = momentum b + g / (sqrt(v) + eps)
            np.multiply(b, lr, out=tmp)
        else:
            tmp *= lr
        np.subtract(value, tmp, out=value)


BUILT_IN_OPTIMIZERS: dict[str, type[Optimizer]] = {cls.__name__: cls for cls in (SGD, Adam, RMSprop)}
"""The optimizers `save` can keep with a model (by class name and `get_config()`)."""

BUILT_IN_SCHEDULES: dict[str, type[Schedule]] = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, CosineDecay)}


def optimizer_from_config(name: str, config: Mapping[str, object], where: str) -> Optimizer:
    """The optimizer `BUILT_IN_OPTIMIZERS[name](**config)`, its `lr` a schedule again where the config
    holds one (`schedule_config`); a FormatError naming `where` for a name or an argument not known."""
    if name not in BUILT_IN_OPTIMIZERS:
        raise FormatError(f"{where}: the optimizer {name!r} is not one of this framework's: {', '.join(BUILT_IN_OPTIMIZERS)}")
    arguments = dict(config)
    lr = arguments.get("lr")
    if isinstance(lr, dict):
        fields = dict(lr)
        schedule = fields.pop("class", None)
        if schedule not in BUILT_IN_SCHEDULES:
            raise FormatError(f"{where}: the schedule {brief(schedule)} is not one of this framework's: "
                              f"{', '.join(BUILT_IN_SCHEDULES)}")
        arguments["lr"] = BUILT_IN_SCHEDULES[str(schedule)](**fields)
    return BUILT_IN_OPTIMIZERS[name](**arguments)  # type: ignore[arg-type]
