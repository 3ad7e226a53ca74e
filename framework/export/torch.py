"""`to_torch`: a model as a `torch.nn.Module` with copies of its weights, that takes the model's own
inputs (batch first, images channels-last) and gives its outputs: to move a model built and checked
here to PyTorch, its optimizers and its distributed training.

Each layer becomes PyTorch's own module where one exists (`nn.Linear` holds Wᵀ, `nn.Conv2d` holds W
as (filters, C_in, kh, kw) and runs on channels-first images, so it is wrapped in the transposes),
and a small module here otherwise (Keras' "same" padding, the merges, LayerNorm over any axes,
Softplus without `nn.Softplus`' switch to x); an `Embedding` (`nn.Embedding`) takes the integer
tensor of indices that `predict` takes. In training mode (`train()`) `BatchNorm` uses the batch's
statistics and moves the running ones as here (PyTorch's momentum), and `Dropout` drops; the module
comes back in eval mode, as `predict` runs. A frozen layer's weights
(`trainable = False`) need no grad, and a frozen BatchNorm keeps to its running statistics, as here.
torch is imported only by this module, which nothing imports until `to_torch` is called.
"""

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from framework.core.arrays import Array
from framework.core.layer import Module
from framework.core.protocols import Network
from framework.export.graph import program, refuse_unknown
from framework.layers import (
    ELU, GELU, Add, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAvgPool2D,
    GlobalMaxPool2D, Identity, LayerNorm, LeakyReLU, MaxPool2D, Multiply, Normalization, ReLU, Reshape, Sigmoid, SiLU,
    Softmax, Softplus, Swish, Tanh,
)
from framework.layers import images


def to_torch(model: Network) -> nn.Module:
    """A `torch.nn.Module` computing `model`'s forward with copies of its weights and buffers, in
    their dtype, in eval mode; `module(x)` takes what `model.predict(x)` takes (several arrays for a
    graph of several inputs, as tensors) and returns a tensor (a tuple for several outputs). A layer
    that is not built in (a custom one) is refused, by name.
    """
    prog = program(model)
    refuse_unknown(prog, _TRANSLATIONS, "to_torch")
    dtypes = {p.value.dtype for _, p in model.named_parameters()} & set(_DTYPES)
    dtype = _DTYPES[max(dtypes, key=lambda d: d.itemsize) if dtypes else np.dtype(np.float64)]  # the parameters'
    keys = dict(zip((id(layer) for _, layer in prog.layers()), _keys([name for name, _ in prog.layers()])))
    layers = nn.ModuleDict()
    for _, layer in prog.layers():
        layers[keys[id(layer)]] = module = _TRANSLATIONS[type(layer)](layer, dtype)
        module.requires_grad_(layer.trainable)  # a frozen layer's weights: fit leaves them, so does a torch optimizer
    calls = [(keys[id(call.layer)], call.inputs, call.output) for call in prog.calls]
    return Graph(layers, [name for name, _ in prog.inputs], calls, list(prog.outputs)).eval()


