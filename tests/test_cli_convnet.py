"""`--model cnn` from the command line: the digits as (8, 8, 1) images through `digits_cnn`, a
folder of pictures as (64, 64, 3) images through `image_cnn`; the saved convnet is taken back by
gradcheck, summary and predict (CSV rows of pixels are reshaped to the images it was saved for)."""

import re
from pathlib import Path

import numpy as np
import pytest

from framework import Sequential, load_model
from framework.datasets import image_folder, load_digits_binary
from tests.helpers.cli import framework, pictures


def ran(*args: str) -> str:
    done = framework(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("cnn")
    return out / "model.safetensors", ran("train", "--model", "cnn", "--epochs", "3", "--check-batch", "8",
                                          "--out", str(out), "--verbose", "2")


def test_train_cnn_on_the_digits_checks_trains_and_saves_a_convnet(digits_run: tuple[Path, str]) -> None:
    path, out = digits_run
    assert re.search(r"^1 Conv2D\(1 -> 16, kernel 3x3, strides 1x1, same\)\s+\(None, 8, 8, 16\)\s+160\s*$", out,
                     re.MULTILINE)
    assert re.search(r"^8 Dense\(128 -> 1\)\s+\(None, 1\)\s+129\s*$", out, re.MULTILINE)
    assert "by complex step, full mode: PASSED" in out
    assert re.search(r"by central differences, (full|sampled) mode: PASSED", out)
    assert re.search(r"^Sequential \(9 layers\): complex-step check PASSED", out, re.MULTILINE)  # the 10-class convnet
    model = load_model(path)
    assert isinstance(model, Sequential) and model.input_shape == (None, 8, 8, 1)
    assert float(re.findall(r"^test accuracy\s+(\d\.\d{4})$", out, re.MULTILINE)[0]) > 0.8  # 3 epochs


def test_a_saved_convnet_is_checked_summarised_and_predicts_from_rows_of_pixels(
        digits_run: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = digits_run
    checked = ran("gradcheck", "--load", str(path), "--batch", "4")
    assert checked.startswith("Gradient check of Sequential (10 layers) by complex step, full mode: PASSED\n")
    assert "(None, 2, 2, 32)" in ran("summary", "--load", str(path))
    images = load_digits_binary(standardize=False, flatten=False).x_test[:5]
    np.savetxt(tmp_path / "rows.csv", images.reshape(5, 64), delimiter=",")
    printed = np.loadtxt(ran("predict", "--load", str(path), "--input", str(tmp_path / "rows.csv")).splitlines(),
                         delimiter=",", ndmin=2)
    np.testing.assert_allclose(printed, load_model(path).predict(images), rtol=1e-15)


def test_summary_builds_the_convnet_for_an_input_shape() -> None:
    assert re.search(r"\(None, 14, 14, 32\)", ran("summary", "--model", "cnn", "--input-shape", "64,64,3"))
    assert "(None, 8, 8, 16)" in ran("summary", "--model", "cnn")
    done = framework("summary", "--model", "cnn", "--input-shape", "64")
    assert done.returncode == 2
    assert done.stderr == ("framework summary: error: convnet: input_shape must be an image's (H, W, C), channels "
                           "last, got (64,)\n")


def test_train_cnn_on_a_folder_of_pictures_uses_the_image_convnet(tmp_path: Path) -> None:
    root = pictures(tmp_path / "pictures", ["left", "right"])
    out = ran("train", "--model", "cnn", "--dataset", str(root), "--epochs", "15", "--check-batch", "4",
              "--out", str(tmp_path / "run"), "--verbose", "2")
    assert re.search(r"^1 Conv2D\(3 -> 16, kernel 3x3, strides 1x1, valid\)\s+\(None, 62, 62, 16\)", out, re.MULTILINE)
    assert out.count("sampled mode: PASSED") == 2  # 11,361 parameters: over the full check's 10,000
    model = load_model(tmp_path / "run" / "model.safetensors")
    data = image_folder(root, flatten=False)
    assert isinstance(model, Sequential) and model.input_shape == (None, 64, 64, 3)
    assert np.mean((model.predict(data.x) > 0.5) == data.y) > 0.7  # which half is brighter; chance is 0.5


@pytest.mark.parametrize(("shape", "message"), [
    ((5, 63), r"holds an array of shape \(5, 63\), but the model takes samples of shape \(8, 8, 1\): \(samples, 8, 8, "
              r"1\) \(or rows of 64 numbers, an image's pixels in C order\)$"),
    ((5, 1, 8, 8), r"holds an array of shape \(5, 1, 8, 8\).*: channels-first\? transpose to \(batch, H, W, C\) with x.transpose\(0, 2, 3, 1\)$"),
    ((5, 8, 8), r"holds an array of shape \(5, 8, 8\).*: add the channel axis, x\[\.\.\., np.newaxis\]$"),
    ((8, 8, 1), r"holds an array of shape \(8, 8, 1\).*: one sample\? add the batch axis, x\[np.newaxis\]$"),
])
def test_predict_names_the_sample_shape_a_saved_convnet_takes(
        digits_run: tuple[Path, str], tmp_path: Path, shape: tuple[int, ...], message: str) -> None:
    path, _ = digits_run
    np.save(tmp_path / "x.npy", np.zeros(shape))
    done = framework("predict", "--load", str(path), "--input", str(tmp_path / "x.npy"))
    assert done.returncode == 2 and done.stdout == ""
    assert re.match(r"framework predict: error: x.npy " + message, done.stderr.strip()), done.stderr
