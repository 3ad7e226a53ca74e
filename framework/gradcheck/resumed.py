"""The fast complex step: a tensor of one layer is moved through that layer's own hooks
(`Layer.perturbed_output` and `moved_output`, `perturbed_input` and `moved_input`, which `Dense`
computes without a forward), and only what comes after the layer is rerun."""

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import cast

import attrs

from framework.core.arrays import Array, Scalar
from framework.core.layer import Layer
from framework.core.parameter import Parameter
from framework.core.protocols import LayerCall, Network, Resumable
from framework.gradcheck.numeric import ComplexStep, Floats, TensorDifferentiator, work_copy


@attrs.frozen
class FromOutput:
    """A `Perturbation` computed from a layer's output: `entry(index, δ)` is the output with one
    entry of the tensor moved by δ, `along(V, δ)` the outputs moved along each direction of V, and
    `rest` the scalar from an output (the layers after it and the loss). The tensor itself is never
    changed: the hooks move it on their own."""

    entry: Callable[[int, complex], Array]
    moved: Callable[[Floats, complex], Array]
    rest: Callable[[Array], Scalar]

    def at_entry(self, t: Array, index: int, delta: complex) -> Scalar:
        return self.rest(self.entry(index, delta))

    def along(self, t: Array, directions: Floats, delta: complex) -> Iterator[Scalar]:
        return (self.rest(out) for out in self.moved(directions, delta))


def layer_steps(layer: Layer, x: Array, out: Array, rest: Callable[[Array], Scalar]) -> list[ComplexStep]:
    """The complex step of `layer`'s input and then of each of its parameters, from its input `x`
    and its (complex) output `out` at the real point; `rest` computes the scalar from an output."""
    through_input = FromOutput(functools.partial(layer.perturbed_input, x, out),
                               functools.partial(layer.moved_input, x, out), rest)
    return [ComplexStep(through_input), *(_parameter_step(layer, x, out, p, rest) for p in layer.parameters())]


def model_steps(
    model: Network, cost: Callable[[Array], Scalar], calls: Sequence[LayerCall], y_pred: Array
) -> dict[int, TensorDifferentiator]:
    """For a `Resumable` model, the complex step of each parameter owned by a layer called once,
    by parameter id, from the calls of its trace (at the real point) and its output y_pred: the
    model reruns only the calls the parameter's layer feeds. Empty for another model."""
    if not isinstance(model, Resumable):
        return {}
    resumable: Resumable = model
    owners: dict[int, list[int]] = {}
    for k, call in enumerate(calls):
        for p in call.layer.parameters():
            owners.setdefault(id(p), []).append(k)
    following = [call.x for call in calls[1:]] + [y_pred]
    steps: dict[int, TensorDifferentiator] = {}
    for k, call in enumerate(calls):
        layer, own = call.layer, [p for p in call.layer.parameters() if owners[id(p)] == [k]]
        if not own or not isinstance(layer, Layer):
            continue
        out = work_copy(cast(Array, following[k] if call.out is None else call.out), "complex")

        def rest(h: Array, start: int = k + 1) -> Scalar:
            return cost(resumable.resume(start, h))

        steps.update((id(p), _parameter_step(layer, cast(Array, call.x), out, p, rest)) for p in own)
    return steps


def _parameter_step(layer: Layer, x: Array, out: Array, p: Parameter, rest: Callable[[Array], Scalar]) -> ComplexStep:
    return ComplexStep(FromOutput(functools.partial(layer.perturbed_output, x, out, p),
                                  functools.partial(layer.moved_output, x, out, p), rest))
