"""Training throughput from image files through ``skann.SliceDataset`` against the same images
in memory, on the backend of this process (``KERAS_BACKEND``).

The first N Fashion-MNIST training images (the bundled sample when the real data is absent)
are written as PNG files; a small CNN (the one of ``examples/cnn_on_image_files.py``, 16
filters, batch 64) trains on them three ways, alternating repeat after repeat: from the
uint8 array in memory (skann's fused loop), from a ``SliceDataset`` over that array (Keras'
loop, no file reading), and from a ``SliceDataset`` of the PNG files (read a batch at a time,
the next batch read ahead in a thread). Per-epoch time is the median over epochs 2..E (the
first compiles).

    SKANN_DATA=../shared/data KERAS_BACKEND=jax python -m benchmarks.slice_dataset --n-train 6000 --epochs 3 --repeats 3
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import skann  # noqa: F401  (first: quiet TensorFlow import, on its backend)
import keras
import numpy as np

from benchmarks.harness import alternate, cli, markdown_table
from benchmarks.training import EpochTimer


def _images(n_train: int):
    from skann.datasets import load_fashion_mnist

    try:
        (X, y), _ = load_fashion_mnist(download=False)
        source = "Fashion-MNIST"
    except FileNotFoundError:
        (X, y), _ = load_fashion_mnist(sample=True)
        source = "the bundled sample"
    return X[:n_train, :, :, None], y[:n_train], source


def run(n_train: int = 6000, epochs: int = 3, repeats: int = 3, seed: int = 42) -> str:
    from PIL import Image

    from examples.cnn_on_image_files import build_cnn, read_image
    from skann import KerasClassifier, SliceDataset

    X, y, source = _images(n_train)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, pixels in enumerate(X):
            path = Path(folder) / f"{i:05d}.png"
            Image.fromarray(pixels[:, :, 0]).save(path)
            paths.append(str(path))
        inputs = {
            "array in memory": X,
            "SliceDataset of the array": SliceDataset(X),
            "SliceDataset of PNG files": SliceDataset(np.array(paths), load=read_image),
        }

        def fit_on(data):
            def run_once():
                timer = EpochTimer()
                KerasClassifier(
                    build_cnn, loss="sparse_categorical_crossentropy", optimizer="adam", epochs=epochs, batch_size=64,
                    random_state=seed, callbacks=[timer],
                ).fit(data, y)
                return timer.per_epoch()

            return run_once

        results = alternate({name: fit_on(data) for name, data in inputs.items()}, repeats)
    reference = results["array in memory"].median
    rows = [
        [name, f"{result.median * 1e3:.0f} ms", f"{len(X) / result.median:,.0f}", f"{result.median / reference:.2f}x"]
        for name, result in results.items()
    ]
    table = markdown_table(["input", "per epoch", "images / s", "vs in memory"], rows)
    return (
        f"{keras.backend.backend()}: a CNN on {len(X):,} images of {source}, {epochs} epochs, batch 64 "
        f"({repeats} alternating repeats, medians of epochs 2..{epochs}).\n\n{table}"
    )


if __name__ == "__main__":
    cli(run, __doc__, n_train=6000, epochs=3, repeats=3)
