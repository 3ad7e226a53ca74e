"""`check_gradients` (a whole model and its loss), `check_layer` (one layer on its own) and `check_loss`:
each a shared preparation (`_prepare`), then a short pipeline of named steps."""

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast, get_args

import attrs
import numpy as np

from framework.core.arrays import Array, Indices, Inputs, Labels, Mask, SampleWeights, Scalar
from framework.core.complex_parts import Stack, joined
from framework.core.errors import ConfigError, DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.validation import a_kind, describe_nonfinite, is_whole_number
from framework.core.guard import floating_point_errors
from framework.gradcheck import verdict
from framework.gradcheck.causes import layer_cause
from framework.gradcheck.determinism import refuse_nondeterministic, refuse_nondeterministic_calls
from framework.gradcheck.numeric import (
    CENTRAL_STEP, EPS, Derivatives, Differentiator, Floats, Method, Mode, Probes, TensorDifferentiator, work_copy,
)
from framework.gradcheck.report import GradCheckReport, GradCheckRow, compare, zero_warnings
from framework.gradcheck.resumed import Tail, layer_steps, model_steps
from framework.gradcheck.verdict import default_threshold
from framework.core.layer import Layer, Merge, Module
from framework.losses import Loss, weighted_costs, weighted_forward, weighted_value
from framework.core.parameter import Buffer, Parameter, same_parameters
from framework.core.protocols import LayerCall, Network, Wrapper

PART_INPUT_ENTRIES = 4096
"""In full mode, `check_gradients` checks each layer's input gradient at up to this many entries."""


@floating_point_errors("check_gradients")
def check_gradients(
    model: Network,
    loss: Loss,
    x: Inputs | Indices,
    y: Labels,
    *,
    method: Method = "complex",
    mode: Mode = "full",
    samples: int = 16,
    seed: int = 0,
    threshold: float | None = None,
    localize: bool = True,
    float64_logic: bool = True,
    probes_at_once: int | None = None,
    sample_weight: SampleWeights | None = None,
) -> GradCheckReport:
    """Compare backward's gradient of `loss(model(x), y)` with a numerical one, for every parameter;
    with `sample_weight` (one weight a sample), of the weighted loss `loss.forward(model(x), y, sample_weight)`.

    A float32 model (with `float64_logic`, and no `threshold` given) is checked twice: its logic on a
    float64 copy (parameters, buffers and x promoted, the model itself left as it was) at float64's
    threshold, so that a factor 1 + 1e-6 is caught; then its own float32 backward against the float64
    one, `report.rounding`, in units of float32's epsilon, at float32's threshold (1e-4).

    `method`: "complex" (complex step, exact to machine precision) or "central" (differences,
    one-sided where a step crosses a kink). `mode`: "full" (every entry), "sampled" (`samples`
    random entries a tensor) or "directional" (`samples` random directions v a tensor, g·v; a tensor
    of `samples` entries or fewer, every entry). By the
    complex step, a `Resumable` model (`Sequential`, `Model`) reruns only the layer calls that a
    moved parameter's layer feeds. With `localize`, each layer and the loss are also checked on their own, so that the report
    names the part whose backward is wrong. A tensor that fails by the complex step is
    differentiated again by central differences, which decide where the complex step is wrong
    (code that is not complex-analytic, such as np.abs). By the resumed complex step, probes run
    `probes_at_once` at a time, stacked on a leading axis through the layers after the moved tensor
    and the loss (`Layer.forward_stack`, `Loss.costs`); None chooses as many as about
    `resumed.STACK_BYTES` of activations hold, 1 runs them one by one. Parameters (values, dtypes and grads),
    buffers and `replay` flags are left exactly as they were, also when a forward raises, and the
    caches are those of a forward at the real point. Integer inputs (an `Embedding`'s indices) have
    no derivative: they stay as they are, and the report's warnings say that only the parameters
    are checked.

    >>> from framework import BCELoss, Dense, Sequential, Sigmoid
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, (8, 1)).astype(float)
    >>> check_gradients(Sequential([Dense(3, 1, seed=0), Sigmoid()]), BCELoss(), x, y).passed
    True
    """
    _refuse_misplaced("check_gradients", model=model, loss=loss)
    setup = _prepare("check_gradients", model, x, y, lambda xs: model.build(tuple(xs)), method=method, mode=mode,
                     samples=samples, seed=seed, threshold=threshold, probes_at_once=probes_at_once,
                     sample_weight=sample_weight)
    x = cast(Inputs, x)  # integer indices ride along as they are: each layer checks its own input
    if setup.dtype == np.float32 and float64_logic and threshold is None:
        return _float32_model(setup, model, loss, x, y, localize)
    w = setup.sample_weight
    with _state_kept(setup.params, [b for _, b in model.named_buffers()], model.layers), \
            _caches_left_by(lambda: weighted_forward(loss, model.forward(x), y, w)):
        calls = model.trace(x)
        same_parameters(setup.caller, setup.named, model.named_parameters())
        modules = list(dict.fromkeys(call.layer for call in calls))
        with _replaying(modules):  # from here on, every evaluation sees the random draws of the trace
            out = model.forward(x)
            refuse_nondeterministic_calls(setup.caller, calls, out)
            rounding = loss.rounding(out)
            threshold, raised = _cost_rounding(method, setup.threshold, loss, rounding)
            setup = attrs.evolve(setup, threshold=threshold, precision=rounding)
            y_pred, rows = _parameter_rows(setup, model, modules, loss, x, y, calls)
            parts = _parts(setup, calls, loss, y_pred, y) if localize else ()
    warnings = raised + _index_warnings(setup.xs, "x") + _model_warnings(rows, setup.xs[0].shape[0], mode)
    cause = next((p.cause for p in parts if not p.passed and p.cause), "")  # the first wrong part's
    single = ", float32" if setup.dtype == np.float32 else ""  # checked as it is (float64_logic=False)
    return GradCheckReport(f"{type(model).__name__} ({len(calls)} layers{single})", method, mode, setup.threshold,
                           rows, parts, warnings, cause)


