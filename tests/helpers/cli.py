"""Running the command line as a user does, and the folders of pictures its tests train on."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def framework(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def pictures(root: Path, classes: list[str], per_class: int = 12) -> Path:
    """Noisy 40 x 48 pictures of a random colour with one half brighter: the class is which half
    (left, right or top), so that the mean colour says nothing about it. Each class folder also
    holds a notes.txt."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.broadcast_to(rng.uniform(60, 200, 3), (48, 40, 3)).copy()
            pixels[{"left": np.s_[:, :20], "right": np.s_[:, 20:], "top": np.s_[:24, :]}[name]] += 40
            pixels += rng.normal(0, 50, pixels.shape)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"{i:02d}.png")
        (root / name / "notes.txt").write_text("where these came from\n")
    return root
