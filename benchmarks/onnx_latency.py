"""1-row prediction through onnxruntime (a graph from ``skann.to_onnx``) vs scikit-learn's
``MLPClassifier.predict`` and skann's own ``predict``, on the same layer sizes.

Two classifiers: the book's Fashion-MNIST network (784-300-100-10) and a small tabular one
(30 features, 32-16 hidden, 2 classes: breast cancer). Timings do not depend on the weights,
so each is trained briefly. Each competitor predicts one row, ``--calls`` times back to back;
repeats alternate between competitors; medians.

    pip install "skann[onnx]" && python -m benchmarks.onnx_latency --repeats 7
"""

from __future__ import annotations

import warnings

import numpy as np

import skann  # noqa: F401  (quiet TensorFlow import)
from benchmarks.harness import alternate, cli, timed, timing_table


def _mlp(sizes):
    def build(meta):
        import keras

        layers = [keras.Input((meta["n_features_in_"],))]
        layers += [keras.layers.Dense(n, activation="relu") for n in sizes]
        layers.append(keras.layers.Dense(meta["n_classes_"], activation="softmax"))
        return keras.Sequential(layers)

    return build


def _problems():
    from sklearn.datasets import load_breast_cancer

    rng = np.random.default_rng(0)
    X_cancer, y_cancer = load_breast_cancer(return_X_y=True)
    X_images = rng.random((2000, 784)).astype(np.float32)
    return {
        "breast cancer, 30-32-16-2": (X_cancer.astype(np.float32), y_cancer, (32, 16)),
        "Fashion-MNIST sizes, 784-300-100-10": (X_images, rng.integers(0, 10, 2000), (300, 100)),
    }


def run(repeats: int = 7, calls: int = 500) -> str:
    import onnxruntime as ort
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from skann import KerasClassifier

    sections = []
    for name, (X, y, sizes) in _problems().items():
        est = KerasClassifier(_mlp(sizes), loss="sparse_categorical_crossentropy", epochs=1, random_state=0).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk = MLPClassifier(hidden_layer_sizes=sizes, max_iter=1, random_state=0).fit(X, y)
        session = ort.InferenceSession(skann.to_onnx(est).SerializeToString(), providers=["CPUExecutionProvider"])
        row = X[:1]
        label, proba = session.run(None, {"X": row})
        assert label[0] == est.predict(row)[0] and np.allclose(proba, est.predict_proba(row), atol=1e-5)
        results = alternate({
            "scikit-learn MLPClassifier.predict": lambda: timed(lambda: sk.predict(row), calls),
            "onnxruntime (skann.to_onnx graph)": lambda: timed(lambda: session.run(None, {"X": row}), calls),
            "skann KerasClassifier.predict": lambda: timed(lambda: est.predict(row), calls),
        }, repeats)
        sections.append(f"{name}, 1 row:\n\n" + timing_table(results, "scikit-learn MLPClassifier.predict", what="time per call"))
    return "\n\n".join(sections)


if __name__ == "__main__":
    cli(run, __doc__, repeats=7, calls=500)
