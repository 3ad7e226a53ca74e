"""The classic backprop mistakes, as data.

Each entry is one mistake: a name, a sentence that says it in the learner's own variables, and a
function that reproduces it from the intermediates of one backward step. A step is the cost's
derivative (`LossStep`), an activation's backward (`ActivationStep`) or a fully connected layer's
(`DenseStep`), batch first (Z, A, dZ of shape (m, units), W of shape (n_in, n_out)) and in the
dJ/dZ convention (the 1/m of the mean cost inside dA and dZ). A caller that can compute a step's
intermediates, the learner's twin network here or a layer the gradient checker found wrong, can
ask each entry whether it reproduces a wrong value. Adding a mistake is one entry (and its test).

For example, a sigmoid whose backward took z(1 - z), checked on its own as the gradient checker checks
a layer (input z, output a, an upstream gradient g):

>>> z = np.array([[0.5, -1.0, 2.0]]); a = 1 / (1 + np.exp(-z)); g = np.array([[0.3, -0.2, 0.1]])
>>> step = ActivationStep("sigmoid", z, a, dA=g, dZ=g * a * (1 - a), m=1, output=False)
>>> wrong = g * z * (1 - z)
>>> [m.name for m in ACTIVATION_MISTAKES if (v := m.reproduce(step)) is not None and np.allclose(v, wrong)]
['sigmoid derivative on Z']

Sentences are templates: {dA} {dZ} {Z} {A} {A_prev} {W} {dW} {db} {dA_prev} are the learner's names
for the step's quantities (dZ3, A3, W3, A2...), {m} and {lambd} numbers, {right} the correct line.
"""

from collections.abc import Callable
from typing import Generic, Literal, TypeAlias, TypeVar

import attrs
import numpy as np

from framework.core.arrays import Array

Quantity: TypeAlias = Literal["dAL", "dZ", "dW", "db", "dA_prev"]
"""What a mistake makes wrong: dAL (the cost's derivative, of the output layer), dZ (an activation's
backward), dW, db, dA_prev (a fully connected layer's)."""
Convention: TypeAlias = Literal["course", "dJ/dZ"]
"""How the learner scales dZ and dA: per sample, the 1/m applied when forming dW and db (the course's),
or as the derivatives of the cost, the 1/m inside dZ."""
BOTH: frozenset[Convention] = frozenset({"course", "dJ/dZ"})


@attrs.frozen
class LossStep:
    """The derivative of the cost with respect to the output A of the last layer."""

    activation: str
    """The output's activation, which implies the cost: sigmoid (cross-entropy), softmax
    (categorical cross-entropy) or linear (squared error)."""
    A: Array
    Y: Array
    dA: Array
    """The correct dJ/dA."""
    m: int


@attrs.frozen
class ActivationStep:
    """dZ = dA * g'(Z): the backward of one activation."""

    activation: str
    Z: Array
    A: Array
    dA: Array
    """dJ/dA as it reached this step (wrong if a step before it was)."""
    dZ: Array
    """The correct dZ for that dA."""
    m: int
    output: bool
    """Whether this is the output layer's activation (whose dZ the cost's 1/m reaches first)."""


@attrs.frozen
class DenseStep:
    """dW, db and dA_prev of a fully connected layer Z = A_prev W + b, from its dZ."""

    A_prev: Array
    W: Array
    dZ: Array
    """dJ/dZ as it reached this step."""
    dW: Array
    """The correct dW for that dZ, the L2 term included."""
    dW_l2: Array
    """The L2 term of dW, lambd/m W (zeros when lambd = 0)."""
    db: Array
    dA_prev: Array
    m: int
    lambd: float


S = TypeVar("S", LossStep, ActivationStep, DenseStep)


@attrs.frozen
class Mistake(Generic[S]):
    """One classic mistake: `reproduce(step)` is the wrong value of `quantity` the mistake gives, or
    None where it cannot happen (another activation, shapes that would not allow it)."""

    name: str
    quantity: Quantity
    sentence: str
    reproduce: Callable[[S], Array | None]
    conventions: frozenset[Convention] = BOTH
    """The learner conventions in which it is this mistake (a mean for db is one only where dZ holds the 1/m)."""
    valid: bool = False
    """Not a mistake at all: another valid choice (a subgradient at a kink); its sentence says so."""

    def say(self, names: dict[str, str]) -> str:
        return self.sentence.format_map(names)


def _when(condition: bool, value: Callable[[], Array]) -> Array | None:
    return value() if condition else None


def _data(s: DenseStep) -> Array:
    """dW without its L2 term: A_prevᵀ dZ."""
    return s.dW - s.dW_l2


