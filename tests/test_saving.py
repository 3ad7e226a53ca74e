"""save_model / load_model: bit-for-bit round trips, custom registered layers, and every malformed
file refused with a FormatError: pickles (never executed), truncated files, tensors that do not
match the architecture, unknown format versions. Saving is atomic."""

import json
import os
import pickle
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
import safetensors.numpy
from safetensors import safe_open

import framework.losses
from framework import (
    Adam, BatchNorm, BCELoss, Concatenate, CrossEntropyLoss, Dense, Dropout, FormatError, FrameworkError, Input, Layer,
    LeakyReLU, Model, NonFiniteError, Parameter, ReLU, Sequential, Sigmoid, Softmax, load_model, register_layer,
)
from framework.core.arrays import Array
from framework.core.errors import ConfigError, MissingFileError
from framework.core.registry import UnknownLayerError
from framework.core.layer import Config
from framework.losses import BUILT_IN_LOSSES, Loss
from framework.saving import FORMAT_VERSION, save_model, saved_loss
from models import four_three_one

Floats = npt.NDArray[np.float64]


@register_layer
class SavingTestScale(Layer):
    """y = x * s + shift, with a learnable scale `s` per feature and a fixed `shift`."""

    def __init__(self, features: int, shift: float = 0.0, dtype: str = "float64") -> None:
        super().__init__()
        self.features, self.shift = features, shift
        self.s = Parameter(np.ones(features, dtype=dtype), name="s")
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        self._x = x
        return x * self.s.value + self.shift

    def backward(self, grad: Array) -> Array:
        x = self.cached(self._x)
        self._x = None
        self.s.grad[...] = (grad * x).sum(axis=0)  # dL/ds = Σ_batch g x
        return grad * self.s.value

    def get_config(self) -> Config:
        return {"features": self.features, "shift": self.shift, "dtype": str(self.s.value.dtype)}


class NotRegisteredScale(SavingTestScale):
    """The same layer, never passed to @register_layer."""


def trained(model: Sequential, dtype: type[np.floating] = np.float64) -> tuple[Sequential, Array]:
    """Train `model` a few epochs so that its weights are not the initial ones; return it and some inputs."""
    rng = np.random.default_rng(0)
    features = model.parameters()[0].shape[0]
    x = rng.standard_normal((32, features)).astype(dtype)
    y = (x[:, :1] > 0).astype(dtype)
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05))
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, seed=0)
    return model, x


def small_model() -> Sequential:
    return Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_model(small_model(), tmp_path / "model.safetensors")


def metadata_of(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="np") as f:
        metadata: dict[str, str] = f.metadata()
    return metadata


def tensors_of(path: Path) -> dict[str, Array]:
    loaded: dict[str, Array] = safetensors.numpy.load_file(str(path))
    return loaded


# Round trips


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_round_trip_keeps_weights_dtype_and_predictions_bit_for_bit(
    tmp_path: Path, dtype: type[np.floating]
) -> None:
    model, x = trained(four_three_one(5, dtype=dtype), dtype)
    path = model.save(tmp_path / "model.safetensors")
    assert path == tmp_path / "model.safetensors"
    loaded = load_model(path)
    assert repr(loaded) == repr(model)
    assert loaded.get_config() == model.get_config()
    assert [name for name, _ in loaded.named_parameters()] == [name for name, _ in model.named_parameters()]
    for (name, p), q in zip(loaded.named_parameters(), model.parameters(), strict=True):
        assert p.value.dtype == dtype, name
        assert np.array_equal(p.value, q.value), name
    predictions = loaded.predict(x)
    assert predictions.dtype == dtype
    assert np.array_equal(predictions, model.predict(x))


def test_a_registered_custom_layer_with_constructor_arguments_round_trips(tmp_path: Path) -> None:
    model, x = trained(Sequential([SavingTestScale(3, shift=0.5), Dense(3, 1, seed=0), Sigmoid()]))
    scale = model.parameters()[0].value
    assert not np.array_equal(scale, np.ones(3))  # trained away from its initial value
    loaded = load_model(model.save(tmp_path / "scaled.safetensors"))
    layer = loaded.layers[0]
    assert isinstance(layer, SavingTestScale)
    assert (layer.features, layer.shift) == (3, 0.5)
    assert np.array_equal(layer.s.value, scale)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def plain_types(tree: object) -> set[type]:
    """The types of every leaf of a config."""
    if isinstance(tree, dict):
        return set().union(*map(plain_types, tree.values()))
    if isinstance(tree, list):
        return set().union(*map(plain_types, tree))
    return {type(tree)}


