"""Your own network in scikit-learn: a small CNN on Fashion-MNIST with skann.KerasClassifier.

The model-building function gets what fit learnt about the data (``meta``: image shape,
number of classes) and the hyperparameters it declares (``filters``, ``dropout``), which a
``GridSearchCV`` then tunes as ``kerasclassifier__model__filters``. The images go through a
``Pipeline`` (flattened to rows, scaled to [0, 1] by ``PixelScaler``, reshaped to
``(28, 28, 1)`` images with a channel axis by ``ImageReshaper``); the
search uses stratified folds; the best pipeline is saved with joblib and with the pickle-free
``skann.save``, and both files give the same predictions.

    python examples/custom_cnn.py            # 10,000 training images when the real data is found
    python examples/custom_cnn.py --fast     # 600 sample images, 1 epoch (the test suite's mode)
"""

from __future__ import annotations

import argparse
import os
import tempfile

import skann  # first: quiet TensorFlow import
import joblib
import keras
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skann import ImageFlattener, ImageReshaper, KerasClassifier, PixelScaler
from skann.datasets import load_fashion_mnist


def build_cnn(meta, filters=16, dropout=0.25):
    """A small CNN: two convolution blocks, then a softmax over the classes."""
    return keras.Sequential(
        [
            keras.Input(meta["X_shape_"][1:]),  # (28, 28, 1)
            keras.layers.Conv2D(filters, 3, activation="relu", padding="same", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(2 * filters, 3, activation="relu", padding="same", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dropout(dropout, name="dropout"),
            keras.layers.Dense(meta["n_classes_"], activation="softmax", name="output"),
        ],
        name="fashion_cnn",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    try:
        if args.fast:
            raise FileNotFoundError
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist(download=False)
        X_train, y_train, source = X_train[:10000], y_train[:10000], "Fashion-MNIST"
    except FileNotFoundError:
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist(sample=True)
        X_train, y_train, source = X_train[:600], y_train[:600], "the bundled Fashion-MNIST sample"
    epochs = 1 if args.fast else 5

    pipe = make_pipeline(
        ImageFlattener(),
        PixelScaler(),
        ImageReshaper(shape=(28, 28, 1)),
        KerasClassifier(
            build_cnn,
            loss="sparse_categorical_crossentropy",
            optimizer="adam",
            metrics=["accuracy"],
            epochs=epochs,
            batch_size=64,
            random_state=42,
        ),
    )
    grid = {"kerasclassifier__model__filters": [8, 16] if not args.fast else [4, 8]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X_train, y_train)
    best = search.best_estimator_
    print(f"grid search on {len(X_train):,} images of {source}, {epochs} epoch(s) per fit")
    for filters, score in zip(search.cv_results_["param_kerasclassifier__model__filters"],
                              search.cv_results_["mean_test_score"]):
        print(f"  filters={filters}: CV accuracy {score:.4f}")
    print(f"best: filters={search.best_params_['kerasclassifier__model__filters']}, "
          f"test accuracy {best.score(X_test, y_test):.4f}")
    print("layers:", [layer.name for layer in best[-1].model_.layers])

    expected = best.predict_proba(X_test[:20])
    with tempfile.TemporaryDirectory() as folder:
        joblib.dump(best, os.path.join(folder, "cnn.joblib"))
        skann.save(best, os.path.join(folder, "cnn.skann"))
        from_joblib = joblib.load(os.path.join(folder, "cnn.joblib")).predict_proba(X_test[:20])
        from_safe = skann.load(os.path.join(folder, "cnn.skann")).predict_proba(X_test[:20])
    print(f"joblib and skann.save reload with identical predictions: "
          f"{bool(np.allclose(from_joblib, expected) and np.allclose(from_safe, expected))}")


if __name__ == "__main__":
    main()
