"""How `fit`'s step takes its cost and back-propagates it (`Objective`): the loss of the model's output,
then the model's backward from the loss's gradient; for a `Sequential` that closes with `Sigmoid`,
trained with `BCELoss`, the two backwards in one (`SigmoidBCE`).

dL/dz at the sigmoid's input z is dL/da · a(1 - a), with dL/da = (a - y) / (a(1 - a) n): (a - y) / n,
which backprop written by hand takes, and Keras too (its sigmoid hands its logits to the cross-entropy,
`_keras_logits`). The numbers are the same as the two backwards' to rounding (0 where a prediction
was clipped, as both give), in two array passes instead of eight. The gradient checker still checks
each layer's own backward: it takes no `Objective`.

`SigmoidBCE` also scans the output for NaN and inf once, not twice: BCELoss scans its predictions
anyway (their range, and whether any is clipped), so the model's forward skips its own scan
(`forward_unscanned`); where the loss finds one, the model says where it came from
(`refuse_nonfinite`: the input, a weight, or the arithmetic), as its forward would have."""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from framework.core.arrays import Array, Inputs, Labels, SampleWeights
from framework.core.errors import NonFiniteError
from framework.layers.activations import Sigmoid
from framework.losses import BCELoss, Loss, weighted_forward
from framework.training.callbacks import Trainable


@attrs.frozen
class Objective:
    """The cost of a batch (weighted by its samples' weights, if any), then the model's backward from
    the loss's gradient, every parameter's grad set."""

    model: Trainable
    loss: Loss

    def outputs(self, x: Inputs) -> Array:
        """The model's output for a batch."""
        return self.model.forward(x)

    def forward(self, x: Inputs, out: Array, y: Labels, sample_weight: SampleWeights | None) -> float:
        """The cost of the model's output `out` for the batch `x`."""
        return float(weighted_forward(self.loss, out, y, sample_weight).real)

    def backward(self) -> None:
        self.model.backward(self.loss.backward())


@runtime_checkable
class BacksBefore(Protocol):
    """A model that back-propagates from the input of one of its layers, and leaves the scan of its
    output to its caller when asked (`Sequential`)."""

    def backward_before(self, stop: int, grad: Array) -> None: ...

    def forward_unscanned(self, x: Inputs) -> Array: ...

    def refuse_nonfinite(self, x: Inputs, outputs: Sequence[Array]) -> None: ...


@attrs.frozen
class SigmoidBCE(Objective):
    """A model's closing `Sigmoid` and its `BCELoss`, back-propagated as one: dL/dz = (a - y) / n to
    the layers below the sigmoid (see the module)."""

    loss: BCELoss
    layered: BacksBefore
    """The model, as it runs without its scan and back-propagates from a layer."""

    def outputs(self, x: Inputs) -> Array:
        return self.layered.forward_unscanned(x)  # BCELoss scans them: see the module

    def forward(self, x: Inputs, out: Array, y: Labels, sample_weight: SampleWeights | None) -> float:
        try:
            return super().forward(x, out, y, sample_weight)
        except NonFiniteError:
            self.layered.refuse_nonfinite(x, (out,))  # raises, naming the input, a weight or the arithmetic
            raise

    def backward(self) -> None:
        self.layered.backward_before(len(self.model.layers) - 1, self.loss.backward_logits())


def objective(model: Trainable, loss: Loss) -> Objective:
    """`SigmoidBCE` for a model that ends with the framework's own `Sigmoid` (its forward as its class
    has it) and can back-propagate from its input, whose forward is its `forward_unscanned` and the
    scan (not overridden below the class that defines both), trained with the framework's own
    `BCELoss`; else the plain `Objective`."""
    last = model.layers[-1] if model.layers else None
    if (type(loss) is BCELoss and type(last) is Sigmoid and "forward" not in vars(last)
            and isinstance(model, BacksBefore) and _forward_scans_unscanned(model)):
        return SigmoidBCE(model, loss, model)
    return Objective(model, loss)


def _forward_scans_unscanned(model: object) -> bool:
    """Whether `model.forward` is the one of the class that defines `forward_unscanned` (a subclass's
    own forward, or one set on the instance, is called as it was written)."""
    if "forward" in vars(model):
        return False
    owner = next(c for c in type(model).__mro__ if "forward" in vars(c))
    return "forward_unscanned" in vars(owner)
