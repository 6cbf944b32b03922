"""The book's Fashion MLP per epoch against the floor of its matrix products, on the backend
of this process (``KERAS_BACKEND``).

skann's ``FashionMLPClassifier`` (784-300-100-10, ReLU, softmax, SGD 0.01, batch size 32, no
hold-out) trains on the first N training images; its per-epoch time (median over epochs 2..E,
the first one compiling) is compared with the **floor**: the eight float32 matrix products one
training step of this network needs (three forward, three weight gradients, two input
gradients), for every batch of an epoch, timed with NumPy in the same run. The two alternate,
repeat after repeat.

    SKANN_DATA=../shared/data KERAS_BACKEND=jax python -m benchmarks.large_data --n-train 20000 --epochs 4 --repeats 3
"""

from __future__ import annotations

import time

import skann  # noqa: F401  (first: quiet TensorFlow import, on its backend)
import keras
import numpy as np

from benchmarks.harness import alternate, cli, load_fashion, markdown_table
from benchmarks.training import EpochTimer

SIZES = (784, 300, 100, 10)
BATCH = 32


def matmul_floor(n_rows: int) -> float:
    """Seconds for one epoch's matrix products of the 784-300-100-10 network, in NumPy."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])]
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(n_rows // BATCH):
        acts = [x]
        for w in weights:  # forward
            acts.append(acts[-1] @ w)
        grad = acts[-1]
        for i in reversed(range(len(weights))):  # backward: weight gradient, input gradient
            _ = acts[i].T @ grad
            if i:
                grad = grad @ weights[i].T
    return time.perf_counter() - start


def run(n_train: int = 20000, epochs: int = 4, repeats: int = 3, seed: int = 42) -> str:
    from skann import FashionMLPClassifier

    X_train, y_train, *_, X_test, y_test = load_fashion(n_train)
    accuracy = {}

    def skann_epoch():
        timer = EpochTimer()
        clf = FashionMLPClassifier(
            n_hidden=2, n_neurons=[300, 100], optimizer="sgd", learning_rate=0.01, batch_size=BATCH,
            epochs=epochs, early_stopping=False, random_state=seed, callbacks=[timer],
        ).fit(X_train, y_train)
        accuracy["skann"] = clf.score(X_test, y_test)
        return timer.per_epoch()

    results = alternate({"matmul floor (NumPy)": lambda: matmul_floor(len(X_train)), "skann epoch": skann_epoch}, repeats)
    floor, ours = results["matmul floor (NumPy)"].median, results["skann epoch"].median
    table = markdown_table(
        ["backend", "images", "floor per epoch", "skann per epoch", "skann / floor", "test accuracy"],
        [[keras.backend.backend(), f"{len(X_train):,}", f"{floor * 1e3:.0f} ms", f"{ours * 1e3:.0f} ms",
          f"{ours / floor:.2f}x", f"{accuracy['skann']:.4f} after {epochs} epochs"]],
    )
    return f"Fashion MLP per epoch against its matrix-product floor ({repeats} alternating repeats, medians).\n\n{table}"


if __name__ == "__main__":
    cli(run, __doc__, n_train=20000, epochs=4, repeats=3)
