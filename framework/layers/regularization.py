"""Layers that behave differently in training and in evaluation (`self.training`): `Dropout`, `BatchNorm`."""

import math

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Mask, RealNumber, Shape, WholeNumber, float_dtype
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.validation import whole_number
from framework.core.layer import Config, KeepsShape, Layer
from framework.core.budget import reserve
from framework.core.parameter import Buffer, Parameter
from framework.core.registry import register_layer


@register_layer
class Dropout(KeepsShape):
    """Inverted dropout: in training, each entry is zeroed with probability `rate` and the kept ones
    are scaled by 1 / (1 - rate), so that evaluation (`training = False`) is the identity.

    The mask comes from the layer's own `np.random.default_rng(seed)`. With `replay = True`, a forward
    in training reuses the last mask instead of drawing a new one (drawing one only when there is none
    of the input's shape yet): what the gradient checker needs, as it calls forward many times at one point.

    >>> layer = Dropout(0.5, seed=0)
    >>> y = layer.forward(np.ones((2, 4)))
    >>> sorted(set(y.ravel().tolist()))
    [0.0, 2.0]
    >>> layer.training = False
    >>> layer.forward(np.ones((1, 2)))
    array([[1., 1.]])
    """

    _mask: Mask
    """The mask of the last forward in training."""
    _scale: float
    """What the last forward multiplied the kept entries by: 1 / (1 - rate) in training, 1 in evaluation."""

    def __init__(self, rate: RealNumber = 0.5, seed: WholeNumber | None = None) -> None:
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueRangeError(f"Dropout: rate={rate!r} is out of range, expected 0 <= rate < 1")
        self.rate = float(rate)
        self.seed = None if seed is None else whole_number(seed, "Dropout: seed")
        self._rng = np.random.default_rng(seed)
        self._keep: Mask | None = None
        """The last mask drawn, kept for `replay`."""

    def forward(self, x: Array) -> Array:
        if not self.training:
            self._scale = 1.0
            return x
        keep = self._keep
        if not self.replay or keep is None or keep.shape != x.shape:
            keep = self._keep = self._rng.random(x.shape) >= self.rate
        self._mask, self._scale = keep, 1 / (1 - self.rate)
        return self._dropped(x, keep)

    def forward_stack(self, xs: Array) -> Array:
        """Every probe of the stack through the mask it replays (a forward a probe when it draws)."""
        if not self.training:
            return xs
        keep = self._keep
        if self.replay and keep is not None and keep.shape == xs.shape[1:]:
            return self._dropped(xs, keep)
        return super().forward_stack(xs)

    def _dropped(self, x: Array, keep: Mask) -> Array:
        """x scaled by 1 / (1 - rate) where `keep`, 0 elsewhere (a stack of probes, `keep` broadcast over it)."""
        y = np.zeros_like(x)
        np.multiply(x, 1 / (1 - self.rate), out=y, where=keep)
        return y

    def backward(self, grad: Array) -> Array:
        if self._scale == 1.0:  # evaluation, or rate 0: the identity
            return grad
        dx = np.zeros_like(grad)
        np.multiply(grad, self._scale, out=dx, where=self._mask)
        return dx  # dL/dx = g / (1 - rate) where kept, 0 where dropped

    def get_config(self) -> Config:
        return {"rate": self.rate, "seed": self.seed}

    def __repr__(self) -> str:
        seed = "" if self.seed is None else f", seed={self.seed}"
        return f"Dropout(rate={self.rate}{seed})"


def _centred(x: Array, axes: tuple[int, ...]) -> tuple[Array, Array, Array]:
    """x minus its mean over `axes`, that mean, and the biased variance over them (squares, not |x|²:
    a complex step stays exact), mean and variance with the axes kept."""
    mean = x.mean(axis=axes, keepdims=True)
    x_hat = x - mean
    return x_hat, mean, np.mean(x_hat * x_hat, axis=axes, keepdims=True)


