"""The command line, run as a user runs it (`python -m framework ...` in a subprocess). One model is
trained once for the module; gradcheck, summary and predict use it. A user's mistakes end with one
line on stderr and exit code 2."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import models
from framework import (
    Adam, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dense, Loss, MSELoss, Normalization, Sequential, Sigmoid,
    Softmax, load_model,
)
from framework.cli import check_mode
from framework.datasets import image_folder, load_digits_binary
from framework.saving import saved_loss
from tests.helpers.cli import framework, pictures

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    done = framework(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def fails(*args: str) -> str:
    """What the command printed on stderr, having printed nothing else and exited with code 2."""
    done = framework(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The folder `train --epochs 3 --verbose 2` wrote to, and what it printed."""
    out = tmp_path_factory.mktemp("run")
    return out, run("train", "--epochs", "3", "--out", str(out), "--verbose", "2")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("train", ["--model", "--load", "--import", "--loss", "--dataset", "--epochs", "--optimizer", "--lr",
                   "--batch-size", "--patience", "--out", "--seed", "--check-batch", "--check-mode", "--check-samples",
                   "--verbose"]),
        ("gradcheck", ["--model", "--load", "--import", "--loss", "--dataset", "--method", "--mode", "--samples",
                       "--batch", "--seed"]),
        ("summary", ["--model", "--load", "--import", "--input-shape"]),
        ("predict", ["--load", "--input", "--output", "--raw", "--probabilities", "--import"]),
    ],
)
def test_each_subcommand_has_help_naming_its_options(command: str, options: list[str]) -> None:
    out = run(command, "--help")
    assert out.startswith(f"usage: framework {command} ")
    for option in options:
        assert re.search(rf"^\s+{option}\b", out, re.MULTILINE), option


