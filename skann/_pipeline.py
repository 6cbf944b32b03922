"""tf.data pipelines for training: batches gathered by index from tensors made once.

Keras' own array adapter rebuilds its pipeline every epoch and ``Model.fit`` makes a new
iterator per epoch (~20 ms each, most of an epoch of a small fit); these pipelines convert
the arrays once and, when an epoch is a whole number of executions, serve the whole fit
from one iterator.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)

import keras
import numpy as np

from skann._backend import tensorflow
from skann._threads import thread_limit


def batch_dataset(
    arrays: tuple, batch_size: int, steps_per_execution: int, shuffle: bool = False, seed=None, first_epoch: int = 0
):
    """``(dataset, steps per epoch, callbacks)`` for ``keras.Model.fit``.

    When the epoch is a whole number of executions, an endless dataset served by one iterator
    for the whole fit; else one epoch per iterator, which Keras makes anew each epoch (an
    execution must not run across two epochs), told the epoch number by a callback. Either
    way epoch e is shuffled by ``(seed, e)`` alone, so both give the same batches.
    """
    tf = tensorflow()

    X, y, *weights = arrays
    parts = (X, y) if not weights or weights[0] is None else (X, y, weights[0])
    # tf.data takes a list for one tensor to stack: several inputs or outputs go as a tuple.
    tensors = tf.nest.map_structure(tf.convert_to_tensor, keras.tree.lists_to_tuples(parts))
    n_rows = len(tf.nest.flatten(X)[0])
    steps = -(-n_rows // batch_size)
    if shuffle and seed is None:
        seed = int(np.random.randint(np.iinfo(np.int32).max))

    def one_epoch(epoch):
        indices = tf.range(n_rows, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(indices, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(indices).batch(batch_size)

    callbacks = []
    if steps % steps_per_execution == 0:
        index_batches = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(one_epoch)
        steps_per_epoch = steps
    elif not shuffle:
        index_batches, steps_per_epoch = one_epoch(tf.constant(0, tf.int64)), None
    else:
        counter = _EpochCounter()
        callbacks.append(counter)
        index_batches = tf.data.Dataset.from_tensors(0).flat_map(lambda _: one_epoch(counter.epoch.read_value()))
        index_batches = index_batches.apply(tf.data.experimental.assert_cardinality(steps))
        steps_per_epoch = None
    data = index_batches.map(lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors))
    return with_feed_options(data).prefetch(2), steps_per_epoch, callbacks


class _EpochCounter(keras.callbacks.Callback):
    """Tells a one-epoch dataset which epoch its next iterator serves (Keras makes the
    iterator after ``on_epoch_begin``)."""

    def __init__(self):
        super().__init__()
        tf = tensorflow()

        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


def with_feed_options(data):
    """``data`` with the options of every tf.data pipeline skann makes: no autotuning, and
    tf.data's own thread pool kept within this worker's share of the CPU.

    Autotuning has nothing to tune here (fixed prefetch, sequential map), and its thread
    can stall the iterator's deletion for up to a minute: TensorFlow wakes it on cancellation
    before marking the iterator cancelled, so on a busy machine it may go back to sleep for
    its whole optimisation period (which doubles up to 60 s while the iterator lives).
    Measured: 2 of 300 autotuned iterators took up to 40 s to delete with the CPUs loaded,
    none of 300 without autotuning.
    """
    tf = tensorflow()

    options = tf.data.Options()
    options.autotune.enabled = False
    threads = thread_limit()
    if threads is not None:
        options.threading.private_threadpool_size = threads
    return data.with_options(options)
