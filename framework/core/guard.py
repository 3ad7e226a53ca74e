"""The guard around every forward and backward, the one place where a layer's or a loss's calls are
checked (`Checked`): the input before a forward, the call order and the gradient before a backward,
and numpy's floating-point errors (overflow, an invalid operation such as inf - inf, division by
zero), which raise a `NonFiniteError` that names the layer and the method, instead of a warning
followed by inf or NaN.

`Module` and `Loss` inherit `Checked`, so every subclass's `forward` and `backward` are wrapped (custom
layers included); `Sequential`, `Model` and the optimizers wrap theirs with `guarded`. Only the outermost guarded call
sets `np.errstate` (about 2 µs): the layers inside a model's forward pay a flag test. Underflow is
not an error (exp(-1000) is 0).

>>> import numpy as np
>>> class Square:
...     @guarded
...     def forward(self, x: np.ndarray) -> np.ndarray:
...         return x * x
...     def __repr__(self) -> str:
...         return "Square()"
>>> Square().forward(np.array([1e200]))
Traceback (most recent call last):
...
framework.core.errors.NonFiniteError: Square().forward: overflow encountered in multiply: ...
"""

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, TypeVar, cast

import numpy as np

from framework.core.errors import CallOrderError, FrameworkError, NonFiniteError, ShapeError

M = TypeVar("M", bound=Callable[..., Any])
T = TypeVar("T")


class _Depth(threading.local):
    value = 0


_depth = _Depth()
"""How many guarded calls are running in this thread (np.errstate is per thread too)."""


def _raise(where: str, error: FloatingPointError) -> NoReturn:
    raise NonFiniteError(
        f"{where}: {error}: a value is inf or too large for its dtype; check the data for inf or huge "
        "values, or lower the learning rate if training diverged"
    ) from error


