"""Loaders for the real datasets of the chapter (Fashion-MNIST, California housing), and
:class:`SliceDataset` for data too big to load whole."""

from skann.datasets._california_housing import (
    CALIFORNIA_FEATURE_NAMES,
    CALIFORNIA_TARGET_CAP,
    CALIFORNIA_TARGET_NAME,
    CALIFORNIA_TARGET_UNIT,
    load_california_housing,
)
from skann.datasets._fashion_mnist import (
    FASHION_CLASS_NAMES,
    FASHION_MNIST_FILES,
    load_fashion_mnist,
)
from skann.datasets._fetch import DATA_ENV_VAR, ChecksumError
from skann.datasets._slice_dataset import SliceDataset
from skann.datasets._splits import DATASETS, BookSplit, SampleDataWarning, load_book_split

__all__ = [
    "BookSplit",
    "CALIFORNIA_FEATURE_NAMES",
    "CALIFORNIA_TARGET_CAP",
    "CALIFORNIA_TARGET_NAME",
    "CALIFORNIA_TARGET_UNIT",
    "DATASETS",
    "DATA_ENV_VAR",
    "FASHION_CLASS_NAMES",
    "FASHION_MNIST_FILES",
    "ChecksumError",
    "SampleDataWarning",
    "SliceDataset",
    "load_book_split",
    "load_california_housing",
    "load_fashion_mnist",
]
