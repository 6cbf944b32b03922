"""Fashion-MNIST (Zalando Research, MIT licence, (c) 2017 Zalando SE)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from skann.datasets._fetch import (
    DATA_ENV_VAR,
    candidate_dirs,
    download,
    download_dir,
    verify_md5,
)
from skann.datasets._sample import load_sample

FASHION_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# The canonical files and their md5 sums, as published by Zalando.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

# Tried in order; a module attribute so that a mirror (or a test server) can be put first.
FASHION_MNIST_MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
]

_SUBDIR = "fashion-mnist"


def _keras_cache() -> Path:
    # Where keras.datasets.fashion_mnist.load_data() keeps its copy.
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets" / "fashion-mnist"


def _read_idx(path: Path, n_dims: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        header = handle.read(4 + 4 * n_dims)
        magic = int.from_bytes(header[0:4], "big")
        if magic != 0x0800 + n_dims:
            raise ValueError(f"{path} is not an idx file with {n_dims} dimension(s) (magic {magic}).")
        shape = tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
        # Read straight into a writable array: no intermediate bytes copy.
        out = np.empty(shape, dtype=np.uint8)
        view = memoryview(out).cast("B")
        filled = 0
        while filled < out.nbytes:
            n = handle.readinto(view[filled:])
            if not n:
                raise ValueError(f"{path} is truncated: expected {out.nbytes} data bytes, got {filled}.")
            filled += n
    return out


def _find_files(data_home, download_if_missing: bool) -> dict[str, Path]:
    searched = candidate_dirs(_SUBDIR, data_home, _keras_cache())
    for folder in searched:
        if all((folder / name).is_file() for name in FASHION_MNIST_FILES):
            return {name: folder / name for name in FASHION_MNIST_FILES}
    where_to_put = (
        f"Put the four files ({', '.join(FASHION_MNIST_FILES)}) into a folder 'fashion-mnist' "
        f"under the folder named by the environment variable {DATA_ENV_VAR} (or pass "
        "data_home=...), or use sample=True for the bundled subset. Searched: "
        + ", ".join(str(p) for p in searched)
    )
    if not download_if_missing:
        raise FileNotFoundError(f"Fashion-MNIST was not found. {where_to_put}")
    target_dir = download_dir(_SUBDIR, data_home, _keras_cache())
    paths = {}
    for name, md5 in FASHION_MNIST_FILES.items():
        target = target_dir / name
        if not target.is_file():
            try:
                download([base + name for base in FASHION_MNIST_MIRRORS], target, md5)
            except OSError as exc:
                raise FileNotFoundError(
                    f"Fashion-MNIST was not found and could not be downloaded ({exc}). {where_to_put}"
                ) from None
        paths[name] = target
    return paths


def load_fashion_mnist(
    *,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    sample: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data()`` does.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the four idx ``.gz`` files (directly or in ``fashion-mnist/``).
        Searched first; then ``$SKANN_DATA/fashion-mnist/``; then ``~/.keras/datasets/fashion-mnist``.
    download : bool, default=True
        Download the canonical files when none are found (progress bar, atomic write,
        md5 verified).
    sample : bool, default=False
        Return the bundled stratified subset (3,000 training and 1,000 test images, real
        images from the canonical files) instead; needs no files and no network.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuple of tuples of ndarray
        uint8 images of shape (n, 28, 28) and uint8 labels 0-9 (names in
        ``FASHION_CLASS_NAMES``): 60,000 / 10,000 images for the full data.

    Raises
    ------
    ChecksumError
        A file's md5 differs from the published one (the file is never used).
    FileNotFoundError
        Nothing found and ``download=False``.

    Examples
    --------
    >>> from skann.datasets import load_fashion_mnist
    >>> (X_train, y_train), (X_test, y_test) = load_fashion_mnist(sample=True)
    >>> X_train.shape, X_train.dtype
    ((3000, 28, 28), dtype('uint8'))
    """
    if sample:
        data = load_sample("fashion_mnist")
        return (data["X_train"], data["y_train"]), (data["X_test"], data["y_test"])
    paths = _find_files(data_home, download)
    for name, md5 in FASHION_MNIST_FILES.items():
        verify_md5(paths[name], md5)
    X_train = _read_idx(paths["train-images-idx3-ubyte.gz"], 3)
    y_train = _read_idx(paths["train-labels-idx1-ubyte.gz"], 1)
    X_test = _read_idx(paths["t10k-images-idx3-ubyte.gz"], 3)
    y_test = _read_idx(paths["t10k-labels-idx1-ubyte.gz"], 1)
    return (X_train, y_train), (X_test, y_test)
