"""`check_gradients` (a whole model and its loss) and `check_layer` (one layer on its own)."""

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, cast, get_args

import attrs
import numpy as np

from framework.core.arrays import Array, Inputs, Labels, Mask, Scalar
from framework.core.errors import DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.validation import describe_nonfinite, is_whole_number
from framework.core.guard import floating_point_errors
from framework.gradcheck.causes import layer_cause
from framework.gradcheck.numeric import Derivatives, Differentiator, Floats, Method, Mode, NotComplexSafe, Probes
from framework.gradcheck.report import GradCheckReport, GradCheckRow, compare, zero_warnings
from framework.core.layer import Layer, Merge, Module
from framework.losses import Loss
from framework.core.parameter import Buffer, Parameter, same_parameters
from framework.core.protocols import LayerCall, Network


PART_INPUT_ENTRIES = 4096
"""In full mode, `check_gradients` checks each layer's input gradient at up to this many entries."""

CONFIRM_FIRST = 8
"""A tensor that fails by the complex step is first differentiated again by central differences at
this many of its probes, those where backward and the complex step differ most."""


def default_threshold(method: Method, dtype: np.dtype[np.inexact]) -> float:
    """1e-11 for the complex step in float64 (its errors are at machine precision, about 1e-15),
    1e-7 for central differences; 1e-4 for float32, whose own rounding is about 1e-7."""
    if dtype == np.float32:
        return 1e-4
    return 1e-11 if method == "complex" else 1e-7


@floating_point_errors("check_gradients")
def check_gradients(
    model: Network,
    loss: Loss,
    x: Inputs,
    y: Labels,
    *,
    method: Method = "complex",
    mode: Mode = "full",
    samples: int = 16,
    seed: int = 0,
    threshold: float | None = None,
    localize: bool = True,
) -> GradCheckReport:
    """Compare backward's gradient of `loss(model(x), y)` with a numerical one, for every parameter.

    `method`: "complex" (complex step, exact to machine precision) or "central" (differences,
    one-sided where a step crosses a kink). `mode`: "full" (every entry), "sampled" (`samples`
    random entries a tensor) or "directional" (`samples` random directions v a tensor, g·v).
    With `localize`, each layer and the loss are also checked on their own, so that the report
    names the part whose backward is wrong. A tensor that fails by the complex step is
    differentiated again by central differences, which decide where the complex step is wrong
    (code that is not complex-analytic, such as np.abs). Parameters (values, dtypes and grads),
    buffers and `replay` flags are left exactly as they were, also when a forward raises, and the
    caches are those of a forward at the real point.

    >>> from framework import BCELoss, Dense, Sequential, Sigmoid
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, (8, 1)).astype(float)
    >>> check_gradients(Sequential([Dense(3, 1, seed=0), Sigmoid()]), BCELoss(), x, y).passed
    True
    """
    _check_options("check_gradients", method, mode, samples)
    xs = [x] if isinstance(x, np.ndarray) else list(x)
    _check_point("check_gradients", xs, [], y)
    model.build(tuple(xs))  # layers that wait for their input shape get their weights first
    named = model.named_parameters()
    params = [p for _, p in named]
    _check_point("check_gradients", [], named)
    dtype = _common_dtype(params, xs)
    threshold = default_threshold(method, dtype) if threshold is None else threshold
    rng = np.random.default_rng(seed)

    def at_real_point() -> None:
        loss.forward(model.forward(x), y)

    with _state_kept(params, [b for _, b in model.named_buffers()]), _caches_left_by(at_real_point):
        calls = model.trace(x)
        same_parameters("check_gradients", named, model.named_parameters())
        modules = list(dict.fromkeys(call.layer for call in calls))
        with _replaying(modules):  # from here on, every evaluation sees the random draws of the trace
            y_pred = model.forward(x)
            base = float(loss.forward(y_pred, y).real)
            model.backward(loss.backward())
            cost = _cost(loss, y_pred, y)
            analytic = [p.grad.copy() for p in params]

            @functools.cache
            def x_work() -> Inputs:  # complex once: a mixed product is 4x slower
                work = [_work_copy(a, method) for a in xs]
                return work[0] if isinstance(x, np.ndarray) else work

            def f() -> Scalar:
                return cost(model.forward(x_work()))

            def branches() -> list[Mask | None]:
                return [module.branch() for module in modules] + [loss.branch()]

            with _work_params(params, method) as tensors:
                diff = Differentiator(f, branches, method)
                items = [(name, t, g, Probes.choose(p.shape, mode, samples, rng, nonnegative=method == "central"))
                         for (name, p), t, g in zip(named, tensors, analytic)]
                fast = _resumed(model, cost, calls, y_pred) if method == "complex" else {}
                rows = _rows(items, [fast.get(id(p), diff) for p in params], threshold, xs[0].shape[0], base,
                             _confirmation(method, threshold, dtype, f, branches, lambda: tensors))
            parts: tuple[GradCheckReport, ...] = ()
            if localize:
                layer_parts = [
                    check_layer(call.layer, call.x, method=method, mode=mode, samples=samples, seed=seed,
                                threshold=threshold, subject=f"layer {call.name} {call.layer!r}",
                                max_input_entries=PART_INPUT_ENTRIES)
                    for call in calls
                ]
                parts = (*layer_parts, check_loss(loss, y_pred, y, method=method, threshold=threshold))
    warnings = zero_warnings(rows, model=True)
    if xs[0].shape[0] == 1:
        warnings += ("the batch has m = 1: a missing 1/m is invisible; check with a batch of several samples",)
    return GradCheckReport(f"{type(model).__name__} ({len(calls)} layers)", method, mode, threshold,
                           rows, parts, warnings)