class Graph(nn.Module):
    """The model's calls run in order: `layers[key](*inputs)` gives `output`, each value named as in
    the model; a layer called twice (shared weights) is one module, called twice."""

    def __init__(self, layers: nn.ModuleDict, inputs: list[str], calls: list[tuple[str, tuple[str, ...], str]],
                 outputs: list[str]) -> None:
        super().__init__()
        self.layers, self.input_names, self.calls, self.output_names = layers, inputs, calls, outputs

    def forward(self, *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(xs) != len(self.input_names):
            raise TypeError(f"the model takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), "
                            f"got {len(xs)}")
        values = dict(zip(self.input_names, xs))
        for key, inputs, output in self.calls:
            values[output] = self.layers[key](*(values[v] for v in inputs))
        outputs = tuple(values[v] for v in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs


class ChannelsLast(nn.Module):
    """Runs a module of channels-first images (`nn.Conv2d`, the pools) on channels-last ones."""

    def __init__(self, *inner: nn.Module) -> None:
        super().__init__()
        self.inner = nn.Sequential(*inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.inner(x.permute(0, 3, 1, 2))
        return y.permute(0, 2, 3, 1)


class SamePad(nn.Module):
    """Keras' "same" padding of channels-first images for a window moved by `strides`: the padding
    that `framework.layers.images.window_geometry` gives for the image's size (the odd row or
    column at the bottom or right), filled with `fill` (-inf before a max: padding never wins)."""

    def __init__(self, window: tuple[int, int], strides: tuple[int, int], fill: float = 0.0) -> None:
        super().__init__()
        self.window, self.strides, self.fill = window, strides, fill

    def pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom), F.pad's order."""
        _, ((top, bottom), (left, right)) = images.window_geometry(self, (1, h, w, 1), self.window, self.strides,
                                                                   "same", "window")
        return left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads(x.shape[2], x.shape[3]), value=self.fill)

    def extra_repr(self) -> str:
        return f"window={self.window}, strides={self.strides}, fill={self.fill}"


class SameAvgPool(SamePad):
    """Keras' average pool with "same" padding: the mean of each window's entries inside the image,
    the padded window's sum over the count of its entries inside."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = self.pads(x.shape[2], x.shape[3])
        inside = F.pad(torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device), pads)
        return F.avg_pool2d(F.pad(x, pads), self.window, self.strides) / F.avg_pool2d(inside, self.window, self.strides)


class LastAxisBatchNorm(nn.BatchNorm1d):
    """`nn.BatchNorm1d` over the last axis, as `BatchNorm`: images (batch, H, W, C) are normalised per
    channel, their statistics taken over batch·H·W rows (the count the unbiased running variance
    uses too). A `frozen` one (`trainable = False`) uses its running statistics in training too, as
    in Keras."""

    def __init__(self, features: int, *, eps: float, momentum: float, frozen: bool, dtype: torch.dtype) -> None:
        super().__init__(features, eps=eps, momentum=momentum, dtype=dtype)
        self.frozen = frozen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        if self.frozen:
            y = F.batch_norm(rows, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        else:
            y = super().forward(rows)
        return y.reshape(x.shape)


class Standardize(nn.Module):
    """`Normalization`: (x - mean) · inv_std along `axis`, the statistics (buffers) one per index of it
    or one number for every entry."""

    def __init__(self, mean: torch.Tensor, inv_std: torch.Tensor, axis: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", inv_std)
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1] * x.ndim
        shape[self.axis] = -1
        mean, inv_std = self.get_buffer("mean"), self.get_buffer("inv_std")
        if mean.ndim:
            mean, inv_std = mean.reshape(shape), inv_std.reshape(shape)
        return (x - mean) * inv_std


class AxesLayerNorm(nn.Module):
    """`LayerNorm` over the axes `axis` (any, negative ones from the end), which `nn.LayerNorm`
    cannot do unless they are the trailing ones: they are moved last (in order), normalised by
    `F.layer_norm` with `weight` (gamma) and `bias` (beta), each optional, and moved back."""

    def __init__(self, axis: list[int], weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> None:
        super().__init__()
        self.axis, self.eps = axis, eps
        self.weight = None if weight is None else nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = sorted(a % x.ndim for a in self.axis)
        perm = [d for d in range(x.ndim) if d not in axes] + axes
        moved = x.permute(perm)
        y = F.layer_norm(moved, moved.shape[x.ndim - len(axes):], self.weight, self.bias, self.eps)
        return y.permute([perm.index(d) for d in range(x.ndim)])

    def extra_repr(self) -> str:
        return f"axis={self.axis}, eps={self.eps}"


class ExactSoftplus(nn.Module):
    """`Softplus`: log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)) (`torch.logaddexp(x, 0)`), as
    ours computes it; `nn.Softplus` switches to x beyond its threshold (20), 2e-9 off there."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logaddexp(x, torch.zeros((), dtype=x.dtype, device=x.device))


class BatchReshape(nn.Module):
    """`Reshape`: (batch, ...) -> (batch, *target_shape), in C order."""

    def __init__(self, target_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.target_shape = target_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)

    def extra_repr(self) -> str:
        return f"target_shape={self.target_shape}"


class GlobalPool(nn.Module):
    """`GlobalAvgPool2D` and `GlobalMaxPool2D` of channels-last images: the mean or the max over H, W."""

    def __init__(self, how: Literal["mean", "max"]) -> None:
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2)) if self.how == "mean" else x.amax(dim=(1, 2))

    def extra_repr(self) -> str:
        return self.how


class Merge(nn.Module):
    """`Add`, `Multiply` (inputs of one shape) and `Concatenate` (along `axis`)."""

    def __init__(self, how: Literal["add", "multiply", "concatenate"], axis: int = -1) -> None:
        super().__init__()
        self.how, self.axis = how, axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.how == "concatenate":
            return torch.cat(xs, dim=self.axis)
        y = xs[0]
        for x in xs[1:]:
            y = y + x if self.how == "add" else y * x
        return y

    def extra_repr(self) -> str:
        return f"{self.how}, axis={self.axis}" if self.how == "concatenate" else self.how


_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _tensor(value: Array, dtype: torch.dtype) -> torch.Tensor:
    """A copy of `value` as a tensor of `dtype`: the module shares no memory with the model."""
    return torch.tensor(np.array(value, copy=True), dtype=dtype)


def _set(param: torch.Tensor, value: Array) -> None:
    with torch.no_grad():
        param.copy_(_tensor(value, param.dtype))


def _keys(names: list[str]) -> list[str]:
    """Layer names as `nn.ModuleDict` keys, which cannot hold dots: "2.dense" -> "2_dense", kept unique."""
    keys: list[str] = []
    for name in names:
        key = name.replace(".", "_")
        while key in keys:
            key += "_"
        keys.append(key)
    return keys


