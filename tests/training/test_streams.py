"""Data read a batch at a time: a `Dataset` of PNG files read per batch with Pillow, a generator, memmap
arrays read in shuffled blocks; each trains, evaluates and predicts as the same arrays in memory do, bit
for bit; the batches that do not fit (wrong structure, a generator that runs dry) are named."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from framework import (SGD, BackupAndRestore, BatchNorm, BCELoss, Callback, ConfigError, Dataset, Dense, Embedding, Flatten, Input,
                       Model, MSELoss, NonFiniteError, ReLU, Sequential, Sigmoid, ValueRangeError)
from framework.core.arrays import Inputs
from framework.datasets import image_folder

Image = pytest.importorskip("PIL.Image")
Floats = npt.NDArray[np.float64]


def pictures(folder: Path, m: int = 24, seed: int = 0) -> list[tuple[Path, int]]:
    """`m` noisy 8x8 PNGs, bright ones in bright/ (class 0) and dark ones in dark/ (class 1)."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(m):
        label = i % 2
        pixels = np.clip(rng.normal(80 if label else 170, 40, (8, 8, 3)), 0, 255).astype(np.uint8)
        path = folder / ("dark" if label else "bright") / f"{i:03d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(path)
        files.append((path, label))
    return sorted(files, key=lambda item: (item[1], item[0].name))  # image_folder's order: class, then name


class PNGBatches(Dataset):
    """Batches of `batch_size` pictures, each read from disk with Pillow when `fit` asks for its batch."""

    def __init__(self, files: list[tuple[Path, int]], batch_size: int) -> None:
        self.files, self.batch_size = files, batch_size
        self.reads: list[int] = []
        self.epochs = 0

    def __len__(self) -> int:
        return -(-len(self.files) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[Inputs, Any]:
        self.reads.append(index)
        chunk = self.files[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.stack([np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255 for path, _ in chunk])
        return x, np.array([[float(label)] for _, label in chunk])

    def on_epoch_end(self) -> None:
        self.epochs += 1


def convnet_free_model() -> Sequential:
    return Sequential([Flatten(), Dense(192, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])


def test_a_dataset_of_pictures_read_per_batch_trains_as_the_pictures_in_memory(tmp_path: Path) -> None:
    files = pictures(tmp_path)
    whole = image_folder(tmp_path, size=(8, 8), flatten=False)  # the same pictures, all read at once
    assert whole.class_names == ("bright", "dark")
    batches = PNGBatches(files, batch_size=8)
    np.testing.assert_array_equal(np.concatenate([batches[i][0] for i in range(3)]), whole.x)
    batches.reads.clear()
    streamed, in_memory = convnet_free_model(), convnet_free_model()
    for model in (streamed, in_memory):
        model.compile(loss=BCELoss(), optimizer=SGD(lr=0.5), metrics=["accuracy"])
    history = streamed.fit(batches, epochs=3, verbose=0, validation_data=batches)
    expected = in_memory.fit(whole.x, whole.y, epochs=3, batch_size=8, shuffle=False, verbose=0,
                             validation_data=(whole.x, whole.y))
    assert history.history == expected.history
    for got, want in zip(streamed.get_weights(), in_memory.get_weights()):
        np.testing.assert_array_equal(got, want)
    # one read of batch 0 before training (fit builds on it and checks it), then every batch once an epoch,
    # for training and again for validation; on_epoch_end after each pass
    assert batches.reads == [0] + [0, 1, 2, 0, 1, 2] * 3 and batches.epochs == 6
    assert streamed.evaluate(batches) == in_memory.evaluate(whole.x, whole.y)
    np.testing.assert_array_equal(streamed.predict(batches), in_memory.predict(whole.x))


def regression(m: int = 30) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((m, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]])


def looping(x: npt.NDArray[Any], y: Floats, batch_size: int) -> Iterator[tuple[npt.NDArray[Any], Floats]]:
    while True:
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]


def linear() -> Sequential:
    model = Sequential([Dense(3, 1, seed=0)])
    model.compile(loss=MSELoss(), optimizer=SGD(lr=0.05), metrics=["mae"])
    return model


def test_a_generator_with_steps_per_epoch_trains_as_the_arrays() -> None:
    x, y = regression()
    streamed, in_memory = linear(), linear()
    history = streamed.fit(looping(x, y, 10), epochs=4, steps_per_epoch=3, verbose=0,
                           validation_data=looping(x[:20], y[:20], 10), validation_steps=2)
    expected = in_memory.fit(x, y, epochs=4, batch_size=10, shuffle=False, verbose=0, validation_data=(x[:20], y[:20]))
    assert history.history == expected.history
    assert streamed.evaluate(looping(x, y, 7), steps=5) == pytest.approx(in_memory.evaluate(x, y), rel=1e-12)
    predicted = streamed.predict((x[i:i + 8] for i in range(0, 30, 8)))  # batches of x alone
    np.testing.assert_allclose(predicted, in_memory.predict(x), rtol=1e-12)


class Reads(np.memmap):
    """A memmap that records the index of each read."""

    log: list[object] = []

    def __getitem__(self, key: Any) -> Any:
        Reads.log.append(key)
        return super().__getitem__(key)


def test_memmap_arrays_are_read_in_blocks_shuffled_by_block(tmp_path: Path) -> None:
    x, y = regression(30)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r").view(Reads)
    in_memory, streamed = linear(), linear()
    in_memory.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    Reads.log = []
    streamed.fit(mapped, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for got, want in zip(streamed.get_weights(), in_memory.get_weights()):
        np.testing.assert_array_equal(got, want)
    blocks = [slice(0, 8), slice(8, 16), slice(16, 24), slice(24, 30)]
    assert Reads.log == [blocks[0]] + blocks * 2  # the first block, read ahead to build; then block by block

    Reads.log = []
    streamed.fit(mapped, y, epochs=3, batch_size=8, seed=0, verbose=0)
    assert all(isinstance(key, slice) for key in Reads.log)  # contiguous reads only: never a gather
    keys = [key for key in Reads.log if isinstance(key, slice)]
    epochs = [keys[1 + 4 * e: 5 + 4 * e] for e in range(3)]
    assert all(sorted(keys, key=lambda k: k.start) == blocks for keys in epochs)  # each block once an epoch
    assert len({tuple(k.start for k in keys) for keys in epochs}) > 1  # in an order shuffled each epoch
    assert streamed.evaluate(mapped, y, batch_size=8) == pytest.approx(streamed.evaluate(x, y), rel=1e-12)

    normed = Sequential([Dense(3, 2, seed=0), BatchNorm(), Dense(2, 1, seed=1)])  # trains on 2 samples or more
    normed.compile(loss=MSELoss(), optimizer=SGD(lr=0.05))
    Reads.log = []
    normed.fit(mapped[:25], y[:25], epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert Reads.log[-1] == slice(16, 25)  # the last sample merged into the block before, as for arrays


class Pairs(Dataset):
    def __init__(self, x: Floats, y: list[Floats]) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> tuple[Inputs, Any]:
        rows = slice(index * 10, (index + 1) * 10)
        return self.x[rows], {"sigmoid": self.y[0][rows], "dense_2": self.y[1][rows]}


def test_a_model_of_two_outputs_trains_on_a_dataset() -> None:
    x, r = regression()
    flag = (r > 0).astype(float)

    def two_outputs() -> Model:
        inp = Input(3)
        h = ReLU()(Dense(3, 4, seed=0)(inp))
        model = Model(inp, [Sigmoid()(Dense(4, 1, seed=1)(h)), Dense(4, 1, seed=2)(h)])
        model.compile(loss=[BCELoss(), MSELoss()], optimizer=SGD(lr=0.1), metrics=["mae"])
        return model

    streamed, in_memory = two_outputs(), two_outputs()
    assert list(streamed.named_outputs) == ["sigmoid", "dense_2"]
    history = streamed.fit(Pairs(x, [flag, r]), epochs=2, verbose=0, validation_data=(x[:12], [flag[:12], r[:12]]))
    expected = in_memory.fit(x, [flag, r], epochs=2, batch_size=10, shuffle=False, verbose=0,
                             validation_data=(x[:12], [flag[:12], r[:12]]))
    assert history.history == expected.history
    assert list(history.history)[:3] == ["loss", "sigmoid_loss", "dense_2_loss"]
    assert streamed.evaluate(Pairs(x, [flag, r])) == pytest.approx(in_memory.evaluate(x, [flag, r]), rel=1e-12)
    assert [a.shape for a in streamed.predict(Pairs(x, [flag, r]))] == [(30, 1), (30, 1)]


def test_batches_that_do_not_fit_are_named_with_the_argument() -> None:
    x, y = regression()
    model = linear()
    before = model.get_weights()

    def dry() -> Iterator[tuple[Floats, Floats]]:
        yield from ((x[:10], y[:10]), (x[10:20], y[10:20]))

    with pytest.raises(ConfigError, match="fit: y is missing: pass the labels, or x as a Dataset or a generator"):
        model.fit(x, verbose=0)
    with pytest.raises(ConfigError, match=r"fit: x \(a generator\) has no len: pass steps_per_epoch"):
        model.fit(dry(), verbose=0)
    with pytest.raises(ConfigError, match=r"fit: batch 1 of x \(a generator\) must be a pair \(x, y\), got a tuple of 3"):
        model.fit(((x, y, y) for _ in range(3)), steps_per_epoch=3, verbose=0)
    with pytest.raises(ConfigError, match=r"fit: batch 1 of x \(a generator\) must be a pair \(x, y\), got a ndarray"):
        model.fit((x for _ in range(3)), steps_per_epoch=3, verbose=0)
    with pytest.raises(ConfigError, match=r"fit: batch 1 of x \(a generator\) has no labels"):
        model.fit(((x, None) for _ in range(3)), steps_per_epoch=3, verbose=0)
    with pytest.raises(ConfigError, match=r"fit: x is a generator, whose batches carry their labels: leave y out"):
        model.fit(dry(), y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ConfigError, match="fit: validation_split holds out part of arrays in memory"):
        model.fit(dry(), steps_per_epoch=2, validation_split=0.2, verbose=0)
    with pytest.raises(ConfigError, match="fit: validation_steps counts the batches of a validation_data read"):
        model.fit(x, y, validation_data=(x, y), validation_steps=2, verbose=0)
    with pytest.raises(ValueRangeError, match="fit: steps_per_epoch must be a whole number of batches, at least 1"):
        model.fit(dry(), steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueRangeError, match=r"fit: x \(a Pairs\) has 3 batches, fewer than steps_per_epoch=4"):
        model.fit(Pairs(x, [y, y]), steps_per_epoch=4, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))  # nothing trained so far

    with pytest.raises(ValueRangeError, match=r"fit: x \(a generator\) ran dry after 2 batches of epoch 1, before "
                                              r"steps_per_epoch=3: give it more batches"):
        model.fit(dry(), steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueRangeError, match=r"fit\(validation_data\): x \(a generator\) ran dry after 2 batches of "
                                              r"epoch 1, before validation_steps=3"):
        model.fit(x, y, validation_data=dry(), validation_steps=3, verbose=0)
    broken = [(x[:10], y[:10]), (np.full((10, 3), np.nan), y[10:20])]
    with pytest.raises(NonFiniteError, match=r"fit: batch 2 of x \(a list_iterator\): x has 30 NaN"):
        model.fit(iter(broken), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueRangeError, match=r"evaluate: x \(a list_iterator\) gave no batch$"):
        model.evaluate(iter([]))


def test_sample_and_class_weights_with_batches_read_one_at_a_time_are_refused_by_name(tmp_path: Path) -> None:
    x, y = regression()
    w = np.ones(30)
    model = linear()
    with pytest.raises(ConfigError, match=r"fit: sample_weight weigh arrays in memory; x is a generator"):
        model.fit(looping(x, y, 10), steps_per_epoch=3, sample_weight=w, verbose=0)
    with pytest.raises(ConfigError, match=r"fit: class_weight weigh arrays in memory"):
        model.fit(Pairs(x, [y, y]), class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ConfigError, match=r"evaluate: sample_weight weigh arrays in memory"):
        model.evaluate(looping(x, y, 10), steps=3, sample_weight=w)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    with pytest.raises(ConfigError, match=r"fit\(validation_data\): sample_weight weigh arrays in memory"):
        model.fit(x, y, validation_data=(mapped, y, w), verbose=0)
    triples = ((x[i:i + 10], y[i:i + 10], w[i:i + 10]) for i in range(0, 30, 10))
    with pytest.raises(ConfigError, match=r"batch 1 of x \(a generator\) must be a pair \(x, y\), got a tuple of 3: "
                                          r"batches \(x, y, sample_weight\) are not supported"):
        model.fit(triples, steps_per_epoch=3, verbose=0)


def test_a_streamed_fit_weighs_its_arrays_of_validation_data_by_their_triple() -> None:
    x, y = regression()
    w = np.linspace(0.0, 2.0, 12)
    streamed, in_memory = linear(), linear()
    history = streamed.fit(looping(x, y, 10), steps_per_epoch=3, epochs=2, verbose=0,
                           validation_data=(x[:12], y[:12], w))
    expected = in_memory.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0, validation_data=(x[:12], y[:12], w))
    assert history.history == expected.history
    assert history.history["val_loss"][-1] == pytest.approx(in_memory.evaluate(x[:12], y[:12], sample_weight=w)["loss"])


class Crash(Callback):
    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


def test_memmap_blocks_resume_with_initial_epoch_and_backup_and_restore_bit_for_bit(tmp_path: Path) -> None:
    x, y = regression(30)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    whole = linear()
    whole.fit(mapped, y, epochs=4, batch_size=8, seed=0, verbose=0)
    half = linear()
    half.fit(mapped, y, epochs=2, batch_size=8, seed=0, verbose=0)
    half.fit(mapped, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)  # the blocks' shuffles go on
    for got, want in zip(half.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)
    backups = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        linear().fit(mapped, y, epochs=4, batch_size=8, seed=0, verbose=0, callbacks=[BackupAndRestore(backups), Crash()])
    again = linear()
    again.fit(mapped, y, epochs=4, batch_size=8, seed=0, verbose=0, callbacks=[BackupAndRestore(backups)])
    for got, want in zip(again.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_an_embedding_reads_integer_batches_as_integers() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, (12, 3))
    y = rng.standard_normal((12, 1))
    model = Sequential([Embedding(5, 2, seed=0), Flatten(), Dense(6, 1, seed=1)])
    model.compile(loss=MSELoss(), optimizer=SGD(lr=0.1))
    model.fit(looping(tokens, y, 4), epochs=2, steps_per_epoch=3, verbose=0)
    np.testing.assert_array_equal(model.predict(tokens[i:i + 4] for i in range(0, 12, 4)), model.predict(tokens))
    assert model.evaluate(looping(tokens, y, 4), steps=3) == pytest.approx(model.evaluate(tokens, y), rel=1e-12)
