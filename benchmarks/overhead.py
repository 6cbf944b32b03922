"""Wrapper overhead on small data: skann's fit vs the same raw Keras fit.

1,000 rows, 10 epochs, batch 32, on the real data: the California housing regressor
(Normalization + 3 x Dense(50) + Adam) and the Fashion-MNIST classifier (784-300-100-10, SGD).
The raw Keras side builds the very same model with skann's builders and compiles it with the
same execution settings: ``steps_per_execution=1``, Keras' default, which is also what skann's
"auto" picks for a fit this short (320 batches); both build a new model each repeat, as a fit
in a search does. The ratio is skann's time over raw Keras' time (target <= 1.2).

    SKANN_DATA=../shared/data python -m benchmarks.overhead --repeats 7
"""

from __future__ import annotations

import time

import numpy as np

import skann  # noqa: F401  (quiet TensorFlow import)
import keras

from benchmarks.harness import alternate, cli, load_fashion, markdown_table
from skann import FashionMLPClassifier, HousingMLPRegressor
from skann.builders import build_classification_mlp, build_regression_mlp
from skann.datasets import load_california_housing

N_ROWS, EPOCHS, STEPS = 1000, 10, 1


def _raw_housing(X, y, seed):
    keras.utils.set_random_seed(seed)
    X = X.astype(np.float32)
    model = build_regression_mlp(X.shape[1], 1, n_hidden=3, n_neurons=50)
    model.get_layer("normalization").adapt(X)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="mse",
        metrics=[keras.metrics.RootMeanSquaredError()], steps_per_execution=STEPS,
    )
    model.fit(X, y.astype(np.float32), epochs=EPOCHS, batch_size=32, verbose=0)
    return model


def _raw_fashion(X, y, seed):
    keras.utils.set_random_seed(seed)
    model = build_classification_mlp((28, 28), 10)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy",
        metrics=["accuracy"], steps_per_execution=STEPS,
    )
    model.fit((X / np.float32(255)).astype(np.float32), y, epochs=EPOCHS, batch_size=32, verbose=0)
    return model


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(repeats: int = 7, seed: int = 0) -> str:
    X_h, y_h = load_california_housing(return_X_y=True)
    X_h, y_h = X_h[:N_ROWS], y_h[:N_ROWS]
    X_f, y_f = load_fashion()[0][:N_ROWS], load_fashion()[1][:N_ROWS]
    comps = {
        "housing: raw Keras": lambda: _time(lambda: _raw_housing(X_h, y_h, seed)),
        "housing: skann HousingMLPRegressor": lambda: _time(
            lambda: HousingMLPRegressor(epochs=EPOCHS, early_stopping=False, random_state=seed).fit(X_h, y_h)
        ),
        "fashion: raw Keras": lambda: _time(lambda: _raw_fashion(X_f, y_f, seed)),
        "fashion: skann FashionMLPClassifier": lambda: _time(
            lambda: FashionMLPClassifier(epochs=EPOCHS, random_state=seed).fit(X_f, y_f)
        ),
    }
    assert HousingMLPRegressor()._steps_per_execution(N_ROWS // 32 * EPOCHS) == STEPS
    results = alternate(comps, repeats)
    rows = []
    for task in ("housing", "fashion"):
        raw = next(r for n, r in results.items() if n.startswith(task) and "raw" in n)
        ours = next(r for n, r in results.items() if n.startswith(task) and "skann" in n)
        rows.append(
            [task, f"{raw.median:.2f} s", f"{ours.median:.2f} s", f"{ours.median / raw.median:.2f}"]
        )
    return (
        f"Wrapper overhead: whole `fit` on {N_ROWS:,} rows, {EPOCHS} epochs, batch 32, "
        f"steps_per_execution={STEPS} on both sides, new model each time; {repeats} alternating "
        "repeats, medians.\n\n"
        + markdown_table(["data", "raw Keras fit", "skann fit", "skann / raw Keras"], rows)
    )


if __name__ == "__main__":
    cli(run, __doc__, repeats=7)
