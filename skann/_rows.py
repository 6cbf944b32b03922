"""X that is not a dense array in memory, taken a batch of rows at a time.

Two kinds: SciPy sparse matrices (CSR/CSC, kept sparse, densified a batch at a time; the fused
loop gathers their batches on the device, :class:`skann.engine.SparseMiniBatches`) and
:class:`skann.SliceDataset` (nothing read until a batch is needed; trained through Keras' loop).
The network always sees dense batches; Keras' loop gets :class:`RowBatches`; prediction takes
chunks of :func:`chunk_rows` rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import keras
import numpy as np
import scipy.sparse as sp

from skann.datasets._slice_dataset import SliceDataset

# Bytes of one densified batch or chunk at most (validation, prediction): a 100,000-column
# sparse matrix is densified 80 rows at a time, a 100-column one 80,000 rows at a time.
DENSE_CHUNK_BYTES = 32 * 2**20


def is_sparse(data) -> bool:
    return sp.issparse(data)


def is_lazy(data) -> bool:
    """Whether ``data`` is read a batch of rows at a time (a SliceDataset)."""
    return isinstance(data, (SliceDataset, EncodedRows))


def by_rows(data) -> bool:
    """Whether ``data`` is taken a batch of rows at a time (sparse or lazy), never whole."""
    return is_sparse(data) or is_lazy(data)


def n_rows(data) -> int:
    first = data if by_rows(data) else keras.tree.flatten(data)[0]
    return first.shape[0] if hasattr(first, "shape") else len(first)


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


class EncodedRows:
    """Rows of a SliceDataset passed through a feature encoder as they are read (the encoder
    sees each batch, never the whole data)."""

    def __init__(self, source: SliceDataset, encode: Callable):
        self.source, self.encode = source, encode

    @property
    def shape(self) -> tuple:
        return self.source.shape

    def __getitem__(self, key):
        return EncodedRows(self.source[key], self.encode)

    def load_rows(self, positions):
        return self.encode(read_rows(self.source, positions))


def read_rows(source: SliceDataset, positions):
    """Rows of a SliceDataset, read now and checked as scikit-learn checks arrays (finite)."""
    batch = source.load_rows(positions)
    if batch.dtype.kind == "f" and not np.isfinite(batch).all():
        bad = np.flatnonzero(~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1))
        raise ValueError(
            f"X contains NaN or infinity: sample(s) {[source._row(int(positions[i])) for i in bad[:5]]} of the "
            "SliceDataset. Fix or drop them (or impute in load)."
        )
    return batch


def take_rows(data, rows):
    """Rows ``rows`` (an index array) of any X as the network takes them: dense, read now."""
    if is_sparse(data):
        return dense_rows(data[rows])
    if isinstance(data, SliceDataset):
        return read_rows(data, rows)
    if is_lazy(data):
        return data.load_rows(rows)
    return keras.tree.map_structure(lambda a: a[rows], data)


def dense_rows(X):
    """A sparse matrix as a dense float array of Keras' floatx (other data unchanged)."""
    if not is_sparse(X):
        return X
    return X.toarray().astype(keras.backend.floatx(), copy=False)