@floating_point_errors("check_layer")
def check_layer(
    layer: Module,
    x: Array | Sequence[Array],
    *,
    method: Method = "complex",
    mode: Mode = "full",
    samples: int = 16,
    seed: int = 0,
    threshold: float | None = None,
    subject: str | None = None,
    max_input_entries: int | None = None,
) -> GradCheckReport:
    """Check one layer's backward on its own: dL/dx and each parameter's gradient for
    L = Σ G ⊙ layer(x), with a random upstream gradient G. Works on any `Layer` subclass, and on a
    `Merge` layer given a list of inputs.

    Backward starts from zero grads, and runs a second time, after a second forward at the same point
    (replaying its random draws), with the same upstream gradient: a parameter whose grad changed,
    because backward adds to it (`p.grad += ...`) instead of setting it, fails with a note saying so.

    In full mode, an input of more than `max_input_entries` entries is checked at that many
    random entries (a 209 x 12288 input would otherwise take 2.5 million probes). Complex-step
    failures are confirmed, and the layer's state left, as in `check_gradients`.

    >>> from framework import ReLU
    >>> check_layer(ReLU(), np.array([[-1.0, 2.0]])).passed
    True
    """
    caller = f"check_layer({layer!r})"
    _check_options(caller, method, mode, samples)
    xs = [x] if isinstance(x, np.ndarray) else list(x)
    _check_point(caller, xs, [])
    if isinstance(layer, Layer):
        layer.build(xs[0].shape)  # a layer that waits for its input shape gets its weights first
    named = layer.named_parameters()
    params = [p for _, p in named]
    _check_point(caller, [], named)
    dtype = _common_dtype(params, xs)
    threshold = default_threshold(method, dtype) if threshold is None else threshold
    rng = np.random.default_rng(seed)
    subject = subject or repr(layer)

    def run(inputs: list[Array]) -> Array:
        if isinstance(layer, Merge):
            return layer.forward(inputs)
        assert isinstance(layer, Layer), f"{layer!r} is neither a Layer nor a Merge"
        return layer.forward(inputs[0])

    def backward(upstream: Array) -> list[Array]:
        if isinstance(layer, Merge):
            return layer.backward(upstream.copy())
        return [cast(Layer, layer).backward(upstream.copy())]

    with _state_kept(params, [b for _, b in layer.named_buffers()]), _caches_left_by(lambda: run(xs)):
        out = run(xs)
        same_parameters(caller, named, layer.named_parameters())
        with _replaying([layer]):
            upstream = rng.standard_normal(out.shape).astype(out.dtype)
            for p in params:  # from 0: a backward that adds to a grad then gives what one that sets it gives
                p.grad.fill(0)
            dxs = backward(upstream)
            names = ["input"] if len(xs) == 1 else [f"input {i}" for i in range(len(xs))]
            for name, a, dx in zip(names, xs, dxs, strict=True):
                if not isinstance(dx, np.ndarray) or dx.shape != a.shape:
                    got = f"shape {dx.shape}" if isinstance(dx, np.ndarray) else f"{type(dx).__name__} (a missing return?)"
                    row = GradCheckRow(name, a.shape, 0, float("inf"), float("inf"), "-", 0.0, 0.0, False,
                                       f"backward returned {got} for an input of shape {a.shape}")
                    return GradCheckReport(subject, method, mode, threshold, (row,))
            analytic = [dx.copy() for dx in dxs] + [p.grad.copy() for p in params]
            run(xs)  # the same point again (replaying its random draws), the same upstream gradient:
            backward(upstream)  # a backward that sets each grad gives it the same values
            accumulated = [_accumulation(p.grad, first) for p, first in zip(params, analytic[len(xs):])]
            resumed = method == "complex" and isinstance(layer, Layer)

            @functools.cache
            def x_work() -> list[Array]:  # moved in place: made only where a probe moves the input
                return [_work_copy(a, method) for a in xs]

            def total(z: Array) -> Scalar:
                value = np.sum(z * upstream)
                return complex(value) if np.iscomplexobj(value) else float(value)

            def f() -> Scalar:
                return total(run(x_work()))

            def branches() -> list[Mask | None]:
                return [layer.branch()]

            def probes(shape: tuple[int, ...], cap: int | None = None) -> Probes:
                if mode == "full" and cap is not None and int(np.prod(shape)) > cap:
                    return Probes.choose(shape, "sampled", cap, rng, nonnegative=method == "central")
                return Probes.choose(shape, mode, samples, rng, nonnegative=method == "central")

            with _work_params(params, method) as tensors:
                items = [(name, t, g, probes(t.shape, max_input_entries))
                         for name, t, g in zip(names, xs if resumed else x_work(), analytic)]
                items += [(name, t, g, probes(p.shape)) for (name, p), t, g in zip(named, tensors, analytic[len(xs):])]
                ways: list[TensorDifferentiator] = [Differentiator(f, branches, method)] * len(items)
                if resumed:  # every entry through the layer's own hooks, as in a model
                    one = cast(Layer, layer)
                    out_work = _work_copy(out, method)
                    ways = [ResumedComplexStep(functools.partial(one.perturbed_input, xs[0], out_work),
                                               functools.partial(one.moved_input, xs[0], out_work), total)]
                    ways += [ResumedComplexStep(functools.partial(one.perturbed_output, xs[0], out_work, p),
                                                functools.partial(one.moved_output, xs[0], out_work, p), total)
                             for p in params]
                rows = _rows(items, ways, threshold, xs[0].shape[0], float(np.sum(out * upstream)),
                             _confirmation(method, threshold, dtype, f, branches, lambda: [*x_work(), *tensors]))
            rows = (*rows[:len(xs)], *map(_failed_by, rows[len(xs):], accumulated))
    cause = ""
    if isinstance(layer, Layer) and not all(r.passed for r in rows):
        gradients = dict(zip(["input", *(name for name, _ in named)], analytic))
        cause = layer_cause(xs[0], out.real, upstream, gradients, dict(named))
    return GradCheckReport(subject, method, mode, threshold, rows, warnings=zero_warnings(rows, model=False), cause=cause)