COST_ROUNDING = 4
"""A check's threshold is at least this many times the loss's own rounding (`Loss.rounding`) carries
into the numerical derivatives: as it is by the complex step, divided by the step by central differences."""


def _cost_rounding(method: Method, threshold: float, loss: Loss, rounding: float) -> tuple[float, tuple[str, ...]]:
    """The threshold raised to what the loss's `rounding` at a point resolves, where that is larger, and
    the warning that says so: a cost computed to 1e-10 (a sigmoid saturated at 1 - 1e-6, under BCE's
    log(1 - a)) puts a right backward and the complex step that much apart, and central differences'
    quotients 1e-10 / h."""
    central = method == "central"
    floor = COST_ROUNDING * rounding / (CENTRAL_STEP if central else 1.0)
    if floor <= threshold:
        return threshold, ()
    carried = "the difference quotients carry divided by their step" if central else "the complex step carries"
    return floor, (
        f"threshold {floor:.1e}, not {threshold:.1e}: {loss!r} computes its cost at this point to a relative "
        f"{rounding:.1e} only (`Loss.rounding`; BCELoss: a prediction near 1), which {carried} into the derivatives"
        f"{'; the check proves little here' if floor > 1e-3 else ''}",)


def _float32_model(setup: "_Setup", model: Network, loss: Loss, x: Inputs, y: Labels, localize: bool) -> GradCheckReport:
    """A float32 model's logic checked on a float64 copy of its parameters, buffers and inputs, and
    its float32 backward against the float64 one (`rounding`), at the same random draws."""
    params, buffers, w = setup.params, [b for _, b in model.named_buffers()], setup.sample_weight
    promote = [a.astype(np.float64) if a.dtype == np.float32 else a for a in setup.xs]
    x64: Inputs = promote[0] if isinstance(x, np.ndarray) else promote
    with _state_kept(params, buffers, model.layers), \
            _caches_left_by(lambda: weighted_forward(loss, model.forward(x), y, w)):
        modules = list(dict.fromkeys(call.layer for call in model.trace(x)))
        with _replaying(modules):  # the float32 and the float64 runs see the same random draws
            weighted_forward(loss, model.forward(x), y, w)
            model.backward(loss.backward())
            single = [p.grad.copy() for p in params]
            with _promoted(params, buffers):
                weighted_forward(loss, model.forward(x64), y, w)
                model.backward(loss.backward())
                double = [p.grad.copy() for p in params]
                logic = check_gradients(model, loss, x64, y, method=setup.method, mode=setup.mode,
                                        samples=setup.samples, seed=setup.seed, localize=localize,
                                        probes_at_once=setup.at_once, sample_weight=w)
    return _with_rounding(logic, _rounding([(name, p.shape) for name, p in setup.named], single, double,
                                           setup.xs[0].shape[0], setup.method))


def _with_rounding(logic: GradCheckReport, rounding: GradCheckReport) -> GradCheckReport:
    """The float64 copy's report of a float32 model or layer, with its float32 `rounding`."""
    return attrs.evolve(logic, subject=f"{logic.subject} (float32; its logic checked on a float64 copy)", rounding=rounding)