LOSS_MISTAKES: tuple[Mistake[LossStep], ...] = (
    Mistake("sign of dAL flipped", "dAL",
            "{dA} has the wrong sign: the derivative of the cost with respect to {A} is {right}",
            lambda s: -s.dA),
    Mistake("1/m missing from dAL", "dAL",
            "{dA} is {m} times too large: the cost is a mean over the m = {m} samples, and in your convention "
            "(the 1/m inside dA and dZ) {right}; were your dA and dZ meant per sample (the course's convention), "
            "the same values say that the 1/m is missing from every dW and db",
            lambda s: s.m * s.dA, frozenset({"dJ/dZ"})),
    Mistake("2 missing from the squared error's dAL", "dAL",
            "{dA} is half the derivative of the squared error: d/d{A} ({A} - Y)² = 2 ({A} - Y), so {right} "
            "(or was the cost 1/(2m) Σ ({A} - Y)²?)",
            lambda s: _when(s.activation == "linear", lambda: s.dA / 2)),
)

def _derivative(s: ActivationStep) -> Array | None:
    """The activation's own derivative at Z, from Z and A: what dZ is without dA (None for a softmax,
    whose derivative is no single array)."""
    local: dict[str, Callable[[], Array]] = {
        "sigmoid": lambda: s.A * (1 - s.A), "tanh": lambda: 1 - s.A ** 2,
        "relu": lambda: (s.Z > 0).astype(s.Z.dtype), "linear": lambda: np.ones_like(s.Z),
    }
    return local[s.activation]() if s.activation in local else None


ACTIVATION_MISTAKES: tuple[Mistake[ActivationStep], ...] = (
    Mistake("upstream gradient not multiplied", "dZ",
            "{dZ} is the activation's derivative alone: the chain rule multiplies it by the gradient that reaches "
            "it, {dA}: {right}",
            lambda s: None if (local := _derivative(s)) is None else local / s.m,  # per sample: 1/m in the twin's units
            frozenset({"course"})),
    Mistake("ReLU derivative 1 at Z = 0", "dZ",
            "{dZ} takes ReLU's derivative as 1 where {Z} = 0 (a mask {Z} >= 0): a valid subgradient at the kink, "
            "not a mistake",
            lambda s: _when(s.activation == "relu" and bool(np.any(s.Z == 0)), lambda: s.dA * (s.Z >= 0)),
            valid=True),
    Mistake("sigmoid derivative on Z", "dZ",
            "{dZ} = {dA} * sigmoid'({Z}) was evaluated on {Z}: the sigmoid's derivative is {A} * (1 - {A}), on the "
            "activation {A}, not {Z} * (1 - {Z}): {right}",
            lambda s: _when(s.activation == "sigmoid", lambda: s.dA * s.Z * (1 - s.Z))),
    Mistake("tanh derivative on Z", "dZ",
            "{dZ} = {dA} * tanh'({Z}) was evaluated on {Z}: tanh's derivative is 1 - {A}**2, on the activation "
            "{A}, not 1 - {Z}**2: {right}",
            lambda s: _when(s.activation == "tanh", lambda: s.dA * (1 - s.Z ** 2))),
    Mistake("tanh derivative without the square", "dZ",
            "{dZ} = {dA} * (1 - {A}) leaves out the square: tanh's derivative is 1 - {A}**2: {right}",
            lambda s: _when(s.activation == "tanh", lambda: s.dA * (1 - s.A))),
    Mistake("ReLU mask missing", "dZ",
            "{dZ} = {dA}: the ReLU mask is missing, so the gradient flows through the units that were off: {right}",
            lambda s: _when(s.activation == "relu", lambda: s.dA)),
    Mistake("ReLU mask from the gradient", "dZ",
            "{dZ} is masked where {dA} > 0, not where {Z} > 0: the mask of ReLU's backward comes from its input "
            "{Z}: {right}",
            lambda s: _when(s.activation == "relu", lambda: s.dA * (s.dA > 0))),
    Mistake("sign of dZ of the output flipped", "dZ",
            "{dZ} has the wrong sign (Y - {A} for {A} - Y?): {right}",
            lambda s: _when(s.output, lambda: -s.dZ)),
    Mistake("1/m missing from dZ of the output", "dZ",
            "{dZ} is {m} times too large: in your convention (the 1/m inside dZ) {right}; were your dZ meant "
            "per sample (the course's convention), the same values say that the 1/m is missing from every dW and db",
            lambda s: _when(s.output, lambda: s.m * s.dZ), frozenset({"dJ/dZ"})),
)