@floating_point_errors("check_loss")
def check_loss(
    loss: Loss, y_pred: Array, y_true: Labels, *, method: Method = "complex", threshold: float | None = None
) -> GradCheckReport:
    """Check a loss's backward, dL/dy_pred, entry by entry; a complex-step failure is confirmed by
    central differences, as in `check_gradients`, and the loss's cache is that of y_pred."""
    _check_options(f"check_loss({loss!r})", method, "full", 1)
    _check_point(f"check_loss({loss!r})", [y_pred], [], y_true)
    threshold = default_threshold(method, y_pred.dtype) if threshold is None else threshold
    with _caches_left_by(lambda: loss.forward(y_pred, y_true)):
        base = float(loss.forward(y_pred, y_true).real)
        g = loss.backward()
        y_work = _work_copy(y_pred, method)
        cost = _cost(loss, y_pred, y_true)

        def f() -> Scalar:
            return cost(y_work)

        def branches() -> list[Mask | None]:
            return [loss.branch()]

        rows = _rows([("y_pred", y_work, g, Probes.choose(y_pred.shape, "full", 0, np.random.default_rng(0)))],
                     [Differentiator(f, branches, method)], threshold, y_pred.shape[0], base,
                     _confirmation(method, threshold, y_pred.dtype, f, branches, lambda: [y_work]))
    return GradCheckReport(f"loss {loss!r}", method, "full", threshold, rows, warnings=zero_warnings(rows, model=False))