def _rounding(named: Sequence[tuple[str, tuple[int, ...]]], single: Sequence[Array], double: Sequence[Array],
              batch: int, method: Method) -> GradCheckReport:
    """The float32 backward's gradients against the float64 backward's, at float32's threshold, each
    row's note saying how far they are in units of float32's epsilon times the model's largest
    gradient entry: float32 rounds every entry on that scale, so a gradient that is 0 in float64 (a
    bias before a BatchNorm) comes out a few epsilons of it from 0, and is not wrong for that."""
    eps, threshold = float(np.finfo(np.float32).eps), default_threshold("complex", np.dtype(np.float32))
    references: list[Floats] = [g.reshape(-1).real.astype(np.float64) for g in double]
    scale = max((float(np.abs(r).max(initial=0.0)) for r in references), default=0.0)
    rows = []
    for (name, shape), g32, reference in zip(named, single, references):
        probes = Probes.choose(shape, "full", 0, np.random.default_rng(0))
        row = compare(name, shape, probes, g32.reshape(-1).real.astype(np.float64),
                      Derivatives(reference, np.zeros(reference.size), 0, 0), threshold=threshold,
                      atol=threshold * scale, batch=batch)
        units = row.max_abs_error / (eps * scale) if scale else 0.0
        note = (f"float32 is within {units:.3g} float32 epsilons of the float64 backward (times the largest gradient "
                "entry)")
        rows.append(attrs.evolve(row, note="; ".join(n for n in (note, row.note) if n)))
    return GradCheckReport("float32 rounding", method, "full", threshold, tuple(rows),
                           reference="the float64 backward")


@contextmanager
def _promoted(params: Sequence[Parameter], buffers: Sequence[Buffer]) -> Iterator[None]:
    """float64 copies of the float32 values and grads of `params` and values of `buffers` in their
    place; the original arrays put back, whatever happens."""
    saved = [(p.value, p.grad) for p in params], [b.value for b in buffers]
    try:
        for p in params:
            if p.value.dtype == np.float32:
                p.value, p.grad = p.value.astype(np.float64), p.grad.astype(np.float64)
        for b in buffers:
            if b.value.dtype == np.float32:
                b.value = b.value.astype(np.float64)
        yield
    finally:
        for p, (value, grad) in zip(params, saved[0]):
            p.value, p.grad = value, grad
        for b, value in zip(buffers, saved[1]):
            b.value = value


@floating_point_errors("check_layer")
def check_layer(
    layer: Module,
    x: Array | Indices | Sequence[Array | Indices],
    *,
    method: Method = "complex",
    mode: Mode = "full",
    samples: int = 16,
    seed: int = 0,
    threshold: float | None = None,
    subject: str | None = None,
    max_input_entries: int | None = None,
    probes_at_once: int | None = None,
    float64_logic: bool = True,
) -> GradCheckReport:
    """Check one layer's backward on its own: dL/dx and each parameter's gradient for
    L = Σ G ⊙ layer(x), with a random upstream gradient G. Works on any `Layer` subclass, and on a
    `Merge` layer given a list of inputs.

    A float32 layer (with `float64_logic`, and no `threshold` given) is checked as `check_gradients`
    checks a float32 model: its logic on float64 copies of its parameters, buffers and inputs, at
    float64's threshold (a factor 1 + 1e-6 is caught), then its float32 backward against the float64
    one, `report.rounding`, at float32's.

    Backward starts from zero grads, and runs a second time, after a second forward at the same point
    (replaying its random draws), with the same upstream gradient: a parameter whose grad changed,
    because backward adds to it (`p.grad += ...`) instead of setting it, fails with a note saying so.

    In full mode, an input of more than `max_input_entries` entries is checked at that many
    random entries (a 209 x 12288 input would otherwise take 2.5 million probes). Complex-step
    failures are confirmed, probes stacked (`probes_at_once`), and the layer's state left, as in
    `check_gradients`. An input of integer indices (an `Embedding`'s) has no derivative: it gets no
    row, and a warning says that only the parameters are checked.

    >>> from framework import ReLU
    >>> check_layer(ReLU(), np.array([[-1.0, 2.0]])).passed
    True
    """
    _refuse_misplaced("check_layer", layer=layer)
    setup = _prepare(f"check_layer({layer!r})", layer, x, None,
                     lambda xs: layer.build(xs[0].shape) if isinstance(layer, Layer) else None, method=method,
                     mode=mode, samples=samples, seed=seed, threshold=threshold, probes_at_once=probes_at_once)
    subject, called = subject or repr(layer), _Called(layer)
    if setup.dtype == np.float32 and float64_logic and threshold is None:
        return _float32_layer(setup, called, lambda xs: check_layer(
            layer, xs[0] if isinstance(x, np.ndarray) else xs, method=method, mode=mode, samples=samples, seed=seed,
            subject=subject, max_input_entries=max_input_entries, probes_at_once=probes_at_once))
    with _state_kept(setup.params, [b for _, b in layer.named_buffers()], [layer]), \
            _caches_left_by(lambda: called.forward(setup.xs)):
        out = called.forward(setup.xs)
        same_parameters(setup.caller, setup.named, layer.named_parameters())
        with _replaying([layer]):
            refuse_nondeterministic(setup.caller, layer, setup.xs[0] if isinstance(layer, Layer) else setup.xs, out)
            upstream = setup.rng.standard_normal(out.shape).astype(out.dtype)
            analytic = _first_backward(setup, called, upstream)
            if isinstance(analytic, GradCheckRow):
                return GradCheckReport(subject, method, mode, setup.threshold, (analytic,))
            accumulated = _accumulated(setup, called, upstream, analytic)
            rows = _layer_rows(setup, called, out, upstream, analytic, max_input_entries)
    n = sum(map(_differentiable, setup.xs))
    rows = (*rows[:n], *map(_failed_by, rows[n:], accumulated))
    return GradCheckReport(subject, method, mode, setup.threshold, rows,
                           warnings=_index_warnings(setup.xs, "input") + zero_warnings(rows, model=False, mode=mode),
                           cause=_likely_mistake(setup, layer, out, upstream, analytic, rows))


