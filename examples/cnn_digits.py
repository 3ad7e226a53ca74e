"""Train a convnet on the 8x8 digits (10 classes), prove its gradients right, save it and load it back.

The digits come as channels-last images, (m, 8, 8, 1); the model is `models.digits_cnn`:
Normalization -> [Conv2D 3x3 (16 filters, "same") -> ReLU -> MaxPool2D 2] -> [the same, 32 filters]
-> Flatten -> Dense(128 -> 10) logits, for CrossEntropyLoss.
Run: python examples/cnn_digits.py
"""

import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np

from framework import Adam, CrossEntropyLoss, EarlyStopping, Normalization, check_gradients, load_model
from framework.datasets import load_digits
from models import digits_cnn


def main() -> None:
    data = load_digits(standardize=False, flatten=False)  # raw pixels 0..16; the model standardises them
    print(f"{data.description}: x_train {data.x_train.shape}")
    normalization = Normalization()
    normalization.adapt(data.x_train)  # one mean and variance for the one channel
    model = digits_cnn(classes=10, normalization=normalization)
    model.summary()
    loss = CrossEntropyLoss()

    # Before training: the complex step checks every weight, and each layer on its own, exactly; central
    # differences (two forwards an entry, no shortcut) give a second opinion on 16 entries a tensor.
    checks: list[tuple[Literal["complex", "central"], Literal["full", "sampled"]]] = [
        ("complex", "full"), ("central", "sampled")]
    for method, mode in checks:
        start = time.perf_counter()
        report = check_gradients(model, loss, data.x_train[:16], data.y_train[:16], method=method, mode=mode)
        print(f"{method:>7} ({mode}): {'PASSED' if report.passed else 'FAILED'}, worst relative error "
              f"{report.worst_relative_error:.1e} ({time.perf_counter() - start:.1f} s)")
        assert report.passed, report

    model.compile(loss=loss, optimizer=Adam(lr=0.005), metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, epochs=60, batch_size=64, validation_split=0.2, seed=0,
                        verbose=0, callbacks=[EarlyStopping("val_loss", patience=8, restore_best_weights=True)])
    accuracy = model.evaluate(data.x_test, data.y_test)["accuracy"]
    print(f"trained {len(history.epoch)} epochs in {time.perf_counter() - start:.1f} s: test accuracy {accuracy:.4f}")

    with tempfile.TemporaryDirectory() as folder:
        path = model.save(Path(folder) / "digits_cnn.safetensors")
        loaded = load_model(path)
        same = np.array_equal(loaded.predict(data.x_test), model.predict(data.x_test))
        print(f"saved and loaded {path.name}: the same predictions: {same}")
        assert same


if __name__ == "__main__":
    main()
