"""The small real subsets shipped inside the package (see ``_make_samples.py``)."""

from __future__ import annotations

from importlib import resources

import numpy as np

SAMPLE_FILES = {
    "fashion_mnist": "fashion_mnist_sample.npz",
    "california_housing": "california_housing.npz",
}


def load_sample(name: str) -> dict[str, np.ndarray]:
    path = resources.files("skann.datasets") / "data" / SAMPLE_FILES[name]
    with resources.as_file(path) as real_path, np.load(real_path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