def _float32_layer(setup: "_Setup", called: "_Called", logic_of: Callable[[list[Array]], GradCheckReport]) -> GradCheckReport:
    """A float32 layer's logic checked on float64 copies of its parameters, buffers and inputs
    (`logic_of` them), and its float32 backward against the float64 one for the same upstream
    gradient (`rounding`), at the same random draws, as `_float32_model`."""
    layer, params = called.layer, setup.params
    buffers = [b for _, b in layer.named_buffers()]
    xs64 = [a.astype(np.float64) if a.dtype == np.float32 else a for a in setup.xs]
    with _state_kept(params, buffers, [layer]), _caches_left_by(lambda: called.forward(setup.xs)):
        with _replaying([layer]):  # the float32 and the float64 runs see the same random draws
            upstream = setup.rng.standard_normal(called.forward(setup.xs).shape)
            single = _first_backward(setup, called, upstream.astype(np.float32))
            with _promoted(params, buffers):
                called.forward(xs64)
                double = _first_backward(setup, called, upstream)
                logic = logic_of(xs64)
    if isinstance(single, GradCheckRow) or isinstance(double, GradCheckRow):
        return logic  # a backward that returns no gradient of its input's shape: the logic's row says so
    kept = [_differentiable(a) for a in setup.xs] + [True] * len(params)  # integer indices have no gradient
    names = [*zip(_input_names(setup.xs), (a.shape for a in setup.xs)), *((name, p.shape) for name, p in setup.named)]
    return _with_rounding(logic, _rounding([n for n, k in zip(names, kept) if k], [g for g, k in zip(single, kept) if k],
                                           [g for g, k in zip(double, kept) if k], setup.xs[0].shape[0], setup.method))


@floating_point_errors("check_loss")
def check_loss(
    loss: Loss, y_pred: Array, y_true: Labels, *, method: Method = "complex", threshold: float | None = None,
    sample_weight: SampleWeights | None = None,
) -> GradCheckReport:
    """Check a loss's backward, dL/dy_pred, entry by entry (of the weighted loss, with `sample_weight`);
    a complex-step failure is confirmed by central differences, as in `check_gradients`, and the
    loss's cache is that of y_pred."""
    _refuse_misplaced("check_loss", loss=loss)
    _check_options(f"check_loss({loss!r})", method, "full", 1, None)
    _check_point(f"check_loss({loss!r})", [y_pred], [], y_true)
    precision = loss.rounding(y_pred)
    threshold, raised = _cost_rounding(method, default_threshold(method, y_pred.dtype) if threshold is None else threshold,
                                       loss, precision)
    w = sample_weight
    with _caches_left_by(lambda: weighted_forward(loss, y_pred, y_true, w)):
        base = float(weighted_forward(loss, y_pred, y_true, w).real)
        g = loss.backward()
        y_work = work_copy(y_pred, method)
        cost = _cost(loss, y_pred, y_true, w)

        def f() -> Scalar:
            return cost(y_work)

        def branches() -> list[Mask | None]:
            return [loss.branch()]

        probes = Probes.choose(y_pred.shape, "full", 0, np.random.default_rng(0))
        rows = verdict.rows([("y_pred", y_work, g, probes)], [Differentiator(f, branches, method, precision=precision)],
                            threshold, y_pred.shape[0], base, verdict.central_confirmation(
                                method, threshold, y_pred.dtype, f, branches, lambda: [y_work], precision))
    return GradCheckReport(f"loss {loss!r}", method, "full", threshold, rows,
                           warnings=raised + zero_warnings(rows, model=False))


