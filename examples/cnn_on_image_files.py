"""A CNN on image files: Fashion-MNIST as PNG files on disk, searched with GridSearchCV.

The images are written as one PNG file each (as a photo collection would be), and the
estimators see only their paths: ``skann.SliceDataset(paths, load=read_image)`` is an
indexable view that ``GridSearchCV`` splits into folds by index, and skann reads a batch of
files at a time while it trains and predicts (a thread reads the next batch while the network
trains on this one). The pixels are scaled inside the network (``Rescaling``), so a batch is
read as compact uint8.

    python examples/cnn_on_image_files.py           # 6,000 training images when the real data is found
    python examples/cnn_on_image_files.py --fast    # 600 images of the bundled sample, 1 epoch
    python examples/cnn_on_image_files.py --folder images/   # keep the PNG files
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import skann  # first: quiet TensorFlow import
import keras
import numpy as np
from PIL import Image
from sklearn.model_selection import GridSearchCV

from skann import KerasClassifier, SliceDataset
from skann.datasets import FASHION_CLASS_NAMES, load_fashion_mnist


def read_image(path) -> np.ndarray:
    """One image file as a (28, 28, 1) uint8 array (what the network's input takes)."""
    with Image.open(path) as image:
        return np.asarray(image, dtype=np.uint8)[:, :, None]


def write_images(images: np.ndarray, labels: np.ndarray, folder: Path) -> np.ndarray:
    """Each image as ``folder/<class name>/<index>.png``; the paths, in order."""
    paths = []
    for i, (pixels, label) in enumerate(zip(images, labels)):
        path = folder / FASHION_CLASS_NAMES[label].replace("/", "-") / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return np.array(paths)


def build_cnn(meta, filters=16):
    """A small CNN that scales the pixels itself."""
    return keras.Sequential(
        [
            keras.Input(meta["X_shape_"][1:]),  # (28, 28, 1)
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(filters, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(2 * filters, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(meta["n_classes_"], activation="softmax"),
        ]
    )


def peak_memory_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--folder", type=Path, help="where to write the PNG files (default: a temporary folder)")
    args = parser.parse_args()
    try:
        if args.fast:
            raise FileNotFoundError
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist(download=False)
        X_train, y_train, X_test, y_test = X_train[:6000], y_train[:6000], X_test[:2000], y_test[:2000]
        source = "Fashion-MNIST"
    except FileNotFoundError:
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist(sample=True)
        X_train, y_train, X_test, y_test = X_train[:600], y_train[:600], X_test[:300], y_test[:300]
        source = "the bundled Fashion-MNIST sample"
    epochs = 1 if args.fast else 5

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.folder or Path(temporary)
        train_paths = write_images(X_train, y_train, folder / "train")
        test_paths = write_images(X_test, y_test, folder / "test")
        del X_train, X_test  # from here on, only the files
        print(f"wrote {len(train_paths) + len(test_paths):,} PNG files of {source}")

        images = SliceDataset(train_paths, load=read_image)
        print(f"SliceDataset: shape {images.shape}, dtype {images.dtype}")
        clf = KerasClassifier(build_cnn, loss="sparse_categorical_crossentropy", optimizer="adam",
                              epochs=epochs, batch_size=64, random_state=42)
        grid = {"model__filters": [4, 8] if args.fast else [8, 16]}
        start = time.perf_counter()
        search = GridSearchCV(clf, grid, cv=3).fit(images, y_train)
        print(f"grid search: {len(grid['model__filters'])} candidates x 3 folds on {len(images):,} files, "
              f"{epochs} epoch(s) per fit, {time.perf_counter() - start:.1f} s")
        for filters, score in zip(search.cv_results_["param_model__filters"], search.cv_results_["mean_test_score"]):
            print(f"  filters={filters}: CV accuracy {score:.4f}")
        test_accuracy = search.score(SliceDataset(test_paths, load=read_image), y_test)
        print(f"best: filters={search.best_params_['model__filters']}, test accuracy {test_accuracy:.4f} "
              f"(read from {len(test_paths):,} files)")
    print(f"peak memory of this process: {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
