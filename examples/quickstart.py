"""Quickstart: the chapter's networks as scikit-learn estimators.

Trains FashionMLPClassifier and a PerceptronBaseline (Fashion-MNIST), HousingMLPRegressor and
WideDeepRegressor (California housing) with the book's settings on the real data when it is
found (SKANN_DATA, caches), otherwise on the bundled sample, and prints test figures next to
the book's.

    python examples/quickstart.py          # book settings
    python examples/quickstart.py --fast   # a few epochs, for a smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split

from sklearn.pipeline import make_pipeline

from skann import (
    FashionMLPClassifier,
    HousingMLPRegressor,
    ImageFlattener,
    PerceptronBaseline,
    PixelScaler,
    WideDeepRegressor,
)
from skann.datasets import load_california_housing, load_fashion_mnist


def fashion(fast: bool) -> None:
    try:
        (X_train_full, y_train_full), (X_test, y_test) = load_fashion_mnist(download=False)
        source = "full Fashion-MNIST"
    except FileNotFoundError:
        (X_train_full, y_train_full), (X_test, y_test) = load_fashion_mnist(sample=True)
        source = "bundled Fashion-MNIST sample (set SKANN_DATA for the full data)"
    n_valid = len(X_train_full) // 12  # the book keeps 5,000 of 60,000 for validation
    X_train, y_train = X_train_full[:-n_valid], y_train_full[:-n_valid]
    clf = FashionMLPClassifier(epochs=2 if fast else 30, random_state=42)
    start = time.perf_counter()
    clf.fit(X_train, y_train, validation_data=(X_train_full[-n_valid:], y_train_full[-n_valid:]))
    seconds = time.perf_counter() - start
    print(f"FashionMLPClassifier on {source}: {len(X_train)} training images, {clf.n_iter_} epochs, {seconds:.0f} s")
    print(f"  test accuracy {clf.score(X_test, y_test):.4f}   (book: 0.8864)")
    perceptron = make_pipeline(ImageFlattener(), PixelScaler(), PerceptronBaseline(max_iter=1 if fast else 5, random_state=42))
    perceptron.fit(X_train, y_train)
    print(f"PerceptronBaseline (linear baseline, {perceptron[-1].n_iter_} epochs): test accuracy {perceptron.score(X_test, y_test):.4f}")


def housing(fast: bool) -> None:
    try:
        X, y = load_california_housing(download=False, return_X_y=True)
        source = "California housing"
    except FileNotFoundError:
        X, y = load_california_housing(sample=True, return_X_y=True)
        source = "California housing (bundled copy)"
    X_train_full, X_test, y_train_full, y_test = train_test_split(X, y, random_state=42)
    X_train, X_valid, y_train, y_valid = train_test_split(X_train_full, y_train_full, random_state=42)
    reg = HousingMLPRegressor(epochs=2 if fast else 100, random_state=42)
    start = time.perf_counter()
    reg.fit(X_train, y_train, validation_data=(X_valid, y_valid))
    seconds = time.perf_counter() - start
    rmse = root_mean_squared_error(y_test, reg.predict(X_test))
    print(f"HousingMLPRegressor on {source}: {len(X_train)} training rows, {reg.n_iter_} epochs, {seconds:.0f} s")
    print(f"  test RMSE {rmse:.4f}   (book: about 0.53 after 20 epochs)")
    wide_deep = WideDeepRegressor(epochs=2 if fast else 20, early_stopping=False, aux_weight=0.1, random_state=42)
    wide_deep.fit(X_train, y_train, validation_data=(X_valid, y_valid))
    rmse = root_mean_squared_error(y_test, wide_deep.predict(X_test))
    print(f"WideDeepRegressor (book settings: {wide_deep.n_iter_} epochs, auxiliary output 0.1): test RMSE {rmse:.4f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="train 2 epochs only (smoke test)")
    args = parser.parse_args(argv)
    np.set_printoptions(precision=4)
    fashion(args.fast)
    housing(args.fast)


if __name__ == "__main__":
    main()