def test_numpy_scalars_in_built_in_constructors_become_python_numbers_and_save(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 3
    classes = y.max() + 1  # an np.int64
    assert isinstance(classes, np.integer)
    model = Sequential([Input(np.int64(3)), Dense(np.int64(3), 8, seed=np.int64(0)), BatchNorm(np.int64(8)),
                        Dropout(np.float32(0.25), seed=np.int64(1)), LeakyReLU(np.float32(0.5)), Dense(8, classes, seed=1),
                        Softmax(axis=np.int64(-1))])
    config: Any = model.get_config()
    json.dumps(config)  # plain JSON before save, too
    assert plain_types(config) == {int, float, str}
    assert config["input_shape"] == [3] and config["layers"][4]["config"]["out_features"] == 3
    assert config["layers"][2]["config"] == {"rate": 0.25, "seed": 1}
    assert config["layers"][3]["config"] == {"alpha": 0.5}
    loaded = load_model(model.save(tmp_path / "numpy.safetensors"))
    assert loaded.get_config() == config
    assert np.array_equal(loaded.predict(x), model.predict(x))
    inp = Input(np.int64(3))
    assert inp.shape == (None, 3) and type(inp.shape[1]) is int
    graph_model = Model(inp, Concatenate(axis=np.int64(-1))([Dense(3, 2, seed=0)(inp), inp]))
    loaded_graph = load_model(graph_model.save(tmp_path / "graph.safetensors"))
    graph_config: Any = graph_model.get_config()
    assert loaded_graph.get_config() == graph_config
    assert graph_config["nodes"][0] == {"input": [3], "name": "input"}


def test_dense_with_a_numpy_class_count_trains_and_saves(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 8)), rng.integers(0, 4, 30)
    model = Sequential([Dense(8, y.max() + 1, seed=0)])
    model.compile(loss=CrossEntropyLoss(), optimizer=Adam(lr=0.05))
    model.fit(x, y, epochs=2, verbose=0)
    layer_config = cast(Any, model.get_config())["layers"][0]["config"]
    assert layer_config["out_features"] == 4 and type(layer_config["out_features"]) is int
    assert np.array_equal(load_model(model.save(tmp_path / "classes.safetensors")).predict(x), model.predict(x))


@register_layer
class NumpyConfigScale(SavingTestScale):
    """A custom layer whose get_config returns numpy scalars and a tuple, as computed values often are."""

    def __init__(self, features: int, shift: float = 0.0, dtype: str = "float64", centre: bool = False,
                 sizes: Sequence[int] = ()) -> None:
        super().__init__(features, shift, dtype)
        self.centre, self.sizes = centre, list(sizes)

    def get_config(self) -> Config:
        config: dict[str, Any] = {"features": np.int64(self.features), "shift": np.float32(self.shift),
                                  "dtype": np.str_("float64"), "centre": np.bool_(self.centre),
                                  "sizes": tuple(np.int32(n) for n in self.sizes)}
        return config


def test_numpy_scalars_in_a_custom_get_config_are_saved_as_json_numbers_and_load_back(tmp_path: Path) -> None:
    model = Sequential([NumpyConfigScale(3, shift=0.5, centre=True, sizes=(2, 5)), Dense(3, 1, seed=0)])
    path = model.save(tmp_path / "custom.safetensors")
    architecture = json.loads(metadata_of(path)["architecture"])
    assert architecture["config"]["layers"][0]["config"] == {"features": 3, "shift": 0.5, "dtype": "float64",
                                                             "centre": True, "sizes": [2, 5]}
    layer = load_model(path).layers[0]
    assert isinstance(layer, NumpyConfigScale)
    assert (layer.features, layer.shift, layer.centre, layer.sizes) == (3, 0.5, True, [2, 5])
    assert [type(v) for v in (layer.features, layer.shift, layer.centre, layer.sizes[0])] == [int, float, bool, int]