class Resumable(Protocol):
    """A model that can rerun from one of its layers: `Sequential`."""

    def resume(self, start: int, h: Array) -> Array: ...


class TensorDifferentiator(Protocol):
    def derivatives(self, t: Array, probes: Probes) -> Derivatives: ...


@attrs.frozen
class Confirmation:
    """Central differences of the function a complex-step check differentiates, for the tensors that
    fail by the complex step: `derivatives(i, probes)` differentiates the check's i-th tensor along
    `probes`, and `threshold` is central differences' own."""

    derivatives: Callable[[int, Probes], Derivatives]
    threshold: float


@attrs.frozen
class ResumedComplexStep:
    """The complex step of one tensor, entry by entry or direction by direction, rerunning only from
    its own layer: `entry(index, δ)` is the layer's output with one entry moved by δ, `along(V, δ)`
    its outputs moved along each direction of V (`Layer.perturbed_output` and `moved_output` for a
    parameter, `perturbed_input` and `moved_input` for the input), and `rest` computes the scalar
    from an output: the layers after it and the loss."""

    entry: Callable[[int, complex], Array]
    along: Callable[[Array, complex], Array]
    rest: Callable[[Array], Scalar]
    h: float = 1e-20

    def derivatives(self, t: Array, probes: Probes) -> Derivatives:
        values = np.empty(len(probes))
        step = 1j * self.h
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                if probes.entries is not None:
                    for i, index in enumerate(probes.entries.tolist()):
                        values[i] = self._derivative(self.entry(index, step))
                else:
                    for start, directions in probes.chunks():
                        for i, out in enumerate(self.along(directions, step), start):
                            values[i] = self._derivative(out)
            except np.exceptions.ComplexWarning as w:
                raise NotComplexSafe(f"a ComplexWarning was raised ({w}): the imaginary part is cast away") from w
        return Derivatives(values, np.zeros(len(probes)), 0, 0)

    def _derivative(self, out: Array) -> float:
        value = self.rest(out)
        if not isinstance(value, complex):
            raise NotComplexSafe("a complex input gave a real result: the imaginary part was lost")
        return value.imag / self.h


