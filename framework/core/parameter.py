"""A trainable tensor and its gradient."""

from collections.abc import Sequence

import attrs
import numpy as np

from framework.core.arrays import FLOAT_DTYPES, Array
from framework.core.errors import ConfigError, DTypeError, ShapeError


def _zeros_like_value(self: "Parameter") -> Array:
    return np.zeros_like(self.value)


def _floating(self: "Parameter", attribute: "attrs.Attribute[Array]", value: Array) -> None:
    """Refuse a value of another dtype than float32, float64 or complex (the complex-step check's
    working copy): an integer gradient would be truncated, and float16 is not a dtype a model has."""
    dtype = np.asarray(value).dtype
    if dtype.kind != "c" and dtype not in FLOAT_DTYPES:
        raise DTypeError(
            f"Parameter {self.name!r} has dtype {dtype}: a parameter must be float32 or float64 (its gradient has the "
            "value's dtype, so an integer gradient would be truncated, and float16 is no model's dtype); pass a float32 "
            "or float64 array, value.astype(np.float64)"
        )


class Replacements:
    """How many times a parameter's or a buffer's value was replaced by another array (not changed in
    place) in this process: a cast, a load, the complex-step check's working copy. A layer checks an
    input of a shape it has accepted again after any replacement (`Layer.check_input`)."""

    count = 0


def _count_replacement(self: "Parameter | Buffer", attribute: "attrs.Attribute[Array]", value: Array) -> Array:
    if value is not self.value:
        Replacements.count += 1
    return value


def _fit_grad(self: "Parameter", attribute: "attrs.Attribute[Array]", value: Array) -> Array:
    """On assignment of a float value of another shape or dtype, a new zero gradient of its shape and
    dtype, so that value and grad stay consistent (`d.W.value = d.W.value.astype(np.float32)`). A
    complex value (the complex-step check's working copy) keeps the gradient as it is."""
    grad = self.grad
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and (value.shape, value.dtype) != (grad.shape, grad.dtype):
        object.__setattr__(self, "grad", np.zeros_like(value))  # past _grad_shape: the value is about to change
    return value


def _grad_shape(self: "Parameter", attribute: "attrs.Attribute[Array]", grad: Array) -> None:
    """Refuse a gradient that is not an array of the value's shape (`self.W.grad = (x.T @ g).T` in a
    backward with the transpose the wrong way round): the optimizer would fail far from the mistake."""
    if not isinstance(grad, np.ndarray) or grad.shape != self.value.shape:
        got = f"shape {grad.shape}" if isinstance(grad, np.ndarray) else f"a {type(grad).__name__}"
        raise ShapeError(
            f"Parameter {self.name!r}: a gradient of {got} was assigned, but the value has shape {self.value.shape}: "
            "set it in place, p.grad[...] = ..., with the value's shape (a transpose the wrong way round?)"
        )


@attrs.define(eq=False)
class Parameter:
    """A trainable tensor: `value`, its gradient `grad` (same shape, updated in place by backward) and a `name`.

    >>> p = Parameter(np.ones((2, 3)), name="W")
    >>> p.grad.shape
    (2, 3)
    """

    value: Array = attrs.field(validator=_floating, on_setattr=[attrs.setters.validate, _fit_grad, _count_replacement])
    """Float or complex (the gradient checker's complex step); checked when set, and a float value of
    another shape or dtype gets a new zero `grad` to match."""
    name: str = ""
    grad: Array = attrs.field(default=attrs.Factory(_zeros_like_value, takes_self=True), validator=_grad_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return self.value.size


def same_parameters(
    caller: str, before: Sequence[tuple[str, Parameter]], after: Sequence[tuple[str, Parameter]]
) -> None:
    """A forward must run with the parameters taken before it: parameters made in forward would go
    unchecked by the gradient checker and untrained by the optimizer, which took its list first."""
    if [id(p) for _, p in after] != [id(p) for _, p in before]:
        raise ConfigError(
            f"{caller}: forward() changed the parameters, from {[n for n, _ in before]} to {[n for n, _ in after]}; "
            "create parameters in __init__ or in build(input_shape), which runs before the first forward"
        )


@attrs.define(eq=False)
class Buffer:
    """A tensor a layer keeps but does not train (BatchNorm's running statistics): saved with the
    model, restored by the gradient checker, never touched by an optimizer."""

    value: Array = attrs.field(on_setattr=_count_replacement)
    name: str = ""
    minimum: float | None = None
    """The least value an entry may hold (0 for a variance), or None; `load_model` refuses a file below it."""
