"""`Container`: what every model made of layers has, whatever its wiring: use as a layer of a graph
(`Nested`), parameter and buffer names, the weights, the summary's table, the refusal of a non-finite
output, and `save`."""

import os
from abc import abstractmethod
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from framework.containers.nested import Nested
from framework.core.arrays import Array, Inputs
from framework.core.display import html_table, paragraph
from framework.core.errors import ConfigError, DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.layer import Module, unique
from framework.core.node import Node
from framework.core.parameter import Buffer, Parameter
from framework.core.validation import a_kind, describe_nonfinite
from framework.saving import save_model
from framework.training.state import not_rebuildable, training_state
from framework.training.trainer import Trainer

if TYPE_CHECKING:  # torch is an optional extra, imported only by to_torch
    import torch


class Container(Trainer):
    """The base of `Sequential` and `Model`: a container supplies forward, backward and its layers by
    name (`named_layers`); `Trainer` adds compile and fit, this class the rest (saving and export)."""

    @abstractmethod
    def named_layers(self) -> list[tuple[str, Module]]:
        """Each layer once, with the name its parameters and buffers are named under: `"0"` in a
        `Sequential`, `"dense_1"` in a graph `Model`."""

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]:
        return unique((f"{layer_name}.{name}", p) for layer_name, layer in self.named_layers()
                      for name, p in layer.named_parameters(trainable=trainable))

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return unique((f"{layer_name}.{name}", b) for layer_name, layer in self.named_layers()
                      for name, b in layer.named_buffers())

    def named_weights(self) -> list[tuple[str, Parameter | Buffer]]:
        """The model's state, as Keras' weights: every parameter, then every buffer (BatchNorm's
        running statistics), named as `save` names them."""
        return [*self.named_parameters(), *self.named_buffers()]

    def get_weights(self) -> list[Array]:
        """Copies of the state, in `named_weights()` order: parameters, then buffers."""
        return [w.value.copy() for _, w in self.named_weights()]

    def set_weights(self, weights: Sequence[Array]) -> None:
        """Copy `weights` (a list of arrays, as `get_weights` gives them) into the state, once each array is
        checked: the right count, real numbers of the right shape, finite, and not below a buffer's least
        value (a negative variance). Nothing is changed when one is wrong."""
        if not isinstance(weights, list | tuple):
            raise ConfigError(f"set_weights takes a list of arrays, as get_weights() returns, got {a_kind(weights)}")
        named = self.named_weights()
        if len(weights) != len(named):
            raise ShapeError(f"set_weights: the model has {len(named)} weights (parameters, then buffers), "
                             f"got {len(weights)} arrays")
        arrays = [np.asarray(value) for value in weights]
        for (name, w), value in zip(named, arrays):
            if value.dtype.kind not in "biuf":
                raise DTypeError(f"set_weights: {name} must hold real numbers, got dtype {value.dtype}; nothing was set")
            if value.shape != w.value.shape:
                raise ShapeError(f"set_weights: {name} has shape {w.value.shape}, got {value.shape}; nothing was set")
            problem = describe_nonfinite(name, value)
            if problem:
                raise NonFiniteError(f"set_weights: {problem}; nothing was set")
            if isinstance(w, Buffer) and w.minimum is not None and value.size and value.min() < w.minimum:
                raise ValueRangeError(f"set_weights: {name} holds {value.min()}, below the least value its layer "
                                      f"allows ({w.minimum}); nothing was set")
        for (_, w), value in zip(named, arrays):
            np.copyto(w.value, value, casting="unsafe")  # checked above: real numbers, cast to the weight's dtype



    def __call__(self, node: "Node") -> "Node":
        """Use this model as a layer of a graph under construction: the same layer at every call, so that a
        graph calling it twice shares it as it shares a layer (one cache a call, the gradients summed)."""
        wrapper: Nested | None = self.__dict__.get("_as_layer")
        if wrapper is None:
            self._as_layer = wrapper = Nested(self)
        return wrapper(node)

    @abstractmethod
    def summary(self, print_fn: Callable[[str], object] = print) -> None:
        """Print a Keras-style table of the layers, output shapes and parameter counts."""

    @abstractmethod
    def _summary_rows(self) -> list[tuple[str, ...]]:
        """`summary()`'s table: the header row, then a row a layer."""

    def _print_summary(self, rows: Sequence[tuple[str, ...]], print_fn: Callable[[str], object]) -> None:
        """Print `summary()`'s table: the header row, a row a layer (its columns padded to the widest
        entry), then the totals."""
        widths = [max(len(row[c]) for row in rows) + 2 for c in range(len(rows[0]))]
        rule = "-" * sum(widths)
        header, *body = ["".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
        print_fn("\n".join([rule, header, rule.replace("-", "="), *body, rule, *self._summary_totals(), rule]))

    def _repr_html_(self) -> str:
        """The model in a notebook: `summary()`'s table and totals."""
        header, *body = self._summary_rows()
        totals = "".join(paragraph(line) for line in self._summary_totals())
        return f'<div class="fw-summary"><p><b>{escape(type(self).__name__)}</b></p>{html_table(header, body)}{totals}</div>'

    def _summary_totals(self) -> list[str]:
        """The closing lines of `summary()`: the parameter count with its dtypes, then, as in Keras, the
        trainable and the non-trainable (frozen) counts, and the buffers' entries where there are any."""
        params = self.parameters()
        dtypes = sorted({str(p.value.dtype) for p in params})
        frozen = sum(p.size for p in self.parameters(trainable=False))
        total = sum(p.size for p in params)
        lines = [f"Total params: {total:,} ({', '.join(dtypes) or 'none'})",
                 f"Trainable params: {total - frozen:,}", f"Non-trainable params: {frozen:,}"]
        buffers = sum(b.value.size for _, b in self.named_buffers())
        if buffers:
            lines.append(f"Buffers: {buffers:,} entries (running statistics: saved, never trained)")
        return lines

    def _name_parameters(self) -> None:
        """Give each parameter its name in this model ("0.W"), for messages: once built, and again when
        a build made more (a lazy layer)."""
        for name, p in self.named_parameters():
            p.name = name

    def refuse_nonfinite(self, x: Inputs, outputs: Sequence[Array]) -> None:
        """Raise a NonFiniteError if an output holds NaN or inf, naming where it came from: the input,
        a weight, or the arithmetic. A forward calls this on its (small) outputs; the input and the
        weights are scanned only once an output is found not finite."""
        if all(np.isfinite(out).all() for out in outputs):
            return
        where = f"{type(self).__name__}.forward"
        xs = [x] if isinstance(x, np.ndarray) else list(x)
        for i, a in enumerate(xs):
            problem = describe_nonfinite("x" if len(xs) == 1 else f"x[{i}]", a)
            if problem:
                raise NonFiniteError(f"{where}: {problem}, so the output is not finite: remove or impute those values")
        for name, w in self.named_weights():
            problem = describe_nonfinite(name, w.value)
            if problem:
                raise NonFiniteError(f"{where}: {problem}, so the output is not finite (a diverged model?)")
        raise NonFiniteError(f"{where}: the output holds NaN or inf, though the input and the weights are finite")

    def save(self, path: str | os.PathLike[str], *, include_optimizer: bool | None = None) -> Path:
        """Write weights and architecture to a safetensors file (see `framework.load_model`), and a
        compiled model's training state (the loss, the optimizer and its state, the metrics, the fit's
        progress: `framework.training.state`), as Keras' saved models keep it: by default when
        `load_model` can rebuild it (not for a custom loss or optimizer), with `include_optimizer=True`
        always (a ConfigError when it cannot), with `False` never."""
        if self.loss is not None and self.optimizer is not None and (
            include_optimizer or include_optimizer is None and not_rebuildable(self.loss, self.optimizer) is None
        ):
            return save_model(self, path, *training_state(self, str(path)))
        return save_model(self, path)

    def export(self, path: str | os.PathLike[str], format: str = "onnx", *, dtype: npt.DTypeLike = np.float32) -> Path:
        """Write the model to `path` for another engine, as Keras' `export`: `format="onnx"`, a file that
        onnxruntime runs (`framework.export.onnx.export_onnx`: float32 by default, a symbolic batch,
        images channels-last). Needs the onnx extra; a custom layer is refused before anything is written."""
        if format != "onnx":
            raise ValueRangeError(f"export: unknown format {format!r}, expected 'onnx' (for PyTorch, use to_torch())")
        try:
            from framework.export.onnx import export_onnx
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ImportError("export to ONNX needs onnx: pip install 'framework[onnx]'") from e
        return export_onnx(self, path, dtype=dtype)

    def to_torch(self) -> "torch.nn.Module":
        """The model as a `torch.nn.Module` with copies of its weights, in eval mode, taking the model's
        own inputs (`framework.export.torch.to_torch`). Needs the torch extra, imported only here."""
        try:
            from framework.export.torch import to_torch
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ImportError("to_torch needs PyTorch: pip install 'framework[torch]'") from e
        return to_torch(self)