DENSE_MISTAKES: tuple[Mistake[DenseStep], ...] = (
    Mistake("1/m missing from dW", "dW",
            "{dW} is {m} times too large: the 1/m is missing: {right}",
            lambda s: s.m * _data(s) + s.dW_l2),
    Mistake("1/m applied twice in dW", "dW",
            "{dW} is divided by m twice ({dZ} already holds the 1/m, or the 1/m is written twice): {right}",
            lambda s: _data(s) / s.m + s.dW_l2),
    Mistake("dW transposed", "dW",
            "{dW} is transposed ({W} is square, so the shapes did not show it): {right}",
            lambda s: _when(s.W.shape[0] == s.W.shape[1] and s.W.shape[0] > 1, lambda: s.dW.T)),
    Mistake("A_prev not transposed in dW", "dW",
            "{dW} uses {A_prev} where it needs its transpose (m = {m} is also the number of rows of {A_prev}, so the "
            "shapes did not show it): {right}",
            lambda s: _when(s.A_prev.shape[0] == s.A_prev.shape[1] and s.m > 1, lambda: s.A_prev @ s.dZ + s.dW_l2)),
    Mistake("L2 term missing from dW", "dW",
            "{dW} leaves out the L2 regularization term: the cost has lambd/(2m) Σ||W||² (lambd = {lambd}), so "
            "{right}",
            lambda s: _when(s.lambd > 0, lambda: _data(s))),
    Mistake("L2 term of dW without the 1/m", "dW",
            "{dW}'s L2 regularization term is lambd * {W}: the derivative of lambd/(2m) ||{W}||² is lambd/m * {W}, "
            "so {right}",
            lambda s: _when(s.lambd > 0, lambda: _data(s) + s.lambd * s.W)),
    Mistake("1/m missing from db", "db",
            "{db} is {m} times too large: the 1/m is missing: {right}",
            lambda s: s.m * s.db),
    Mistake("db computed as a mean", "db",
            "{db} is a mean over the samples, which divides by m a second time: {dZ} already holds the 1/m, so "
            "{right}",
            lambda s: s.db / s.m, frozenset({"dJ/dZ"})),
    Mistake("1/m applied twice in db", "db",
            "{db} is divided by m twice (np.mean and 1/m together?): {right}",
            lambda s: s.db / s.m, frozenset({"course"})),
    Mistake("db summed over the wrong axis", "db",
            "{db} sums {dZ} over its units, one value per sample, where the sum runs over the samples: {right}",
            lambda s: _when(s.dZ.shape[0] == s.dZ.shape[1] and s.m > 1, lambda: s.dZ.sum(axis=1))),
    Mistake("W not transposed in dA_prev", "dA_prev",
            "{dA_prev} uses {W} where it needs its transpose ({W} is square, so the shapes did not show it): {right}",
            lambda s: _when(s.W.shape[0] == s.W.shape[1] and s.W.shape[0] > 1, lambda: s.dZ @ s.W)),
    Mistake("dA_prev divided by m", "dA_prev",
            "{dA_prev} is divided by m: the 1/m belongs to dW and db (or once in dZ), not to {dA_prev}: {right}",
            lambda s: _when(s.m > 1, lambda: s.dA_prev / s.m)),
)

CATALOGUE: tuple[Mistake[LossStep] | Mistake[ActivationStep] | Mistake[DenseStep], ...] = (
    *LOSS_MISTAKES, *ACTIVATION_MISTAKES, *DENSE_MISTAKES)
"""Every entry, valid choices included: the loss's, the activations', the fully connected layers'."""

RIGHT: dict[tuple[Quantity, str], str] = {
    ("dAL", "sigmoid"): "{dA} = -(Y / {A} - (1 - Y) / (1 - {A})){over_m}",
    ("dAL", "softmax"): "{dA} = -Y / {A}{over_m}",
    ("dAL", "linear"): "{dA} = 2 * ({A} - Y){over_m}",
    ("dZ", "relu"): "{dZ} = {dA} * ({Z} > 0)",
    ("dZ", "sigmoid"): "{dZ} = {dA} * {A} * (1 - {A})",
    ("dZ", "tanh"): "{dZ} = {dA} * (1 - {A} ** 2)",
    ("dZ", "linear"): "{dZ} = {dA}",
    ("dZ", "softmax"): "{dZ} = ({A} - Y){over_m}",
    ("dW", "course"): "{dW} = {one_over_m}np.dot({dZ}, {A_prev}.T){l2}",
    ("dW", "batch-first"): "{dW} = {one_over_m}np.dot({A_prev}.T, {dZ}){l2}",
    ("db", "course"): "{db} = {one_over_m}np.sum({dZ}, axis=1, keepdims=True)",
    ("db", "batch-first"): "{db} = {one_over_m}np.sum({dZ}, axis=0)",
    ("dA_prev", "course"): "{dA_prev} = np.dot({W}.T, {dZ})",
    ("dA_prev", "batch-first"): "{dA_prev} = np.dot({dZ}, {W}.T)",
}
"""The correct line for each quantity, by activation (dAL, dZ) or by layout (dW, db, dA_prev); {over_m}
and {one_over_m} put the 1/m where the learner's convention has it, {l2} the L2 term."""