def test_train_checks_trains_and_writes_the_model_and_the_plots(trained: tuple[Path, str]) -> None:
    folder, out = trained
    assert "Total params: 279 (float64)" in out
    assert out.count("full mode: PASSED") == 2  # the complex-step and the central-difference checks
    epochs = re.findall(r"^Epoch (\d)/3 - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - "
                        r"val_accuracy: \d\.\d{4}$", out, re.MULTILINE)
    assert epochs == ["1", "2", "3"]
    assert "\r" not in out
    match = re.search(r"^test accuracy\s+(\d\.\d{4})$", out, re.MULTILINE)
    assert match is not None and float(match.group(1)) > 0.8
    assert sorted(p.name for p in folder.iterdir()) == ["gradcheck.png", "history.png", "model.safetensors"]
    for name in ("history.png", "gradcheck.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sum(p.size for p in load_model(folder / "model.safetensors").parameters()) == 279


def test_gradcheck_of_the_saved_model_passes(trained: tuple[Path, str]) -> None:
    out = run("gradcheck", "--load", str(trained[0] / "model.safetensors"), "--mode", "sampled")
    assert out.startswith("Gradient check of Sequential (7 layers) by complex step, sampled mode: PASSED\n")
    assert "loss BCELoss() y_pred" in out  # the loss the file names
    assert "FAIL" not in out


def test_summary_of_the_saved_model(trained: tuple[Path, str]) -> None:
    out = run("summary", "--load", str(trained[0] / "model.safetensors"))
    assert "Total params: 279 (float64)" in out
    assert re.search(r"^0 Normalization\(axis=-1, features=64\)\s+\(None, 64\)\s+0\s*$", out, re.MULTILINE)
    assert re.search(r"^1 Dense\(64 -> 4\)\s+\(None, 4\)\s+260\s*$", out, re.MULTILINE)


@pytest.fixture(scope="module")
def float32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained float32 4-3-1 model of 64 features, saved."""
    path: Path = models.four_three_one(64, dtype=np.float32).save(tmp_path_factory.mktemp("f32") / "m.safetensors")
    return path


def test_predict_prints_the_probability_of_each_sample(trained: tuple[Path, str], tmp_path: Path) -> None:
    model_path = trained[0] / "model.safetensors"
    x = np.random.default_rng(0).standard_normal((25, 64))
    np.save(tmp_path / "x.npy", x)
    out = run("predict", "--load", str(model_path), "--input", str(tmp_path / "x.npy"))
    lines = out.splitlines()
    assert len(lines) == 25
    expected = load_model(model_path).predict(x)[:, 0]
    np.testing.assert_array_equal([float(line) for line in lines], expected)  # the float64 itself
    assert len(set(lines)) > 10  # not one constant output


def test_predict_writes_probabilities_that_read_back_exactly_however_small(float32_model: Path, tmp_path: Path) -> None:
    x = 30 * np.random.default_rng(1).standard_normal((40, 64))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    assert run("predict", "--load", str(float32_model), "--input", str(tmp_path / "x.csv"),
               "--output", str(tmp_path / "p.csv")) == ""
    expected = load_model(float32_model).predict(x.astype(np.float32))
    assert 0 < expected.min() < 1e-9  # "%.6f" wrote 0.000000
    written = np.loadtxt(tmp_path / "p.csv", delimiter=",", ndmin=2, dtype=np.float32)
    np.testing.assert_array_equal(written, expected)


def test_predict_converts_the_input_floats_to_the_models_dtype(trained: tuple[Path, str], tmp_path: Path) -> None:
    model_path = trained[0] / "model.safetensors"  # float64
    x = np.random.default_rng(2).standard_normal((5, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = run("predict", "--load", str(model_path), "--input", str(tmp_path / "x.npy"))
    expected = load_model(model_path).predict(x.astype(np.float64))[:, 0]
    np.testing.assert_array_equal([float(line) for line in out.splitlines()], expected)


def test_train_verbose_0_prints_nothing(tmp_path: Path) -> None:
    assert run("train", "--epochs", "1", "--out", str(tmp_path), "--verbose", "0") == ""
    assert (tmp_path / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["train", "--lr", "-1"], "framework train: error: argument --lr: must be a finite number above 0, got -1"),
        (["train", "--lr", "nan"], "framework train: error: argument --lr: must be a finite number above 0, got nan"),
        (["train", "--epochs", "0"], "framework train: error: argument --epochs: must be at least 1, got 0"),
        (["train", "--epochs", "ten"], "framework train: error: argument --epochs: expected an integer, got 'ten'"),
        (["train", "--check-batch", "0"], "framework train: error: argument --check-batch: must be at least 1, got 0"),
        (["train", "--seed", "-1"], "framework train: error: argument --seed: must be at least 0, got -1"),
        (["gradcheck", "--batch", "0"], "framework gradcheck: error: argument --batch: must be at least 1, got 0"),
        (["gradcheck", "--samples", "0"], "framework gradcheck: error: argument --samples: must be at least 1, got 0"),
    ],
)
def test_a_bad_option_value_is_refused_before_any_work(args: list[str], error: str) -> None:
    stderr = fails(*args)
    assert stderr.startswith(f"usage: framework {args[0]} ")  # as argparse reports any bad option
    assert stderr.endswith(f"\n{error}\n")


def test_a_users_mistake_is_one_line_on_stderr_and_exit_code_2(float32_model: Path, tmp_path: Path) -> None:
    (tmp_path / "header.csv").write_text("f0,f1\n1,2\n")
    model = str(float32_model)
    for args, error in [
        (["train", "--dataset", "digit"],
         "image_folder: digit is not a folder: expected a folder with one sub-folder per class"),
        (["summary", "--model", "nope"], "unknown model 'nope'; models/ has four_three_one, mlp_16_8, cnn, digits_cnn, image_cnn"),
        (["summary", "--load", "missing.safetensor"],
         "missing.safetensor does not exist: check the path, and the working directory it is relative to"),
        (["predict", "--load", model, "--input", "nope.npy"], "cannot read nope.npy: No such file or directory"),
        (["predict", "--load", model, "--input", f"{tmp_path}/header.csv"],
         f"cannot read {tmp_path}/header.csv: could not convert string 'f0' to float64 at row 0, column 1 "
         "(expected comma-separated numbers, no header row)"),
    ]:
        assert fails(*args) == f"framework {args[0]}: error: {error}\n", args


def test_predict_to_a_folder_that_does_not_exist_is_one_line(float32_model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 64), dtype=np.float32))
    stderr = fails("predict", "--load", str(float32_model), "--input", str(tmp_path / "x.npy"),
                   "--output", "/nonexistent/p.csv")
    assert stderr == "framework predict: error: cannot write /nonexistent/p.csv: No such file or directory\n"


@pytest.mark.parametrize(("requested", "parameters", "seconds", "mode"),
                         [("auto", 279, None, "full"), ("auto", 10_000, None, "full"), ("auto", 49_175, None, "sampled"),
                          ("full", 49_175, None, "full"), ("directional", 279, None, "directional"),
                          ("auto", 279, 1.9, "full"), ("auto", 4_929, 9.3, "sampled"), ("full", 4_929, 9.3, "full")])
def test_train_checks_a_big_model_in_sampled_mode_unless_told(requested: str, parameters: int, seconds: float | None,
                                                              mode: str) -> None:
    """`seconds`: how long the complex step took, before central differences."""
    assert check_mode(requested, parameters, seconds) == mode


@pytest.fixture(scope="module")
def logit_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Models saved without a Sigmoid: 10 columns of logits, 1 column of logits, and one ending with Softmax."""
    folder = tmp_path_factory.mktemp("logits")
    built = {"ten": Sequential([Dense(64, 10, seed=0)]), "one": Sequential([Dense(64, 1, seed=0)]),
             "softmax": Sequential([Dense(64, 3, seed=0), Softmax()])}
    return {name: model.save(folder / f"{name}.safetensors") for name, model in built.items()}


@pytest.mark.parametrize(("name", "loss"), [("ten", "CrossEntropyLoss"), ("one", "BCEWithLogitsLoss"), ("one", "MSELoss")])
def test_gradcheck_of_a_saved_logit_model_takes_the_loss_it_is_given(logit_models: dict[str, Path], name: str,
                                                                      loss: str) -> None:
    out = run("gradcheck", "--load", str(logit_models[name]), "--batch", "8", "--loss", loss)
    assert "by complex step, full mode: PASSED" in out
    assert f"loss {loss}() y_pred" in out


@pytest.mark.parametrize(("name", "last"), [("ten", "Dense(64 -> 10)"), ("one", "Dense(64 -> 1)")])
def test_gradcheck_of_a_logit_model_without_a_loss_does_not_guess_one(logit_models: dict[str, Path], name: str,
                                                                     last: str) -> None:
    assert fails("gradcheck", "--load", str(logit_models[name])) == (
        f"framework gradcheck: error: the model ends with {last}, not Sigmoid, and its file names no loss, so its "
        "outputs may be logits or a regression's: pass --loss (BCEWithLogitsLoss for the logit of two classes, "
        "CrossEntropyLoss for several, MSELoss for a regression)\n")


def test_a_logits_loss_for_a_model_ending_with_a_sigmoid_is_refused(trained: tuple[Path, str]) -> None:
    model = str(trained[0] / "model.safetensors")
    assert fails("train", "--load", model, "--loss", "BCEWithLogitsLoss", "--epochs", "1", "--verbose", "0") == (
        "framework train: error: --loss BCEWithLogitsLoss takes logits, but the model ends with Sigmoid(), whose "
        "outputs are probabilities: it would apply a second sigmoid or softmax; pass --loss BCELoss for a Sigmoid "
        "output\n")


def test_gradcheck_of_a_model_ending_with_softmax_is_one_line(logit_models: dict[str, Path]) -> None:
    assert fails("gradcheck", "--load", str(logit_models["softmax"])) == (
        "framework gradcheck: error: the model ends with Softmax: end it with its logits, which CrossEntropyLoss "
        "takes, to check it\n")


def predicted(*args: str) -> tuple[npt.NDArray[np.float64], str]:
    """The rows `predict` printed, and its stderr."""
    done = framework("predict", *args)
    assert done.returncode == 0, done.stderr
    return np.loadtxt(done.stdout.splitlines(), delimiter=",", ndmin=2), done.stderr


@pytest.mark.parametrize("name", ["ten", "one", "softmax"])
def test_predict_prints_probabilities_only_where_the_model_says_its_outputs_are_or_when_asked(
        logit_models: dict[str, Path], tmp_path: Path, name: str) -> None:
    x = np.random.default_rng(0).standard_normal((5, 64))
    np.save(tmp_path / "x.npy", x)
    outputs = load_model(logit_models[name]).predict(x)
    probabilities = {"ten": np.exp(outputs) / np.exp(outputs).sum(axis=1, keepdims=True),
                     "one": 1 / (1 + np.exp(-outputs)), "softmax": outputs}[name]
    load = ["--load", str(logit_models[name]), "--input", str(tmp_path / "x.npy")]
    printed, stderr = predicted(*load)
    if name == "softmax":
        np.testing.assert_allclose(printed, probabilities, rtol=1e-14)
        assert stderr == ""
    else:  # no Sigmoid or Softmax, no loss in the file: logits, or a regression's outputs? not squashed
        np.testing.assert_array_equal(printed, outputs)
        assert stderr == (f"framework predict: note: printed raw outputs: the model ends with Dense(64 -> "
                          f"{outputs.shape[1]}), not Sigmoid or Softmax, and its file names no loss; --probabilities "
                          "prints their sigmoid (softmax for several columns), --raw prints them without this note\n")
    printed, stderr = predicted(*load, "--probabilities")
    np.testing.assert_allclose(printed, probabilities, rtol=1e-14)
    assert stderr == ""
    printed, stderr = predicted(*load, "--raw")
    np.testing.assert_array_equal(printed, outputs)
    assert stderr == ""


@pytest.mark.parametrize(("loss", "squashed"), [(MSELoss, False), (BCEWithLogitsLoss, True)])
def test_predict_takes_the_loss_a_file_names_for_what_its_outputs_are(tmp_path: Path, loss: type[Loss],
                                                                       squashed: bool) -> None:
    model = Sequential([Dense(3, 1, seed=0)])
    model.compile(loss=loss(), optimizer=Adam())
    path = model.save(tmp_path / "m.safetensors")
    x = 10 * np.random.default_rng(3).standard_normal((6, 3))
    np.save(tmp_path / "x.npy", x)
    outputs = model.predict(x)
    printed, stderr = predicted("--load", str(path), "--input", str(tmp_path / "x.npy"))
    np.testing.assert_allclose(printed, 1 / (1 + np.exp(-outputs)) if squashed else outputs, rtol=1e-14)
    assert stderr == ""


def test_a_trained_model_takes_raw_pixels_and_predict_gives_the_accuracy_evaluate_gave(
        trained: tuple[Path, str], tmp_path: Path) -> None:
    folder, out = trained
    raw = load_digits_binary(standardize=False)  # the split train used, pixels 0 to 16
    normalization = load_model(folder / "model.safetensors").layers[0]
    assert isinstance(normalization, Normalization)
    np.testing.assert_allclose(normalization.mean.value, raw.x_train.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(normalization.variance.value, raw.x_train.var(axis=0), rtol=1e-14)
    np.save(tmp_path / "x.npy", raw.x_test)
    printed, _ = predicted("--load", str(folder / "model.safetensors"), "--input", str(tmp_path / "x.npy"))
    match = re.search(r"^test accuracy\s+(\d\.\d{4})$", out, re.MULTILINE)
    assert match is not None
    assert f"{np.mean((printed > 0.5) == (raw.y_test > 0.5)):.4f}" == match.group(1)


@pytest.fixture(scope="module")
def folder_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Path, str, str]]:
    """For 2 and 3 classes: the folder of pictures, the model `train` saved, its stdout and stderr."""
    runs = {}
    for classes in (2, 3):
        root = pictures(tmp_path_factory.mktemp(f"pictures{classes}"), ["left", "right", "top"][:classes])
        out = tmp_path_factory.mktemp(f"run{classes}")
        done = framework("train", "--dataset", str(root), "--epochs", "30", "--out", str(out), "--verbose", "2")
        assert done.returncode == 0, done.stderr
        runs[classes] = root, out / "model.safetensors", done.stdout, done.stderr
    return runs


