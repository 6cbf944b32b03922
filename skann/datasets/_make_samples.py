"""Rebuild the bundled samples from the real files.

    SKANN_DATA=../shared/data python -m skann.datasets._make_samples

Fashion-MNIST: the first 300 training and the first 100 test images of each class, in
canonical order (3,000 + 1,000 images, stratified, real pixels). California housing: the
complete table (20,640 rows), stored as exact float64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skann._atomic import write_atomically
from skann.datasets._california_housing import load_california_housing
from skann.datasets._fashion_mnist import load_fashion_mnist

TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100


def first_per_class(y: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` samples of each class, kept in dataset order."""
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    return np.sort(keep)


def main() -> None:
    out_dir = Path(__file__).parent / "data"
    out_dir.mkdir(exist_ok=True)
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist(download=False)
    train_idx = first_per_class(y_train, TRAIN_PER_CLASS)
    test_idx = first_per_class(y_test, TEST_PER_CLASS)
    arrays = dict(
        X_train=X_train[train_idx],
        y_train=y_train[train_idx],
        X_test=X_test[test_idx],
        y_test=y_test[test_idx],
        train_index=train_idx,
        test_index=test_idx,
    )
    write_atomically(out_dir / "fashion_mnist_sample.npz", lambda handle: np.savez_compressed(handle, **arrays))
    X, y = load_california_housing(download=False, return_X_y=True)
    write_atomically(out_dir / "california_housing.npz", lambda handle: np.savez_compressed(handle, data=X, target=y))


if __name__ == "__main__":
    main()