class floating_point_errors(contextlib.ContextDecorator):  # noqa: N801  # used as a function, as contextmanager's are
    """Inside the block, numpy's floating-point errors raise a NonFiniteError naming `where` (for
    loops such as fit's and the gradient checker's: the guarded calls inside skip np.errstate).
    A class rather than a generator: entering it costs a third as much, once a training step."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._states: list[contextlib.AbstractContextManager[object] | None] = []  # one an entry: `with` nests

    def _recreate_cm(self) -> "floating_point_errors":
        return type(self)(self.where)  # as a decorator, a context a call: threads share the function, not its state

    def __enter__(self) -> None:
        _depth.value += 1
        state = np.errstate(over="raise", divide="raise", invalid="raise") if _depth.value == 1 else None
        if state is not None:
            state.__enter__()
        self._states.append(state)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: object) -> None:
        state = self._states.pop()
        _depth.value -= 1
        if state is not None:
            state.__exit__(None, None, None)
        if isinstance(error, FloatingPointError):
            _raise(self.where, error)


def guarded(method: M) -> M:
    """`method(self, ...)` under `floating_point_errors(f"{self!r}.{name}")`, at the cost of a flag
    test when an outer call already set the error state."""
    name = method.__name__

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if _depth.value:
                return method(self, *args, **kwargs)
            _depth.value = 1
            try:
                with np.errstate(over="raise", divide="raise", invalid="raise"):
                    return method(self, *args, **kwargs)
            finally:
                _depth.value = 0
        except FloatingPointError as e:
            _raise(f"{self!r}.{name}", e)

    return cast(M, run)


class Checked:
    """The base of `Module` and `Loss`: the methods of `checked_methods` that a subclass defines are
    wrapped, so that its forward and backward hold only their math. Around each:

    - the floating-point guard (`guarded`);
    - before `forward`, `self.check_input(*inputs)` when the class has one (a layer's: O(1) for an
      input of the shape and dtype of the last one; a loss checks its pair itself);
    - after `forward`, the output's dtype (`_output_dtype`: None while a forward runs and after one
      that raised) and shape (`_grad_shape`, the gradient backward takes) are recorded;
    - before `backward`, a CallOrderError when no forward awaits it (none yet, one that raised, or
      one a backward already took), and `self.check_grad(grad, shape)` for a backward given a
      gradient. A backward that calls another of its own (`Dense.backward` calls
      `backward_params`) is checked once.

    The methods of `guarded_methods` get the floating-point guard only."""

    checked_methods: ClassVar[tuple[str, ...]] = ()
    guarded_methods: ClassVar[tuple[str, ...]] = ()
    """Methods wrapped by `guarded` only (a loss's backward, whose call order its cache keeps)."""
    _output_dtype: np.dtype[Any] | None = None
    """The dtype of the last forward's output; None before the first and after one that raised."""
    _grad_shape: tuple[int, ...] | None = None
    """The shape of the gradient the next backward takes (the last output's); None when no forward awaits one."""
    _in_backward: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        for name in cls.checked_methods:
            if name in own:
                checks_input = name == "forward" and hasattr(cls, "check_input")  # forward_weighted: a loss's
                setattr(cls, name, _checked(own[name], forward=name.startswith("forward"), checks_input=checks_input))
        for name in cls.guarded_methods:
            if name in own:
                setattr(cls, name, guarded(own[name]))

    def cached(self, value: T | None) -> T:
        """`value`, or a CallOrderError when it is None (no forward set it) or the last forward raised
        (`value` would be the cache of an earlier one). A layer's checked backward needs none of
        this; a cache that may be None (a loss's) does."""
        if value is None:
            raise CallOrderError(_without_forward(self))
        if self._output_dtype is None:
            raise CallOrderError(_after_raise(self))
        return value


def _without_forward(owner: object) -> str:
    return f"{owner!r}: backward() called without a forward() before it; each backward needs its own forward"


def _after_raise(owner: object) -> str:
    return f"{owner!r}: backward() called after a forward() that raised; call forward() again with a valid input"


def _checked(method: M, *, forward: bool, checks_input: bool) -> M:
    """`guarded(method)` with the checks `Checked` describes: those of a forward, or of a backward."""
    return _checked_forward(method, checks_input) if forward else _checked_backward(method)


def _checked_forward(method: M, checks_input: bool) -> M:
    """A forward: its input checked (`checks_input`), then its output's dtype and shape recorded."""
    name = method.__name__

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._output_dtype = None
        try:
            if _depth.value:
                if checks_input:
                    self.check_input(*args)
                out = method(self, *args, **kwargs)
            else:
                out = _outermost(self, method, checks_input, args, kwargs)
        except (FloatingPointError, ValueError) as e:
            raise_named(self, name, e)
        if isinstance(out, np.ndarray):
            self._output_dtype, self._grad_shape = out.dtype, out.shape
        else:
            self._output_dtype, self._grad_shape = np.dtype(type(out)), ()
        return out

    return cast(M, run)


def _checked_backward(method: M) -> M:
    """A backward: refused when no forward awaits it, its gradient checked; one that another of the
    same layer calls (`Dense.backward` calls `backward_params`) is checked once."""
    name = method.__name__

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._in_backward:
            return method(self, *args, **kwargs)
        start_backward(self, args)
        try:
            if _depth.value:
                return method(self, *args, **kwargs)
            return _outermost(self, method, False, args, kwargs)
        except (FloatingPointError, ValueError) as e:
            raise_named(self, name, e)
        finally:
            self._in_backward = False

    return cast(M, run)


def _outermost(owner: Any, method: Callable[..., Any], checks_input: bool, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    """`method` as the outermost guarded call: under np.errstate, which the calls inside skip."""
    _depth.value = 1
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            if checks_input:
                owner.check_input(*args)
            return method(owner, *args, **kwargs)
    finally:
        _depth.value = 0


_GRADIENT_HINT = ": a gradient summed over the wrong axes? p.grad[...] = ... takes the parameter's own shape"


def raise_named(owner: object, name: str, error: BaseException) -> NoReturn:
    """Raise `error`, raised inside `owner.name` (a forward or a backward), naming them: a floating-point
    error as a NonFiniteError, numpy's broadcast errors as a ShapeError; any other as it was."""
    if isinstance(error, FloatingPointError):
        _raise(f"{owner!r}.{name}", error)
    if isinstance(error, ValueError) and not isinstance(error, FrameworkError):
        hint = "" if name.startswith("forward") else _GRADIENT_HINT
        if "broadcast" in str(error):
            raise ShapeError(f"{owner!r}.{name}: numpy could not broadcast the arrays: {error}{hint}") from error
        if "mismatch in its core dimension" in str(error):  # a matrix product's inner sizes
            raise ShapeError(f"{owner!r}.{name}: numpy could not multiply the matrices: {error}{hint}") from error
    raise error


def start_backward(owner: Any, args: tuple[Any, ...]) -> None:
    """Refuse a backward that no forward awaits, or given a gradient unlike the output (the first of
    `args`, if any); then take the forward."""
    expected = owner._grad_shape
    if expected is None:
        raise CallOrderError(_without_forward(owner))
    if owner._output_dtype is None:
        raise CallOrderError(_after_raise(owner))
    if args:
        owner.check_grad(args[0], expected)
    owner._grad_shape, owner._in_backward = None, True
