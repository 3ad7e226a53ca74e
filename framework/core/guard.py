"""The guard around every forward and backward: numpy's floating-point errors (overflow, an invalid
operation such as inf - inf, division by zero) raise a `NonFiniteError` that names the layer and the
method, instead of a warning followed by inf or NaN.

`Module` and `Loss` wrap their subclasses' `forward` and `backward` with `guarded` (custom layers
included); `Sequential`, `Model` and the optimizers wrap theirs. Only the outermost guarded call
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

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar, cast

import numpy as np

from framework.core.errors import NonFiniteError

M = TypeVar("M", bound=Callable[..., Any])


class _Depth(threading.local):
    value = 0


_depth = _Depth()
"""How many guarded calls are running in this thread (np.errstate is per thread too)."""


def _raise(where: str, error: FloatingPointError) -> NoReturn:
    raise NonFiniteError(
        f"{where}: {error}: a value is inf or too large for its dtype; check the data for inf or huge "
        "values, or lower the learning rate if training diverged"
    ) from error


@contextmanager
def floating_point_errors(where: str) -> Iterator[None]:
    """Inside the block, numpy's floating-point errors raise a NonFiniteError naming `where` (for
    loops such as fit's and the gradient checker's: the guarded calls inside skip np.errstate)."""
    _depth.value += 1
    try:
        if _depth.value == 1:
            with np.errstate(over="raise", divide="raise", invalid="raise"):
                yield
        else:
            yield
    except FloatingPointError as e:
        _raise(where, e)
    finally:
        _depth.value -= 1


def guarded(method: M) -> M:
    """`method(self, ...)` under `floating_point_errors(f"{self!r}.{name}")`, at the cost of a flag
    test when an outer call already set the error state."""
    return _wrap(method, record=False)


def guarded_forward(forward: M) -> M:
    """`guarded(forward)` that also records the dtype of the output in `self._output_dtype`: None
    while the forward runs and after one that raised, so that `cached` refuses a backward that
    would use the cache of an earlier forward, and `check_grad` knows the gradient's dtype."""
    return _wrap(forward, record=True)


def guard_methods(cls: type, names: tuple[str, ...]) -> None:
    """Wrap each method of `names` that `cls` defines itself (not inherited): `forward` with
    `guarded_forward`, the others with `guarded`. For `__init_subclass__`."""
    own = vars(cls)
    for name in names:
        if name in own:
            setattr(cls, name, (guarded_forward if name == "forward" else guarded)(own[name]))


def _wrap(method: M, *, record: bool) -> M:
    name = method.__name__

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if record:
            self._output_dtype = None
        try:
            if _depth.value:
                out = method(self, *args, **kwargs)
            else:
                _depth.value = 1
                try:
                    with np.errstate(over="raise", divide="raise", invalid="raise"):
                        out = method(self, *args, **kwargs)
                finally:
                    _depth.value = 0
        except FloatingPointError as e:
            _raise(f"{self!r}.{name}", e)
        if record:
            self._output_dtype = out.dtype if isinstance(out, np.ndarray) else np.dtype(type(out))
        return out

    return cast(M, run)
