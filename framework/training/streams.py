"""Data that does not fit in memory: `fit`, `evaluate` and `predict` take, besides arrays, a `Dataset`
(Keras' `PyDataset`: `len` batches, batch i by index), an iterable or generator of (x, y) batches, or
`np.memmap` arrays, read a batch at a time. Each batch is checked as arrays are (`data`), when it
comes; nothing but the outputs and labels (for the loss and metrics over all batches) is kept."""

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import attrs
import numpy as np

from framework.core.arrays import Array, Inputs, Labels
from framework.core.errors import ConfigError, ShapeError, ValueRangeError
from framework.core.parameter import Parameter
from framework.core.validation import a_kind, is_whole_number
from framework.training.data import batch_bounds, data, inputs

Batch = tuple[tuple[Array, ...], Labels | None]
"""One checked batch: its inputs (one array an input of the model) and its labels (None for `predict`'s)."""


class Dataset(ABC):
    """Batches read on demand, as Keras' `PyDataset`: `len(dataset)` batches, `dataset[i]` the pair
    (x, y) of batch i (x as `fit` takes it, y for every output), read when `fit` asks for it. `fit`
    takes the batches in order (shuffle them in `on_epoch_end` if you want), and calls
    `on_epoch_end()` after each epoch."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of batches."""

    @abstractmethod
    def __getitem__(self, index: int) -> tuple[Inputs, Any]:
        """Batch `index`: (x, y)."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (Keras' hook): reshuffle, reopen a file."""


@attrs.define(eq=False)
class ArrayBlocks(Dataset):
    """Arrays too large for memory (`np.memmap`), read a batch at a time: batch i is the block of
    consecutive samples `bounds[order[i]]` (as `batch_bounds` cuts arrays in memory), so that each read
    is sequential; shuffling shuffles the order of the blocks (and the samples inside the block read),
    never the file."""

    xs: tuple[Array, ...]
    y: Labels | None
    bounds: list[tuple[int, int]]
    order: Sequence[int] = attrs.field(init=False)
    """The blocks in the order of this epoch."""
    within: np.random.Generator | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.order = range(len(self))

    def __len__(self) -> int:
        return len(self.bounds)

    def shuffle(self, rng: np.random.Generator) -> None:
        """A new order of the blocks, and of the samples inside each block, drawn from `rng`."""
        self.order, self.within = [int(i) for i in rng.permutation(len(self))], rng

    def __getitem__(self, index: int) -> tuple[Inputs, Any]:
        block = slice(*self.bounds[self.order[index]])
        xs, y = [np.asarray(a[block]) for a in self.xs], None if self.y is None else np.asarray(self.y[block])
        if self.within is not None:
            mix = self.within.permutation(xs[0].shape[0])
            xs, y = [a[mix] for a in xs], None if y is None else y[mix]
        return (xs[0] if len(xs) == 1 else xs), y


def is_stream(x: object) -> bool:
    """Whether `x` is read a batch at a time: a Dataset, an iterable that is not an array or a list of
    arrays (a generator), or np.memmap arrays."""
    if isinstance(x, Dataset):
        return True
    if isinstance(x, list | tuple):
        return any(isinstance(a, np.memmap) for a in x)
    return isinstance(x, np.memmap) or (isinstance(x, Iterable) and not isinstance(x, np.ndarray | str | bytes | dict)
                                        and not hasattr(x, "shape"))


def steps_count(value: int | None, what: str, caller: str) -> int | None:
    """`steps_per_epoch`, `validation_steps` or `steps` (`what`): None (all batches) or a whole number >= 1."""
    if value is None:
        return None
    if not is_whole_number(value) or value < 1:
        raise ValueRangeError(f"{caller}: {what} must be a whole number of batches, at least 1, got {value!r}")
    return int(value)


