"""The book's training / validation / test splits, shared by the CLI, the demo and examples."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from skann.datasets._california_housing import load_california_housing
from skann.datasets._fashion_mnist import load_fashion_mnist

DATASETS = ("fashion", "housing")


class SampleDataWarning(UserWarning):
    """The bundled Fashion-MNIST subset stands in for the full data (``sample="auto"``)."""


@dataclass(frozen=True)
class BookSplit:
    """Training, validation and test sets of one dataset, split as in the book."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str
    """Where the data came from, e.g. "full Fashion-MNIST" or "bundled Fashion-MNIST sample"."""
    is_sample: bool
    """True when the bundled subset stands in for the full data."""


def load_book_split(
    name: str,
    *,
    data_home: str | os.PathLike | None = None,
    sample: bool | str = "auto",
    download: bool = True,
) -> BookSplit:
    """Load ``"fashion"`` or ``"housing"`` split as the chapter does.

    The data is found as the command line finds it: ``data_home``, then ``$SKANN_DATA``,
    then the caches, then (``download``) the network; when the full data is nowhere, the
    bundled copy stands in (``sample="auto"``), with a warning for Fashion-MNIST, whose
    bundled copy is a subset. ``split.source`` and ``split.is_sample`` say which was used.

    Fashion-MNIST: the last 1/12 of the training images (5,000 of 60,000) for validation,
    the 10,000 test images for testing. California housing: ``train_test_split`` with
    ``random_state=42`` twice (11,610 / 3,870 / 5,160 rows).

    Parameters
    ----------
    name : {"fashion", "housing"}
    data_home : str or path-like, default=None
        Searched first, as by ``load_fashion_mnist`` and ``load_california_housing``.
    sample : bool or "auto", default="auto"
        True: the bundled data (a 3,000 + 1,000 image Fashion-MNIST subset; the complete
        California table). False: the full data or ``FileNotFoundError``. "auto": the full
        data when found (or downloaded), else the bundled data.
    download : bool, default=True
        Whether Fashion-MNIST may be downloaded when it is not found (see
        ``load_fashion_mnist``). California housing is never downloaded under "auto": the
        bundled copy is the complete table.

    Returns
    -------
    BookSplit

    Raises
    ------
    FileNotFoundError
        ``sample=False`` and the data is neither found nor downloadable.

    Warns
    -----
    SampleDataWarning
        ``sample="auto"`` fell back to the bundled Fashion-MNIST subset.

    Examples
    --------
    >>> from skann.datasets import load_book_split
    >>> split = load_book_split("housing", sample=True)
    >>> split.X_train.shape, split.X_valid.shape, split.X_test.shape
    ((11610, 8), (3870, 8), (5160, 8))
    """
    if sample not in (True, False, "auto"):
        raise ValueError(f"sample must be True, False or 'auto'; got {sample!r}.")
    if sample == "auto":
        try:
            return load_book_split(name, data_home=data_home, sample=False, download=download and name == "fashion")
        except FileNotFoundError:
            if name == "fashion":
                warnings.warn(
                    "Full Fashion-MNIST not found (point SKANN_DATA at it, see docs/installation.md): "
                    "using the bundled 3,000 + 1,000 image sample.",
                    SampleDataWarning,
                    stacklevel=2,
                )
            return load_book_split(name, sample=True)
    if name == "fashion":
        (X_full, y_full), (X_test, y_test) = load_fashion_mnist(data_home=data_home, sample=sample, download=download)
        n_valid = len(X_full) // 12
        source = "bundled Fashion-MNIST sample" if sample else "full Fashion-MNIST"
        return BookSplit(
            name, X_full[:-n_valid], y_full[:-n_valid], X_full[-n_valid:], y_full[-n_valid:],
            X_test, y_test, source, sample,
        )
    if name == "housing":
        X, y = load_california_housing(
            data_home=data_home, sample=sample, download=download, return_X_y=True
        )
        X_train_full, X_test, y_train_full, y_test = train_test_split(X, y, random_state=42)
        X_train, X_valid, y_train, y_valid = train_test_split(X_train_full, y_train_full, random_state=42)
        # The bundled copy is the complete table, so it is never "a sample".
        source = "California housing" + (" (bundled copy)" if sample else "")
        return BookSplit(name, X_train, y_train, X_valid, y_valid, X_test, y_test, source, False)
    raise ValueError(f"Unknown dataset {name!r}; choose one of {list(DATASETS)}.")
