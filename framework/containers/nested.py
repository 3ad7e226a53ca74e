"""`Nested`: a `Sequential` or graph `Model` used as one layer inside another model."""

import numpy as np

from framework.core.arrays import Array, Mask, Shape
from framework.core.errors import ConfigError
from framework.core.layer import JSON, Config, Layer, Module
from framework.core.parameter import Buffer, Parameter
from framework.core.protocols import Network
from framework.core.registry import build_model, is_model, make_spec, register_layer, spec


@register_layer
class Nested(Layer):
    """Wraps a model so that it runs as a layer: its parameters keep their names under the model
    (`"0.W"` inside becomes `"<outer name>.0.W"`), and it saves and loads with the outer model.
    `Sequential([inner, ...])` and `inner(node)` wrap it for you."""

    def __init__(self, model: Network | Config) -> None:
        super().__init__()
        built: Network = build_model(model, "model") if isinstance(model, dict) else model
        if not is_model(built):
            raise ConfigError(f"Nested wraps a Sequential or a graph Model (or its saved config), got {type(model).__name__}")
        self.model = built

    def wrapped_model(self) -> Network:
        return self.model

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        layers: list[JSON] = [make_spec("Dense", {"in_features": 5, "out_features": 3, "seed": 0}), make_spec("ReLU", {})]
        return cls(make_spec("Sequential", {"layers": layers})), [rng.standard_normal((4, 5))]

    @property
    def in_features(self) -> int | None:
        """The features the wrapped model declares it takes (its `Input`, or a first layer that knows
        them), as `Dense.in_features`, so that the outer model knows its input size too; else None."""
        model = self.model
        declared = getattr(model, "input_shape", None)
        inputs = getattr(model, "inputs", None)
        if declared is None and isinstance(inputs, list) and len(inputs) == 1:
            declared = inputs[0].shape
        return declared[1] if declared is not None and len(declared) == 2 else None

    def forward(self, x: Array) -> Array:
        return self.model.forward(x)

    def forward_stack(self, xs: Array) -> Array:
        """The stack as one batch when every layer inside has independent samples, else a forward a probe."""
        return self.as_one_batch(xs) if self.stacks_probes else super().forward_stack(xs)

    @property
    def stacks_probes(self) -> bool:
        return all(layer.independent_samples for layer in self.model.layers)

    def backward(self, grad: Array) -> Array:
        return self.model.backward(grad, input_grad=True)

    def backward_params(self, grad: Array) -> None:
        self.model.backward(grad)

    def build(self, input_shape: Shape) -> None:
        self.model.build((np.broadcast_to(0.0, input_shape),))  # a shape, nothing allocated

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.model.output_shape(input_shape)

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]:
        return self.model.named_parameters(trainable=trainable)

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return self.model.named_buffers()

    def branch(self) -> Mask | None:
        masks = [b.reshape(-1) for b in (layer.branch() for layer in self.model.layers) if b is not None]
        return np.concatenate(masks) if masks else None

    @property
    def training(self) -> bool:
        return all(layer.training for layer in self.model.layers)

    @training.setter
    def training(self, training: bool) -> None:
        self.model.set_training(training)

    @property
    def trainable(self) -> bool:
        return self.model.trainable

    @trainable.setter
    def trainable(self, trainable: bool) -> None:
        self.model.trainable = trainable

    @property
    def min_training_batch(self) -> int:  # type: ignore[override]
        return max(layer.min_training_batch for layer in self.model.layers)

    @property
    def replay(self) -> bool:
        return all(layer.replay for layer in self.model.layers)

    @replay.setter
    def replay(self, replay: bool) -> None:
        for layer in self.model.layers:
            layer.replay = replay

    def get_config(self) -> Config:
        return {"model": spec(self.model)}

    def __repr__(self) -> str:
        return f"Nested({self.model!r})"


def held_by(module: Module) -> list[object]:
    """What a call of `module` leaves its caches in: the module, and for a model used as a layer, the
    model and everything its layers hold."""
    if not isinstance(module, Nested):
        return [module]
    inner = module.model
    return [module, inner, *(held for layer in inner.layers for held in held_by(layer))]