@attrs.define(eq=False)
class Stream:
    """The batches of one `fit`, `evaluate` or `predict` from `source`, `steps` an epoch (all by default:
    `len` of a Dataset; an iterable's until it ends), each checked by `data` against the model's
    parameters `named` as it comes, and its labels passed through `labels` (a model of several outputs
    joins them). A generator is drawn on across epochs, as Keras does; a Dataset or another iterable
    starts again each epoch."""

    source: Dataset | Iterable[object]
    caller: str
    named: Sequence[tuple[str, Parameter]]
    steps: int | None = None
    labelled: bool = True
    """Whether each batch must carry labels (fit, evaluate) or may be x alone (predict)."""
    labels: Callable[[object, str], Labels] | None = None
    steps_name: str = "steps"
    """The argument that set `steps`, for messages: steps_per_epoch, validation_steps."""
    indices: bool = False
    """Whether integer inputs stay integers (a model with an `Embedding`), as `inputs` keeps them."""
    _epochs: int = attrs.field(init=False, default=0)
    _iterator: Iterator[object] | None = attrs.field(init=False, default=None)
    _pending: object = attrs.field(init=False, default=None)
    """A generator's batch read ahead by `first`, given again as the first of the next epoch."""

    def __attrs_post_init__(self) -> None:
        if isinstance(self.source, Dataset):
            if self.steps is not None and self.steps > len(self.source):
                raise ValueRangeError(f"{self.caller}: {self.kind} has {len(self.source)} batches, fewer than "
                                      f"{self.steps_name}={self.steps}")
        elif iter(self.source) is self.source:  # a generator: one pass, drawn on epoch after epoch
            self._iterator = self.source

    @property
    def kind(self) -> str:
        return f"x ({a_kind(self.source)})"

    def batches(self) -> int | None:
        """The batches of an epoch, when known."""
        if self.steps is not None:
            return self.steps
        return len(self.source) if isinstance(self.source, Dataset) else None

    def first(self) -> Batch:
        """The first batch, checked, read ahead (a generator's is given again by the next `epoch`): what
        `fit` builds the model's lazy layers on before training."""
        if isinstance(self.source, Dataset):
            if not len(self.source):
                raise ValueRangeError(f"{self.caller}: {self.kind} has no batch (len 0)")
            return self.checked(self.source[0], 0)
        iterator = self._iterator if self._iterator is not None else iter(self.source)
        try:
            item = next(iterator)
        except StopIteration:
            raise ValueRangeError(f"{self.caller}: {self.kind} gave no batch") from None
        if self._iterator is not None:
            self._pending = item
        return self.checked(item, 0)

    def epoch(self, rng: np.random.Generator | None = None) -> Iterator[Batch]:
        """The checked batches of one epoch; memmap blocks reshuffled with `rng` first."""
        self._epochs += 1
        if isinstance(self.source, ArrayBlocks) and rng is not None:
            self.source.shuffle(rng)
        items: Iterator[object]
        if isinstance(self.source, Dataset):
            dataset = self.source
            items = (dataset[i] for i in range(self.batches() or 0))
        elif self._iterator is not None:
            pending, self._pending = self._pending, None
            items = itertools.chain([pending], self._iterator) if pending is not None else self._iterator
        else:
            items = iter(self.source)
        count = 0
        for item in items:
            yield self.checked(item, count)
            count += 1
            if count == self.steps:
                break
        if self.steps is not None and count < self.steps:
            raise ValueRangeError(
                f"{self.caller}: {self.kind} ran dry after {count} batches of epoch {self._epochs}, before "
                f"{self.steps_name}={self.steps}: give it more batches (a generator that loops: while True: ... "
                f"yield), or lower {self.steps_name}")
        if count == 0:
            raise ValueRangeError(f"{self.caller}: {self.kind} gave no batch" +
                                  (f" in epoch {self._epochs}: a generator runs once; for several epochs pass "
                                   f"{self.steps_name} and a generator that loops" if self._epochs > 1 else ""))
        if isinstance(self.source, Dataset):
            self.source.on_epoch_end()

    def checked(self, item: object, index: int) -> Batch:
        """Batch `index` as `data` checks arrays, with its labels joined by `labels` if given; for
        `predict`, its x alone (a pair's y is ignored)."""
        where = f"{self.caller}: batch {index + 1} of {self.kind}"
        if isinstance(item, tuple) and len(item) == 2:
            x, y = item
        elif not self.labelled:
            x, y = (item[0] if isinstance(item, tuple) and len(item) == 1 else item), None
        else:
            raise ConfigError(f"{where} must be a pair (x, y), got {a_kind(item)}"
                              + (f" of {len(item)}" if isinstance(item, tuple | list) else "")
                              + (": batches (x, y, sample_weight) are not supported; pass arrays with sample_weight"
                                 if isinstance(item, tuple) and len(item) == 3 else ": yield (x_batch, y_batch)"))
        if not self.labelled:
            return inputs(x, where, self.named, self.indices), None
        if y is None:
            raise ConfigError(f"{where} has no labels: yield (x_batch, y_batch)")
        return data(x, y if self.labels is None else self.labels(y, where), where, self.named, self.indices)


def collected(stream: Stream, forward: Callable[[tuple[Array, ...]], Array]) -> tuple[Array, Labels | None]:
    """The outputs `forward` gives for every batch of one pass of `stream`, and the labels, concatenated."""
    outs, labels = [], []
    for xs, y in stream.epoch():
        outs.append(forward(xs))
        if y is not None:
            labels.append(y)
    return np.concatenate(outs), (cast(Labels, np.concatenate(labels)) if labels else None)


def stream_of(x: object, y: object, caller: str, named: Sequence[tuple[str, Parameter]], *, batch_size: int | None,
              steps: int | None, labelled: bool, labels: Callable[[object, str], Labels] | None = None,
              smallest: int = 1, drop_remainder: bool = False, indices: bool = False) -> Stream:
    """`x` (and `y` for memmap arrays) as the `Stream` of `caller`: a Dataset or an iterable of batches
    carries its labels (y must be None); memmap arrays are read in blocks of `batch_size` (32 when None,
    Keras' default), cut as `batch_bounds` cuts arrays (`smallest`, `drop_remainder`); with `indices`,
    integer inputs stay integers (`Stream.indices`)."""
    name = {"fit": "steps_per_epoch", "fit(validation_data)": "validation_steps"}.get(caller, "steps")
    steps = steps_count(steps, name, caller)
    source: Dataset | Iterable[object]
    if isinstance(x, np.memmap) or isinstance(x, list | tuple):
        xs = tuple(x) if isinstance(x, list | tuple) else (x,)
        if labelled and y is None:
            raise ConfigError(f"{caller}: x is a memmap array: pass its labels y as well")
        arrays = (*xs, *([] if y is None else [y]))
        if not all(isinstance(a, np.ndarray) and a.ndim >= 1 and a.shape[0] == xs[0].shape[0] for a in arrays):
            raise ShapeError(f"{caller}: x (a memmap among them) and y must be arrays of one row a sample, got "
                             + ", ".join(str(getattr(a, "shape", a_kind(a))) for a in arrays))
        bounds = batch_bounds(xs[0].shape[0], batch_size or 32, smallest, drop_remainder)
        source = ArrayBlocks(xs, y, bounds)  # type: ignore[arg-type]
        labels = None  # y came whole, as the loss takes it (joined already for several outputs)
    else:
        if y is not None:
            raise ConfigError(f"{caller}: x is {a_kind(x)}, whose batches carry their labels: leave y out "
                              "(y=None), as Keras does")
        source = x  # type: ignore[assignment]
    return Stream(source, caller, named, steps, labelled, labels, name, indices)

