"""A user's own Keras model through skann.KerasClassifier: prediction and training, side by side.

Prediction: one row and 10,000 rows, against scikit-learn's NumPy MLPs with the same layer
sizes (the bar for prediction), SciKeras' ``KerasClassifier`` around the same builder, and
skann's book estimators. Training: the same user model fitted through ``skann.KerasClassifier``
and in a raw Keras loop (``model.fit`` on the arrays) with the same ``steps_per_execution``.
Repeats alternate between competitors; medians and ratios are reported.

    SKANN_DATA=../shared/data python -m benchmarks.wrappers --repeats 5
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import skann  # noqa: F401  (quiet TensorFlow import)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from benchmarks.harness import alternate, cli, load_fashion, timed, timing_table


def fashion_mlp(meta=None, seed=0, compile_kwargs=None):
    """The user's model: the book's 784-300-100-10 network, written as a builder."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _quiet_sklearn(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def prediction(repeats: int) -> str:
    from scikeras.wrappers import KerasClassifier as SciKerasClassifier

    from skann import FashionMLPClassifier, HousingMLPRegressor, KerasClassifier
    from skann.datasets import load_book_split

    X_train, y_train, *_, X_test, _ = load_fashion(5000)
    rows_train = (X_train.reshape(len(X_train), -1) / np.float32(255)).astype(np.float32)
    rows_test = (X_test.reshape(len(X_test), -1) / np.float32(255)).astype(np.float32)
    user = KerasClassifier(fashion_mlp, epochs=1, random_state=0).fit(rows_train, y_train)
    other = SciKerasClassifier(fashion_mlp, epochs=1, verbose=0, random_state=0).fit(rows_train, y_train)
    book = FashionMLPClassifier(epochs=1, random_state=0).fit(X_train, y_train)
    # scikit-learn as users usually feed it (X / 255.0: float64, so it computes in float64), and
    # with float32 input, which its MLPs keep (then computing in float32 as skann does).
    sk_clf = _quiet_sklearn(MLPClassifier(hidden_layer_sizes=(300, 100), max_iter=1, random_state=0),
                            rows_train.astype(np.float64), y_train)
    sk_clf32 = _quiet_sklearn(MLPClassifier(hidden_layer_sizes=(300, 100), max_iter=1, random_state=0), rows_train, y_train)
    housing = load_book_split("housing", download=False)
    reg = HousingMLPRegressor(epochs=1, early_stopping=False, random_state=0).fit(housing.X_train, housing.y_train)
    sk_reg = _quiet_sklearn(MLPRegressor(hidden_layer_sizes=(50, 50, 50), max_iter=1, random_state=0),
                            housing.X_train, housing.y_train)
    houses = np.concatenate([housing.X_test] * 3)[:10_000]
    sections = []
    for rows, calls in ((1, 200), (10_000, 5)):
        X_img, X_rows, X_houses = X_test[:rows], rows_test[:rows], houses[:rows]
        X_rows64 = X_rows.astype(np.float64)
        # SciKeras runs in its own alternation: Model.predict keeps TensorFlow's threads busy
        # after it returns, which would slow whichever competitor follows it on 2 cores.
        numpy_group = {
            "scikit-learn MLPClassifier predict_proba": lambda: timed(lambda: sk_clf.predict_proba(X_rows64), calls),
            "scikit-learn MLPClassifier, float32 input": lambda: timed(lambda: sk_clf32.predict_proba(X_rows), calls),
            "skann.KerasClassifier (user's model) predict_proba": lambda: timed(lambda: user.predict_proba(X_rows), calls),
            "FashionMLPClassifier predict_proba": lambda: timed(lambda: book.predict_proba(X_img), calls),
            "scikit-learn MLPRegressor predict": lambda: timed(lambda: sk_reg.predict(X_houses), calls),
            "HousingMLPRegressor predict": lambda: timed(lambda: reg.predict(X_houses), calls),
        }
        scikeras_group = {
            "skann.KerasClassifier (user's model) predict_proba": lambda: timed(lambda: user.predict_proba(X_rows), calls),
            "SciKeras KerasClassifier (same model) predict_proba": lambda: timed(
                lambda: other.predict_proba(X_rows), max(1, calls // 20)),
        }
        results = alternate(numpy_group, repeats)
        versus = alternate(scikeras_group, repeats)
        agree = float(np.abs(user.predict_proba(X_rows) - other.predict_proba(X_rows)).max())
        clf_results = {k: v for k, v in results.items() if "Regressor" not in k}
        reg_results = {k: v for k, v in results.items() if "Regressor" in k}
        sections.append(
            f"**{rows:,} row{'s' if rows > 1 else ''}** ({repeats} alternating repeats; skann and SciKeras "
            f"give the same probabilities within {agree:.1e})\n\n"
            + timing_table(clf_results, "scikit-learn MLPClassifier predict_proba", what="time per call")
            + "\n\n" + timing_table(reg_results, "scikit-learn MLPRegressor predict", what="time per call")
            + "\n\n" + timing_table(versus, "SciKeras KerasClassifier (same model) predict_proba", what="time per call")
        )
    return "\n\n".join(sections)


def training(repeats: int, epochs: int = 2) -> str:
    """skann.KerasClassifier around the user's model vs the same model in a raw Keras loop."""
    from skann import KerasClassifier

    X_train, y_train, *_ = load_fashion()
    X = (X_train.reshape(len(X_train), -1) / np.float32(255)).astype(np.float32)
    y = y_train.astype(np.int32)
    probe = KerasClassifier(fashion_mlp, batch_size=32)
    steps = probe._steps_per_execution(math.ceil(len(X) / 32) * epochs)
    outcome = {}

    def raw_keras():
        model = fashion_mlp()
        model.steps_per_execution = steps
        seconds = timed(lambda: model.fit(X, y, batch_size=32, epochs=epochs, verbose=0))
        outcome["raw"] = model
        return seconds

    def wrapped():
        clf = KerasClassifier(fashion_mlp, batch_size=32, epochs=epochs, random_state=0)
        seconds = timed(lambda: clf.fit(X, y))
        outcome["skann"] = clf
        return seconds

    results = alternate({"raw Keras model.fit": raw_keras, "skann.KerasClassifier fit": wrapped}, repeats)
    return (
        f"The user's 784-300-100-10 model, {epochs} epochs on {len(X):,} images, batch size 32, "
        f"steps_per_execution={steps} for both ({repeats} alternating repeats; each fit builds and "
        f"compiles a new model, as a fit in a search does).\n\n"
        + timing_table(results, "raw Keras model.fit", what="time per fit")
    )


def small_fits(repeats: int, rows: int = 300, epochs: int = 50) -> str:
    """Many short epochs (a search or cross-validation on small data): skann.KerasClassifier
    around a small user model vs the same model in a raw Keras ``model.fit`` on the arrays."""
    import keras

    from skann import KerasClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)

    def small_model(meta=None, compile_kwargs=None):
        model = keras.Sequential([
            keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        return model

    def raw_keras():
        model = small_model()
        return timed(lambda: model.fit(X, y, batch_size=32, epochs=epochs, verbose=0))

    def wrapped():
        clf = KerasClassifier(small_model, batch_size=32, epochs=epochs, random_state=0)
        return timed(lambda: clf.fit(X, y))

    results = alternate({"raw Keras model.fit": raw_keras, "skann.KerasClassifier fit": wrapped}, repeats)
    return (
        f"A user's 8-16-1 model, {epochs} epochs on {rows} rows, batch size 32 ({math.ceil(rows / 32)} "
        f"batches per epoch; {repeats} alternating repeats, each fit on a new model).\n\n"
        + timing_table(results, "raw Keras model.fit", what="time per fit")
    )


def run(repeats: int = 5) -> str:
    return (
        "### Prediction\n\n" + prediction(repeats) + "\n\n### Training\n\n" + training(max(3, repeats // 2 + 1))
        + "\n\n### Small fits\n\n" + small_fits(repeats)
    )


if __name__ == "__main__":
    cli(run, __doc__, repeats=5)
