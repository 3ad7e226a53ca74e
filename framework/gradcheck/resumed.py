"""The fast complex step: a tensor of one layer is moved through that layer's own hooks
(`Layer.perturbed_outputs` and `moved_output`, `perturbed_inputs` and `moved_input`, which `Dense`
computes without a forward), and only what comes after the layer is rerun, on a stack of K probes at
once (`Layer.forward_stack`, `Resumable.resume_stack`, `Loss.costs`): the complex step stays a
numerical derivative of the forward code, its Python overhead paid once a stack instead of once a probe."""

import collections
import functools
from collections.abc import Callable, Sequence
from typing import cast

import attrs
import numpy as np

from framework.core.arrays import Array, Indices, Scalar
from framework.core.complex_parts import SharedReal, Stack
from framework.core.errors import StackingError
from framework.core.layer import Layer, is_builtin, reusing_workspace
from framework.core.parameter import Parameter
from framework.core.protocols import LayerCall, Network, Resumable
from framework.gradcheck.numeric import ComplexStep, Floats, TensorDifferentiator, work_copy

STACKED = 1e-12
"""How far (relatively) a probe stacked may be from the same probe alone: rounding (a sum in another
order, a product by parts), far below the complex step's threshold, 1e-11."""
STACK_BYTES = 2**22
"""A stack of probes holds at most about this many bytes of complex activations (those after the
moved tensor, as many as the model keeps at once), whatever the model: it sets how many probes run
at once."""


@attrs.define
class FromOutput:
    """A `Perturbation` computed from a layer's output: `entries(indices, δ)` are the outputs with each
    of some entries of the tensor moved by δ, `moved(V, δ)` the outputs moved along each direction of V,
    both stacked on a first axis, and `rest` the scalars from such a stack (the layers after it and the
    loss). The tensor itself is never changed: the hooks move it on their own."""

    entries: Callable[[Indices, complex], Stack]
    moved: Callable[[Floats, complex], Stack]
    rest: Callable[[Stack], Array]
    at_once: int
    path: str
    alone: Callable[[Array], Scalar] | None = None
    """The scalar from one output, through the forwards of the layers after it (not their stacked
    ones): the last probe of the first stack is also taken alone (a stack that treats its probes
    alike but its first one is wrong there too), and a stack that disagrees is a StackingError naming
    `suspects`, the layers after it that declare their samples independent."""
    suspects: str = ""
    _verified: bool = False

    def at_entries(self, t: Array, indices: Indices, delta: complex) -> Array:
        return self._costs(self.entries(indices, delta), delta)

    def along(self, t: Array, directions: Floats, delta: complex) -> Array:
        return self._costs(self.moved(directions, delta), delta)

    def _costs(self, outputs: Stack, delta: complex) -> Array:
        if self.alone is not None and len(outputs) == 1:  # one at a time: through the forwards alone
            return np.array([complex(self.alone(_probe(outputs, 0)))])
        if self.alone is None or self._verified:
            return self.rest(outputs)
        self._verified = True  # once a tensor: a layer that mixes its samples does so in every stack
        one = complex(self.alone(_probe(outputs, -1)))
        costs = self.rest(outputs)  # after: the layers may overwrite a stack's imaginary parts (`SharedReal`)
        scale = float(np.abs(costs.imag).max())
        if abs(costs[-1].imag - one.imag) > STACKED * abs(one.imag) + 1e-13 * scale:
            h = abs(delta)
            raise StackingError(
                f"stacked with {len(outputs) - 1} other probes, a probe's complex-step derivative came out "
                f"{float(costs[-1].imag) / h!r} where alone it is {one.imag / h!r}: a layer that runs probes at once (independent_samples = True, "
                f"its own forward_stack or forward_shared) mixes them, or is not its forward: {self.suspects or 'none'}; "
                "fix or drop that, or check with probes_at_once=1")
        return costs


def _probe(outputs: Stack, k: int) -> Array:
    """The outputs of probe `k` of the stack, a copy: running the stack may overwrite it."""
    return outputs.probe(k) if isinstance(outputs, SharedReal) else outputs[k].copy()