def test_a_config_value_json_cannot_hold_is_a_config_error_and_nothing_is_written(tmp_path: Path) -> None:
    layer = SavingTestScale(3)
    layer.get_config = lambda: cast(Config, {"features": 3, "shift": np.zeros(2)})  # type: ignore[method-assign]
    message = ("save: architecture['config']['layers'][0]['config']['shift'] is array([0., 0.]) (a ndarray), which the "
               "architecture's JSON cannot hold: get_config() must return numbers, strings, None, lists and dicts with "
               "string keys (nothing was written to ")
    with pytest.raises(ConfigError, match=re.escape(message)):
        save_model(Sequential([layer]), tmp_path / "m.safetensors")
    assert not any(tmp_path.iterdir())


def test_an_unregistered_layer_class_in_a_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = Sequential([SavingTestScale(3), Dense(3, 1, seed=0), Sigmoid()]).save(tmp_path / "m.safetensors")
    edited(path, lambda architecture: architecture["config"]["layers"][0].update({"class": "NotRegisteredScale"}))
    message = rf"{re.escape(str(path))}: layer 0 NotRegisteredScale: unknown layer 'NotRegisteredScale'.*@register_layer"
    with pytest.raises(UnknownLayerError, match=message) as caught:
        load_model(path)
    assert isinstance(caught.value, FormatError) and isinstance(caught.value, ValueError)


@register_layer
class ScaleWithoutConfig(Layer):
    """A layer whose constructor takes an argument, registered but without a get_config() override."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.s = Parameter(np.ones(n), name="s")

    def forward(self, x: Array) -> Array:
        return x * self.s.value

    def backward(self, grad: Array) -> Array:
        return grad * self.s.value


class ReLU2(ReLU):
    """Registered under no name."""


def relu_named_dense() -> type[Layer]:
    class Dense(ReLU):
        """A class named like a registered one, which is another class."""

    return Dense


class SequentialOfMine(Sequential):
    """A container subclass that load_model could not rebuild."""


def graph(layer: Layer) -> Model:
    x = Input(3)
    return Model(x, Sigmoid()(layer(Dense(3, 3, seed=0)(x))))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda: Sequential([NotRegisteredScale(3), Dense(3, 1, seed=0)]),
         r"save: layer 0 NotRegisteredScale\(\): NotRegisteredScale is not registered, so load_model could not rebuild "
         r"it: register it with @register_layer \(nothing was written to .*m.safetensors\)"),
        (lambda: Sequential([Dense(3, 3, seed=0), ScaleWithoutConfig(3)]),
         r"save: layer 1 ScaleWithoutConfig\(\): get_config\(\) returns \{\}, from which load_model cannot rebuild it "
         r"\(missing a required argument: 'n'\): override get_config\(\) to return the constructor's arguments "
         r"\(\{'n': ...\}\)"),
        (lambda: Sequential([Dense(3, 3, seed=0), Sequential([ReLU(), ReLU2()])]),
         r"save: layer 1 Nested\(Sequential\(\[ReLU\(\), ReLU2\(\)\]\)\): layer 1 ReLU2\(\): ReLU2 is not registered"),
        (lambda: graph(ScaleWithoutConfig(3)),
         r"save: layer 1 ScaleWithoutConfig\(\): get_config\(\) returns \{\}, .*override get_config\(\)"),
        (lambda: Sequential([graph(ReLU2())]),
         r"save: layer 0 Nested\(Model\(.*\)\): layer 1 ReLU2\(\): ReLU2 is not registered"),
        (lambda: Sequential([relu_named_dense()()]),
         r"save: layer 0 Dense\(\): another class, framework.layers.dense.Dense, is registered as 'Dense' and load_model "
         r"would rebuild that one: give this class a name of its own and register it with @register_layer"),
        (lambda: SequentialOfMine([Dense(3, 1, seed=0)]),
         r"save: SequentialOfMine is not registered, so load_model could not rebuild it: register it with @register_model"),
    ],
    ids=["unregistered", "config-missing-argument", "nested-unregistered", "graph-config", "nested-graph-unregistered",
         "same-name-other-class", "unregistered-container"],
)
def test_save_refuses_a_model_load_model_could_not_rebuild_and_writes_nothing(
    tmp_path: Path, model: Callable[[], Sequential | Model], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        model().save(tmp_path / "m.safetensors")
    assert not any(tmp_path.iterdir())


def test_a_config_with_an_argument_the_constructor_does_not_take_is_refused_at_save(tmp_path: Path) -> None:
    layer = SavingTestScale(3)
    layer.get_config = lambda: {"features": 3, "scale": 2.0}  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match=r"layer 0 SavingTestScale\(\): .*got an unexpected keyword argument 'scale'.*"
                                          r"\{'features': ..., 'shift': ..., 'dtype': ...\}"):
        save_model(Sequential([layer]), tmp_path / "m.safetensors")


def test_save_creates_missing_folders_and_replaces_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "model.safetensors"
    first, x = trained(small_model())
    first.save(path)
    second = small_model()
    second.save(path)
    assert np.array_equal(load_model(path).predict(x), second.predict(x))
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]


def test_the_file_holds_the_weights_and_the_architecture_as_json(saved: Path) -> None:
    metadata = metadata_of(saved)
    assert metadata["format"] == "framework"
    assert metadata["format_version"] == "1" and FORMAT_VERSION == 2  # 2 only with a training state
    architecture = json.loads(metadata["architecture"])
    assert architecture["class"] == "Sequential"
    assert [layer["class"] for layer in architecture["config"]["layers"]] == ["Dense", "ReLU", "Dense", "Sigmoid"]
    tensors = tensors_of(saved)
    assert {name: t.shape for name, t in tensors.items()} == {"0.W": (3, 4), "0.b": (4,), "2.W": (4, 1), "2.b": (1,)}
    assert np.array_equal(tensors["0.W"], small_model().get_weights()[0])


# Malformed files


class CreatesMarker:
    """Unpickling this object opens (creates) the marker file: it runs code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return open, (str(self.marker), "w")


