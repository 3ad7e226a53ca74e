"""The command line, run as a user runs it (`python -m framework ...` in a subprocess). One model is
trained once for the module; gradcheck, summary and predict use it."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framework import load_model

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "framework", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The folder `train --epochs 3 --verbose 2` wrote to, and what it printed."""
    out = tmp_path_factory.mktemp("run")
    return out, run("train", "--epochs", "3", "--out", str(out), "--verbose", "2")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("train", ["--model", "--load", "--dataset", "--epochs", "--optimizer", "--lr", "--batch-size", "--patience",
                   "--out", "--seed", "--check-batch", "--verbose"]),
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


def test_predict_prints_the_probability_of_each_sample(trained: tuple[Path, str], tmp_path: Path) -> None:
    model_path = trained[0] / "model.safetensors"
    x = np.random.default_rng(0).standard_normal((25, 64))
    np.save(tmp_path / "x.npy", x)
    out = run("predict", "--load", str(model_path), "--input", str(tmp_path / "x.npy"))
    lines = out.splitlines()
    assert len(lines) == 25
    assert all(re.fullmatch(r"\d\.\d{6}", line) for line in lines), lines
    expected = load_model(model_path).predict(x)[:, 0]
    np.testing.assert_allclose([float(line) for line in lines], expected, rtol=0, atol=1e-6)
    assert len(set(lines)) > 10  # not one constant output