def accuracy(out: str, which: str = "test") -> float:
    match = re.search(rf"^{which} accuracy\s+(\d\.\d{{4}})$", out, re.MULTILINE)
    assert match is not None, out
    return float(match.group(1))


def test_train_on_a_folder_of_pictures_standardises_them_and_learns(
        folder_runs: dict[int, tuple[Path, Path, str, str]]) -> None:
    root, model, out, stderr = folder_runs[2]
    assert "Normalization(axis=-1, features=12288)  (None, 12288)  0" in out
    assert out.count("sampled mode: PASSED") == 2
    assert accuracy(out, "train") == 1.0 and accuracy(out) == 1.0  # without the Normalization: 0.5, a dead network
    assert stderr == (f"framework train: note: skipped 2 file(s) that are not images by their extension: "
                      f"{root}/left/notes.txt, {root}/right/notes.txt\n")
    assert type(saved_loss(model)) is BCELoss


def test_three_class_folders_train_a_softmax_model_that_gradcheck_summary_and_predict_take(
        folder_runs: dict[int, tuple[Path, Path, str, str]], tmp_path: Path) -> None:
    root, model, out, _ = folder_runs[3]
    assert re.search(r"^5 Dense\(3 -> 3\)\s+\(None, 3\)\s+12\s*$", out, re.MULTILINE)  # logits, no Sigmoid
    assert "loss CrossEntropyLoss() y_pred" in out
    assert accuracy(out) > 0.6  # chance is 1/3
    assert type(saved_loss(model)) is CrossEntropyLoss

    checked = framework("gradcheck", "--load", str(model), "--dataset", str(root), "--mode", "sampled")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("Gradient check of Sequential (6 layers) by complex step, sampled mode: PASSED\n")
    assert "loss CrossEntropyLoss() y_pred" in checked.stdout
    assert "Total params: 49,183 (float64)" in run("summary", "--load", str(model))

    data = image_folder(root)
    np.save(tmp_path / "x.npy", data.x)
    printed, stderr = predicted("--load", str(model), "--input", str(tmp_path / "x.npy"))
    logits = load_model(model).predict(data.x)
    assert printed.shape == (36, 3) and stderr == ""
    np.testing.assert_allclose(printed, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(printed.sum(axis=1), 1.0, rtol=1e-15)
    assert np.mean(printed.argmax(axis=1) == data.y) > 0.6


CUSTOM_LAYER = '''
import numpy as np
from framework import Layer, register_layer


@register_layer
class CliTestDouble(Layer):
    """y = 2 x."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad):
        return 2 * grad
'''


def test_import_makes_a_modules_custom_layers_loadable(tmp_path: Path) -> None:
    (tmp_path / "cli_test_layers.py").write_text(CUSTOM_LAYER)
    spec = importlib.util.spec_from_file_location("cli_test_layers", tmp_path / "cli_test_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = Sequential([Dense(64, 1, seed=0), module.CliTestDouble(), Sigmoid()]).save(tmp_path / "custom.safetensors")
    assert "unknown layer 'CliTestDouble': import the module" in fails("summary", "--load", str(path))
    for spec_text in (str(tmp_path / "cli_test_layers.py"), "cli_test_layers"):
        done = subprocess.run([sys.executable, "-m", "framework", "summary", "--load", str(path), "--import", spec_text],
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert re.search(r"^1 CliTestDouble\(\)\s+\(None, 1\)\s+0\s*$", done.stdout, re.MULTILINE)
    x = np.random.default_rng(0).standard_normal((4, 64))
    np.save(tmp_path / "x.npy", x)
    printed, _ = predicted("--load", str(path), "--input", str(tmp_path / "x.npy"),
                           "--import", str(tmp_path / "cli_test_layers.py"))
    np.testing.assert_array_equal(printed, load_model(path).predict(x))  # registered here by exec_module above


def test_a_module_that_does_not_import_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import numpy\nraise RuntimeError('half written')\n")
    (tmp_path / "typo.py").write_text("def f(:\n")
    for spec_text, error in [
        ("no_such_module", "cannot import no_such_module: ModuleNotFoundError: No module named 'no_such_module'"),
        (str(tmp_path / "missing.py"), f"cannot import {tmp_path}/missing.py: no such file"),
        (str(tmp_path / "broken.py"), f"cannot import {tmp_path}/broken.py: RuntimeError: half written"),
        (str(tmp_path / "typo.py"), f"cannot import {tmp_path}/typo.py: SyntaxError: invalid syntax (typo.py, line 1)"),
    ]:
        assert fails("summary", "--import", spec_text) == f"framework summary: error: {error}\n", spec_text