@attrs.frozen
class _Setup:
    """What a check starts from: its options checked, its point (inputs and parameters) real and
    finite, the layers that wait for their input shape built, the threshold chosen."""

    caller: str
    method: Method
    mode: Mode
    samples: int
    seed: int
    threshold: float
    at_once: int | None
    dtype: np.dtype[np.inexact]
    xs: list[Array]
    named: list[tuple[str, Parameter]]
    rng: np.random.Generator
    sample_weight: SampleWeights | None
    """The weights of the samples of a weighted loss (check_gradients'), or None."""
    precision: float = EPS
    """The relative error to which the loss computes the cost at the point (`Loss.rounding`)."""

    @property
    def params(self) -> list[Parameter]:
        return [p for _, p in self.named]

    def probes(self, shape: tuple[int, ...], cap: int | None = None) -> Probes:
        """The probes of a tensor of `shape` by the check's mode; in full mode, `cap` random entries
        of a tensor of more."""
        if self.mode == "full" and cap is not None and int(np.prod(shape)) > cap:
            return Probes.choose(shape, "sampled", cap, self.rng, nonnegative=self.method == "central")
        return Probes.choose(shape, self.mode, self.samples, self.rng, nonnegative=self.method == "central")


def _prepare(
    caller: str, owner: Network | Module, x: Array | Indices | Sequence[Array | Indices], y: Labels | None,
    build: Callable[[list[Array]], object], *, method: Method, mode: Mode, samples: int, seed: int,
    threshold: float | None, probes_at_once: int | None, sample_weight: SampleWeights | None = None,
) -> _Setup:
    """The checks every check starts with, then `build` (layers that wait for their input shape get
    their weights first) and the parameters of `owner`, checked too."""
    _check_options(caller, method, mode, samples, probes_at_once)
    xs = cast(list[Array], [x] if isinstance(x, np.ndarray) else list(x))  # floats, or indices left as they are
    _check_point(caller, xs, [], y)
    build(xs)
    named = owner.named_parameters()
    _check_point(caller, [], named)
    dtype = _common_dtype([p for _, p in named], xs)
    threshold = default_threshold(method, dtype) if threshold is None else threshold
    return _Setup(caller, method, mode, samples, seed, threshold, probes_at_once, dtype, xs, named,
                  np.random.default_rng(seed), sample_weight)


def _parameter_rows(
    setup: _Setup, model: Network, modules: Sequence[Module], loss: Loss, x: Inputs, y: Labels,
    calls: Sequence[LayerCall],
) -> tuple[Array, tuple[GradCheckRow, ...]]:
    """y_pred, and a row for each parameter: backward's gradient of the loss against the numerical
    one, by the resumed complex step where the model reruns from the parameter's layer, else through
    the whole forward."""
    y_pred, w = model.forward(x), setup.sample_weight
    base = float(weighted_forward(loss, y_pred, y, w).real)
    model.backward(loss.backward())
    cost = _cost(loss, y_pred, y, w)
    analytic = [p.grad.copy() for p in setup.params]

    @functools.cache
    def x_work() -> Inputs:  # complex once: a mixed product is 4x slower
        work = _work_inputs(setup.xs, setup.method)
        return work[0] if isinstance(x, np.ndarray) else work

    def f() -> Scalar:
        return cost(model.forward(x_work()))

    def branches() -> list[Mask | None]:
        return [module.branch() for module in modules] + [loss.branch()]

    with _work_params(setup.params, setup.method) as tensors:
        diff = Differentiator(f, branches, setup.method, precision=setup.precision)
        items = [(name, t, g, setup.probes(p.shape)) for (name, p), t, g in zip(setup.named, tensors, analytic)]
        fast = (model_steps(model, cost, *_costs(loss, y_pred, y, w), calls, y_pred, setup.at_once)
                if setup.method == "complex" else {})
        rows = verdict.rows(items, [fast.get(id(p), diff) for p in setup.params], setup.threshold,
                            setup.xs[0].shape[0], base, verdict.central_confirmation(
                                setup.method, setup.threshold, setup.dtype, f, branches, lambda: tensors, setup.precision))
    return y_pred, rows


