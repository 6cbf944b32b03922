"""Prediction latency on Fashion-MNIST: skann vs SciKeras, Keras' own calls and scikit-learn.

All models are the book's network (784-300-100-10) trained for one epoch on 5,000 images
(timings do not depend on the weights). Each competitor computes class probabilities for one
image and for 10,000 test images; repeats alternate between them. skann's answers are checked
against Keras' ``model.predict`` on the same weights.

    SKANN_DATA=../shared/data python -m benchmarks.prediction --repeats 7
"""

from __future__ import annotations

import warnings

import numpy as np

import skann  # noqa: F401  (quiet TensorFlow import)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from benchmarks.book_keras import book_fashion_model
from benchmarks.harness import alternate, cli, load_fashion, timed, timing_table


def fitted_models(data, seed: int = 0):
    from scikeras.wrappers import KerasClassifier

    from skann import FashionMLPClassifier

    X_train, y_train = data[0][:5000], data[1][:5000]
    skann_clf = FashionMLPClassifier(epochs=1, random_state=seed).fit(X_train, y_train)
    scikeras_clf = KerasClassifier(model=book_fashion_model, model__seed=seed, epochs=1, verbose=0)
    scikeras_clf.fit(X_train / 255.0, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk_clf = MLPClassifier(hidden_layer_sizes=(300, 100), max_iter=1, random_state=seed)
        sk_clf.fit(X_train.reshape(len(X_train), -1) / 255.0, y_train)
    return skann_clf, scikeras_clf, sk_clf


def competitors(models, X_raw: np.ndarray, calls: int) -> dict:
    skann_clf, scikeras_clf, sk_clf = models
    X_scaled = X_raw / 255.0
    X_flat = X_scaled.reshape(len(X_raw), -1)
    keras_model = skann_clf.model_
    X_model = (X_raw / np.float32(255)).astype(np.float32)
    return {
        "SciKeras predict_proba": lambda: timed(lambda: scikeras_clf.predict_proba(X_scaled), calls),
        "skann predict_proba": lambda: timed(lambda: skann_clf.predict_proba(X_raw), calls),
        "Keras model.predict": lambda: timed(lambda: keras_model.predict(X_model, verbose=0), calls),
        "Keras model.predict_on_batch": lambda: timed(lambda: keras_model.predict_on_batch(X_model), calls),
        "scikit-learn MLPClassifier predict_proba": lambda: timed(lambda: sk_clf.predict_proba(X_flat), calls),
    }


def max_difference(skann_clf, X_raw: np.ndarray) -> float:
    expected = skann_clf.model_.predict((X_raw / np.float32(255)).astype(np.float32), verbose=0)
    return float(np.abs(skann_clf.predict_proba(X_raw) - expected).max())


def run(repeats: int = 7) -> str:
    data = load_fashion()
    models = fitted_models(data)
    X_test = data[4]
    sections = []
    for rows, calls in ((1, 50), (10_000, 3)):
        X = X_test[:rows]
        results = alternate(competitors(models, X, calls), repeats)
        sections.append(
            f"**{rows:,} image{'s' if rows > 1 else ''}** ({calls} calls per repeat, {repeats} "
            f"alternating repeats; largest difference between skann's probabilities and Keras' "
            f"`model.predict`: {max_difference(models[0], X):.1e})\n\n"
            + timing_table(results, "SciKeras predict_proba", what="time per call")
        )
    return "Prediction latency, Fashion-MNIST network (784-300-100-10).\n\n" + "\n\n".join(sections)


if __name__ == "__main__":
    cli(run, __doc__, repeats=7)