def chunk_rows(X, rows: int) -> int:
    """At most ``rows``, and no more rows of sparse or lazy ``X`` than ``DENSE_CHUNK_BYTES``
    hold dense (at the network's float size)."""
    if not by_rows(X):
        return rows
    row_bytes = int(np.prod(X.shape[1:])) * np.dtype(keras.backend.floatx()).itemsize
    return max(1, min(rows, DENSE_CHUNK_BYTES // max(1, row_bytes)))


def encoded_chunks(X, encode: Callable, rows: int):
    """X in chunks of at most ``rows`` rows, each as the network takes it: a lazy chunk read
    then encoded, a sparse one encoded (encoders may take sparse input) then densified."""
    n = n_rows(X)
    size = chunk_rows(X, rows)
    for start in range(0, n, size):
        stop = min(n, start + size)
        if is_lazy(X):
            yield encode(take_rows(X, np.arange(start, stop)))
        elif is_sparse(X):
            yield dense_rows(encode(X[start:stop]))
        else:
            yield encode(keras.tree.map_structure(lambda a: a[start:stop], X))


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


class ReadByBatch(keras.utils.PyDataset):
    """A PyDataset skann reads for Keras' loop: what reading a batch raised is kept in
    ``failure`` (TensorFlow's loop re-raises it as an error of its own), and :meth:`close`
    ends any reading ahead."""

    failure: Exception | None = None

    def __getitem__(self, index: int):
        try:
            return self._get(index)
        except Exception as exc:
            self.failure = exc
            raise

    def _get(self, index: int):
        raise NotImplementedError

    def close(self) -> None:
        pass


class RowBatches(ReadByBatch):
    """Batches of rows of sparse or lazy X, made dense one batch at a time, for
    ``keras.Model.fit`` (the loop that serves what skann's fused loop does not).

    Every batch of the fit's ``epochs`` epochs in one sequence, for ``Model.fit`` with
    ``steps_per_epoch=steps_per_epoch`` (one iterator serves the whole fit; Keras' own worker
    threads would start each epoch from its first batch again): batch i belongs to epoch
    ``first_epoch + i // steps_per_epoch``, shuffled by ``(seed, epoch)`` as
    :class:`skann.engine.MiniBatches` shuffles it. With ``read_ahead``, that many following
    batches are read in a background thread while the network trains on this one (files).
    """

    def __init__(
        self, X, y=None, sample_weight=None, *, batch_size: int, shuffle: bool = False, seed=None,
        first_epoch: int = 0, epochs: int = 1, read_ahead: int = 0,
    ):
        super().__init__()
        self.X = as_csr(X) if is_sparse(X) else X
        self.y, self.sample_weight = y, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        if shuffle and seed is None:
            seed = int(np.random.randint(np.iinfo(np.int32).max))
        self.seed, self.first_epoch, self.epochs = seed, first_epoch, epochs
        self.steps_per_epoch = -(-n_rows(self.X) // batch_size)
        self.read_ahead = read_ahead
        self._orders: dict = {}  # epoch -> its permutation (the last two epochs kept)
        self._lock = threading.Lock()
        self._pending: dict = {}  # batch index -> its future, read ahead
        self._reader = None

    def __len__(self) -> int:
        return self.steps_per_epoch * self.epochs

    def rows(self, index: int) -> np.ndarray:
        """The rows of batch ``index``."""
        epoch, step = divmod(index, self.steps_per_epoch)
        n = n_rows(self.X)
        order = slice(step * self.batch_size, min(n, (step + 1) * self.batch_size))
        if not self.shuffle:
            return np.arange(n)[order]
        return self._order(self.first_epoch + epoch)[order]

    def _order(self, epoch: int) -> np.ndarray:
        with self._lock:
            if epoch not in self._orders:
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(n_rows(self.X))
            return self._orders[epoch]

    def batch(self, index: int) -> tuple:
        """Batch ``index``, read now."""
        rows = self.rows(index)
        batch = (take_rows(self.X, rows),)
        if self.y is not None:
            batch += (keras.tree.map_structure(lambda a: a[rows], self.y),)
        if self.sample_weight is not None:
            batch += (self.sample_weight[rows],)
        return batch

    def _get(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        if not self.read_ahead:
            return self.batch(index)
        if self._reader is None:
            from concurrent.futures import ThreadPoolExecutor

            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skann-read-ahead")
        future = self._pending.pop(index, None)
        for following in range(index + 1, min(len(self), index + 1 + self.read_ahead)):
            if following not in self._pending:
                self._pending[following] = self._reader.submit(self.batch, following)
        for stale in [i for i in self._pending if i < index]:  # a jump back (Keras probing the first batches)
            self._pending.pop(stale).cancel()
        return future.result() if future is not None else self.batch(index)

    def close(self) -> None:
        """Stop reading ahead (the fit is over)."""
        if self._reader is not None:
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()
            self._reader.shutdown(wait=True)
            self._reader = None

    def __del__(self):
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.shutdown(wait=False, cancel_futures=True)