def _parts(setup: _Setup, calls: Sequence[LayerCall], loss: Loss, y_pred: Array, y: Labels) -> tuple[GradCheckReport, ...]:
    """Each layer call checked on its own input, and the loss on y_pred, so that the report names the
    part whose backward is wrong."""
    layers = [check_layer(call.layer, call.x, method=setup.method, mode=setup.mode, samples=setup.samples,
                          seed=setup.seed, threshold=setup.threshold, subject=f"layer {call.name} {call.layer!r}",
                          max_input_entries=PART_INPUT_ENTRIES)
              for call in calls]
    return (*layers, check_loss(loss, y_pred, y, method=setup.method, threshold=setup.threshold,
                                sample_weight=setup.sample_weight))


def _model_warnings(rows: Sequence[GradCheckRow], batch: int, mode: Mode) -> tuple[str, ...]:
    warnings = zero_warnings(rows, model=True, mode=mode)
    if batch == 1:
        warnings += ("the batch has m = 1: a missing 1/m is invisible; check with a batch of several samples",)
    return warnings


@attrs.frozen
class _Called:
    """A layer as `check_layer` calls it, on a list of inputs: a `Merge` on all, a `Layer` on the first."""

    layer: Module

    def forward(self, inputs: list[Array]) -> Array:
        if isinstance(self.layer, Merge):
            return self.layer.forward(inputs)
        assert isinstance(self.layer, Layer), f"{self.layer!r} is neither a Layer nor a Merge"
        return self.layer.forward(inputs[0])

    def backward(self, upstream: Array) -> list[Array]:
        if isinstance(self.layer, Merge):
            return self.layer.backward(upstream.copy())
        return [cast(Layer, self.layer).backward(upstream.copy())]


def _input_names(xs: Sequence[Array], name: str = "input") -> list[str]:
    return [name] if len(xs) == 1 else [f"{name} {i}" for i in range(len(xs))]


def _differentiable(a: Array) -> bool:
    """Whether the check differentiates this input: floats; integer indices (an Embedding's) have no derivative."""
    return a.dtype.kind == "f"


def _work_inputs(xs: Sequence[Array], method: Method) -> list[Array]:
    """The inputs to move: working copies of the float ones, integer indices as they are (never moved)."""
    return [work_copy(a, method) if _differentiable(a) else a for a in xs]


def _index_warnings(xs: Sequence[Array], name: str) -> tuple[str, ...]:
    """The warning that integer inputs are not checked, naming them (`name`: "x" or "input")."""
    indices = [(what, a) for what, a in zip(_input_names(xs, name), xs) if not _differentiable(a)]
    if not indices:
        return ()
    names, dtypes = " and ".join(what for what, _ in indices), ", ".join(sorted({str(a.dtype) for _, a in indices}))
    return (f"{names} {'holds' if len(indices) == 1 else 'hold'} integer indices ({dtypes}), which have no derivative: "
            "only the parameters are checked",)


def _first_backward(setup: _Setup, called: _Called, upstream: Array) -> list[Array] | GradCheckRow:
    """Backward's dL/dx for each input, then each parameter's grad (copies), from zero grads; or the
    failing row of an input whose gradient backward did not return in its shape."""
    for p in setup.params:  # from 0: a backward that adds to a grad then gives what one that sets it gives
        p.grad.fill(0)
    dxs = called.backward(upstream)
    for name, a, dx in zip(_input_names(setup.xs), setup.xs, dxs, strict=True):
        if not isinstance(dx, np.ndarray) or dx.shape != a.shape:
            got = f"shape {dx.shape}" if isinstance(dx, np.ndarray) else f"{type(dx).__name__} (a missing return?)"
            return GradCheckRow(name, a.shape, 0, float("inf"), float("inf"), "-", 0.0, 0.0, False,
                                f"backward returned {got} for an input of shape {a.shape}")
    return [dx.copy() for dx in dxs] + [p.grad.copy() for p in setup.params]


def _accumulated(setup: _Setup, called: _Called, upstream: Array, analytic: Sequence[Array]) -> list[str]:
    """The same point again (replaying its random draws), the same upstream gradient: a backward that
    sets each grad gives it the same values. The `_accumulation` note of each parameter."""
    called.forward(setup.xs)
    called.backward(upstream)
    return [_accumulation(p.grad, first) for p, first in zip(setup.params, analytic[len(setup.xs):])]