@register_layer
class BatchNorm(Layer):
    """Batch normalisation of (batch, features) inputs, or of channels-last images (batch, H, W, C) per
    channel, the last axis (Keras' default): y = gamma · (x - mean) / sqrt(var + eps) + beta, mean and
    var over every axis but the last.

    In training (`training = True`) mean and var are the batch's (var biased) and the running
    statistics move towards them, PyTorch's way: running = (1 - momentum) · running + momentum · batch,
    with the unbiased variance for `running_var`. In evaluation the running statistics are used.

    `features=None` leaves `gamma`, `beta` and the running statistics empty until `build(input_shape)`
    (which `Sequential` and a graph `Model` call) or the first forward sizes them. The `Parameter` and
    `Buffer` objects stay the same, so that names and optimizers given them before still apply.

    >>> layer = BatchNorm(2)
    >>> layer.forward(np.array([[1.0, 2.0], [3.0, 6.0]])).round(4)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> layer.running_mean.value, layer.running_var.value
    (array([0.2, 0.4]), array([1.1, 1.7]))
    """

    min_training_batch = 2  # a variance needs two samples; fit merges a last batch of one into the one before
    _cache: tuple[Array, Array, bool]
    """x_hat, 1 / sqrt(var + eps), and whether var was the batch's, of the last forward."""

    def __init__(
        self, features: WholeNumber | None = None, momentum: RealNumber = 0.1, eps: RealNumber = 1e-5,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        if not 0 <= momentum <= 1:
            raise ValueRangeError(f"BatchNorm: momentum={momentum!r} is out of range, expected 0 <= momentum <= 1")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueRangeError(f"BatchNorm: eps={eps!r} is out of range, expected a finite eps > 0")
        dt = float_dtype(dtype)
        self.features: int | None = None
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.gamma = Parameter(np.ones(0, dtype=dt), name="gamma")
        self.beta = Parameter(np.zeros(0, dtype=dt), name="beta")
        self.running_mean = Buffer(np.zeros(0, dtype=dt), name="running_mean")
        self.running_var = Buffer(np.ones(0, dtype=dt), name="running_var", minimum=0.0)
        if features is not None:
            self.build((1, whole_number(features, "BatchNorm: features")))

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) not in (2, 4) or input_shape[-1] < 1:
            raise ShapeError(f"{self!r} expected input of shape (batch, features) or images (batch, H, W, C), "
                             f"features >= 1, got {input_shape}")
        features = input_shape[-1]
        if self.features is not None:
            self.output_shape(input_shape)
            return
        reserve(4 * features, repr(self))
        self.features = features
        for tensor, fill in ((self.gamma, 1), (self.beta, 0), (self.running_mean, 0), (self.running_var, 1)):
            tensor.value = np.full(features, fill, dtype=tensor.value.dtype)  # a parameter's grad follows

    def forward(self, x: Array) -> Array:
        batch_statistics = self.training and self.trainable  # frozen, it uses its running statistics, as in Keras
        if batch_statistics:
            m = x.size // x.shape[-1]  # entries a feature: the batch, times H W for images
            if m < self.min_training_batch:
                raise ShapeError(f"{self!r} in training needs a batch of at least 2 samples to estimate a variance, "
                                 f"got input of shape {x.shape}: use larger batches, or set training = False")
            axes = tuple(range(x.ndim - 1))  # every axis but the features' (the channels')
            x_hat, mean, var = _centred(x, axes)
            # the running statistics see only the real point, so that they stay real
            batch_mean, batch_var = ((x.real.mean(axis=axes), x.real.var(axis=axes)) if np.iscomplexobj(x)
                                     else (mean.reshape(-1), var.reshape(-1)))
            self._update(self.running_mean, batch_mean)
            self._update(self.running_var, batch_var * (m / (m - 1)))
        else:
            x_hat = x - self.running_mean.value
            var = self.running_var.value
        y, inv_std = self._normalized(x_hat, var)
        self._cache = x_hat, inv_std, batch_statistics
        return y

    def forward_stack(self, xs: Array) -> Array:
        """In training, each probe of the stack normalised by its own batch statistics (the running
        ones left alone); in evaluation, the stack as one batch."""
        if not (self.training and self.trainable):
            return self.as_one_batch(xs)
        x_hat, _, var = _centred(xs, tuple(range(1, xs.ndim - 1)))
        return self._normalized(x_hat, var)[0]

    def _normalized(self, x_hat: Array, var: Array) -> tuple[Array, Array]:
        """gamma · x_hat / sqrt(var + eps) + beta, x_hat scaled in place, and 1 / sqrt(var + eps)."""
        inv_std = 1 / np.sqrt(var + self.eps)
        x_hat *= inv_std
        y: Array = x_hat * self.gamma.value
        np.add(y, self.beta.value, out=y)
        return y, inv_std

    def backward(self, grad: Array) -> Array:
        x_hat, inv_std, batch_statistics = self._cache
        axes = tuple(range(grad.ndim - 1))
        np.sum(grad * x_hat, axis=axes, out=self.gamma.grad)  # dL/dgamma = Σ_batch g x_hat
        np.sum(grad, axis=axes, out=self.beta.grad)  # dL/dbeta = Σ_batch g
        scale = self.gamma.value * inv_std
        if not batch_statistics:
            return grad * scale  # dL/dx = g gamma / sqrt(var + eps)
        m = grad.size // grad.shape[-1]
        # dL/dx = gamma / (m sqrt(var + eps)) · (m g - Σ g - x_hat Σ g x_hat), as mean and var depend on every x
        dx: Array = grad * m
        np.subtract(dx, self.beta.grad, out=dx)
        np.subtract(dx, x_hat * self.gamma.grad, out=dx)
        np.multiply(dx, scale / m, out=dx)
        return dx

    def _update(self, running: Buffer, batch: Array) -> None:
        np.multiply(running.value, 1 - self.momentum, out=running.value)
        np.add(running.value, self.momentum * batch, out=running.value)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) not in (2, 4) or (self.features is not None and input_shape[-1] != self.features):
            expected = self.features or "features"
            wanted = {2: f"(batch, {expected})", 4: f"images (batch, H, W, {expected})"}.get(
                len(input_shape), f"(batch, {expected}) or images (batch, H, W, {expected})")
            raise ShapeError(f"{self!r} expected input of shape {wanted}, got {input_shape}")
        return input_shape

    def get_config(self) -> Config:
        return {"features": self.features, "momentum": self.momentum, "eps": self.eps,
                "dtype": str(self.gamma.value.dtype)}

    def __repr__(self) -> str:
        return f"BatchNorm(features={self.features}, momentum={self.momentum}, eps={self.eps})"
