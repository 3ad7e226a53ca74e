"""`Container`: what every model made of layers has, whatever its wiring: use as a layer of a graph
(`Nested`), the summary's totals, parameter names, the refusal of a non-finite output, and `save`."""

import os
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from framework.containers.nested import Nested
from framework.core.arrays import Array, Inputs
from framework.core.errors import NonFiniteError
from framework.core.node import Node
from framework.core.validation import describe_nonfinite
from framework.saving import save_model
from framework.training.trainer import Trainer


class Container(Trainer):
    """The base of `Sequential` and `Model`: a container supplies forward, backward, the layers and their
    parameters; `Trainer` adds compile and fit, this class the rest."""

    def __call__(self, node: "Node") -> "Node":
        """Use this model as a layer of a graph under construction."""
        return Nested(self)(node)

    @abstractmethod
    def summary(self, print_fn: Callable[[str], object] = print) -> None:
        """Print a Keras-style table of the layers, output shapes and parameter counts."""

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

    def _refuse_nonfinite(self, x: Inputs, outputs: Sequence[Array]) -> None:
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

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write weights and architecture to a safetensors file (see `framework.load_model`)."""
        return save_model(self, path)