def _layer_rows(
    setup: _Setup, called: _Called, out: Array, upstream: Array, analytic: Sequence[Array],
    max_input_entries: int | None,
) -> tuple[GradCheckRow, ...]:
    """A row for each input and each parameter: backward's gradient of L = Σ G ⊙ layer(x) against the
    numerical one; by the complex step of a `Layer` through its own hooks, as in a model, else
    through the layer's forward."""
    resumed = setup.method == "complex" and isinstance(called.layer, Layer)

    @functools.cache
    def x_work() -> list[Array]:  # moved in place: made only where a probe moves the input
        return _work_inputs(setup.xs, setup.method)

    def total(z: Array) -> Scalar:
        value = np.sum(z * upstream)
        return complex(value) if np.iscomplexobj(value) else float(value)

    def totals(zs: Stack) -> Array:  # Σ G ⊙ z of each probe of a stack
        return np.tensordot(joined(zs), upstream, upstream.ndim)

    def f() -> Scalar:
        return total(called.forward(x_work()))

    def branches() -> list[Mask | None]:
        return [called.layer.branch()]

    n = len(setup.xs)
    checked = [i for i, a in enumerate(setup.xs) if _differentiable(a)]  # integer indices have no derivative
    with _work_params(setup.params, setup.method) as tensors:
        inputs = [(name, t, g, setup.probes(t.shape, max_input_entries))
                  for name, t, g in zip(_input_names(setup.xs), setup.xs if resumed else x_work(), analytic)]
        items = [inputs[i] for i in checked]
        items += [(name, t, g, setup.probes(p.shape)) for (name, p), t, g in zip(setup.named, tensors, analytic[n:])]
        ways: Sequence[TensorDifferentiator] = [Differentiator(f, branches, setup.method)] * len(items)
        if resumed:  # every entry through the layer's own hooks, as in a model
            through_input, *through_params = layer_steps(cast(Layer, called.layer), setup.xs[0],
                                                         work_copy(out, "complex"), Tail(totals, out.size),
                                                         setup.at_once)
            ways = [through_input, *through_params] if checked else through_params
        return verdict.rows(items, ways, setup.threshold, setup.xs[0].shape[0], float(np.sum(out * upstream)),
                            verdict.central_confirmation(setup.method, setup.threshold, setup.dtype, f, branches,
                                                         lambda: [*(x_work()[i] for i in checked), *tensors]))


def _likely_mistake(
    setup: _Setup, layer: Module, out: Array, upstream: Array, analytic: Sequence[Array], rows: Sequence[GradCheckRow]
) -> str:
    """For a `Layer` of a float input that fails, the mistake of the catalogue its gradients show, if any."""
    if not isinstance(layer, Layer) or not _differentiable(setup.xs[0]) or all(r.passed for r in rows):
        return ""
    gradients = dict(zip(["input", *(name for name, _ in setup.named)], analytic))
    return layer_cause(setup.xs[0], out.real, upstream, gradients, dict(setup.named))


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


def _cost(loss: Loss, y_pred: Array, y_true: Labels, w: SampleWeights | None) -> Callable[[Array], Scalar]:
    """The loss as a function of y_pred (weighted by `w`), the labels and weights checked once here, so
    that each probe computes only the value. A loss that overrides `forward` itself is differentiated
    through its `forward`."""
    if type(loss).forward is not Loss.forward:
        return lambda a: weighted_forward(loss, a, y_true, w)
    y = loss.check(y_pred, y_true)
    if w is None:
        return lambda a: loss.value(a, y)
    weights = loss.check_weights(w, y_pred)
    return lambda a: weighted_value(loss, a, y, weights)


def _costs(
    loss: Loss, y_pred: Array, y_true: Labels, w: SampleWeights | None
) -> tuple[Callable[[Array], Array], list[str]]:
    """The loss of each prediction of a stack (a leading probe axis, weighted by `w`), the labels and
    weights checked once here, and the loss's name when it takes the stack's predictions one at a
    time: a loss that implements `value` alone, or that overrides `forward` itself."""
    if type(loss).forward is Loss.forward and type(loss).costs is not Loss.costs:
        y = loss.check(y_pred, y_true)
        if w is None:
            return lambda stack: loss.costs(stack, y), []
        weights = loss.check_weights(w, y_pred)
        return lambda stack: weighted_costs(loss, stack, y, weights), []
    cost = _cost(loss, y_pred, y_true, w)
    return lambda stack: np.array([cost(p) for p in stack]), [f"loss {loss!r}"]


_SIGNATURES = {"check_gradients": "check_gradients(model, loss, x, y)", "check_layer": "check_layer(layer, x)",
               "check_loss": "check_loss(loss, y_pred, y_true)"}


