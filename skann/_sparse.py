"""Sparse input (SciPy CSR/CSC matrices): kept sparse, densified a batch of rows at a time.

A network starting with Dense layers sees dense batches; the whole matrix is never densified.
The fused loop gathers its batches on the device (:class:`skann.engine.SparseMiniBatches`);
Keras' own loop gets :class:`DenseBatches`; prediction densifies chunks of
:func:`dense_chunk_rows` rows.
"""

from __future__ import annotations

import keras
import numpy as np
import scipy.sparse as sp

# Bytes of one densified batch or chunk at most (validation, prediction): a 100,000-column
# matrix is densified 80 rows at a time, a 100-column one 80,000 rows at a time.
DENSE_CHUNK_BYTES = 32 * 2**20


def is_sparse(data) -> bool:
    return sp.issparse(data)


def as_csr(X, dtype=None):
    """``X`` as a canonical CSR matrix (duplicates summed, as ``toarray`` would) of ``dtype``."""
    X = sp.csr_matrix(X, dtype=dtype)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    if X.nnz > np.iinfo(np.int32).max:
        raise ValueError(
            f"X has {X.nnz} stored values; skann's sparse input takes at most 2**31 - 1. Split the data "
            "or reduce its vocabulary (e.g. max_features in TfidfVectorizer)."
        )
    return X


def dense_rows(X):
    """Rows of a sparse matrix as a dense float array of Keras' floatx (other data unchanged)."""
    if not is_sparse(X):
        return X
    return X.toarray().astype(keras.backend.floatx(), copy=False)


def dense_chunk_rows(X, rows: int) -> int:
    """At most ``rows``, and no more rows of sparse ``X`` than fit ``DENSE_CHUNK_BYTES`` dense."""
    if not is_sparse(X):
        return rows
    row_bytes = X.shape[1] * np.dtype(keras.backend.floatx()).itemsize
    return max(1, min(rows, DENSE_CHUNK_BYTES // max(1, row_bytes)))


def refuse_split_sparse(encoded, name: str) -> None:
    """Sparse features must reach the network as one matrix (a multi-input encoder that splits
    a sparse X cannot be fed batch by batch)."""
    parts = keras.tree.flatten(encoded) if isinstance(encoded, (list, tuple, dict)) else []
    if any(is_sparse(p) for p in parts):
        raise ValueError(
            f"{name}'s feature encoder returned several inputs from sparse X: skann feeds sparse X to "
            "a network with one input. Densify X first (e.g. FunctionTransformer(lambda X: X.toarray()) "
            "in the pipeline) or use one input."
        )


class DenseBatches(keras.utils.PyDataset):
    """Batches of sparse rows, densified one batch at a time, for ``keras.Model.fit`` (the
    loop that serves what skann's fused loop does not: other backends, per-batch callbacks).
    Epoch e is shuffled by ``(seed, e)``, as :class:`skann.engine.MiniBatches` shuffles it."""

    def __init__(self, X, y=None, sample_weight=None, *, batch_size: int, shuffle: bool = False, seed=None, epoch: int = 0):
        super().__init__()
        self.X, self.y, self.sample_weight = as_csr(X), y, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        if shuffle and seed is None:
            seed = int(np.random.randint(np.iinfo(np.int32).max))
        self.seed = seed
        self.epoch = epoch
        self._order_epoch, self._order = None, None

    def __len__(self) -> int:
        return -(-self.X.shape[0] // self.batch_size)

    def _rows(self, index: int) -> np.ndarray:
        n = self.X.shape[0]
        if not self.shuffle:
            return np.arange(index * self.batch_size, min(n, (index + 1) * self.batch_size))
        if self._order_epoch != self.epoch:
            self._order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
            self._order_epoch = self.epoch
        return self._order[index * self.batch_size : (index + 1) * self.batch_size]

    def __getitem__(self, index: int):
        rows = self._rows(index)
        batch = (dense_rows(self.X[rows]),)
        if self.y is not None:
            batch += (keras.tree.map_structure(lambda a: a[rows], self.y),)
        if self.sample_weight is not None:
            batch += (self.sample_weight[rows],)
        return batch


class EpochOfBatches(keras.callbacks.Callback):
    """Tells a :class:`DenseBatches` which epoch it serves (for its shuffle)."""

    def __init__(self, batches: DenseBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch
