"""Losses: `forward(y_pred, y_true)` gives the mean cost, `backward()` gives dL/dy_pred;
`forward(y_pred, y_true, sample_weight)` the weighted cost, as Keras reduces it."""

import cmath
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, cast

import numpy as np
import numpy.typing as npt

from framework.core import complex_parts
from framework.core.arrays import Array, Labels, Mask, RealNumber, SampleWeights, Scalar
from framework.core.errors import ConfigError, DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.guard import Checked
from framework.core.layer import Config
from framework.core.validation import describe_nonfinite
from framework.layers.activations import Sigmoid, Softmax


class Loss(Checked):
    """Base class of losses. Like a layer, a loss keeps what its backward needs. A subclass
    implements `check` and `value` (or overrides `forward` whole), and `backward`; `forward` and
    `backward` are wrapped by `framework.core.guard` (floating-point errors raise a NonFiniteError
    naming the loss). `value` sets the cache backward takes (`cached`), since the gradient checker
    calls it without forward: so the call order is the cache's, not the guard's.

    Sample weights reduce as Keras 3's default ("sum_over_batch_size", keras/src/losses/loss.py):
    the cost of a batch is Σ_i w_i l_i / m, the weighted sum of the samples' costs over the batch
    size m, not over Σ w_i; so a weight of 2 counts a sample twice and all weights 1 are the
    unweighted mean. A loss that takes them sets `takes_sample_weight` and its `costs` takes a third
    argument `w`, the weights `check_weights` gave (`WeightedCosts`); `forward_weighted` is its forward
    with weights. Without weights every loss is called with two arguments, so a custom loss that
    takes none keeps the signatures of this class, and each built-in runs its unweighted code alone."""

    checked_methods = ("forward", "forward_weighted")
    guarded_methods: ClassVar[tuple[str, ...]] = ("backward",)
    takes_sample_weight: ClassVar[bool] = False
    """True for a loss whose `costs(y_pred, y, w)` weighs the samples (every built-in one)."""
    labels_checked: bool = False
    """Set by `fit` around each batch's forward, once `check_labels` has passed on all its labels
    (and `checked_sample_weight` on all its weights): `check` then skips those O(n) scans of the batch."""

    def forward(self, y_pred: Array, y_true: Labels) -> Scalar:
        """The cost of y_pred: the pair is checked, then its value computed."""
        return self.value(y_pred, self.check(y_pred, y_true))

    def forward_weighted(self, y_pred: Array, y_true: Labels, sample_weight: npt.ArrayLike) -> Scalar:
        """`forward` with one non-negative weight a sample: Σ_i w_i l_i / m (see the class), for a loss
        that takes them (`takes_sample_weight`)."""
        y = self.check(y_pred, y_true)
        return weighted_value(self, y_pred, y, self.check_weights(sample_weight, y_pred))

    def check_weights(self, sample_weight: npt.ArrayLike, y_pred: Array) -> SampleWeights:
        """`sample_weight` checked against the batch of y_pred (`checked_sample_weight`), as `value` takes it."""
        refuse_unless_weighted(repr(self), self)
        return checked_sample_weight(repr(self), sample_weight, y_pred.shape[0], y_pred.real.dtype,
                                     scan=not self.labels_checked)

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        """Check the shapes, dtypes and values of the pair; return y_true as `value` takes it. The
        gradient checker calls this once, then `value` for each probe."""
        raise NotImplementedError(f"{type(self).__name__} must implement check(y_pred, y_true)")

    def value(self, y_pred: Array, y: Labels) -> Scalar:
        """The cost of a pair that `check` has passed (y as it returned it), keeping what backward
        needs: `costs` as a number, by default."""
        return self.scalar(self.costs(y_pred, y))

    def costs(self, y_pred: Array, y: Labels) -> Array:
        """The cost of y_pred reduced over y's axes only: a 0-d array for a y_pred of y's shape, and one
        cost a probe for a stack of them on a leading axis, which is how the gradient checker runs K
        probes at once (a loss that implements `value` alone is given them one at a time). A loss
        that takes sample weights adds `w`, one a sample of y, which weigh every probe of a stack alike."""
        raise NotImplementedError(f"{type(self).__name__} must implement value(y_pred, y) or costs(y_pred, y)")

    def sample_classes(self, y_true: Labels) -> npt.NDArray[np.integer[Any]]:
        """The class of each sample of the labels, which `fit`'s `class_weight` keys; a ConfigError for
        a loss whose labels are not classes (a regression's)."""
        raise ConfigError(
            f"{self!r} takes no class_weight: its labels are values, not classes; weigh the samples with "
            "sample_weight instead"
        )

    def check_labels(self, y_true: Labels) -> None:
        """O(n) checks of the labels' values (none by default); `check_pair` runs them unless `labels_checked`."""

    def backward(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def branch(self) -> Mask | None:
        """The discrete choices of the last forward (clipping), for the gradient checker; None if smooth."""
        return None

    def rounding(self, y_pred: Array) -> float:
        """The relative error to which this loss computes its cost's derivatives at y_pred, which the
        gradient checker's threshold cannot go below: the dtype's epsilon, unless the cost amplifies it."""
        return float(np.finfo(y_pred.real.dtype).eps)

    def get_config(self) -> Config:
        """The constructor's arguments, JSON-ready, for `save` to keep with a compiled model (none for a
        loss without arguments); `type(loss)(**loss.get_config())` is the same loss."""
        return {}

    def probabilities(self, y_pred: Array) -> Array:
        """What the metrics see: probabilities for a loss that takes them, so a loss fed logits converts."""
        return y_pred

    def check_arrays(self, y_pred: Array, y_true: Labels) -> None:
        for what, a in (("y_pred", y_pred), ("y_true", y_true)):
            if not isinstance(a, np.ndarray):
                raise DTypeError(f"{self!r}: {what} must be a numpy array, got {type(a).__name__}")

    def check_pair(self, y_pred: Array, y_true: Labels) -> Array:
        """Checks of shapes and dtypes, and of the labels' values (`check_labels`) unless `fit` checked
        them already; returns y_true as a float array like y_pred."""
        self.check_arrays(y_pred, y_true)
        if y_pred.ndim == 0:
            raise ShapeError(f"{self!r}: y_pred must have a batch axis, got a 0-d array")
        if y_pred.shape != y_true.shape:
            hint = ""
            if y_true.ndim == 1 and y_pred.shape == (y_true.shape[0], 1):
                hint = ": reshape the labels with y.reshape(-1, 1)"
            elif y_true.ndim == y_pred.ndim == 2 and y_true.shape == y_pred.shape[::-1]:
                hint = ": labels one a column? transpose them, y.T"
            raise ShapeError(
                f"{self!r}: y_pred has shape {y_pred.shape} but y_true has shape {y_true.shape}{hint}; "
                "nothing is broadcast"
            )
        if y_pred.size == 0:
            raise ShapeError(f"{self!r}: empty batch, y_pred has shape {y_pred.shape}")
        if y_pred.dtype.kind not in "fc":
            raise DTypeError(f"{self!r}: y_pred must be a float array, got {y_pred.dtype}")
        if y_true.dtype.kind not in "biuf":
            raise DTypeError(f"{self!r}: y_true must hold numbers, got {y_true.dtype}")
        y = y_true.astype(y_pred.real.dtype, copy=False)
        if not self.labels_checked:
            self.check_labels(y)
        return y

    def check_unit_interval(self, y: Labels, what: str) -> None:
        """Labels in [0, 1], NaN and inf refused: a scan, which `fit` runs once (see `labels_checked`)."""
        lo, hi = y.min(), y.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise NonFiniteError(f"{self!r}: {describe_nonfinite(what, y)}")
        if not (lo >= 0 and hi <= 1):
            raise ValueRangeError(f"{self!r}: {what} must lie in [0, 1], got values from {lo} to {hi}")

    def finite_range(self, y_pred: Array) -> tuple[np.floating[Any], np.floating[Any]]:
        """The smallest and the largest real part of y_pred; a NonFiniteError if any entry is NaN or inf."""
        lo, hi = y_pred.real.min(), y_pred.real.max()
        if not (math.isfinite(lo) and math.isfinite(hi)):  # math's: a quarter of np.isfinite's time on a number
            raise NonFiniteError(
                f"{self!r}: {describe_nonfinite('y_pred', y_pred)}: the model's output is not finite; check the "
                "input for NaN/inf, or lower the learning rate if training diverged"
            )
        return lo, hi

    def scalar(self, cost: np.inexact[Any] | Array) -> Scalar:
        """The cost as a float (a complex under the complex step), or a NonFiniteError if computing it
        overflowed where numpy sets no floating-point error (complex arithmetic)."""
        value = complex(cost) if np.iscomplexobj(cost) else float(cost)
        if not cmath.isfinite(value):
            raise NonFiniteError(
                f"{self!r}: the cost overflowed {np.asarray(cost).real.dtype}: lower the learning rate if training "
                "diverged, or scale the data down"
            )
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class WeightedCosts(Protocol):
    """A loss that takes sample weights (`takes_sample_weight`): its `costs` weighs the samples by `w`."""

    def costs(self, y_pred: Array, y: Labels, w: SampleWeights | None = None) -> Array: ...


def weighted_costs(loss: Loss, y_pred: Array, y: Labels, w: SampleWeights) -> Array:
    """`loss.costs(y_pred, y, w)`: a loss that takes sample weights (else a ConfigError)."""
    refuse_unless_weighted(repr(loss), loss)
    return cast(WeightedCosts, loss).costs(y_pred, y, w)


def weighted_value(loss: Loss, y_pred: Array, y: Labels, w: SampleWeights) -> Scalar:
    """The weighted cost as a number, as `Loss.value` gives the unweighted one."""
    return loss.scalar(weighted_costs(loss, y_pred, y, w))


def refuse_unless_weighted(who: str, loss: Loss) -> None:
    """A ConfigError naming `who` when `loss` takes no sample weights (a custom loss that did not say it does)."""
    if not loss.takes_sample_weight:
        raise ConfigError(
            f"{who}: {loss!r} takes no sample_weight: give its costs a third argument w (the weights of the "
            "samples) and set takes_sample_weight = True"
        )


def weighted_forward(loss: Loss, y_pred: Array, y_true: Labels, sample_weight: npt.ArrayLike | None) -> Scalar:
    """`loss.forward(y_pred, y_true)`, weighted by `sample_weight` when given: a loss that overrides
    forward and takes no weights is called as it was written."""
    if sample_weight is None:
        return loss.forward(y_pred, y_true)
    refuse_unless_weighted(repr(loss), loss)
    return loss.forward_weighted(y_pred, y_true, sample_weight)


def checked_sample_weight(
    who: str, sample_weight: npt.ArrayLike, m: int, dtype: np.dtype[Any], *, scan: bool = True
) -> SampleWeights:
    """`sample_weight` as an array of `dtype` of shape (m,), one weight a sample (the user's array never
    written to); with `scan`, every weight finite and non-negative. A clear error names `who` otherwise."""
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise DTypeError(f"{who}: sample_weight must hold numbers, got dtype {w.dtype}")
    if w.shape != (m,):
        hint = ": pass sample_weight.ravel()" if w.size == m and w.ndim > 1 else ""
        raise ShapeError(f"{who}: sample_weight must hold one weight a sample, shape ({m},), got shape {w.shape}{hint}")
    w = w.astype(dtype, copy=False)
    if scan:
        problem = describe_nonfinite("sample_weight", w)
        if problem:
            raise NonFiniteError(f"{who}: {problem}")
        if w.min() < 0:
            i = int(np.argmin(w))
            raise ValueRangeError(f"{who}: sample_weight must be non-negative, got {w[i]} for sample {i}")
    return w


class BCELoss(Loss):
    """Binary cross-entropy of probabilities, the mean over all entries:
    J = -1/n Σ [y log a + (1 - y) log(1 - a)]; with sample weights, each sample's terms times its w_i.

    `a` is clipped to [eps, 1 - eps] (eps of its dtype) so that a saturated sigmoid gives a finite
    cost; the gradient is 0 where clipping bites, as the clipped cost is flat there.

    >>> loss = BCELoss()
    >>> round(loss.forward(np.array([[0.9], [0.2]]), np.array([[1.0], [0.0]])), 6)
    0.164252
    >>> loss.backward()
    array([[-0.55555556],
           [ 0.625     ]])
    """

    takes_sample_weight = True
    guarded_methods = ("backward", "backward_logits")

    def __init__(self) -> None:
        self._cache: tuple[Array, Labels, Mask | None, SampleWeights | None] | None = None
        self._binary: Labels | None = None
        """The labels last found to be 0s and 1s since `check` ran (which forgets them): the gradient
        checker's stacks of probes share them, so they are tested once, not once a stack."""

    def check_labels(self, y_true: Labels) -> None:
        self.check_unit_interval(y_true, "labels")

    def sample_classes(self, y_true: Labels) -> npt.NDArray[np.integer[Any]]:
        """0 or 1 a sample, for labels of one output column, (m,) or (m, 1)."""
        if not (y_true.ndim == 1 or y_true.shape[1:] == (1,)):
            raise ShapeError(
                f"{self!r}: class_weight needs one 0/1 label a sample (one sigmoid output), got labels of shape "
                f"{y_true.shape}; weigh the samples with sample_weight instead"
            )
        if not np.all((y_true == 0) | (y_true == 1)):
            raise ValueRangeError(
                f"{self!r}: class_weight needs 0/1 labels, got values from {y_true.min()} to {y_true.max()}"
            )
        return y_true.reshape(-1).astype(np.int64)

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        """The pair's shapes and dtypes, and the labels; y_pred's values in the scan `costs` takes."""
        y = self.check_pair(y_pred, y_true)
        self._binary = None
        return y

    def costs(self, y_pred: Array, y: Labels, w: SampleWeights | None = None) -> Array:
        lo, hi = self.finite_range(y_pred)  # one scan: the values checked, and whether any is clipped
        if not (lo >= 0 and hi <= 1):
            raise ValueRangeError(
                f"{self!r}: y_pred must be probabilities in [0, 1], got values from {lo} to {hi}: "
                "did you pass logits? end the model with Sigmoid()"
            )
        eps = np.finfo(y_pred.real.dtype).eps
        a, clipped = y_pred, None
        if lo < eps or hi > 1 - eps:  # usually no entry is clipped: no copy
            low, high = y_pred.real < eps, y_pred.real > 1 - eps
            a = np.where(low, eps, y_pred)
            np.copyto(a, 1 - eps, where=high)
            clipped = low | high
        self._cache = a, y, clipped, w
        if a.dtype.kind == "c" and self._binary_labels(y):  # the checker's probes, labels of 0 and 1
            weights = np.ones(y.shape) if w is None else np.broadcast_to(_column(w, y.ndim), y.shape)
            return -_log_likelihoods(a, y, weights) / y.size
        positive, negative = (y, 1 - y) if w is None else (y * _column(w, y.ndim), (1 - y) * _column(w, y.ndim))
        costs: Array = -(_weighted(np.log(a), positive) + _weighted(np.log1p(-a), negative)) / y.size
        return costs

    def rounding(self, y_pred: Array) -> float:
        """ε a / (1 - a) for the largest prediction a (ε if smaller): near 1, 1 - a keeps only that share of
        a's digits (a saturated sigmoid), and log(1 - a) and its derivative with them."""
        eps, a = float(np.finfo(y_pred.real.dtype).eps), float(y_pred.real.max())
        return eps * max(1.0, a / max(1 - a, eps))

    def _binary_labels(self, y: Labels) -> bool:
        if self._binary is not y and np.array_equal(y, y > 0.5):
            self._binary = y
        return self._binary is y

    def backward(self) -> Array:
        a, y, clipped, w = self.cached(self._cache)
        self._cache = None
        grad = a - y
        d = 1 - a
        np.multiply(d, a, out=d)
        d *= a.size
        grad /= d  # dL/da = (a - y) / (a(1 - a)) / n
        if clipped is not None:
            np.copyto(grad, 0, where=clipped)
        return _weighed(grad, w)

    def backward_logits(self) -> Array:
        """dL/dz for the last forward's y_pred = sigmoid(z): this backward and the sigmoid's in one, as
        `fit` takes them for a model that closes with `Sigmoid` (`framework.training.objective`)."""
        a, y, clipped, w = self.cached(self._cache)
        self._cache = None
        grad = a - y
        grad /= a.size  # dL/dz = dL/da · a(1 - a) = (a - y) / n
        if clipped is not None:
            np.copyto(grad, 0, where=clipped)  # as backward gives: the clipped cost is flat there
        return _weighed(grad, w)

    def branch(self) -> Mask | None:
        if self._cache is None:
            return None
        a, _, clipped, _ = self._cache
        return np.zeros(a.shape, dtype=bool) if clipped is None else clipped


class BCEWithLogitsLoss(Loss):
    """Sigmoid and binary cross-entropy in one, on logits z, the mean over all entries:
    J = 1/n Σ [max(z, 0) - z y + log(1 + e^-|z|)], which is BCELoss(sigmoid(z), y) without its
    clipping: finite and exact for any finite z. The model ends with its last Dense, no Sigmoid.

    `pos_weight` is PyTorch's: the positive term of each output column times its p (a number for
    every column, or one a column), l = -[p y log σ(z) + (1 - y) log(1 - σ(z))], so that p > 1 favours
    recall on a rare positive class. Sample weights multiply each sample's terms (see `Loss`).

    >>> loss = BCEWithLogitsLoss()
    >>> round(loss.forward(np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]])), 6)  # (log 2 + log(1 + e²)) / 2
    1.410038
    >>> loss.backward()  # (sigmoid(z) - y) / n
    array([[-0.25      ],
           [ 0.44039854]])
    >>> round(BCEWithLogitsLoss(pos_weight=3.0).forward(np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]])), 6)
    2.103185
    """

    takes_sample_weight = True

    def __init__(self, pos_weight: RealNumber | Sequence[RealNumber] | Array | None = None) -> None:
        self.pos_weight = None if pos_weight is None else _checked_pos_weight(pos_weight)
        self._cache: tuple[Array, Mask, Labels, Array | None, SampleWeights | None] | None = None

    check_labels = BCELoss.check_labels  # the same labels: in [0, 1]
    sample_classes = BCELoss.sample_classes

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        y = self.check_pair(y_pred, y_true)
        self.finite_range(y_pred)
        p = self.pos_weight
        if p is not None and p.ndim == 1 and (y_pred.ndim < 2 or y_pred.shape[-1] != len(p)):
            raise ShapeError(f"{self!r}: pos_weight holds {len(p)} weights, one an output column, but y_pred has "
                             f"shape {y_pred.shape}")
        return y

    def costs(self, y_pred: Array, y: Labels, w: SampleWeights | None = None) -> Array:
        positive = y_pred.real > 0
        e = np.exp(np.where(positive, -y_pred, y_pred))  # e^-|z|, at most 1
        softplus = np.where(positive, y_pred, 0) + np.log1p(e)  # log(1 + e^z) = -log(1 - σ(z))
        terms = softplus - y_pred * y
        p = None if self.pos_weight is None else self.pos_weight.astype(y_pred.real.dtype)
        if p is not None:  # the positive term, y softplus(-z) = y (softplus(z) - z), p times
            terms += (p - 1) * y * (softplus - y_pred)
        self._cache = e, positive, y, p, w
        return _mean(terms, y, w)

    def probabilities(self, y_pred: Array) -> Array:
        return Sigmoid().forward(y_pred)  # metrics threshold probabilities at 0.5

    def backward(self) -> Array:
        e, positive, y, p, w = self.cached(self._cache)
        self._cache = None
        grad = np.where(positive, 1, e) / (1 + e)  # sigmoid(z): 1 / (1 + e^-z) for z > 0, e^z / (1 + e^z) else
        if p is None:
            grad -= y  # dL/dz = (sigmoid(z) - y) / n
        else:  # dL/dz = ((1 + (p - 1) y) sigmoid(z) - p y) / n
            grad *= 1 + (p - 1) * y
            grad -= p * y
        grad /= grad.size
        return _weighed(grad, w)

    def get_config(self) -> Config:
        p = self.pos_weight
        return {} if p is None else {"pos_weight": float(p) if p.ndim == 0 else p.tolist()}

    def __repr__(self) -> str:
        return f"BCEWithLogitsLoss({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


def _checked_pos_weight(pos_weight: RealNumber | Sequence[RealNumber] | Array) -> Array:
    """BCEWithLogitsLoss's pos_weight as a float64 array (0-d, or one a column), finite and non-negative."""
    p = np.asarray(pos_weight)
    if p.dtype.kind not in "biuf" or p.ndim > 1 or p.size == 0:
        raise ConfigError(f"BCEWithLogitsLoss: pos_weight must be a number or a 1-d array of numbers (one an output "
                          f"column), got {p.dtype} of shape {p.shape}")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueRangeError(f"BCEWithLogitsLoss: pos_weight must be finite and non-negative, got {pos_weight!r}")
    return p


class CrossEntropyLoss(Loss):
    """Softmax and the negative log-likelihood in one, on logits z of shape (batch, classes), the mean
    over the batch: J = -1/m Σ_i Σ_c y_ic log softmax(z_i)_c. The labels y are class indices of shape
    (batch,) (any integer dtype), or one-hot or probability rows of shape (batch, classes). The model
    ends with its last Dense, no softmax. With sample weights, J = -1/m Σ_i w_i Σ_c y_ic log softmax(z_i)_c;
    `fit`'s class_weight gives each sample the weight of its class, as PyTorch's `weight=` does, but
    reduced by m as Keras does, not by Σ w_i as PyTorch's "mean".

    >>> loss = CrossEntropyLoss()
    >>> z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    >>> round(loss.forward(z, np.array([2, 0])), 6)  # (log(e + e² + e³) - 3 + log 3) / 2
    0.753109
    >>> loss.backward()  # (softmax(z) - onehot(y)) / m
    array([[ 0.04501529,  0.12236424, -0.16737952],
           [-0.33333333,  0.16666667,  0.16666667]])
    """

    takes_sample_weight = True

    def __init__(self) -> None:
        self._cache: tuple[Array, Labels, SampleWeights | None] | None = None

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        self.check_arrays(y_pred, y_true)
        z = y_pred
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
            hint = ": for one output column use BCEWithLogitsLoss" if z.ndim == 2 and z.shape[1] == 1 else ""
            raise ShapeError(
                f"{self!r}: expected logits of shape (batch, classes) with at least 2 classes, got {z.shape}{hint}"
            )
        if z.dtype.kind not in "fc":
            raise DTypeError(f"{self!r}: y_pred must be a float array, got {z.dtype}")
        lo, hi = self.finite_range(z)
        if lo >= 0 and hi <= 1 and np.all(np.abs(z.real.sum(axis=1) - 1) <= 1e-6):
            raise ValueRangeError(
                f"{self!r}: every row of y_pred is non-negative and sums to 1: it looks like probabilities (the "
                "output of a softmax), but CrossEntropyLoss wants logits and applies the softmax itself; "
                "remove the model's final softmax"
            )
        return self._labels(y_true, z)

    def costs(self, y_pred: Array, y: Labels, w: SampleWeights | None = None) -> Array:
        z = y_pred
        with np.errstate(over="ignore"):  # a row spanning more than the dtype holds: -inf is exact, scalar() reports
            shifted = z - z.real.max(axis=-1, keepdims=True)  # a real constant: exact under the complex step
            log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            if y.ndim == 1:
                picked = log_p[..., np.arange(len(y)), y]
            else:  # 0 log p = 0, also where log p overflowed to -inf
                picked = np.sum(y * np.where(y > 0, log_p, 0), axis=-1)
            cost: Array = -(np.mean(picked, axis=-1) if w is None else picked @ w / len(w))
        self._cache = log_p, y, w
        return cost

    def sample_classes(self, y_true: Labels) -> npt.NDArray[np.integer[Any]]:
        """The class indices as they are, or the argmax of one-hot (or probability) rows, as Keras takes them."""
        if y_true.ndim == 1 and y_true.dtype.kind in "iu":
            return y_true.astype(np.int64, copy=False)
        if y_true.ndim == 2:
            classes: npt.NDArray[np.integer[Any]] = np.argmax(y_true, axis=1)
            return classes
        raise ShapeError(f"{self!r}: class_weight needs class indices of shape (m,) or one-hot rows of shape "
                         f"(m, classes), got labels of shape {y_true.shape} and dtype {y_true.dtype}")

    def probabilities(self, y_pred: Array) -> Array:
        return Softmax().forward(y_pred)  # the logits' class probabilities; the argmax is the same

    def backward(self) -> Array:
        log_p, y, w = self.cached(self._cache)
        self._cache = None
        grad = np.exp(log_p)  # softmax(z)
        if y.ndim == 1:
            grad[np.arange(len(y)), y] -= 1
        else:  # dL/dz = softmax(z) Σy - y: exact for rows whose sum is 1 only up to rounding
            grad *= y.sum(axis=1, keepdims=True)
            grad -= y
        grad /= len(grad)
        return _weighed(grad, w)  # dL/dz = (softmax(z) - onehot(y)) / m, each row times its w_i

    def _labels(self, y_true: Labels, z: Array) -> Labels:
        """Class indices as they are, or rows converted to z's float dtype, after checking their values."""
        batch, classes = z.shape
        if y_true.shape == (batch,):
            check_class_indices(repr(self), "labels", y_true, f"logits of shape {z.shape}", classes)
            return y_true
        if y_true.shape != z.shape:
            raise ShapeError(
                f"{self!r}: logits have shape {z.shape}, so labels must be class indices of shape ({batch},) "
                f"or one-hot rows of shape {z.shape}, got {y_true.shape}"
            )
        if y_true.dtype.kind not in "biuf":
            raise DTypeError(f"{self!r}: y_true must hold numbers, got {y_true.dtype}")
        y = y_true.astype(z.real.dtype)
        self.check_unit_interval(y, "label rows")
        off = np.abs(y.sum(axis=1) - 1)
        if off.max() > 1e-6:
            row = int(np.argmax(off))
            raise ValueRangeError(
                f"{self!r}: label rows must sum to 1 (one-hot or probabilities), row {row} sums to {y[row].sum()}"
            )
        return y


def check_class_indices(who: str, name: str, y_true: Labels, scores: str, classes: int) -> None:
    """Integer class indices in [0, classes), or a clear error naming `who` ("CrossEntropyLoss()"),
    the labels' `name` and the `scores` they index ("logits of shape (5, 3)")."""
    if y_true.dtype.kind not in "iu":
        raise DTypeError(
            f"{who}: {name} of shape {y_true.shape} must be integer class indices, got dtype {y_true.dtype}: "
            f"pass y.astype(np.int64), or one-hot rows of shape ({y_true.shape[0]}, {classes})"
        )
    lo, hi = y_true.min(), y_true.max()
    if lo < 0 or hi >= classes:
        raise ValueRangeError(f"{who}: class indices must lie in [0, {classes}) for {scores}, got values from {lo} to {hi}")


class MSELoss(Loss):
    """Mean squared error, the mean over all entries: J = 1/n Σ (y_pred - y)²; with sample weights,
    each sample's squares times its w_i (scikit-learn's weighted `mean_squared_error` is this over
    the mean of the weights instead: the same for weights that average 1).

    >>> loss = MSELoss()
    >>> loss.forward(np.array([[1.0], [2.0]]), np.array([[0.0], [4.0]]))  # (1² + 2²) / 2
    2.5
    >>> loss.backward()  # 2 (y_pred - y) / n
    array([[ 1.],
           [-2.]])
    """

    takes_sample_weight = True

    def __init__(self) -> None:
        self._cache: tuple[Array, SampleWeights | None] | None = None

    def check_labels(self, y_true: Labels) -> None:
        problem = describe_nonfinite("y_true", y_true)
        if problem:
            raise NonFiniteError(f"{self!r}: {problem}")

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        y = self.check_pair(y_pred, y_true)
        self.finite_range(y_pred)
        return y

    def costs(self, y_pred: Array, y: Labels, w: SampleWeights | None = None) -> Array:
        diff = y_pred - y
        self._cache = diff, w
        return _mean(diff * diff, y, w)

    def backward(self) -> Array:
        diff, w = self.cached(self._cache)
        self._cache = None
        return _weighed(2 * diff / diff.size, w)  # dL/dy_pred = 2 (y_pred - y) / n, each sample's times its w_i


def _log_likelihoods(a: Array, y: Labels, weights: Labels) -> Array:
    """Σ weights ⊙ log u over y's axes, u = a where y = 1 and 1 - a where y = 0, for a complex a (the
    checker's probes) and 0/1 labels: one log an entry, u = (1 - y) + (2y - 1) a, its log from u's real
    and imaginary parts (`complex_parts.log`), 10x np.log and np.log1p on the complex array masked by
    the labels."""
    sign = 2 * y - 1
    re = a.real * sign
    re += 1 - y
    log_modulus, arg = complex_parts.log(re, a.imag * sign)
    return _weighted(log_modulus, weights) + 1j * _weighted(arg, weights)


def _weighted(terms: Array, weights: Labels) -> Array:
    """Σ terms ⊙ weights over the weights' axes, one product (a dot, or a matrix-vector product for a stack)."""
    total: Array = terms.reshape(*terms.shape[:terms.ndim - weights.ndim], -1) @ weights.reshape(-1)
    return total


def _mean(terms: Array, y: Labels, w: SampleWeights | None = None) -> Array:
    """The mean of `terms` over y's axes: a 0-d array for terms of y's shape, one mean a probe for a
    stack; with weights w, one a sample, Σ_i w_i Σ_j terms_ij / n."""
    lead = terms.shape[:terms.ndim - y.ndim]
    if w is None:
        means: Array = terms.reshape(*lead, -1).mean(axis=-1)
        return means
    weighted: Array = terms.reshape(*lead, y.shape[0], -1).sum(axis=-1) @ w / y.size
    return weighted


def _column(w: SampleWeights, ndim: int) -> SampleWeights:
    """The weights, one a sample, shaped to scale the samples of an array of `ndim` axes, batch first."""
    return w.reshape(-1, *(1,) * (ndim - 1))


def _weighed(grad: Array, w: SampleWeights | None) -> Array:
    """grad with each sample's rows times its weight, in place (dL_w/dŷ_i = w_i dL/dŷ_i); as it is without weights."""
    if w is not None:
        grad *= _column(w, grad.ndim)
    return grad


BUILT_IN_LOSSES: dict[str, type[Loss]] = {cls.__name__: cls for cls in (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss)}
"""The built-in losses by class name: `save` names the one a model was compiled with in its file,
and `saved_loss` rebuilds it with its default arguments, which say what its outputs mean (the
training state of a compiled model keeps its arguments too, `get_config`: BCEWithLogitsLoss's pos_weight)."""
