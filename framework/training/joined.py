"""`Joined`: a model of several outputs seen as a model of one, its outputs side by side, so that `fit`,
`evaluate`, `predict` and the gradient checker run on it unchanged (with a `JointLoss`)."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from framework.core.arrays import Array, Inputs, Labels, Shape
from framework.core.errors import ConfigError, ShapeError
from framework.core.layer import Config, Module
from framework.core.parameter import Buffer, Parameter
from framework.core.protocols import LayerCall, model_backward
from framework.losses import Loss
from framework.training.metrics import Metric
from framework.training.optimizers import Optimizer
from framework.training.outputs import JointLoss
from framework.training.state import FitProgress
from framework.training.trainer import Trainer


class SeveralOutputs(Protocol):
    """What `Joined` needs of the model it joins (a graph `Model` is one)."""

    loss: Loss | None
    optimizer: Optimizer | None
    metrics: dict[str, Metric]
    stop_training: bool
    fit_progress: FitProgress | None

    @property
    def layers(self) -> Sequence[Module]: ...

    @property
    def named_outputs(self) -> dict[str, Shape | None]: ...

    def forward_all(self, x: Inputs) -> list[Array]: ...

    def backward_all(self, grad: Sequence[Array], *, input_grad: bool = False) -> list[Array] | None: ...

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]: ...

    def named_buffers(self) -> list[tuple[str, Buffer]]: ...

    def trace(self, x: Inputs) -> list[LayerCall]: ...

    def get_config(self) -> Config: ...

    def save(self, path: str | os.PathLike[str], *, include_optimizer: bool | None = None) -> Path: ...

    def get_weights(self) -> list[Array]: ...

    def set_weights(self, weights: Sequence[Array]) -> None: ...


class Joined(Trainer):
    """`model`'s outputs side by side, each flattened to (m, size): forward joins them, backward splits
    the gradient, the rest is the model's. Compiled as the model was (with its `JointLoss`).

    >>> from framework import BCELoss, Dense, Input, MSELoss, Model, SGD, Sigmoid, check_gradients
    >>> x = Input(3); h = Dense(3, 4, seed=0)(x)
    >>> model = Model(x, [Sigmoid()(Dense(1, seed=1)(h)), Dense(2, seed=2)(h)])
    >>> model.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD())
    >>> joined = Joined(model)
    >>> rng = np.random.default_rng(0); xs = rng.standard_normal((5, 3))
    >>> joined.forward(xs).shape
    (5, 3)
    >>> y = joined.join([rng.integers(0, 2, (5, 1)), rng.standard_normal((5, 2))], "check")
    >>> check_gradients(joined, joined.joint, xs, y).passed
    True
    """

    def __init__(self, model: SeveralOutputs) -> None:
        self.model = model
        self.loss, self.optimizer, self.metrics = model.loss, model.optimizer, model.metrics
        self._sizes = [int(np.prod(shape or ())) for shape in model.named_outputs.values()]

    @property
    def joint(self) -> JointLoss:
        """The model's `JointLoss`, as `compile` made it."""
        if not isinstance(self.loss, JointLoss):
            raise ConfigError(f"{self.model!r} has several outputs: compile it with one loss an output, "
                              "loss=[...] or loss={output name: loss}")
        return self.loss

    def join(self, y: object, caller: str) -> Labels:
        """The labels of every output (a list, or a dict by output name), joined as the loss takes them."""
        return self.joint.join(y, caller)

    def _loss_labels(self, y: object, caller: str) -> Labels:
        return self.join(y, caller)

    def split(self, out: Array) -> list[Array]:
        """The joined outputs `out`, one array an output again."""
        m = out.shape[0]
        return [part.reshape(m, *(shape or ())) for part, shape in
                zip(np.split(out, np.cumsum(self._sizes)[:-1], axis=1), self.model.named_outputs.values())]

    @property
    def stop_training(self) -> bool:
        """The model's: a callback that stops the training of the view stops the model's."""
        return self.model.stop_training

    @stop_training.setter
    def stop_training(self, stop: bool) -> None:
        self.model.stop_training = stop

    @property
    def fit_progress(self) -> FitProgress | None:
        """The model's: a fit of the view resumes, and is saved, as the model's (`initial_epoch`)."""
        return self.model.fit_progress

    @fit_progress.setter
    def fit_progress(self, progress: FitProgress | None) -> None:
        self.model.fit_progress = progress

    @property
    def layers(self) -> Sequence[Module]:  # type: ignore[override]
        return self.model.layers

    def forward(self, x: Inputs) -> Array:
        return np.concatenate([out.reshape(out.shape[0], -1) for out in self.model.forward_all(x)], axis=1)

    @model_backward
    def backward(self, grad: Array, *, input_grad: bool = False) -> Array | None:
        grads = self.model.backward_all(self.split(grad), input_grad=input_grad)
        if grads is None:
            return None
        if len(grads) != 1:
            raise ShapeError(f"{self.model!r} has {len(grads)} inputs: use its backward_all(grads, input_grad=True)")
        return grads[0]

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]:
        return self.model.named_parameters(trainable=trainable)

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return self.model.named_buffers()

    def trace(self, x: Inputs) -> list[LayerCall]:
        return self.model.trace(x)

    def get_config(self) -> Config:
        return self.model.get_config()

    def output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], sum(self._sizes))

    def save(self, path: str | os.PathLike[str], *, include_optimizer: bool | None = None) -> Path:
        return self.model.save(path, include_optimizer=include_optimizer)

    def build(self, xs: tuple[Array, ...]) -> None:
        """Nothing to do: a graph's layers were built when they were called on its nodes."""

    def get_weights(self) -> list[Array]:
        return self.model.get_weights()

    def set_weights(self, weights: Sequence[Array]) -> None:
        self.model.set_weights(weights)

    def __repr__(self) -> str:
        return f"Joined({self.model!r})"
