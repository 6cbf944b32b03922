"""Fashion-MNIST test accuracy of skann's defaults vs the book's raw Keras code, over seeds.

Both train the same network (784-300-100-10, SGD 0.01, batch 32, 30 epochs) on the first
55,000 training images; runs alternate between the two. Prints one line per run and a
markdown summary (mean, min, max per method).

    SKANN_DATA=../shared/data python -m benchmarks.fashion_accuracy_seeds --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.book_keras import fashion_mlp_accuracy
from skann import FashionMLPClassifier
from skann.datasets import load_fashion_mnist


def skann_default(X_train, y_train, X_valid, y_valid, X_test, y_test, *, seed: int, epochs: int) -> float:
    clf = FashionMLPClassifier(epochs=epochs, random_state=seed)
    clf.fit(X_train, y_train, validation_data=(X_valid, y_valid))
    return float(clf.score(X_test, y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    (X_full, y_full), (X_test, y_test) = load_fashion_mnist(download=False)
    data = (X_full[:55000], y_full[:55000], X_full[55000:], y_full[55000:], X_test, y_test)
    results: dict[str, list[float]] = {"book raw Keras": [], "skann default": []}
    for seed in args.seeds:
        for name, run in (("book raw Keras", fashion_mlp_accuracy), ("skann default", skann_default)):
            start = time.perf_counter()
            accuracy = run(*data, seed=seed, epochs=args.epochs)
            results[name].append(accuracy)
            print(f"{name:15s} seed {seed}: test accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    print("\n| method | seeds | mean | min | max |\n| --- | --- | --- | --- | --- |")
    for name, accs in results.items():
        print(f"| {name} | {len(accs)} | {np.mean(accs):.4f} | {min(accs):.4f} | {max(accs):.4f} |")


if __name__ == "__main__":
    main()