def test_a_pickle_is_a_format_error_and_is_never_executed(tmp_path: Path) -> None:
    control = tmp_path / "control"
    with pickle.loads(pickle.dumps(CreatesMarker(control))):
        pass
    assert control.exists()  # the payload does run when unpickled
    marker = tmp_path / "marker"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(CreatesMarker(marker)))
    with pytest.raises(FormatError, match="not a readable safetensors file") as caught:
        load_model(path)
    assert isinstance(caught.value, FrameworkError) and isinstance(caught.value, ValueError)
    assert not marker.exists()


@pytest.mark.parametrize(
    "keep",
    [lambda n: 0, lambda n: 4, lambda n: 8, lambda n: 20, lambda n: n // 2, lambda n: n - 1],
    ids=["empty", "4 bytes", "8 bytes", "20 bytes", "half", "all but the last byte"],
)
def test_a_truncated_file_is_a_format_error(saved: Path, keep: Callable[[int], int]) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: keep(len(data))])
    with pytest.raises(FormatError, match=re.escape(f"{saved} is not a readable safetensors file")):
        load_model(saved)


def test_a_missing_file_is_a_format_error_and_a_file_not_found_error(tmp_path: Path) -> None:
    path = tmp_path / "nothing.safetensors"
    with pytest.raises(MissingFileError, match=re.escape(f"{path} does not exist: check the path")) as caught:
        load_model(path)
    assert isinstance(caught.value, FormatError) and isinstance(caught.value, FileNotFoundError)


def test_a_directory_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=re.escape(f"{tmp_path} is a directory, not a model file")):
        load_model(tmp_path)


def test_saving_to_a_directory_is_a_format_error_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    message = rf"save: {re.escape(str(folder))} is a directory, not a model file: .*such as .*model.safetensors"
    with pytest.raises(FormatError, match=message):
        small_model().save(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["runs"] and not any(folder.iterdir())


def test_a_saved_model_gets_the_mode_a_plain_open_gives(saved: Path) -> None:
    plain = saved.parent / "plain.txt"
    plain.write_text("")
    assert saved.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"2.W": np.zeros((1, 4))}, r"tensor '2.W' has shape \(1, 4\), the architecture wants \(4, 1\)"),
        ({"0.b": np.zeros(4, dtype=np.float32)}, r"tensor '0.b' is stored as F32, the architecture wants float64 \(F64\)"),
        ({"2.b": None}, r"the tensors \['0.W', '0.b', '2.W'\] do not match .* \['0.W', '0.b', '2.W', '2.b'\]"),
        ({"extra": np.zeros(2)}, r"the tensors .*'extra'.* do not match the architecture's parameters"),
    ],
    ids=["shape", "dtype", "missing", "extra"],
)
def test_tensors_that_do_not_match_the_architecture_are_named(
    saved: Path, change: dict[str, Floats | None], message: str
) -> None:
    tensors = tensors_of(saved)
    for name, tensor in change.items():
        if tensor is None:
            del tensors[name]
        else:
            tensors[name] = tensor
    safetensors.numpy.save_file(tensors, str(saved), metadata=metadata_of(saved))
    with pytest.raises(FormatError, match=message):
        load_model(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format_version": "3"}, r"format version '3'; this framework reads versions up to 2"),
        ({"format_version": None}, r"format version ''"),
        ({"format_version": "one"}, r"format version 'one'"),
        ({"format": None}, r"not a model saved by framework"),
        ({"format": "keras"}, r"not a model saved by framework"),
        ({"architecture": None}, r"not a model saved by framework"),
        ({"architecture": "{not json"}, r"the architecture is not valid JSON"),
        ({"architecture": "[" * 10**5}, r"the architecture is not valid JSON: maximum recursion depth exceeded"),
        ({"architecture": '{"class": "Graph", "config": {}}'}, r"unknown model class 'Graph'"),
        ({"architecture": '{"class": "Sequential", "config": {"layers": [{"class": "Dense", "config": {}}]}}'},
         r"model.safetensors: layer 0 Dense \{\}: .*missing 1 required positional argument: 'in_features'"),
    ],
    ids=["newer-version", "no-version", "bad-version", "no-format", "other-format", "no-architecture",
         "bad-json", "deep-json", "unknown-container", "bad-layer-config"],
)
def test_a_bad_header_is_a_format_error(saved: Path, edit: dict[str, str | None], message: str) -> None:
    metadata = metadata_of(saved)
    for key, value in edit.items():
        if value is None:
            del metadata[key]
        else:
            metadata[key] = value
    safetensors.numpy.save_file(tensors_of(saved), str(saved), metadata=metadata)
    with pytest.raises(FormatError, match=message):
        load_model(saved)


def edited(path: Path, edit: Callable[[Any], object]) -> Path:
    """The file at `path` with `edit` applied to its architecture (a JSON tree, edited in place)."""
    metadata = metadata_of(path)
    architecture = json.loads(metadata["architecture"])
    edit(architecture)
    metadata["architecture"] = json.dumps(architecture)
    safetensors.numpy.save_file(tensors_of(path), str(path), metadata=metadata)
    return path


def layer(i: int, **changes: object) -> Callable[[Any], object]:
    """An edit of the config of layer `i` of a saved Sequential."""
    return lambda architecture: architecture["config"]["layers"][i]["config"].update(changes)