@attrs.frozen
class Tail:
    """What runs after a moved tensor's layer: `rest`, the scalars from a stack of its outputs;
    `entries`, the complex entries a probe holds on the way (the layer's output and what follows it);
    `one_at_a_time`, the parts that take a stack's probes one by one."""

    rest: Callable[[Stack], Array]
    entries: int
    one_at_a_time: Sequence[str] = ()
    alone: Callable[[Array], Scalar] | None = None
    """As `FromOutput.alone`: the scalar from one output, without stacking."""
    suspects: str = ""

    def perturbation(self, layer: Layer, entries: Callable[[Indices, complex], Stack],
                     moved: Callable[[Floats, complex], Stack], at_once: int | None, hook: str) -> FromOutput:
        """The `FromOutput` of a tensor of `layer` probed through `entries` and `moved`, `at_once`
        probes a stack (None: as many as `STACK_BYTES` holds); `hook` names the layer's hook that
        computes the entries' outputs, a forward a probe unless the layer overrides it."""
        k = at_once or max(1, STACK_BYTES // (16 * self.entries))
        own = getattr(type(layer), hook) is getattr(Layer, hook) and not (
            hook == "perturbed_inputs" and layer.independent_samples)  # its default: a forward a probe
        slow = [*([f"{layer!r}'s forward"] if own else []), *self.one_at_a_time]
        path = "one at a time" if k == 1 else f"stacked, {k} at once"
        if slow and k > 1:
            path += f", but one by one through {', '.join(slow)}"
        return FromOutput(entries, moved, self.rest, k, path, self.alone, self.suspects)


def layer_steps(layer: Layer, x: Array, out: Array, tail: Tail, at_once: int | None) -> list[ComplexStep]:
    """The complex step of `layer`'s input and then of each of its parameters, from its input `x`
    and its (complex) output `out` at the real point, with `tail` after it."""
    through_input = tail.perturbation(layer, functools.partial(layer.perturbed_inputs, x, out),
                                      functools.partial(layer.moved_input, x, out), at_once, "perturbed_inputs")
    return [ComplexStep(through_input), *(_parameter_step(layer, x, out, p, tail, at_once) for p in layer.parameters())]


def model_steps(
    model: Network, cost: Callable[[Array], Scalar], costs: Callable[[Array], Array], loss_path: Sequence[str],
    calls: Sequence[LayerCall], y_pred: Array, at_once: int | None,
) -> dict[int, TensorDifferentiator]:
    """For a `Resumable` model, the complex step of each parameter owned by a layer called once,
    by parameter id, from the calls of its trace (at the real point) and its output y_pred: the
    model reruns only the calls the parameter's layer feeds, on stacks of probes, and `costs` gives
    the loss of each (`loss_path`: the loss, if it takes them one at a time); `cost`, the loss of one
    output, checks the last probe of its first stack alone. Empty for another model."""
    if not isinstance(model, Resumable):
        return {}
    resumable: Resumable = model
    owners: dict[int, list[int]] = {}
    for k, call in enumerate(calls):
        for p in call.layer.parameters():
            owners.setdefault(id(p), []).append(k)
    following = [call.x for call in calls[1:]] + [y_pred]
    outputs = [cast(Array, following[k] if call.out is None else call.out) for k, call in enumerate(calls)]
    steps: dict[int, TensorDifferentiator] = {}
    for k, call in enumerate(calls):
        layer, own = call.layer, [p for p in call.layer.parameters() if owners[id(p)] == [k]]
        if not own or not isinstance(layer, Layer):
            continue

        def rest(hs: Stack, start: int = k + 1, reusing: Sequence[Layer] = _reusable(calls[k + 1:], calls)) -> Array:
            with reusing_workspace(reusing):  # a stack's arrays are the last stack's: no fresh pages a stack
                return costs(resumable.resume_stack(start, hs))

        def alone(h: Array, start: int = k + 1) -> Scalar:
            return cost(resumable.resume(start, h))

        after = calls[k + 1:]
        stacked = [c for c in after if c.layer.stacks_probes or isinstance(c.layer, Layer) and c.layer.runs_by_parts]
        custom = [c for c in stacked if not is_builtin(c.layer)]
        tail = Tail(rest, sum(o.size for o in outputs[k:]),
                    [*(f"layer {c.name} {c.layer!r}" for c in after if not c.layer.stacks_probes), *loss_path],
                    alone, ", ".join(f"layer {c.name} {c.layer!r}" for c in custom or stacked))
        out = work_copy(outputs[k], "complex")
        steps.update((id(p), _parameter_step(layer, cast(Array, call.x), out, p, tail, at_once)) for p in own)
    return steps


def _reusable(after: Sequence[LayerCall], calls: Sequence[LayerCall]) -> list[Layer]:
    """The layers of the calls `after` that may reuse their arrays from stack to stack: when every one
    is the framework's own (a layer of yours may keep what it is given), those called once in `calls`."""
    if not all(is_builtin(c.layer) for c in after):
        return []
    counts = collections.Counter(id(c.layer) for c in calls)
    return [c.layer for c in after if isinstance(c.layer, Layer) and counts[id(c.layer)] == 1]


def _parameter_step(layer: Layer, x: Array, out: Array, p: Parameter, tail: Tail, at_once: int | None) -> ComplexStep:
    return ComplexStep(tail.perturbation(layer, functools.partial(layer.perturbed_outputs, x, out, p),
                                         functools.partial(layer.moved_output, x, out, p), at_once, "perturbed_outputs"))