def _refuse_misplaced(caller: str, *, model: object = None, layer: object = None, loss: object = None) -> None:
    """A ConfigError for an argument that is not what its place takes: a class where an instance
    belongs (`check_gradients(model, BCELoss, ...)`), arguments in another order, or a model given
    to `check_layer`; naming the argument, what came and the call's signature."""
    given = {"model": model, "layer": layer, "loss": loss}
    for what, value in given.items():
        if isinstance(value, type):
            instance = f"{value.__name__}()" if issubclass(value, Loss) else f"{value.__name__}(...)"
            raise ConfigError(f"{caller}: {what} must be an instance, got the class {value.__name__}: pass {instance}")
    signature = _SIGNATURES[caller]
    if layer is not None and not isinstance(layer, Module):
        hint = (": a model; check it with check_gradients(model, loss, x, y), which also checks each of its layers "
                "on its own" if _is_model(layer) else f": the arguments are {signature}")
        raise ConfigError(f"{caller}: layer must be a Layer (or a Merge layer), got {a_kind(layer)}{hint}")
    if model is not None and not _is_model(model):
        hint = (": a layer; check it with check_layer(layer, x)" if isinstance(model, Module)
                else f": the arguments are {signature}")
        raise ConfigError(f"{caller}: model must be a Sequential or a Model, got {a_kind(model)}{hint}")
    if loss is not None and not isinstance(loss, Loss):
        raise ConfigError(f"{caller}: loss must be a Loss (BCELoss(), say), got {a_kind(loss)}: the arguments are "
                          f"{signature}")


def _is_model(value: object) -> bool:
    """Whether `value` runs as a `Network` (`Sequential`, `Model`): an array has a `trace` too."""
    return not isinstance(value, np.ndarray | Module) and all(
        hasattr(value, name) for name in ("trace", "named_parameters", "layers"))


def _check_options(caller: str, method: str, mode: str, samples: int, probes_at_once: int | None) -> None:
    for what, value, allowed in (("method", method, get_args(Method)), ("mode", mode, get_args(Mode))):
        if value not in allowed:
            raise ValueRangeError(f"{caller}: {what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if mode != "full" and not (is_whole_number(samples) and samples >= 1):
        raise ValueRangeError(f"{caller}: samples must be a whole number of at least 1, got {samples!r}")
    if probes_at_once is not None and not (is_whole_number(probes_at_once) and probes_at_once >= 1):
        raise ValueRangeError(f"{caller}: probes_at_once must be None or a whole number of at least 1, got "
                              f"{probes_at_once!r}")


def _check_point(caller: str, xs: Sequence[Array], named: Sequence[tuple[str, Parameter]], y: Labels | None = None) -> None:
    """The point of a check must be real and finite: a NaN would compare nothing and pass, and the
    complex step adds its own imaginary part."""
    for i, a in enumerate(xs):
        what = "x" if len(xs) == 1 else f"x[{i}]"
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu":
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise DTypeError(f"{caller}: {what} must be a real float array, got {got}")  # or an Embedding's indices
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


@contextmanager
def _work_params(params: Sequence[Parameter], method: Method) -> Iterator[list[Array]]:
    """Swap each parameter's value for a working copy; put the original arrays (value and grad, which
    a float64 working copy of a float32 value replaces) back, whatever happens."""
    originals = [(p.value, p.grad) for p in params]
    try:
        for p in params:
            p.value = work_copy(p.value, method)
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


def _within(modules: Sequence[Module]) -> Iterator[Module]:
    """The modules, the layers they hold, and those of the models they wrap (`Nested`), all the way down."""
    for m in modules:
        yield m
        yield from _within([sub for _, sub in m.named_modules()])
        if isinstance(m, Wrapper):
            yield from _within(m.wrapped_model().layers)


@contextmanager
def _state_kept(params: Sequence[Parameter], buffers: Sequence[Buffer], modules: Sequence[Module]) -> Iterator[None]:
    """Put the parameters' grads, the buffers (BatchNorm's running statistics) and the random
    generators the modules own (Dropout's: the check draws masks) back as they were, so that a seeded
    run draws the same numbers with a check or without."""
    saved_grads, saved_buffers = [p.grad.copy() for p in params], [b.value.copy() for b in buffers]
    generators = {id(g): g for owner in _within(modules) for g in vars(owner).values()
                  if isinstance(g, np.random.Generator)}
    saved_states = [(g, g.bit_generator.state) for g in generators.values()]
    try:
        yield
    finally:
        for p, grad in zip(params, saved_grads):
            np.copyto(p.grad, grad)
        for b, value in zip(buffers, saved_buffers):
            np.copyto(b.value, value)
        for g, state in saved_states:
            g.bit_generator.state = state