def replace_layer(i: int, item: object) -> Callable[[Any], object]:
    return lambda architecture: architecture["config"]["layers"].__setitem__(i, item)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (layer(2, init="xavier"), r"layer 2 Dense: init must be one of 'he', 'glorot', 'lecun', got 'xavier'"),
        (layer(0, in_features=3.0), r"layer 0 Dense: in_features must be int, got 3.0"),
        (layer(2, out_features=0), r"layer 2 Dense: Dense needs at least one input and one output, got Dense\(4, 0\)"),
        (layer(0, in_features=-3), r"layer 0 Dense: Dense needs at least one input and one output, got Dense\(-3, 4\)"),
        (layer(0, dtype="int64"), r"layer 0 Dense: dtype must be float32 or float64 \(the parameters' dtype\), got int64"),
        (layer(0, seed=-1), r"layer 0 Dense \{.*'seed': -1\}: expected non-negative integer"),
        (replace_layer(1, {"class": "Softmax", "config": {"axis": False}}), r"layer 1 Softmax: axis must be int, got False"),
        (replace_layer(1, {"class": "Dropout", "config": {"seed": "abc"}}), r"layer 1 Dropout: seed must be int or None, got 'abc'"),
        (replace_layer(1, "ReLU"), r"layer 1 must be \{'class': name, 'config': \{...\}\}, got 'ReLU'"),
        (replace_layer(1, {"class": "Nested", "config": {"model": {"class": "Sequential", "config": {"layers": 5}}}}),
         r"layer 1 Nested: Sequential config needs a list of layers, got int"),
        (replace_layer(1, {"class": "Nested", "config": {"model": {"class": "Sequential", "config": {
            "layers": [{"class": "Dense", "config": {"in_features": 4, "init": "xavier"}}]}}}}),
         r"layer 1 Nested: layer 0 Dense: init must be one of 'he', 'glorot', 'lecun', got 'xavier'"),
        (replace_layer(1, {"class": "Nested", "config": {"model": 5}}),
         r"layer 1 Nested: Nested wraps a Sequential or a graph Model \(or its saved config\), got int"),
        (replace_layer(1, {"class": "LeakyReLU", "config": {"alpha": 10**400}}),
         r"layer 1 LeakyReLU \{'alpha': 1000.*\.\.\.: int too large to convert to float"),
        (lambda architecture: architecture["config"].update(input_shape=[10**12]),
         r"Sequential: layer 0 Dense\(3 -> 4\) does not fit after the input: Dense\(3 -> 4\) expects 3 features"),
        (lambda architecture: architecture.update(config={"input_shape": [10**12], "layers": [
            {"class": "Nested", "config": {"model": architecture | {}}}]}),  # nothing allocated for the huge input
         r"Sequential: layer 0 Nested\(.*\) does not fit after the input: Sequential: x has shape \(1, 1000000000000\), but "
         r"the model takes \(batch, 3\)"),
    ],
    ids=["init", "float-for-int", "zero-size", "negative-size", "int-dtype", "negative-seed", "bool-axis",
         "string-seed", "not-an-object", "nested-malformed", "nested-bad-argument", "nested-not-a-model", "huge-number",
         "huge-input", "nested-huge-input"],
)
def test_a_bad_layer_argument_is_a_format_error_naming_the_file_and_the_layer(
    saved: Path, edit: Callable[[Any], object], message: str
) -> None:
    with pytest.raises(FormatError, match=re.escape(f"{saved}: ") + message):
        load_model(edited(saved, edit))


def test_a_constructor_error_is_kept_as_the_cause(saved: Path) -> None:
    with pytest.raises(FormatError) as caught:
        load_model(edited(saved, layer(2, out_features=0)))
    assert type(caught.value.__cause__).__name__ == "ShapeError"


@pytest.fixture
def saved_graph(tmp_path: Path) -> Path:
    x = Input(3)
    return Model(x, Sigmoid()(Dense(3, 1, seed=0)(x))).save(tmp_path / "graph.safetensors")


def node(i: int, **changes: object) -> Callable[[Any], object]:
    return lambda architecture: architecture["config"]["nodes"][i].update(changes)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda architecture: architecture["config"]["modules"][0]["config"].update(dtype=["x"]),
         r"module 0 Dense: dtype must be float32 or float64, got \['x'\]"),
        (lambda architecture: architecture["config"].pop("outputs"), r"Model config: outputs must be a list, got None"),
        (lambda architecture: architecture["config"].update(inputs=[7]),
         r"Model config: an input must be an integer in \[0, 3\), got 7"),
        (node(1, parents=[5]), r"Model config: node 1: a parent must be an integer in \[0, 1\), got 5"),
        (node(1, module="0"), r"Model config: node 1: module must be an integer in \[0, 2\), got '0'"),
        (node(0, input=[0]), r"Model config: node 0: Input needs positive feature sizes, got \[0\]"),
        (node(0, name=None), r"Model config: node 0: name must be a string, got None"),
    ],
    ids=["bad-dtype", "no-outputs", "input-out-of-range", "parent-out-of-range", "module-not-an-int", "zero-input",
         "name-not-a-string"],
)
def test_a_malformed_graph_is_a_format_error_naming_the_file_and_the_node(
    saved_graph: Path, edit: Callable[[Any], object], message: str
) -> None:
    with pytest.raises(FormatError, match=re.escape(f"{saved_graph}: ") + message):
        load_model(edited(saved_graph, edit))