def _dense(layer: Dense, dtype: torch.dtype) -> nn.Module:
    linear = nn.Linear(layer.W.value.shape[0], layer.out_features, dtype=dtype)
    _set(linear.weight, layer.W.value.T)  # nn.Linear computes x weightᵀ + bias: weight = Wᵀ
    _set(linear.bias, layer.b.value)
    return linear


def _conv(layer: Conv2D, dtype: torch.dtype) -> nn.Module:
    kh, kw, c, filters = layer.W.value.shape
    conv = nn.Conv2d(c, filters, (kh, kw), stride=layer.strides, dtype=dtype)
    _set(conv.weight, layer.W.value.transpose(3, 2, 0, 1))  # (kh, kw, C_in, filters) -> (filters, C_in, kh, kw)
    _set(conv.get_parameter("bias"), layer.b.value)
    return ChannelsLast(SamePad(layer.kernel_size, layer.strides), conv) if layer.padding == "same" else ChannelsLast(conv)


def _max_pool(layer: MaxPool2D, dtype: torch.dtype) -> nn.Module:
    pool = nn.MaxPool2d(layer.pool_size, layer.strides)
    if layer.padding == "same":
        return ChannelsLast(SamePad(layer.pool_size, layer.strides, -float("inf")), pool)
    return ChannelsLast(pool)


def _avg_pool(layer: AvgPool2D, dtype: torch.dtype) -> nn.Module:
    if layer.padding == "same":
        return ChannelsLast(SameAvgPool(layer.pool_size, layer.strides))
    return ChannelsLast(nn.AvgPool2d(layer.pool_size, layer.strides))


def _batch_norm(layer: BatchNorm, dtype: torch.dtype) -> nn.Module:
    norm = LastAxisBatchNorm(layer.gamma.value.shape[0], eps=layer.eps, momentum=layer.momentum,
                             frozen=not layer.trainable, dtype=dtype)
    for param, value in ((norm.weight, layer.gamma), (norm.bias, layer.beta),
                         (norm.get_buffer("running_mean"), layer.running_mean),
                         (norm.get_buffer("running_var"), layer.running_var)):
        _set(param, value.value)
    return norm


def _normalization(layer: Normalization, dtype: torch.dtype) -> nn.Module:
    inv_std = 1 / np.sqrt(np.maximum(layer.variance.value, layer.EPS))
    return Standardize(_tensor(layer.mean.value, dtype), _tensor(inv_std, dtype), layer.axis)


def _layer_norm(layer: LayerNorm, dtype: torch.dtype) -> nn.Module:
    weight, bias = (None if p is None else _tensor(p.value, dtype) for p in (layer.gamma, layer.beta))
    return AxesLayerNorm([layer.axis] if isinstance(layer.axis, int) else layer.axis, weight, bias, layer.epsilon)


def _embedding(layer: Embedding, dtype: torch.dtype) -> nn.Module:
    embedding = nn.Embedding(layer.input_dim, layer.output_dim, dtype=dtype)
    _set(embedding.weight, layer.W.value)  # W[x], the same (input_dim, output_dim) layout
    return embedding


_TRANSLATIONS: Mapping[type[Module], Callable[[Any, torch.dtype], nn.Module]] = {
    Dense: _dense,
    Conv2D: _conv,
    MaxPool2D: _max_pool,
    AvgPool2D: _avg_pool,
    GlobalAvgPool2D: lambda layer, dtype: GlobalPool("mean"),
    GlobalMaxPool2D: lambda layer, dtype: GlobalPool("max"),
    BatchNorm: _batch_norm,
    Normalization: _normalization,
    LayerNorm: _layer_norm,
    Embedding: _embedding,
    Dropout: lambda layer, dtype: nn.Dropout(layer.rate),
    ReLU: lambda layer, dtype: nn.ReLU(),
    Sigmoid: lambda layer, dtype: nn.Sigmoid(),
    Tanh: lambda layer, dtype: nn.Tanh(),
    LeakyReLU: lambda layer, dtype: nn.LeakyReLU(layer.alpha),
    ELU: lambda layer, dtype: nn.ELU(layer.alpha),
    GELU: lambda layer, dtype: nn.GELU(layer.approximate),  # "none": the erf form, as GELU's
    Swish: lambda layer, dtype: nn.SiLU(),
    SiLU: lambda layer, dtype: nn.SiLU(),
    Softplus: lambda layer, dtype: ExactSoftplus(),
    Softmax: lambda layer, dtype: nn.Softmax(dim=layer.axis),
    Identity: lambda layer, dtype: nn.Identity(),
    Flatten: lambda layer, dtype: nn.Flatten(),
    Reshape: lambda layer, dtype: BatchReshape(layer.target_shape),
    Add: lambda layer, dtype: Merge("add"),
    Multiply: lambda layer, dtype: Merge("multiply"),
    Concatenate: lambda layer, dtype: Merge("concatenate", layer.axis),
}
"""How each built-in layer becomes a torch module (its weights copied, in `dtype`)."""
