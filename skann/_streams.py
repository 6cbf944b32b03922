"""Data given as batches: a ``keras.utils.PyDataset``, a ``tf.data.Dataset`` or a generator.

Each batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, as ``keras.Model.fit``
takes them. The estimators read the first batch to learn the data's shape (and, for a
classifier, the classes: given, or found in one pass over a re-readable stream), then train
through Keras' loop on the batches, each validated and encoded as it comes
(:class:`EncodedStream`). A stream cannot be split by index: cross-validation needs arrays or
a :class:`skann.SliceDataset`.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator

import keras
import numpy as np

from skann._rows import ReadByBatch


def kind_of(data) -> str | None:
    """``"PyDataset"``, ``"tf.data.Dataset"``, ``"generator"`` or None (not a stream)."""
    if isinstance(data, keras.utils.PyDataset):
        return "PyDataset"
    if type(data).__module__.startswith("tensorflow") and hasattr(data, "element_spec") and hasattr(data, "cardinality"):
        return "tf.data.Dataset"
    if inspect.isgenerator(data) or (isinstance(data, Iterator) and not hasattr(data, "__len__")):
        return "generator"
    return None


def is_stream(data) -> bool:
    return kind_of(data) is not None


def _parts(batch) -> tuple:
    """``(x, y, sample_weight)`` of a batch (missing parts None), as NumPy arrays."""
    if isinstance(batch, (tuple, list)) and len(batch) in (1, 2, 3) and not _is_array(batch):
        parts = tuple(batch) + (None,) * (3 - len(batch))
    else:
        parts = (batch, None, None)
    return tuple(None if p is None else keras.tree.map_structure(np.asarray, p) for p in parts)


def _is_array(batch) -> bool:
    # A list of numbers is one array-like x, not (x, y): its first element is a scalar.
    return isinstance(batch, list) and len(batch) > 0 and np.ndim(batch[0]) == 0


class Stream:
    """A stream of batches, read as NumPy ``(x, y, sample_weight)``."""

    def __init__(self, source):
        self.kind = kind_of(source)
        if self.kind is None:
            raise TypeError(f"not a stream of batches: {type(source).__name__}")
        self.source = source
        self._peeked = None  # a generator's first batch, read to learn the shapes
        self._started = False
        self.n_batches = None
        if self.kind == "PyDataset":
            self.n_batches = source.num_batches
        elif self.kind == "tf.data.Dataset":
            n = int(source.cardinality())
            self.n_batches = n if n >= 0 else None  # -1: endless, -2: unknown

    def first(self) -> tuple:
        """The first batch (for a generator: read now, and served again by :meth:`batches`)."""
        if self.kind == "PyDataset":
            return _parts(self.source[0])
        if self.kind == "tf.data.Dataset":
            return _parts(next(iter(self.source.as_numpy_iterator())))
        if self._peeked is None:
            if self._started:
                raise ValueError("This generator has been read already: a generator is read once.")
            try:
                self._peeked = next(self.source)
            except StopIteration:
                raise ValueError("The generator yielded no batches.") from None
        return _parts(self._peeked)

    def batches(self) -> Iterator[tuple]:
        """One pass over the stream (a generator: its only pass, from the first batch)."""
        if self.kind == "PyDataset":
            n = self.n_batches
            indices = itertools.count() if n is None else range(n)
            for i in indices:
                yield _parts(self.source[i])
        elif self.kind == "tf.data.Dataset":
            if self.n_batches is None:
                raise ValueError(_ENDLESS)
            for batch in self.source.as_numpy_iterator():
                yield _parts(batch)
        else:
            if self._started and self._peeked is None:
                raise ValueError("This generator has been read already: a generator is read once.")
            self._started = True
            first, self._peeked = self._peeked, None
            for batch in itertools.chain([] if first is None else [first], self.source):
                yield _parts(batch)

    def classes(self) -> np.ndarray:
        """Every label of the stream, in one pass (not for a generator: it is read once)."""
        if self.kind == "generator":
            raise ValueError(
                "A classifier needs every class before it trains, and a generator is read once: pass "
                "classes=[...] to fit (or partial_fit), or use a PyDataset or tf.data.Dataset."
            )
        if self.n_batches is None:
            raise ValueError(_ENDLESS + " (or pass classes=[...] to fit).")
        labels = [y for _, y, _ in self.batches() if y is not None]
        if not labels:
            raise ValueError("The stream's batches carry no targets: batches must be (x, y) or (x, y, sample_weight).")
        return np.unique(np.concatenate([np.asarray(y).reshape(len(y), -1) for y in labels]).ravel())


_ENDLESS = (
    "This stream has no known length (an endless or filtered tf.data.Dataset): give it one "
    "(dataset.take(n), or dataset.apply(tf.data.experimental.assert_cardinality(n)))"
)


class EncodedStream(ReadByBatch):
    """A stream's batches validated and encoded for the network as Keras' loop reads them
    (``encode(x, y, sample_weight) -> batch``). A PyDataset source is read by index (its own
    workers and epoch hooks kept); a tf.data.Dataset in order, from the start whenever Keras
    asks for the first batch again; a generator is handed to Keras as a generator."""

    def __init__(self, stream: Stream, encode: Callable[..., tuple]):
        source = stream.source
        settings = {}
        if stream.kind == "PyDataset":  # the user's parallel reading, in threads
            settings = dict(workers=source.workers, use_multiprocessing=False, max_queue_size=source.max_queue_size)
        super().__init__(**settings)
        self.stream, self.encode = stream, encode
        self._iterator, self._next = None, 0

    @property
    def num_batches(self):
        return self.stream.n_batches

    def __len__(self) -> int:
        return self.stream.n_batches

    def first_batch(self) -> tuple:
        return self.encode(*self.stream.first())

    def _get(self, index: int):
        if self.stream.kind == "PyDataset":
            return self.encode(*_parts(self.stream.source[index]))
        if self._iterator is None or index != self._next:
            self._iterator = self.stream.batches()
            for _ in range(index):
                next(self._iterator)
        self._next = index + 1
        return self.encode(*next(self._iterator))

    def on_epoch_begin(self):
        if self.stream.kind == "PyDataset":
            self.stream.source.on_epoch_begin()

    def on_epoch_end(self):
        if self.stream.kind == "PyDataset":
            self.stream.source.on_epoch_end()

    def keras_data(self):
        """What ``keras.Model.fit`` takes: this dataset, or for a generator a generator."""
        if self.stream.kind == "generator":
            return self._generated()
        return self

    def _generated(self):
        try:
            for batch in self.stream.batches():
                yield self.encode(*batch)
        except Exception as exc:
            self.failure = exc
            raise