def _resumed(
    model: Network, cost: Callable[[Array], Scalar], calls: Sequence[LayerCall], y_pred: Array
) -> dict[int, TensorDifferentiator]:
    """For a model that can rerun from a layer, a `ResumedComplexStep` for each parameter owned by a
    layer called once, from the inputs `calls` recorded and the output y_pred, at the real point."""
    if not hasattr(model, "resume"):
        return {}
    resumable = cast(Resumable, model)
    outputs = [call.x for call in calls[1:]] + [y_pred]
    owners: dict[int, list[int]] = {}
    for k, call in enumerate(calls):
        for p in call.layer.parameters():
            owners.setdefault(id(p), []).append(k)
    fast: dict[int, TensorDifferentiator] = {}
    for k, (call, output) in enumerate(zip(calls, outputs)):
        layer, own = call.layer, [p for p in call.layer.parameters() if owners[id(p)] == [k]]
        if not own or not isinstance(layer, Layer):
            continue
        x, out = cast(Array, call.x), _work_copy(cast(Array, output), "complex")

        def rest(h: Array, start: int = k + 1) -> Scalar:
            return cost(resumable.resume(start, h))

        for p in own:
            fast[id(p)] = ResumedComplexStep(functools.partial(layer.perturbed_output, x, out, p),
                                             functools.partial(layer.moved_output, x, out, p), rest)
    return fast


def _accumulation(second: Array, first: Array) -> str:
    """The note for a parameter whose grad is `first` after one backward and `second` after another
    at the same point with the same upstream gradient: "" when they agree (to a few roundings), else
    that backward adds to the grad instead of setting it, with the entry where they differ most."""
    if second.shape != first.shape:  # a grad rebound to another shape: the row's own check says so
        return ""
    diff = np.abs(second - first)
    eps = float(np.finfo(np.float32 if first.dtype == np.float32 else np.float64).eps)
    tolerance = 64 * eps * max(float(np.abs(first).max(initial=0.0)), float(np.abs(second).max(initial=0.0)))
    if not diff.size or float(diff.max()) <= tolerance:
        return ""
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    where = str(tuple(int(i) for i in worst))
    return (f"backward adds to p.grad (p.grad += ...) instead of setting it (p.grad[...] = ...): run again at the "
            f"same point with the same upstream gradient, it gave {float(second[worst].real):.6g} at {where} where "
            f"the first run gave {float(first[worst].real):.6g}, so gradients accumulate from step to step and fit "
            "would train on their sum")


def _failed_by(row: GradCheckRow, note: str) -> GradCheckRow:
    """`row`, failed with `note` before its own notes; `row` itself when `note` is empty."""
    return attrs.evolve(row, passed=False, note="; ".join(n for n in (note, row.note) if n)) if note else row


def _cost(loss: Loss, y_pred: Array, y_true: Labels) -> Callable[[Array], Scalar]:
    """The loss as a function of y_pred, the labels checked once here, so that each probe computes
    only the value. A loss that overrides `forward` itself is differentiated through its `forward`."""
    if type(loss).forward is not Loss.forward:
        return lambda a: loss.forward(a, y_true)
    y = loss.check(y_pred, y_true)
    return lambda a: loss.value(a, y)


def _confirmation(
    method: Method,
    threshold: float,
    dtype: np.dtype[np.inexact],
    f: Callable[[], Scalar],
    branches: Callable[[], Sequence[Mask | None]],
    tensors: Callable[[], Sequence[Array]],
) -> Confirmation | None:
    """For a complex-step check, central differences of its `f` on the working tensors `f` reads
    (`tensors()`, in the order of the check's rows; complex, moved by real steps); None for a check by
    central differences. Made for every check, it does nothing until a row fails."""
    if method != "complex":
        return None
    central = Differentiator(f, branches, "central")

    def derivatives(i: int, probes: Probes) -> Derivatives:
        with warnings.catch_warnings():  # the working tensors are complex with no imaginary part: nothing is lost
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            return central.derivatives(tensors()[i], probes)

    return Confirmation(derivatives, max(threshold, default_threshold("central", dtype)))  # central resolves ~1e-7


