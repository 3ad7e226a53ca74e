"""`model.export(path, format="onnx")`: onnxruntime runs the file and gives what `predict` gives (to
1e-5 in float32), for random models of each kind and every built-in layer; the input is named and
has a symbolic batch; a custom layer is refused before anything is written."""

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from framework import (
    ConfigError, Dense, Embedding, Input, LayerNorm, Model, Sequential, Swish, Tanh, ValueRangeError, registered_layers,
)
from framework.containers.base import Container
from framework.core.arrays import Array
from tests.helpers.export import (
    KINDS, SETTINGS, Built, MyDense, Twice, one_layer_model, random_model, setting, windowed,
)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from framework.export.onnx import OPSET  # noqa: E402  (needs onnx)

BUILT_IN = sorted(name for name, cls in registered_layers().items() if cls.__module__.startswith("framework."))


def run(path: Path, xs: Sequence[Array], dtype: type = np.float32) -> list[Array]:
    """The file's outputs on `xs`, floats cast to `dtype`, an Embedding's indices to the int64 it takes."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds: dict[str, Array] = {i.name: x.astype(np.int64 if i.type == "tensor(int64)" else dtype)
                               for i, x in zip(session.get_inputs(), xs)}
    outputs: list[Array] = session.run(None, feeds)
    return outputs


def predict(model: Container, xs: list[Array]) -> Array:
    return model.predict(xs[0] if len(xs) == 1 else xs)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", KINDS)
def test_onnxruntime_gives_predict_s_outputs_in_float32(kind: str, seed: int, tmp_path: Path) -> None:
    model, xs = random_model(kind, seed)
    path = model.export(tmp_path / "model.onnx")
    (out,) = run(path, xs)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, predict(model, xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_float32_model_exports_as_it_predicts(kind: str, tmp_path: Path) -> None:
    model, xs = random_model(kind, 1, np.float32)
    (out,) = run(model.export(tmp_path / "model.onnx"), xs)
    np.testing.assert_allclose(out, predict(model, xs), rtol=1e-5, atol=1e-5)


@settings(max_examples=40)
@given(windowed())
def test_every_window_geometry_exports_as_it_predicts(built: Built) -> None:
    model, xs = built
    with tempfile.TemporaryDirectory() as folder:  # not tmp_path: one folder serves every example
        (out,) = run(model.export(Path(folder) / "window.onnx"), xs)
    np.testing.assert_allclose(out, predict(model, xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_layer_is_exported(name: str, tmp_path: Path) -> None:
    layer, xs = registered_layers()[name].example(np.random.default_rng(0))
    model = one_layer_model(layer, xs)
    (out,) = run(model.export(tmp_path / f"{name}.onnx"), xs)
    np.testing.assert_allclose(out, predict(model, xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", SETTINGS)
def test_each_setting_of_the_layers_is_exported(name: str, tmp_path: Path) -> None:
    model, xs = setting(name, np.random.default_rng(1))
    (out,) = run(model.export(tmp_path / "layer.onnx"), xs)
    np.testing.assert_allclose(out, predict(model, xs), rtol=1e-5, atol=1e-5)


def test_an_embedding_s_input_takes_int64_indices(tmp_path: Path) -> None:
    model, xs = random_model("sequence", 0)
    session = ort.InferenceSession(str(model.export(tmp_path / "sequence.onnx")), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [("input", ["batch", 6], "tensor(int64)")]
    (out,) = session.run(None, {"input": xs[0].astype(np.int64)})
    np.testing.assert_allclose(out, model.predict(xs[0].astype(np.int32)), rtol=1e-5, atol=1e-5)


def test_the_inputs_are_named_and_the_batch_is_symbolic(tmp_path: Path) -> None:
    model, xs = random_model("graph", 0)
    path = model.export(tmp_path / "graph.onnx")
    proto = onnx.load(str(path))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", OPSET)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        ("a", ["batch", 5], "tensor(float)"), ("b", ["batch", 5], "tensor(float)")]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [("output", ["batch", 2])]
    for batch in (1, 9):
        more = [np.random.default_rng(batch).standard_normal((batch, 5)) for _ in range(2)]
        (out,) = run(path, more)
        np.testing.assert_allclose(out, model.predict(more), rtol=1e-5, atol=1e-5)


def test_images_stay_channels_last_at_the_boundary(tmp_path: Path) -> None:
    model, xs = random_model("convnet", 0)
    session = ort.InferenceSession(str(model.export(tmp_path / "cnn.onnx")), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", *xs[0].shape[1:]]  # (batch, H, W, C)


def test_the_weights_are_stored_under_the_parameters_names(tmp_path: Path) -> None:
    model, _ = random_model("graph", 0)
    proto = onnx.load(str(model.export(tmp_path / "graph.onnx")))
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(stored[name], p.value.astype(np.float32))  # a shared layer's once


def test_float64_on_request(tmp_path: Path) -> None:
    model, xs = random_model("graph", 1)
    (out,) = run(model.export(tmp_path / "graph64.onnx", dtype=np.float64), xs, np.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, predict(model, xs), rtol=1e-12, atol=1e-12)

    tokens = Sequential([Input(4), Embedding(5, 3, seed=0), LayerNorm(axis=[1, 2], epsilon=0.5), Swish()])
    ids = np.array([[0, 4, 2, 2], [1, 3, 0, 4]])
    (out,) = run(tokens.export(tmp_path / "tokens64.onnx", dtype=np.float64), [ids], np.float64)
    np.testing.assert_allclose(out, tokens.predict(ids), rtol=1e-12, atol=1e-12)  # epsilon 0.5 is exact in float32


def test_a_custom_layer_is_refused_by_name_before_anything_is_written(tmp_path: Path) -> None:
    model = Sequential([Input(3), Dense(3), Twice(), MyDense(3, 2)])
    path = tmp_path / "custom.onnx"
    with pytest.raises(ConfigError, match=r"export\(format='onnx'\) cannot translate 1 \(Twice\), 2 \(MyDense\)"):
        model.export(path)
    assert not path.exists()


def test_an_unknown_format_or_dtype_is_refused(tmp_path: Path) -> None:
    model, _ = random_model("dense", 0)
    with pytest.raises(ValueRangeError, match=r"unknown format 'tf_saved_model', expected 'onnx'"):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(ValueRangeError, match="dtype must be float32 or float64, got int32"):
        model.export(tmp_path / "m.onnx", dtype=np.int32)
    assert not list(tmp_path.iterdir())


def test_a_graph_of_several_outputs_gives_them_all(tmp_path: Path) -> None:
    x = Input(3, name="output")  # an input named as the outputs would be: they take other names
    model = Model(x, [Dense(2, seed=0)(x), Tanh()(x)])
    data = np.random.default_rng(0).standard_normal((4, 3))
    path = model.export(tmp_path / "two.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output_", "output_1"]
    for out, expected in zip(run(path, [data]), model.forward_all(data), strict=True):
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
