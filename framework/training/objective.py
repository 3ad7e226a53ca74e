"""How `fit`'s step takes its cost and back-propagates it (`Objective`): the loss of the model's output,
then the model's backward from the loss's gradient; for a `Sequential` that closes with `Sigmoid`,
trained with `BCELoss`, the two backwards in one (`SigmoidBCE`).

dL/dz at the sigmoid's input z is dL/da · a(1 - a), with dL/da = (a - y) / (a(1 - a) n): (a - y) / n,
which backprop written by hand takes, and Keras too (its sigmoid hands its logits to the cross-entropy,
`_keras_logits`). The numbers are the same as the two backwards' to rounding (0 where a prediction
was clipped, as both give), in two array passes instead of eight. The gradient checker still checks
each layer's own backward: it takes no `Objective`."""

import functools
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from framework.core.arrays import Array, Labels, SampleWeights
from framework.layers.activations import Sigmoid
from framework.losses import BCELoss, Loss, weighted_forward
from framework.training.callbacks import Trainable


@attrs.frozen
class Objective:
    """The cost of a batch (weighted by its samples' weights, if any), then the model's backward from
    the loss's gradient, every parameter's grad set."""

    model: Trainable
    loss: Loss

    def forward(self, out: Array, y: Labels, sample_weight: SampleWeights | None) -> float:
        return float(weighted_forward(self.loss, out, y, sample_weight).real)

    def backward(self) -> None:
        self.model.backward(self.loss.backward())


@runtime_checkable
class BacksBefore(Protocol):
    """A model that back-propagates from the input of one of its layers (`Sequential`)."""

    def backward_before(self, stop: int, grad: Array) -> None: ...


@attrs.frozen
class SigmoidBCE(Objective):
    """A model's closing `Sigmoid` and its `BCELoss`, back-propagated as one: dL/dz = (a - y) / n to
    the layers below the sigmoid (see the module)."""

    loss: BCELoss
    below: Callable[[Array], None]
    """The model's backward from the sigmoid's input."""

    def backward(self) -> None:
        self.below(self.loss.backward_logits())


def objective(model: Trainable, loss: Loss) -> Objective:
    """`SigmoidBCE` for a model that ends with the framework's own `Sigmoid` (its forward as its class
    has it) and can back-propagate from its input, trained with the framework's own `BCELoss`; else
    the plain `Objective`."""
    last = model.layers[-1] if model.layers else None
    if (type(loss) is BCELoss and type(last) is Sigmoid and "forward" not in vars(last)
            and isinstance(model, BacksBefore)):
        return SigmoidBCE(model, loss, functools.partial(model.backward_before, len(model.layers) - 1))
    return Objective(model, loss)