def _confirmed(
    row: GradCheckRow, index: int, probes: Probes, g: Floats, numeric: Derivatives, confirmation: Confirmation,
    scale: float, batch: int,
) -> GradCheckRow:
    """The verdict on tensor `index`, whose `row` failed by the complex step. Central differences first
    differentiate it at the `CONFIRM_FIRST` probes where backward's `g` and the complex step differ
    most: where they agree with the complex step there, it is right and `row` stands. Where they do
    not, the complex step is wrong for this tensor (a function that is not complex-analytic, such as
    np.abs, between it and the cost), and central differences at every probe decide."""
    worst = np.sort(np.argsort(-np.abs(g - numeric.values), kind="stable")[:CONFIRM_FIRST])
    at_worst = confirmation.derivatives(index, probes.subset(worst))
    threshold = confirmation.threshold
    if compare(row.name, row.shape, probes.subset(worst), numeric.values[worst], at_worst, threshold=threshold,
               atol=threshold * scale, batch=batch).passed:
        return row
    why = "a non-analytic function of the input, such as np.abs, gives the complex step a wrong derivative"
    everywhere = at_worst if len(worst) == len(probes) else None
    return _by_central(row, index, probes, g, confirmation, scale, batch, why,
                       f"; the complex step's relative error was {row.relative_error:.1e}", everywhere)


def _by_central(
    row: GradCheckRow, index: int, probes: Probes, g: Floats, confirmation: Confirmation, scale: float, batch: int,
    why: str, detail: str = "", central: Derivatives | None = None,
) -> GradCheckRow:
    """Tensor `index` judged by central differences at every probe (`central`, when already taken), for
    a tensor the complex step cannot differentiate (`why`), with a note that says so."""
    threshold = confirmation.threshold
    judged = compare(row.name, row.shape, probes, g, central or confirmation.derivatives(index, probes),
                     threshold=threshold, atol=threshold * scale, batch=batch)
    note = (f"not complex-step safe: {why}; central differences' verdict is used for this tensor"
            f"{'' if judged.passed else ', and it fails too'} (threshold {threshold:.0e}{detail})")
    return attrs.evolve(judged, note="; ".join(n for n in (note, judged.note) if n))


def _rows(
    items: Sequence[tuple[str, Array, Array, Probes]],
    ways: Sequence[TensorDifferentiator],
    threshold: float,
    batch: int,
    base: float,
    confirmation: Confirmation | None,
) -> tuple[GradCheckRow, ...]:
    """Differentiate each tensor of `items` (name, working tensor, backward's gradient, probes) by the
    matching entry of `ways`; `base` is the function's value at the base point. A complex-step row that
    fails is confirmed by central differences (`confirmation`) before it is called wrong."""
    results = []
    for (name, tensor, g, probes), way in zip(items, ways, strict=True):
        try:
            numeric, unsafe = way.derivatives(tensor, probes), ""
        except NotComplexSafe as e:
            nan = np.full(len(probes), np.nan)
            numeric, unsafe = Derivatives(nan, nan, 0, 0), str(e)
        results.append((name, tensor.shape, probes, probes.project(g), numeric, unsafe))
    magnitudes = [np.abs(np.concatenate([r[3], r[4].values])) for r in results if not r[5]]
    scale = max((float(np.nanmax(m, initial=0.0)) for m in magnitudes), default=0.0)
    if magnitudes:  # a gradient that is zero everywhere is judged against the rounding of f itself
        scale = max(scale, abs(base))
    rows = []
    for index, (name, shape, probes, g_probed, numeric, unsafe) in enumerate(results):
        row = compare(name, shape, probes, g_probed, numeric, threshold=threshold, atol=threshold * scale, batch=batch)
        if unsafe and confirmation is not None:
            row = _by_central(row, index, probes, g_probed, confirmation, scale, batch, unsafe)
        elif unsafe:
            row = attrs.evolve(row, checked=0, max_abs_error=math.nan, relative_error=math.nan, passed=False,
                               note=f"not complex-step safe: {unsafe}")
        elif not row.passed and confirmation is not None:
            row = _confirmed(row, index, probes, g_probed, numeric, confirmation, scale, batch)
        rows.append(row)
    return tuple(rows)


