"""The command line, run as a user runs it (`python -m framework ...` in a subprocess). One model is
trained once for the module; gradcheck, summary and predict use it. A user's mistakes end with one
line on stderr and exit code 2."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import models
from framework import Dense, Sequential, Softmax, load_model
from framework.cli import check_mode

ROOT = Path(__file__).resolve().parents[1]


def framework(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


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
        ("train", ["--model", "--load", "--dataset", "--epochs", "--optimizer", "--lr", "--batch-size", "--patience",
                   "--out", "--seed", "--check-batch", "--check-mode", "--check-samples", "--verbose"]),
        ("gradcheck", ["--model", "--load", "--dataset", "--method", "--mode", "--samples", "--batch", "--seed"]),
        ("summary", ["--model", "--load", "--features"]),
        ("predict", ["--load", "--input", "--output"]),
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
    assert out.startswith("Gradient check of Sequential (6 layers) by complex step, sampled mode: PASSED\n")
    assert "FAIL" not in out


def test_summary_of_the_saved_model(trained: tuple[Path, str]) -> None:
    out = run("summary", "--load", str(trained[0] / "model.safetensors"))
    assert "Total params: 279 (float64)" in out
    assert re.search(r"^0 Dense\(64 -> 4\)\s+\(None, 4\)\s+260\s*$", out, re.MULTILINE)


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
        (["summary", "--model", "nope"], "unknown model 'nope'; models/ has four_three_one, mlp_16_8"),
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


@pytest.mark.parametrize(("requested", "parameters", "mode"),
                         [("auto", 279, "full"), ("auto", 10_000, "full"), ("auto", 49_175, "sampled"),
                          ("full", 49_175, "full"), ("directional", 279, "directional")])
def test_train_checks_a_big_model_in_sampled_mode_unless_told(requested: str, parameters: int, mode: str) -> None:
    assert check_mode(requested, parameters) == mode


@pytest.fixture(scope="module")
def logit_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Models saved without a Sigmoid: 10 columns of logits, 1 column of logits, and one ending with Softmax."""
    folder = tmp_path_factory.mktemp("logits")
    built = {"ten": Sequential([Dense(64, 10, seed=0)]), "one": Sequential([Dense(64, 1, seed=0)]),
             "softmax": Sequential([Dense(64, 3, seed=0), Softmax()])}
    return {name: model.save(folder / f"{name}.safetensors") for name, model in built.items()}


@pytest.mark.parametrize(("name", "loss"), [("ten", "CrossEntropyLoss()"), ("one", "BCEWithLogitsLoss()")])
def test_gradcheck_of_a_saved_logit_model_uses_the_loss_its_output_implies(logit_models: dict[str, Path],
                                                                           name: str, loss: str) -> None:
    out = run("gradcheck", "--load", str(logit_models[name]), "--batch", "8")
    assert "by complex step, full mode: PASSED" in out
    assert f"loss {loss} y_pred" in out


def test_gradcheck_of_a_model_ending_with_softmax_is_one_line(logit_models: dict[str, Path]) -> None:
    assert fails("gradcheck", "--load", str(logit_models["softmax"])) == (
        "framework gradcheck: error: the model ends with Softmax: end it with its logits, which CrossEntropyLoss "
        "takes, to check it\n")


@pytest.mark.parametrize("name", ["ten", "one", "softmax"])
def test_predict_of_a_logit_model_prints_probabilities(logit_models: dict[str, Path], tmp_path: Path, name: str) -> None:
    x = np.random.default_rng(0).standard_normal((5, 64))
    np.save(tmp_path / "x.npy", x)
    printed = run("predict", "--load", str(logit_models[name]), "--input", str(tmp_path / "x.npy"))
    printed_rows = np.loadtxt(printed.splitlines(), delimiter=",", ndmin=2)
    logits = load_model(logit_models[name]).predict(x)
    expected = {"ten": np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), "one": 1 / (1 + np.exp(-logits)),
                "softmax": logits}[name]
    np.testing.assert_allclose(printed_rows, expected, rtol=1e-14)
