"""Test accuracy of the 4-3-1 model on the digits task (odd vs even), against scikit-learn's
MLPClassifier(hidden_layer_sizes=(4, 3)) on the same stratified split.

Ours is trained as the main job trains it (Adam lr 0.02, batches of 64, early stopping on a 20%
validation split with patience 30, best weights restored); scikit-learn's with its defaults
(Adam lr 0.001, batches of 200) and max_iter raised until it converges.

Run: python benchmarks/accuracy.py [--seeds 5] [--json PATH]
"""

import argparse
import json
import statistics
import sys
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import models
from framework import Adam, BCELoss, EarlyStopping
from framework.datasets import load_digits_binary


def ours(seed: int) -> float:
    data = load_digits_binary(seed=seed)
    model = models.four_three_one(data.x_train.shape[1], seed=seed)
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.02), metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=300, batch_size=64, validation_split=0.2, seed=seed, verbose=0,
              callbacks=[EarlyStopping("val_loss", patience=30, restore_best_weights=True)])
    return model.evaluate(data.x_test, data.y_test)["accuracy"]


def sklearn_mlp(seed: int) -> float:
    data = load_digits_binary(seed=seed)
    clf = MLPClassifier(hidden_layer_sizes=(4, 3), random_state=seed, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(data.x_train, data.y_train.ravel())
    return float(clf.score(data.x_test, data.y_test.ravel()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 of the split and both models")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    print(f"$ python benchmarks/accuracy.py --seeds {args.seeds}\n")
    rows = [(seed, ours(seed), sklearn_mlp(seed)) for seed in range(args.seeds)]
    print("| seed | framework 4-3-1 | scikit-learn MLPClassifier(4, 3) |")
    print("|---|---|---|")
    for seed, a, b in rows:
        print(f"| {seed} | {a:.4f} | {b:.4f} |")
    mean_ours, mean_sk = statistics.mean(r[1] for r in rows), statistics.mean(r[2] for r in rows)
    print(f"| mean | {mean_ours:.4f} | {mean_sk:.4f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "mean_framework": mean_ours, "mean_sklearn": mean_sk}, f, indent=2)
    sys.exit(0 if mean_ours >= mean_sk else 1)


if __name__ == "__main__":
    main()
