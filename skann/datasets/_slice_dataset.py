"""``SliceDataset``: data scikit-learn can split by index without loading it."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["SliceDataset"]


class SliceDataset:
    """A lazy, indexable view of samples, for data too big to load whole.

    scikit-learn splits data by index (``GridSearchCV``, ``cross_val_score``,
    ``train_test_split``, skann's ``HyperbandSearchCV``): indexing a ``SliceDataset`` with an
    array of rows gives another view, and nothing is read until a skann estimator trains on a
    batch or predicts a chunk. ``len``, ``shape`` and ``dtype`` come from the first sample.

    Parameters
    ----------
    dataset : sequence
        Anything with ``len`` and integer ``__getitem__``: an array of file paths, a list, a
        ``torch.utils.data.Dataset``-like object whose items are samples or tuples
        ``(x, y, ...)``.
    load : callable or None, default=None
        Turns an item of ``dataset`` into the sample (e.g. reads an image file into an array);
        None: the item is the sample. It must be picklable (a module-level function) for
        process-based searches (``n_jobs``, Dask).
    idx : int or None, default=None
        For items that are tuples: which element is the sample (0: X, 1: y); None: the item.
    indices : array-like of int or None, default=None
        The rows of ``dataset`` this view holds, in order; None: all of them.

    Examples
    --------
    >>> import numpy as np
    >>> from skann import SliceDataset
    >>> images = SliceDataset(np.arange(6), load=lambda i: np.full((2, 2), i, dtype=np.uint8))
    >>> images.shape, images.dtype
    ((6, 2, 2), dtype('uint8'))
    >>> view = images[np.array([5, 0, 3])]  # nothing read yet
    >>> view.load_rows([0, 2])[:, 0, 0]
    array([5, 3], dtype=uint8)
    """

    def __init__(self, dataset, load: Callable[[Any], Any] | None = None, idx: int | None = None, indices=None):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(
                f"SliceDataset needs a sequence (len() and integer indexing); got {type(dataset).__name__}."
            )
        if load is not None and not callable(load):
            raise TypeError(f"load must be a function from an item of dataset to a sample; got {load!r}.")
        self.dataset = dataset
        self.load = load
        self.idx = idx
        self.indices = None if indices is None else np.asarray(indices, dtype=np.intp)
        if self.indices is not None and self.indices.ndim != 1:
            raise ValueError(f"indices must be one-dimensional; got shape {self.indices.shape}.")
        self._first = None

    # ------------------------------------------------------------------ sequence
    def __len__(self) -> int:
        return len(self.dataset) if self.indices is None else len(self.indices)

    def _row(self, position: int) -> int:
        return position if self.indices is None else int(self.indices[position])

    def sample(self, position: int) -> np.ndarray:
        """The sample at ``position`` of this view, read now."""
        item = self.dataset[self._row(position)]
        if self.idx is not None:
            item = item[self.idx]
        if self.load is not None:
            item = self.load(item)
        return np.asarray(item)

    def __getitem__(self, key):
        if isinstance(key, tuple):  # scikit-learn indexes rows as X[key, ...]
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError("SliceDataset is indexed by rows only (X[rows]); columns are not supported.")
        if isinstance(key, numbers.Integral):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"index {key} is out of range for a SliceDataset of {n} samples.")
            return self.sample(int(key) % n)
        positions = np.arange(len(self))[key]  # slices, integer arrays and boolean masks, as NumPy takes them
        rows = positions if self.indices is None else self.indices[positions]
        return type(self)(self.dataset, load=self.load, idx=self.idx, indices=rows)

    # ------------------------------------------------------------------ array-like
    def _first_sample(self) -> np.ndarray:
        if self._first is None:
            if len(self) == 0:
                raise ValueError("This SliceDataset holds no samples.")
            self._first = self.sample(0)
        return self._first

    @property
    def shape(self) -> tuple:
        """``(n_samples, *shape of the first sample)``."""
        if len(self) == 0:
            return (0,)
        return (len(self), *self._first_sample().shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        """The first sample's dtype."""
        return self._first_sample().dtype

    def load_rows(self, positions) -> np.ndarray:
        """The samples at ``positions`` of this view, read now and stacked into one array
        (checked: every sample must have the first one's shape)."""
        positions = np.asarray(positions, dtype=np.intp)
        if len(positions) == 0:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        samples = [self.sample(int(p)) for p in positions]
        expected = self._first_sample().shape
        for p, s in zip(positions, samples):
            if s.shape != expected:
                raise ValueError(
                    f"Sample {self._row(int(p))} of the SliceDataset has shape {s.shape}, but its first sample has "
                    f"shape {expected}: every sample must have the same shape (resize or pad them in load)."
                )
        return np.stack(samples)

    def __array__(self, dtype=None, copy=None):
        """Every sample, read now (what ``np.asarray`` gives: only for data that fits memory)."""
        out = self.load_rows(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        load = "" if self.load is None else f", load={getattr(self.load, '__name__', self.load)!r}"
        idx = "" if self.idx is None else f", idx={self.idx}"
        return f"SliceDataset({type(self.dataset).__name__} of {len(self.dataset)}{load}{idx}, {len(self)} samples)"
