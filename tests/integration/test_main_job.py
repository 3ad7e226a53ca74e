"""The main job and the example run end to end, in a subprocess, as a user runs them."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    """Run with this checkout first on the path: an example script is not in the project's folder,
    and the installed package may be another checkout's."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_main_job_checks_trains_saves_and_plots(tmp_path: Path) -> None:
    out = run("-m", "framework", "train", "--epochs", "30", "--verbose", "2", "--out", str(tmp_path))
    assert out.count("full mode: PASSED") == 2
    assert "Total params: 279 (float64)" in out
    assert "Epoch 1/30 - loss: " in out and "val_accuracy" in out
    match = re.search(r"test accuracy\s+([0-9.]+)", out)
    assert match is not None
    assert float(match.group(1)) > 0.9
    for name in ("history.png", "gradcheck.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "model.safetensors").stat().st_size > 279 * 8
    assert "Sequential (4 layers): complex-step check PASSED" in out  # Normalization, Dense, ReLU, Dense
    ten = re.search(r"10-class test accuracy\s+([0-9.]+)", out)
    assert ten is not None and float(ten.group(1)) > 0.85


def test_seed_bug_example_names_each_broken_part() -> None:
    out = run("examples/seed_bug.py")
    assert out.count("WRONG: the backward of layer 5 SigmoidDerivativeOnZ()") == 2
    assert out.count("WRONG: the backward of loss BCEWithoutOneOverM()") == 2
    assert "= the batch size m: missing 1/m?" in out
    assert out.count("full mode: PASSED") == 2
    assert out.count("full mode: FAILED") == 4


def test_custom_layer_example_checks_trains_and_round_trips() -> None:
    out = run("examples/custom_layer.py")
    assert "check_layer(LearnableSwish) by complex: PASSED" in out
    assert "check_layer(LearnableSwish) by central: PASSED" in out
    assert "Gradient check of Model (6 layers) by complex step, full mode: PASSED" in out
    assert "loaded model predicts bit for bit the same: True" in out


def test_cnn_digits_example_checks_trains_to_098_and_round_trips() -> None:
    out = run("examples/cnn_digits.py")
    assert "x_train (1347, 8, 8, 1)" in out
    assert "complex (full): PASSED" in out and "central (sampled): PASSED" in out
    accuracy = re.search(r"test accuracy (\d\.\d{4})", out)
    assert accuracy is not None and float(accuracy.group(1)) >= 0.98  # the bar; the MLP gets 0.971
    assert "the same predictions: True" in out