def with_dtype(path: Path, name: str, dtype: str, item_size: int) -> Path:
    """The file with tensor `name` relabelled as safetensors `dtype` (its bytes, and so its size, kept)."""
    content = path.read_bytes()
    n = struct.unpack("<Q", content[:8])[0]
    head = json.loads(content[8 : 8 + n])
    start, end = head[name]["data_offsets"]
    head[name] |= {"dtype": dtype, "shape": [(end - start) // item_size]}
    raw = json.dumps(head).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + content[8 + n :])
    return path


@pytest.mark.parametrize(("dtype", "item_size"), [("BF16", 2), ("F8_E4M3", 1), ("F8_E5M2", 1)])
def test_a_tensor_of_a_dtype_numpy_cannot_hold_is_a_format_error(saved: Path, dtype: str, item_size: int) -> None:
    message = rf"{re.escape(str(saved))}: tensor '0.W' is stored as {dtype}, the architecture wants float64 \(F64\): convert"
    with pytest.raises(FormatError, match=message):
        load_model(with_dtype(saved, "0.W", dtype, item_size))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_weight_is_refused_naming_the_tensor_and_the_first_entry(saved: Path, bad: float) -> None:
    tensors = tensors_of(saved)
    tensors["2.W"][1, 0] = tensors["2.W"][3, 0] = bad
    safetensors.numpy.save_file(tensors, str(saved), metadata=metadata_of(saved))
    counts = "2 NaN and 0 inf" if np.isnan(bad) else "0 NaN and 2 inf"
    message = rf"{re.escape(str(saved))}: tensor '2.W' has {counts} entries, the first at \(1, 0\); a model with NaN"
    with pytest.raises(NonFiniteError, match=message):
        load_model(saved)


def test_a_negative_running_variance_is_refused_at_load(tmp_path: Path) -> None:
    path = save_model(Sequential([Dense(3, 2, seed=0), BatchNorm(2)]), tmp_path / "bn.safetensors")
    tensors = tensors_of(path)
    tensors["1.running_var"][1] = -0.5
    safetensors.numpy.save_file(tensors, str(path), metadata=metadata_of(path))
    message = rf"{re.escape(str(path))}: tensor '1.running_var' holds -0.5, below the least value its layer allows \(0.0\)"
    with pytest.raises(FormatError, match=message):
        load_model(path)


def test_a_safetensors_file_without_metadata_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file({"w": np.ones(3)}, str(path))
    with pytest.raises(FormatError, match="not a model saved by framework"):
        load_model(path)


# Atomic writes


def test_a_save_that_fails_while_writing_leaves_the_old_file_and_no_temporary(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = saved.read_bytes()
    written: list[int] = []

    def fail(fd: int) -> None:
        written.append(os.fstat(fd).st_size)
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        trained(small_model())[0].save(saved)
    assert written and written[0] > 0  # the failure came after bytes were written
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_a_save_whose_rename_fails_leaves_the_old_file_and_no_temporary(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = saved.read_bytes()

    def fail(source: str, target: str) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="rename failed"):
        trained(small_model())[0].save(saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_an_architecture_declaring_a_huge_layer_is_refused_before_allocating(tmp_path: Path) -> None:
    import json

    from safetensors.numpy import save_file

    architecture = {"class": "Sequential",
                    "config": {"layers": [{"class": "Dense", "config": {"in_features": 10**6, "out_features": 10**5}}]}}
    path = tmp_path / "huge.safetensors"
    save_file({"0.W": np.zeros((2, 2)), "0.b": np.zeros(2)}, str(path),
              metadata={"format": "framework", "format_version": "1", "architecture": json.dumps(architecture)})
    with pytest.raises(FormatError, match="would create 100,000,100,000 parameter entries, far more than the file holds"):
        load_model(path)


def test_a_model_with_nan_weights_is_not_saved_over_a_good_file(tmp_path: Path) -> None:
    from framework import Dense, NonFiniteError, Sequential, Sigmoid

    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    path = model.save(tmp_path / "good.safetensors")
    good = path.read_bytes()
    model.parameters()[0].value[1, 0] = np.nan
    with pytest.raises(NonFiniteError, match=r"save: 0.W has 1 NaN and 0 inf entries, the first at \(1, 0\)"):
        model.save(path)
    assert path.read_bytes() == good


# The loss a model was compiled with


@pytest.mark.parametrize("loss", sorted(BUILT_IN_LOSSES))
def test_the_file_names_the_built_in_loss_the_model_was_compiled_with(tmp_path: Path, loss: str) -> None:
    model = Sequential([Dense(3, 2, seed=0)])
    assert saved_loss(model.save(tmp_path / "plain.safetensors")) is None
    assert "loss" not in metadata_of(tmp_path / "plain.safetensors")
    model.compile(loss=BUILT_IN_LOSSES[loss](), optimizer=Adam())
    path = model.save(tmp_path / "compiled.safetensors")
    assert metadata_of(path)["loss"] == loss
    assert type(saved_loss(path)) is BUILT_IN_LOSSES[loss]
    assert type(load_model(path).loss) is BUILT_IN_LOSSES[loss]  # loaded compiled, as saved
    assert load_model(path, compile=False).loss is None
    assert load_model(model.save(tmp_path / "weights.safetensors", include_optimizer=False)).loss is None


def test_a_custom_loss_is_not_named_in_the_file(tmp_path: Path) -> None:
    class MyBCELoss(BCELoss):
        """Named like no built-in loss."""

    model = small_model()
    model.compile(loss=MyBCELoss(), optimizer=Adam())
    assert saved_loss(model.save(tmp_path / "m.safetensors")) is None


def test_every_built_in_loss_can_be_named_in_a_file() -> None:
    assert set(BUILT_IN_LOSSES.values()) == {cls for cls in vars(framework.losses).values()
                                             if isinstance(cls, type) and issubclass(cls, Loss) and cls is not Loss}
    assert all(name == cls.__name__ for name, cls in BUILT_IN_LOSSES.items())


def test_a_file_naming_an_unknown_loss_is_a_format_error(tmp_path: Path, saved: Path) -> None:
    metadata = {**metadata_of(saved), "loss": "FocalLoss"}
    safetensors.numpy.save_file(tensors_of(saved), str(saved), metadata=metadata)
    message = (f"{saved} names the loss 'FocalLoss', which is not one of this framework's: BCELoss, BCEWithLogitsLoss, "
               "CrossEntropyLoss, MSELoss (edited or damaged)")
    with pytest.raises(FormatError, match=re.escape(message)):
        saved_loss(saved)
    with pytest.raises(MissingFileError, match="does not exist"):
        saved_loss(tmp_path / "missing.safetensors")


@register_layer
class SavingTestGain(Layer):
    """y = g x with one scalar (0-d) gain g."""

    def __init__(self) -> None:
        super().__init__()
        self.g = Parameter(np.array(2.0), name="g")
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        self._x = x
        return x * self.g.value

    def backward(self, grad: Array) -> Array:
        assert self._x is not None
        self.g.grad[...] = (grad * self._x).sum()  # dL/dg = Σ g·x
        return grad * self.g.value

    def get_config(self) -> Config:
        return {}


def test_a_scalar_parameter_and_its_optimizer_state_stay_0_d(tmp_path: Path) -> None:
    model = Sequential([Dense(3, 1, seed=0), SavingTestGain(), Sigmoid()])
    trained(model)
    loaded = load_model(model.save(tmp_path / "m.safetensors"))
    gain = dict(loaded.named_parameters())["1.g"].value
    assert gain.shape == () and gain == dict(model.named_parameters())["1.g"].value != 2.0
    assert loaded.optimizer is not None and loaded.optimizer.get_state(loaded.named_parameters())["1.g/0"].shape == ()