def _check_options(caller: str, method: str, mode: str, samples: int) -> None:
    for what, value, allowed in (("method", method, get_args(Method)), ("mode", mode, get_args(Mode))):
        if value not in allowed:
            raise ValueRangeError(f"{caller}: {what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if mode != "full" and not (is_whole_number(samples) and samples >= 1):
        raise ValueRangeError(f"{caller}: samples must be a whole number of at least 1, got {samples!r}")


def _check_point(caller: str, xs: Sequence[Array], named: Sequence[tuple[str, Parameter]], y: Labels | None = None) -> None:
    """The point of a check must be real and finite: a NaN would compare nothing and pass, and the
    complex step adds its own imaginary part."""
    for i, a in enumerate(xs):
        what = "x" if len(xs) == 1 else f"x[{i}]"
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise DTypeError(f"{caller}: {what} must be a real float array, got {got}")
        if a.ndim == 0:
            raise ShapeError(f"{caller}: {what} needs a batch axis, got a 0-d array")
    arrays: list[tuple[str, Labels]] = [*(("x" if len(xs) == 1 else f"x[{i}]", a) for i, a in enumerate(xs)),
                                        *((n, p.value) for n, p in named)]
    if isinstance(y, np.ndarray) and y.dtype.kind in "fc":
        arrays.append(("y", y))
    for what, values in arrays:
        problem = describe_nonfinite(what, values)
        if problem:
            raise NonFiniteError(f"{caller}: {problem}; a gradient check needs a finite point")


def _common_dtype(params: Sequence[Parameter], xs: Sequence[Array]) -> np.dtype[np.inexact]:
    dtypes = {p.value.dtype for p in params} | {a.dtype for a in xs}
    return np.dtype(np.float32) if np.dtype(np.float32) in dtypes else np.dtype(np.float64)


def _work_copy(a: Array, method: Method) -> Array:
    """A fresh C-ordered copy to perturb in place: complex128 for the complex step, else float64."""
    return np.array(a, dtype=np.complex128 if method == "complex" else np.float64, order="C", copy=True)


@contextmanager
def _work_params(params: Sequence[Parameter], method: Method) -> Iterator[list[Array]]:
    """Swap each parameter's value for a working copy; put the original arrays (value and grad, which
    a float64 working copy of a float32 value replaces) back, whatever happens."""
    originals = [(p.value, p.grad) for p in params]
    try:
        for p in params:
            p.value = _work_copy(p.value, method)
        yield [p.value for p in params]
    finally:
        for p, (value, grad) in zip(params, originals):
            p.value, p.grad = value, grad


@contextmanager
def _replaying(modules: Sequence[Module]) -> Iterator[None]:
    """Inside the block every module replays its last random draw (`Module.replay`: Dropout's mask), so
    that each evaluation of the check sees the same function; each flag is put back, whatever happens."""
    flags = [m.replay for m in modules]
    try:
        for m in modules:
            m.replay = True
        yield
    finally:
        for m, flag in zip(modules, flags):
            m.replay = flag


@contextmanager
def _caches_left_by(forward: Callable[[], object]) -> Iterator[None]:
    """After the block, run `forward` (a forward at the real point), so that the caches are those of
    that point, not of the check's last probe; also when the block raised, and then an error from
    `forward` itself (the same failing layer, often) gives way to the block's."""
    try:
        yield
    except Exception:
        with contextlib.suppress(Exception):
            forward()
        raise
    forward()


@contextmanager
def _state_kept(params: Sequence[Parameter], buffers: Sequence[Buffer]) -> Iterator[None]:
    """Put the parameters' grads and the buffers (BatchNorm's running statistics) back as they were."""
    saved_grads, saved_buffers = [p.grad.copy() for p in params], [b.value.copy() for b in buffers]
    try:
        yield
    finally:
        for p, grad in zip(params, saved_grads):
            np.copyto(p.grad, grad)
        for b, value in zip(buffers, saved_buffers):
            np.copyto(b.value, value)
