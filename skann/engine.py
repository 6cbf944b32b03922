"""The training engine: *how* a compiled Keras network is trained for skann's estimators.

The estimators decide *what* to train (the network, the data, the epochs, the callbacks);
:func:`fit_model` trains it. On JAX and TensorFlow it runs a **fused loop**: each epoch's
batches run as one compiled program (Keras' own ``train_step`` inside ``jax.lax.fori_loop``
on JAX, a ``tf.function`` loop on TensorFlow), and the compiled programs are cached
process-wide by *architecture* (the model's configuration with layer names taken out, its
variables' shapes, its compile settings without the learning rate; each program keeps one
executable per shape of the data), so the next fit of the same architecture (a
cross-validation fold, a grid candidate with another learning rate, a Hyperband continuation,
a refit) does not trace or compile again. Small data is padded to a bucket of rows, and an
epoch's short last batch (and validation data's) is padded to the batch size with rows of
weight 0 wherever that trains exactly as the short batch (:func:`padded_loss_weighting`), so
folds and the refit of different sizes share one program; on TensorFlow, other networks'
batches have an unknown number of rows in the trace, as in ``Model.fit``, to the same end.
Where the fit's callbacks only read each epoch's logs (:func:`replays_epochs`: Keras'
history, skann's divergence guard) and there is no validation data, one call runs up to 32
epochs and the callbacks see them afterwards, each with its own logs (a run of epochs that
did not stay finite runs again an epoch at a time, so the guard stops where it always would).

Reuse is invisible: the programs are pure functions of the state passed in (weights,
optimizer slots, metric totals, BatchNormalization statistics, dropout seeds), so every
estimator keeps its own ``model_`` and a fit through the cache gives exactly the weights of
the first, compiling fit. The cache holds a private clone of the first model of each
architecture (never a user's network) and is bounded in bytes (``SKANN_ENGINE_CACHE_MB``,
default 512): least recently used architectures are dropped first.

Data read from the host a batch at a time (a :class:`skann.SliceDataset`) and, on JAX, networks
with convolutions on the CPU (which XLA runs slowly inside loops) train step by step through
one cached step program per architecture instead (:func:`fit_model_by_batch`).

Anything the engine cannot serve goes through ``keras.Model.fit`` unchanged: other
backends, callbacks that act on every batch, a progress bar (``verbose``), ``run_eagerly``,
and Keras-only ``fit`` arguments. Per-epoch callbacks (early stopping, checkpoints,
TensorBoard at ``update_freq="epoch"``, learning-rate schedules, skann's divergence guard)
see the model's variables up to date at every epoch's end, as in ``Model.fit``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import json
import math
import os
import threading
from typing import Any, NamedTuple

import keras
import numpy as np

from skann import _rows
from skann._backend import jax_compiler_options
from skann._keras_compat import (
    adapted_constants, all_layers, build_training_state, build_training_state_from_shapes, compile_arguments,
    compiled_metric_functions, functional_graph, keras_trains_it, output_loss_trackers, stateless_metrics_result,
    stateless_update_metrics, tensorflow_unseen, update_metrics,
)

__all__ = [
    "CompiledCache", "Feed", "LazyMiniBatches", "MiniBatches", "SparseMiniBatches", "architecture_key",
    "by_batch_available", "compiled_cache", "fit_model", "fit_model_by_batch", "fused_loop_available", "mini_batches",
    "padded_loss_weighting", "replays_epochs",
]

# Rows per evaluation batch, in the fused loop and in skann's tf.data feed (it changes speed
# only, not the validation figures).
VALIDATION_BATCH = 1024
# Data is padded with zero rows up to this size at most (padding lets the folds of a
# cross-validation and the refit share a compiled program; big data compiles rarely).
_PAD_LIMIT_BYTES = 64 * 2**20
# One call of a training program runs up to this many epochs (their rows stacked, at most
# _EPOCH_ROWS_BYTES) when the fit's callbacks only read each epoch's logs: a call, and copying
# the state in and out, costs about as much as an epoch of a few hundred rows.
_MAX_EPOCHS_PER_CALL = 32
_EPOCH_ROWS_BYTES = 2**20


# ``SKANN_FUSED_LOOP=0`` trains every network with ``keras.Model.fit`` (to compare, or to
# rule the engine out when something looks wrong).
FUSED_LOOP = os.environ.get("SKANN_FUSED_LOOP", "1") != "0"


def fused_loop_available(
    model: keras.Model, callbacks: list, *, verbose, run_eagerly: bool = False, feed: Feed | None = None
) -> bool:
    """Whether the fit's settings (and ``feed``'s backends) allow the fused loop (else
    ``Model.fit``); :func:`fit_model` still returns None for a network whose architecture it
    cannot tell apart."""
    backend = keras.backend.backend()
    if feed is not None and backend not in feed.fused_backends:
        return False
    if not _engine_serves(model, callbacks, verbose=verbose, run_eagerly=run_eagerly):
        return False
    if backend == "jax" and _convolutions_slow_in_loops() and any(isinstance(l, _CONVOLUTIONS) for l in all_layers(model)):
        return False
    return True


def by_batch_available(model: keras.Model, callbacks: list, *, verbose, run_eagerly: bool = False) -> bool:
    """Whether :func:`fit_model_by_batch` can serve the fit (the settings
    :func:`fused_loop_available` needs, convolutions allowed)."""
    return _engine_serves(model, callbacks, verbose=verbose, run_eagerly=run_eagerly)


def _engine_serves(model: keras.Model, callbacks: list, *, verbose, run_eagerly: bool) -> bool:
    if not FUSED_LOOP:
        return False
    backend = keras.backend.backend()
    if backend not in _PROGRAMS or verbose or run_eagerly or getattr(model, "run_eagerly", False):
        return False
    if backend == "jax" and not getattr(model, "jit_compile", True):
        return False
    from skann.callbacks import needs_every_batch

    return not any(needs_every_batch(cb) for cb in callbacks)


# XLA:CPU runs the gradients of convolutions inside a while loop tens of times slower than
# the same step on its own (jax-ml/jax#12868; measured here with JAX 0.10: a small CNN's
# training step 11x, a 16-channel convolution's gradient 40x): on JAX's CPU backend, networks
# with convolutions train step by step (fit_model_by_batch), not in the fused loop.
_CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose, keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D, keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)


def _convolutions_slow_in_loops() -> bool:
    import jax

    return jax.default_backend() == "cpu"


# An epoch of at least this many multiply-adds (its rows times the network's weights, about
# what a dense network's epoch costs) compiles with XLA's own options on the CPU, not
# :func:`jax_compiler_options`: the book's Fashion MLP on 20,000 images (2**32) ran its
# epochs ~10% faster with them (251-252 ms against 278-280 ms, JAX 0.10, 2 cores) and paid
# ~0.2-0.3 s more to compile, once per architecture and size of data; an epoch of a small
# data set (digits' 1,437 rows: 2**22) would never pay that back.
_LONG_EPOCH_WORK = 2**31


def _compiler_options_for(epoch_work: int) -> dict | None:
    """The XLA options of a JAX program whose epoch (or evaluation) takes ``epoch_work``
    multiply-adds: XLA's own for long ones (:data:`_LONG_EPOCH_WORK`), else
    :func:`jax_compiler_options`. A function of the data's shapes alone, so every fit of
    the same architecture and size of data runs the same program."""
    return None if epoch_work >= _LONG_EPOCH_WORK else jax_compiler_options()


# ---------------------------------------------------------------------- architecture key
def _without_initializer_seeds(config):
    """``config`` without the seeds of its initializers: they make the initial weights, which
    a training program takes as inputs, so networks that differ only there (fits of the book
    estimators with different ``random_state``) share their programs."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key.endswith("_initializer") and isinstance(value, dict) and isinstance(value.get("config"), dict):
                value = {**value, "config": {k: v for k, v in value["config"].items() if k != "seed"}}
            out[key] = _without_initializer_seeds(value)
        return out
    if isinstance(config, (list, tuple)):
        return [_without_initializer_seeds(v) for v in config]
    return config


def _canonical_names(config):
    """``config`` with every layer, model and tensor name replaced by its order of first
    appearance: Keras numbers default names per process (``dense_7``), which says nothing
    about the computation, while connections between layers refer to names."""
    names: dict[str, str] = {}

    def collect(value):
        if isinstance(value, dict):
            name = value.get("name")
            if isinstance(name, str) and name not in names:
                names[name] = f"@{len(names)}"
            for v in value.values():
                collect(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)

    def rename(value):
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [rename(v) for v in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    collect(config)
    return rename(config)


def _compile_settings(config) -> Any:
    """The compile configuration without what lives in variables (a float learning rate)."""
    if not config:
        return None
    config = json.loads(json.dumps(config, default=repr))
    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict):
        inner = optimizer.get("config", {})
        if isinstance(inner.get("learning_rate"), (int, float)):
            inner.pop("learning_rate")
        inner.pop("name", None)
    config.pop("steps_per_execution", None)
    return config


def architecture_key(model: keras.Model) -> str | None:
    """What makes two compiled networks interchangeable in a training program, as a string;
    None when it cannot be known (a model without a configuration), which means no reuse."""
    if any(adapted_constants(layer) is None for layer in all_layers(model)):
        return None
    try:
        with tensorflow_unseen():
            config = model.get_config()
            compile_config = model.get_compile_config()
    except Exception:  # NotImplementedError for subclassed models with arguments Keras cannot see
        return None
    try:
        described = json.dumps(
            [
                f"{type(model).__module__}.{type(model).__qualname__}#{id(type(model))}",
                _canonical_names(_without_initializer_seeds(json.loads(json.dumps(config, default=repr)))),
                _compile_settings(compile_config),
                [
                    (tuple(v.shape), str(v.dtype), bool(v.trainable))
                    for v in list(model.trainable_variables) + list(model.non_trainable_variables)
                ],
                str(model.dtype_policy.name),
            ],
            sort_keys=True,
            default=repr,
        )
    except Exception:
        return None
    return described


# Layers whose output for a row depends on that row alone, with no randomness: a batch padded
# with rows of zero weight trains them exactly as the batch alone would.
_ROW_WISE_LAYERS = (
    keras.layers.InputLayer, keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Activation,
    keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.PReLU, keras.layers.Softmax,
    keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute, keras.layers.RepeatVector,
    keras.layers.Concatenate, keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
    keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum, keras.layers.Dot,
    keras.layers.Normalization, keras.layers.Rescaling, keras.layers.LayerNormalization,
    keras.layers.UnitNormalization, keras.layers.Identity, keras.layers.Embedding, keras.layers.CategoryEncoding,
    *_CONVOLUTIONS, keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D,
    keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D, keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D,
    keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.UpSampling1D, keras.layers.UpSampling2D,
)
# Reductions of Keras' losses, and how a padded batch's rows are weighted to give the loss
# of the batch alone: "sum_over_batch_size" divides by the rows given, so real rows weigh
# rows given / real rows; "sum" and "mean_with_sample_weight" need only the zeros.
_PADDED_LOSS_WEIGHTING = {"sum_over_batch_size": "mean", "mean": "mean", "sum": "mask", "mean_with_sample_weight": "mask"}


def _keras_made(value) -> bool:
    """A loss or metric of Keras' own (a name, a class, a function or an instance), not a user's."""
    if isinstance(value, str):
        return True
    wrapped = getattr(value, "fn", None)  # Keras' wrappers of loss and metric functions
    if wrapped is not None and not _keras_made(wrapped):
        return False
    named = isinstance(value, type) or inspect.isroutine(value)
    module = getattr(value, "__module__", None) if named else type(value).__module__
    return isinstance(module, str) and module.startswith("keras.")


def padded_loss_weighting(model: keras.Model) -> str | None:
    """How the rows of a last batch padded to the full batch size are weighted so that training
    on it is exactly training on the batch alone (``"mean"`` or ``"mask"``), or None when that
    cannot be promised and the last batch keeps its own size (and program).

    Padding is exact for a Sequential or functional network made of row-wise, deterministic
    Keras layers (no BatchNormalization, dropout or noise, no activity regularizer), trained
    by Keras' own step with Keras losses (of one reduction, for every output) and Keras'
    averaged metrics: rows of weight 0 change no gradient, no metric and no statistic there.
    """
    if functional_graph(model) is None or not keras_trains_it(model):
        return None
    if str(model.dtype_policy.name).startswith("mixed"):
        return None
    for layer in all_layers(model):
        if not isinstance(layer, _ROW_WISE_LAYERS) or getattr(layer, "activity_regularizer", None) is not None:
            return None
        if getattr(layer, "mask_zero", False):
            return None
    losses = keras.tree.flatten(compile_arguments(model).get("loss"))  # one, or one an output
    if not losses or not all(loss is not None and _keras_made(loss) for loss in losses):
        return None
    reductions = {getattr(loss, "reduction", "sum_over_batch_size") for loss in losses}
    if len(reductions) != 1:
        return None
    # The padded step weighs every metric's rows by the mask: exact for Keras' averaged metrics
    # (accuracy, mae, root mean squared error, ...: weighted means), not promised for others
    # (AUC, precision, mean IoU ...) or a user's.
    for metric in compiled_metric_functions(model):
        if not _keras_made(metric) or (isinstance(metric, keras.metrics.Metric) and not isinstance(metric, keras.metrics.Mean)):
            return None
    return _PADDED_LOSS_WEIGHTING.get(reductions.pop())


def _clone_for_programs(model: keras.Model, batch: tuple) -> keras.Model | None:
    """A private, compiled and built copy of ``model`` to trace programs with (None: cannot)."""
    try:
        with tensorflow_unseen():
            clone = type(model).from_config(model.get_config())
            clone.build_from_config(model.get_build_config())
            clone.compile_from_config(model.get_compile_config())
        if clone.optimizer is None or getattr(clone, "loss", None) is None:
            return None
        build_training_state(clone, batch)
        if [tuple(v.shape) for v in clone.variables] != [tuple(v.shape) for v in model.variables]:
            return None
        if len(clone.metrics_variables) != len(model.metrics_variables):
            return None
        return clone
    except Exception:
        return None


# ---------------------------------------------------------------------- programs
class _Programs:
    """A private template network of one architecture and the compiled training and evaluation
    programs traced with it; each backend's subclass runs epochs of any network of that
    architecture through them (:meth:`train_epochs`, :meth:`evaluate`)."""

    def __init__(self, template: keras.Model, nbytes: int):
        self.template = template
        self.nbytes = nbytes
        self.lock = threading.RLock()  # tracing touches the template: one trace at a time
        self.seen: set = set()
        # How a short last batch is padded to the batch size (None: it keeps its own size).
        self.padding = padded_loss_weighting(template)
        # Whether validation data is evaluated in padded batches too, so that every size of it
        # in a bucket shares one program (where a program's shapes are fixed: JAX).
        self.pads_evaluation = False

    @contextlib.contextmanager
    def _constants_from(self, non_trainable_values):
        """While tracing: layer constants computed from the given state, not the template's
        own (a Normalization layer's mean would otherwise be baked into the program)."""
        bound = []
        positions = {id(v): i for i, v in enumerate(self.template.non_trainable_variables)}
        try:
            for layer in all_layers(self.template):
                for attribute, (variable, compute) in (adapted_constants(layer) or {}).items():
                    bound.append((layer, attribute, getattr(layer, attribute)))
                    setattr(layer, attribute, compute(non_trainable_values[positions[id(variable)]]))
            yield
        finally:
            for layer, attribute, value in reversed(bound):
                setattr(layer, attribute, value)

    def epochs_per_call(self, loop_rows) -> int:
        """How many epochs one call of the training program can run, for epochs whose steps
        take ``loop_rows`` (of :meth:`Feed.epoch`): their rows, stacked, stay under 1 MB."""
        most = _EPOCH_ROWS_BYTES // max(1, np.asarray(loop_rows).nbytes)
        return max(1, min(_MAX_EPOCHS_PER_CALL, 1 << max(0, int(most).bit_length() - 1)))

    def train_epochs(self, model, zero_metrics, data, batch, epochs: list, pad: bool = False) -> tuple[list, bool]:
        """Epochs of ``model``, each given by its steps ``(loop_rows, n_loop, last_rows)``
        (:meth:`Feed.epoch`: ``loop_rows[:n_loop]`` then ``last_rows``), in one call of the
        training program (at most :meth:`epochs_per_call` of them): the logs of each, and
        whether every epoch ended with finite logs and weights. The network's variables hold
        the state after the last. With ``pad`` (a feed whose steps are batches of samples) and
        a network :func:`padded_loss_weighting` serves, the short last batch runs in the loop,
        padded: one program for every size of it."""
        kind = "train"
        if pad and self.padding is not None:
            kind, epochs = "train_padded", [_last_batch_padded(*steps) for steps in epochs]
        cap = self.epochs_per_call(epochs[0][0])
        if len(epochs) > cap or any(int(steps[1]) != int(epochs[0][1]) for steps in epochs):
            raise ValueError(f"One call trains at most {cap} epochs, of one number of steps.")
        rows = np.zeros((cap,) + np.shape(epochs[0][0]), np.int32)
        last = np.zeros((cap,) + np.shape(epochs[0][2]), np.int32)
        for i, (loop_rows, _, last_rows) in enumerate(epochs):
            rows[i], last[i] = loop_rows, last_rows
        logs, finite = self._train(kind, model, zero_metrics, data, batch, rows, epochs[0][1], last, np.int32(len(epochs)), pad)
        return [_floats({k: v[i] for k, v in logs.items()}) for i in range(len(epochs))], bool(np.all(finite[: len(epochs)]))

    def evaluate(self, model, zero_metrics, data, batch, loop_rows, n_loop, last_rows) -> dict:
        """The logs of ``model`` evaluated on the validation steps ``loop_rows[:n_loop]`` then
        ``last_rows`` (of :meth:`Feed.epoch`), the last padded where :attr:`pads_evaluation`."""
        kind, steps = "evaluate", (loop_rows, n_loop, last_rows)
        if self.pads_evaluation:
            kind, steps = "evaluate_padded", _last_batch_padded(*steps)
        return _floats(self._evaluate(kind, model, zero_metrics, data, batch, steps))

    def _evaluate(self, kind: str, model, zero_metrics, data, batch, steps: tuple) -> dict:
        """:meth:`evaluate` with the ``kind`` of program ("evaluate", or "evaluate_padded"
        whose ``steps`` are ``(rows, n_steps, n_last)``)."""
        raise NotImplementedError

    def _train(self, kind: str, model, zero_metrics, data, batch, rows, n_steps, last, n_epochs, samples) -> tuple[dict, Any]:
        """:meth:`train_epochs` with the ``kind`` of program ("train", or "train_padded" whose
        ``last`` is each epoch's number of real rows in its last step) on epochs stacked in
        ``rows`` and ``last`` (``n_epochs`` of them used): the logs of each (stacked NumPy
        arrays) and whether each ended finite. ``samples``: a step's rows are a batch of
        samples (any number of them makes a step)."""
        raise NotImplementedError

    def snapshot(self, model) -> list:
        """A copy of ``model``'s training state but its metrics (to :meth:`restore`)."""
        return _value_copies(_trained_variables(model))

    def restore(self, model, snapshot: list) -> None:
        _assign(_trained_variables(model), snapshot)

    def _traced_once(self, function, signature, *args):
        """``function(*args)``; the first call of a ``signature`` (a trace) holds the lock."""
        if signature in self.seen:
            return function(*args)
        with self.lock:
            out = function(*args)
            self.seen.add(signature)
        return out

    def device_data(self, arrays, n_rows: int):
        """The arrays as the backend's tensors of ``n_rows`` rows (zero-padded)."""

        def convert(a):
            a = np.asarray(a)
            if len(a) != n_rows:
                padded = np.zeros((n_rows,) + a.shape[1:], dtype=a.dtype)
                padded[: len(a)] = a
                a = padded
            return self._tensor(a)

        return keras.tree.map_structure(convert, arrays)

    def _tensor(self, array: np.ndarray):
        """A NumPy array as the backend's tensor."""
        return keras.ops.convert_to_tensor(array)


class _JaxPrograms(_Programs):
    """``jax.jit`` programs that take the state (weights, optimizer slots, metric totals,
    non-trainable variables) as arguments and return it: Keras' stateless ``train_step``
    inside ``jax.lax.fori_loop`` over the batches, inside one over the epochs of a call. One
    compiled executable per shape of the data."""

    def __init__(self, template: keras.Model, nbytes: int):
        import jax

        _use_compilation_cache_dir()
        super().__init__(template, nbytes)
        self.pads_evaluation = self.padding is not None
        # Multiply-adds of a row: the network's weights (what sizes an epoch's work).
        self._weights_per_row = sum(math.prod(v.shape) for v in template.trainable_variables)
        # The epoch and evaluation programs, made on first use for their XLA options
        # (:func:`_compiler_options_for`); the batch function (how a step's data is taken from
        # the rows) is part of each program.
        self._programs: dict[tuple, Any] = {}
        # One step on a batch from the host (data read a batch at a time: files; convolutions
        # on XLA:CPU).
        options = jax_compiler_options()
        self._train_step = jax.jit(self._traced_train_step, compiler_options=options)
        self._test_step = jax.jit(self._traced_test_step, compiler_options=options)

    def _program(self, kind: str, rows_per_epoch: int):
        """The jitted program of ``kind`` ("train", "train_padded", "evaluate",
        "evaluate_padded") for epochs of ``rows_per_epoch`` rows (with padding)."""
        import jax

        options = _compiler_options_for(rows_per_epoch * self._weights_per_row)
        key = (kind, options is None)
        program = self._programs.get(key)
        if program is None:
            function = {
                "train": functools.partial(self._traced_epochs, self._traced_train_epoch),
                "train_padded": functools.partial(self._traced_epochs, self._traced_train_padded_epoch),
                "evaluate": self._traced_evaluate,
                "evaluate_padded": self._traced_evaluate_padded,
            }[kind]
            program = self._programs.setdefault(key, jax.jit(function, static_argnums=2, compiler_options=options))
        return program

    def train_batches(self, model, zero_metrics, batches) -> dict:
        """One epoch, as :meth:`train_epochs` runs it, on ``batches`` handed over from the host one
        at a time: its logs."""
        groups = _state_variables(model)
        state = (*(_values(group) for group in groups[:3]), zero_metrics)
        for batch in batches:
            batch = tuple(batch)
            logs, state = self._traced_once(self._train_step, ("train_step", _shapes(batch)), state, batch)
        for variables, values in zip(groups, state):
            _assign(variables, values)
        return _floats(logs)

    def evaluate_batches(self, model, zero_metrics, batches) -> dict:
        """:meth:`evaluate` on ``batches`` handed over from the host one at a time."""
        state = (_values(model.trainable_variables), _values(model.non_trainable_variables), zero_metrics)
        for batch in batches:
            batch = tuple(batch)
            logs, state = self._traced_once(self._test_step, ("test_step", _shapes(batch)), state, batch)
        return _floats(logs)

    def _tensor(self, array: np.ndarray):
        import jax

        return jax.device_put(array)  # (converting would compile a program for each new shape)

    def _traced_train_step(self, state, batch):
        with self._constants_from(state[1]):
            return self.template.train_step(state, batch)

    def _traced_test_step(self, state, batch):
        with self._constants_from(state[1]):
            return self.template.test_step(state, batch)

    def _train(self, kind: str, model, zero_metrics, data, batch, rows, n_steps, last, n_epochs, samples) -> tuple[dict, Any]:
        import jax

        groups = _state_variables(model)
        state = (*(_values(group) for group in groups[:3]), zero_metrics)
        args = (state, data, batch, rows, n_steps, last, n_epochs)
        program = self._program(kind, np.asarray(rows[0]).size)
        logs, state = self._traced_once(program, (kind, _program_name(batch), _shapes(args[3:], data)), *args)
        for variables, values in zip(groups, state):
            _assign(variables, values)
        return jax.device_get(logs)

    def _evaluate(self, kind: str, model, zero_metrics, data, batch, steps: tuple) -> dict:
        state = (_values(model.trainable_variables), _values(model.non_trainable_variables), zero_metrics)
        args = (state, data, batch, *steps)
        program = self._program(kind, np.asarray(steps[0]).size)
        return self._traced_once(program, (kind, _program_name(batch), _shapes(steps, data)), *args)

    def _traced_epochs(self, epoch, state, data, batch, rows, n_steps, last, n_epochs):
        """``epoch(state, data, batch, rows[e], n_steps, last[e])`` for each ``e < n_epochs``,
        each from the metrics of ``state``: ``((logs, finite), state)``, the logs of each
        epoch stacked and whether each ended with finite logs and weights."""
        import jax

        from jax.extend.core import jaxpr_as_fun

        zero_metrics = state[3]

        def keras_epoch(e, state):
            return epoch((*state[:3], zero_metrics), data, batch, rows[e], n_steps, last[e])

        # Keras' step traced once (its Python is most of a trace): the structure of an epoch's
        # logs comes with it, and the loop below replays the recorded program.
        recorded, shapes = jax.make_jaxpr(keras_epoch, return_shape=True)(np.int32(0), state)
        replay, out_tree, logs_like = jaxpr_as_fun(recorded), jax.tree.structure(shapes), shapes[0]

        def one(e, state):
            return jax.tree.unflatten(out_tree, replay(*jax.tree.leaves((e, state))))

        stacked = jax.tree.map(lambda s: keras.ops.zeros((rows.shape[0],) + s.shape, s.dtype), logs_like)

        def each_epoch(e, carry):
            state, stacked, finite = carry
            logs, state = one(e, state)
            stacked = jax.tree.map(lambda b, v: b.at[e].set(v), stacked, logs)
            return state, stacked, finite.at[e].set(_all_finite(logs, state[0]))

        finite = keras.ops.zeros((rows.shape[0],), "bool")
        state, stacked, finite = jax.lax.fori_loop(0, n_epochs, each_epoch, (state, stacked, finite))
        return (stacked, finite), state

    def _traced_train_epoch(self, state, data, batch, loop_rows, n_loop, last_rows):
        return self._fused_steps(self.template.train_step, state, data, batch, loop_rows, n_loop, last_rows)

    def _traced_train_padded_epoch(self, state, data, batch, rows, n_steps, n_last):
        state = self._padded_steps(_padded_train_step, state, data, batch, rows, n_steps, n_last)
        return stateless_metrics_result(self.template, state[3]), state

    def _traced_evaluate(self, state, data, batch, loop_rows, n_loop, last_rows):
        logs, _ = self._fused_steps(self.template.test_step, state, data, batch, loop_rows, n_loop, last_rows)
        return logs

    def _traced_evaluate_padded(self, state, data, batch, rows, n_steps, n_last):
        state = self._padded_steps(_padded_test_step, state, data, batch, rows, n_steps, n_last)
        return stateless_metrics_result(self.template, state[2])

    def _padded_steps(self, step, state, data, batch, rows, n_steps, n_last):
        """``step`` (:func:`_padded_train_step` or :func:`_padded_test_step`) over the rows of
        ``rows[:n_steps]``, the last of them ``n_last`` rows long and padded: the final state."""
        import jax

        template, weighting, size = self.template, self.padding, rows.shape[1]

        def take(a, rows):
            return a[rows]

        with self._constants_from(state[1]):

            def one_step(i, state):
                real_rows = keras.ops.where(i == n_steps - 1, n_last, size)
                return step(template, weighting, state, batch(data, rows[i], take), real_rows)

            return jax.lax.fori_loop(0, n_steps, one_step, state)

    def _fused_steps(self, step, state, data, batch, loop_rows, n_loop, last_rows):
        """``step`` over the rows of every batch but the last, then the last batch, whose logs
        (the metrics accumulated over the epoch) are returned with the final state."""
        import jax

        def take(a, rows):
            return a[rows]

        with self._constants_from(state[1]):

            def one_step(i, state):
                _, state = step(state, batch(data, loop_rows[i], take))
                return state

            state = jax.lax.fori_loop(0, n_loop, one_step, state)
            return step(state, batch(data, last_rows, take))


def _all_finite(logs: dict, weights) -> Any:
    """Whether every float in ``logs`` and ``weights`` is finite (in a program)."""
    ops = keras.ops
    values = [ops.convert_to_tensor(v) for v in keras.tree.flatten((logs, weights))]
    values = [v for v in values if "float" in keras.backend.standardize_dtype(v.dtype)]
    return ops.all(ops.stack([ops.all(ops.isfinite(v)) for v in values])) if values else ops.convert_to_tensor(True)


def _last_batch_padded(loop_rows, n_loop, last_rows) -> tuple:
    """``(rows, n_steps, n_last)``: the last batch's rows written into the loop's rows (the
    rest of its row filled with row 0, which weighs nothing)."""
    rows = np.array(loop_rows)
    rows[int(n_loop)] = 0
    rows[int(n_loop), : len(last_rows)] = last_rows
    return rows, np.int32(int(n_loop) + 1), np.int32(len(last_rows))


class _Padding(NamedTuple):
    """The weights of a batch whose rows past ``real`` are padding."""

    real: Any  # the number of real rows
    share: Any  # real rows / rows given
    mask: Any  # 1 for a real row, 0 for padding
    masked_weights: Any  # the sample weights times the mask (the mask where there are none)
    loss_weight: Any  # the weights that give the loss of the real rows alone


def _padding_weights(model: keras.Model, weighting: str, x, sample_weight, real_rows) -> _Padding:
    """How a batch padded past ``real_rows`` is weighted (``weighting``, from
    :func:`padded_loss_weighting`)."""
    ops = keras.ops
    size = keras.tree.flatten(x)[0].shape[0]
    dtype = model.dtype_policy.compute_dtype
    real = ops.cast(real_rows, dtype)
    mask = ops.cast(ops.arange(size, dtype="int32") < ops.cast(real_rows, "int32"), dtype)  # (int64 under float64)
    if sample_weight is None:
        masked_weights = mask
    else:
        sample_weight = ops.cast(sample_weight, dtype)
        masked_weights = sample_weight * ops.reshape(mask, (size,) + (1,) * (len(sample_weight.shape) - 1))
    loss_weight = masked_weights
    if weighting == "mean":  # Keras divides by the rows given: real rows weigh rows / real rows
        loss_weight = masked_weights * (size / real)
    return _Padding(real, real / size, mask, masked_weights, loss_weight)


def _output_loss_positions(model: keras.Model) -> list[tuple[int, int]]:
    """Where the total and the count of each output's loss tracker are in ``model.metrics_variables``."""
    position = {id(v): i for i, v in enumerate(model.metrics_variables)}
    return [(position[id(t.total)], position[id(t.count)]) for t in output_loss_trackers(model)]


def _counted_by_real_rows(positions, before, after, padding: _Padding) -> dict:
    """``{position: value}`` of the output loss trackers at ``positions`` after a padded batch,
    counting its real rows where Keras counted all (``before``, ``after``: the metric values
    around Keras' loss): each adds the output's loss times the real rows, and those rows."""
    ops = keras.ops
    padded = padding.share < 1  # (a full batch keeps Keras' values, bit for bit)
    new = {}
    for total, count in positions:
        share = ops.cast(padding.share, after[total].dtype)
        new[total] = ops.where(padded, before[total] + (after[total] - before[total]) * share, after[total])
        new[count] = ops.where(padded, before[count] + ops.cast(padding.real, after[count].dtype), after[count])
    return new


def _stateless_loss(model, padding: _Padding, trainable, non_trainable, metrics_values, x, y, **kwargs):
    """Keras' JAX loss of a padded batch and its updates, as ``compute_loss_and_updates`` (given
    ``kwargs``) gives them: ``(loss, (unscaled loss, y_pred, non-trainable values, metric
    values))``, the output loss trackers counting real rows."""
    loss, (unscaled, y_pred, non_trainable, updated) = model.compute_loss_and_updates(
        trainable, non_trainable, metrics_values, x, y, padding.loss_weight, **kwargs
    )
    positions = _output_loss_positions(model)
    if positions:
        updated = list(updated)
        for i, value in _counted_by_real_rows(positions, metrics_values, updated, padding).items():
            updated[i] = value
    return loss, (unscaled, y_pred, non_trainable, updated)


def _padded_train_step(model: keras.Model, weighting: str, state, data, real_rows):
    """Keras' JAX training step on a batch whose rows past ``real_rows`` are padding: they weigh
    0, the loss is weighted as the real rows alone give it (``weighting``, from
    :func:`padded_loss_weighting`) and the loss trackers count the real rows only."""
    import jax

    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    padding = _padding_weights(model, weighting, x, sample_weight, real_rows)

    gradient = jax.value_and_grad(functools.partial(_stateless_loss, model, padding), has_aux=True)
    (_, (unscaled, y_pred, non_trainable, metrics_values)), grads = gradient(
        trainable, non_trainable, metrics_values, x, y, training=True, optimizer_variables=optimizer_values
    )
    trainable, optimizer_values = model.optimizer.stateless_apply(optimizer_values, grads, trainable)
    metrics_values = stateless_update_metrics(
        model, metrics_values, unscaled, padding.real, x, y, y_pred, padding.mask, padding.masked_weights
    )
    return (trainable, non_trainable, optimizer_values, metrics_values)


def _padded_test_step(model: keras.Model, weighting: str, state, data, real_rows):
    """Keras' JAX test step on a batch whose rows past ``real_rows`` are padding, weighted as
    :func:`_padded_train_step` weighs them."""
    trainable, non_trainable, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    padding = _padding_weights(model, weighting, x, sample_weight, real_rows)
    _, (unscaled, y_pred, non_trainable, metrics_values) = _stateless_loss(
        model, padding, trainable, non_trainable, metrics_values, x, y, training=False
    )
    metrics_values = stateless_update_metrics(
        model, metrics_values, unscaled, padding.real, x, y, y_pred, padding.mask, padding.masked_weights
    )
    return (trainable, non_trainable, metrics_values)


def _loss_in_place(model: keras.Model, padding: _Padding, x, y, y_pred, training: bool):
    """Keras' TensorFlow loss of a padded batch (on the network's variables), the output loss
    trackers counting real rows."""
    import tensorflow as tf

    positions = _output_loss_positions(model)
    variables = model.metrics_variables
    read = {i: tf.identity(variables[i].value) for pair in positions for i in pair}  # read now, not when used
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=padding.loss_weight, training=training)
    if positions:
        after = {i: tf.identity(variables[i].value) for i in read}
        for i, value in _counted_by_real_rows(positions, read, after, padding).items():
            variables[i].assign(value)
    return loss


def _padded_train_step_in_place(model: keras.Model, weighting: str, data, real_rows) -> None:
    """:func:`_padded_train_step` as Keras' TensorFlow training step runs: on the network's
    variables, in place."""
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    padding = _padding_weights(model, weighting, x, sample_weight, real_rows)
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = _loss_in_place(model, padding, x, y, y_pred, True)
        scaled = model.optimizer.scale_loss(loss)
    weights = model.trainable_weights
    model.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
    update_metrics(model, loss, padding.real, x, y, y_pred, padding.mask, padding.masked_weights)


def _padded_test_step_in_place(model: keras.Model, weighting: str, data, real_rows) -> None:
    """:func:`_padded_test_step` as Keras' TensorFlow test step runs: on the network's variables."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    padding = _padding_weights(model, weighting, x, sample_weight, real_rows)
    y_pred = model(x, training=False)
    loss = _loss_in_place(model, padding, x, y, y_pred, False)
    update_metrics(model, loss, padding.real, x, y, y_pred, padding.mask, padding.masked_weights)


class _TensorFlowPrograms(_Programs):
    """``tf.function`` programs over the template's own variables (TensorFlow's training
    step updates variables in place, and Keras refuses its stateless optimizer update there):
    one call of a concrete function copies a network's state (its TensorFlow variables,
    passed in) into the template, runs ``tf.while`` loops over the epochs given and their
    batches (traced once for every data size, and once per size of the last batch where it
    is not padded) and copies the state back; data handed over a batch at a time runs the
    template's own step, traced once (:meth:`train_batches`). Traced without AutoGraph, as
    ``Model.fit`` traces Keras' steps. Fits of one architecture take turns on the template."""

    def __init__(self, template: keras.Model, nbytes: int):
        super().__init__(template, nbytes)
        # A batch of samples has an unknown number of rows in a trace, as Model.fit's tf.data
        # batches have (one trace for every size of the last batch), where Keras' step weighs
        # it by its rows at run time. A network of several outputs keeps its batches' sizes:
        # Keras' tracker of each output's loss counts a batch's static size (once, if unknown).
        self._keeps_batch_sizes = bool(output_loss_trackers(template))
        # Validation batches of a network that keeps its batches' sizes are padded instead.
        self.pads_evaluation = self.padding is not None and self._keeps_batch_sizes
        self._functions: dict = {}
        self._stand_ins = None
        self._executor = _fused_program_executor() if _many_small_ops(template) else ""

    @staticmethod
    def _variables(model) -> list:
        """A network's state as TensorFlow's variables themselves (which ``.value`` gives)."""
        return [v.value for group in _state_variables(model) for v in group]

    def epochs_per_call(self, loop_rows) -> int:
        # A network's own training step gives logs of its own making, known only once traced: one epoch a call.
        return super().epochs_per_call(loop_rows) if keras_trains_it(self.template) else 1

    def _function(self, kind: str, batch, args, samples: bool):
        import tensorflow as tf

        def spec(a, rows_axes=1):  # any number of rows: one trace for every data size
            shape = tuple(a.shape)
            return tf.TensorSpec((None,) * rows_axes + shape[rows_axes:] if shape else (), tf.as_dtype(a.dtype))

        static = not samples or self._keeps_batch_sizes  # (see __init__)
        batches = spec if static else functools.partial(spec, rows_axes=2)
        if kind == "evaluate":  # (data, loop_rows, n_loop, last_rows)
            data, loop_rows, n_loop, last_rows = args
            last_spec = tf.TensorSpec(last_rows.shape, tf.int32) if static else spec(last_rows)
            specs = (keras.tree.map_structure(spec, data), batches(loop_rows), spec(n_loop), last_spec)
        elif kind == "evaluate_padded":  # (data, rows, n_steps, n_last): batches of one size
            data, rows, n_steps, n_last = args
            specs = (keras.tree.map_structure(spec, data), spec(rows), spec(n_steps), spec(n_last))
        else:  # (data, rows, n_steps, last, n_epochs), epochs stacked on the first axis of rows and last
            data, rows, n_steps, last, n_epochs = args
            padded = kind == "train_padded"  # (its batches keep their size: padding weighs rows by it)
            last_spec = spec(last) if padded else batches(last)
            rows_spec = spec(rows, 2 if static or padded else 3)
            specs = (keras.tree.map_structure(spec, data), rows_spec, spec(n_steps), last_spec, spec(n_epochs))
        key = (kind, _program_name(batch), repr(specs))
        function = self._functions.get(key)
        if function is None:
            if kind == "train_padded":
                body = functools.partial(self._padded_epoch_body, _padded_train_step_in_place, batch)
            elif kind == "evaluate_padded":
                body = functools.partial(self._padded_epoch_body, _padded_test_step_in_place, batch)
            else:
                step = self.template.train_step if kind == "train" else self.template.test_step
                body = functools.partial(self._epoch_body, step, batch)
            evaluation = kind.startswith("evaluate")
            run = self._evaluation if evaluation else self._epochs

            def call(variables, zero_metrics, *args):
                out = run(body, self._load(variables, zero_metrics), zero_metrics, *args)
                if not evaluation:
                    self._store(variables)
                return out

            if self._stand_ins is None:
                self._stand_ins = [
                    tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self._variables(self.template)
                ]
            metric_specs = [tf.TensorSpec(v.shape, v.dtype) for v in self.template.metrics_variables]
            # A concrete function (a call skips tf.function's dispatch on its arguments),
            # traced on stand-in variables: the network's variables are arguments, not
            # captured. Not XLA: TensorFlow's executor runs one trace for every data size (XLA
            # compiles again for each size: 0.8 s per fold size, for 0.4x less time per step;
            # on the padded program, one size per bucket, a cold search took 3x longer).
            function = tf.function(call, jit_compile=False, autograph=False).get_concrete_function(
                self._stand_ins, metric_specs, *specs
            )
            self._functions[key] = function
        return key, function

    def train_batches(self, model, zero_metrics, batches) -> dict:
        """One epoch on ``batches`` handed over from the host one at a time (as
        :meth:`_JaxPrograms.train_batches`): the network's state is copied into the template,
        each batch runs the template's cached training step, and the state is copied back."""
        variables = self._variables(model)
        with self.lock:
            self._load(variables, zero_metrics)
            logs = self._run_steps("train_step", batches)
            self._store(variables)
        return _floats(logs)

    def evaluate_batches(self, model, zero_metrics, batches) -> dict:
        """:meth:`evaluate` on ``batches`` handed over from the host one at a time."""
        with self.lock:
            self._load(self._variables(model), zero_metrics)
            return _floats(self._run_steps("test_step", batches))

    def _load(self, variables, zero_metrics) -> list:
        """Copy a network's state (its :meth:`_variables`, the metrics' from ``zero_metrics``)
        into the template, in a trace or eagerly: the template's metric variables."""
        template = self._variables(self.template)
        n_state = len(template) - len(zero_metrics)
        _assign(template, [*variables[:n_state], *zero_metrics])
        return template[n_state:]

    def _store(self, variables) -> None:
        """Copy the template's state back into a network's :meth:`_variables`."""
        _assign(variables, self._variables(self.template))

    def _run_steps(self, kind: str, batches) -> dict:
        """The template's ``kind`` step ("train_step" or "test_step") on each batch: the last
        logs. A step's program is traced once per structure of batch, any number of rows (a
        network of several outputs: once per batch size, see ``__init__``)."""
        import tensorflow as tf

        static = self._keeps_batch_sizes
        logs = {}
        for batch in batches:
            batch = tuple(batch)
            specs = keras.tree.map_structure(
                lambda a: tf.TensorSpec(np.shape(a) if static else (None,) + np.shape(a)[1:], tf.as_dtype(np.asarray(a).dtype)),
                batch,
            )
            key = (kind, repr(specs))
            function = self._functions.get(key)
            if function is None:
                step = getattr(self.template, kind)

                def call(batch):
                    with self._constants_from(self.template.non_trainable_variables):
                        return step(batch)

                function = tf.function(call, jit_compile=False, autograph=False).get_concrete_function(specs)
                self._functions[key] = function
            logs = function(batch)
            self.seen.add(key)
        return logs

    @staticmethod
    def _evaluation(body, metrics, zero_metrics, data, loop_rows, n_loop, last_rows):
        return body(data, loop_rows, n_loop, last_rows)

    def _epochs(self, body, metrics, zero_metrics, data, rows, n_steps, last, n_epochs):
        """``body`` for each epoch ``e < n_epochs`` on ``rows[e]`` and ``last[e]``, each from
        zero metrics: ``(logs, finite)``, the logs of each epoch stacked and whether each
        ended with finite logs and weights (in the program)."""
        import tensorflow as tf

        template = self.template
        if not keras_trains_it(template):  # one epoch; its logs are those of the network's own step
            logs = body(data, rows[0], n_steps, last[0])
            logs = {k: tf.convert_to_tensor(v)[None] for k, v in logs.items()}
            return logs, _all_finite(logs, template.trainable_variables)[None]
        # Keras' own step: an epoch's logs are the metrics' results, whatever the body returns.
        like = template.get_metrics_result()
        names = list(like)
        stacks = [tf.TensorArray(like[k].dtype, size=tf.shape(rows)[0], element_shape=like[k].shape) for k in names]
        finite = tf.TensorArray(tf.bool, size=tf.shape(rows)[0])

        def epoch(e, stacks, finite):
            for target, source in zip(metrics, zero_metrics):
                target.assign(source)
            body(data, rows[e], n_steps, last[e])
            logs = template.get_metrics_result()
            stacks = [stack.write(e, logs[k]) for stack, k in zip(stacks, names)]
            return e + 1, stacks, finite.write(e, _all_finite(logs, template.trainable_variables))

        _, stacks, finite = tf.while_loop(lambda e, *_: e < n_epochs, epoch, (tf.constant(0, n_epochs.dtype), stacks, finite))
        return {k: stack.stack() for k, stack in zip(names, stacks)}, finite.stack()

    def _train(self, kind: str, model, zero_metrics, data, batch, rows, n_steps, last, n_epochs, samples) -> tuple[dict, Any]:
        logs, finite = self._run(kind, model, zero_metrics, batch, (data, rows, n_steps, last, n_epochs), samples)
        return {k: np.asarray(v) for k, v in logs.items()}, np.asarray(finite)

    def _evaluate(self, kind: str, model, zero_metrics, data, batch, steps: tuple) -> dict:
        return self._run(kind, model, zero_metrics, batch, (data, *steps), True)

    def _run(self, kind: str, model, zero_metrics, batch, args, samples: bool):
        """One call of the ``kind`` program on ``model``'s state (metrics from
        ``zero_metrics``); training leaves the new state in ``model``."""
        import tensorflow as tf

        variables = self._variables(model)
        with self.lock:
            if self._executor:
                try:
                    with tf.experimental.function_executor_type(self._executor):  # traces and calls
                        return self._call(kind, batch, args, samples, variables, zero_metrics)
                except (tf.errors.FailedPreconditionError, tf.errors.UnimplementedError) as error:
                    if "single-threaded executor" not in str(error).lower():
                        raise
                    # A graph it cannot run (old-style control flow from a function traced
                    # elsewhere): the call stopped before storing anything into the network.
                    # Every program of this architecture is traced again for the default one.
                    self._executor = ""
                    self._functions.clear()
            return self._call(kind, batch, args, samples, variables, zero_metrics)

    def _call(self, kind: str, batch, args, samples: bool, variables, zero_metrics):
        key, function = self._function(kind, batch, args, samples)
        out = function(variables, list(zero_metrics), *args)
        self.seen.add(key)
        return out

    def _epoch_body(self, step, batch, data, loop_rows, n_loop, last_rows):
        import tensorflow as tf

        template = self.template
        with self._constants_from(template.non_trainable_variables):
            _steps(n_loop, lambda i: step(batch(data, loop_rows[i], tf.gather)))
            return step(batch(data, last_rows, tf.gather))

    def _padded_epoch_body(self, step, batch, data, rows, n_steps, n_last):
        """The steps of ``rows[:n_steps]``, the last of them ``n_last`` rows long and padded
        (``step``: skann's copy of Keras' training or test step, :func:`_padded_train_step_in_place`
        or :func:`_padded_test_step_in_place`)."""
        import tensorflow as tf

        template, weighting, size = self.template, self.padding, rows.shape[1]
        with self._constants_from(template.non_trainable_variables):
            _steps(n_steps, lambda i: step(
                template, weighting, batch(data, rows[i], tf.gather), tf.where(i == n_steps - 1, n_last, size)
            ))
            return template.get_metrics_result()


# Layers whose training step is many small ops, measured faster on TensorFlow's single-threaded
# executor (below). Not convolutions: a small CNN's epoch took 3x longer there.
_SMALL_OP_LAYERS = (
    keras.layers.InputLayer, keras.layers.Dense, keras.layers.Activation, keras.layers.ReLU,
    keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.Softmax, keras.layers.Dropout,
    keras.layers.BatchNormalization, keras.layers.Normalization, keras.layers.Rescaling,
    keras.layers.Flatten, keras.layers.Concatenate,
)


def _many_small_ops(model: keras.Model) -> bool:
    """Whether ``model`` is a Sequential or functional network of :data:`_SMALL_OP_LAYERS` only."""
    return functional_graph(model) is not None and all(isinstance(l, _SMALL_OP_LAYERS) for l in all_layers(model))


@functools.cache
def _fused_program_executor() -> str:
    """The TensorFlow executor that runs skann's fused programs of networks of many small ops
    (:func:`_many_small_ops`): its single-threaded one where TensorFlow sees no accelerator,
    else the default ("").

    A small network's training step is a few hundred tiny ops; the default executor schedules
    each through its ready queue (and lowers the loops to old-style control flow for it), the
    single-threaded one runs them one after another on the calling thread. Measured here
    (TensorFlow 2.21, 2 cores): warm fits of the (32, 16) MLP of benchmarks/small_data.py
    25-45% faster (wine, breast cancer, digits), with BatchNormalization and Dropout 15-37%,
    the book's Fashion MLP as fast; weights equal to float rounding (TensorFlow rewrites the
    two forms of loop differently; docs/backends.md). Kernels keep TensorFlow's intra-op
    thread pool. With an accelerator a program's graph is split between devices, which that
    executor refuses."""
    import tensorflow as tf

    accelerated = any(device.device_type != "CPU" for device in tf.config.list_logical_devices())
    return "" if accelerated else "SINGLE_THREADED_EXECUTOR"


def _steps(n, step) -> None:
    """``step(i)`` for ``i`` in ``range(n)``, in a TensorFlow trace: a ``tf.while_loop`` written
    out, because skann's programs are traced without AutoGraph (as ``Model.fit`` traces Keras'
    steps: converting them took most of a small network's 1.5 s trace)."""
    import tensorflow as tf

    def one(i):
        step(i)
        return (i + 1,)

    tf.while_loop(lambda i: i < n, one, (tf.constant(0, n.dtype),))


def _use_compilation_cache_dir() -> None:
    """Keep XLA's executables in ``SKANN_COMPILATION_CACHE`` (a folder), when it is set, so
    that a new process loads them instead of compiling again (most of a first fit's cost:
    tracing one epoch's program takes ~0.08 s, compiling it ~0.4 s for a small MLP, and
    Keras' initializers compile a random-number program of ~0.1 s per weight shape). Set when
    this module is imported on JAX, before any network is built, so that those count too.
    The folder holds machine code: it must be yours, as any cache of executables."""
    folder = os.environ.get("SKANN_COMPILATION_CACHE")
    if not folder:
        return
    import jax

    if jax.config.jax_compilation_cache_dir != folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


_PROGRAMS = {"jax": _JaxPrograms, "tensorflow": _TensorFlowPrograms}


def _state_variables(model: keras.Model) -> tuple:
    """A network's training state, in the order of Keras' JAX ``train_step`` state: trainable,
    non-trainable (BatchNormalization statistics, seed generators ...), optimizer and metric
    variables."""
    return (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables, model.metrics_variables)


def _trained_variables(model: keras.Model) -> list:
    """The variables of :func:`_state_variables` but the metrics' (what an epoch's training
    changes for good: the metrics start every epoch from zero)."""
    return [v for group in _state_variables(model)[:3] for v in group]


def network_variables(model: keras.Model) -> list:
    """A network's variables and its optimizer's: everything a copy of its state holds."""
    optimizer = getattr(model, "optimizer", None)
    return list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])


def state_bytes(model: keras.Model) -> int:
    """The size of :func:`network_variables`."""
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in network_variables(model))


def _values(variables) -> list:
    return [v.value for v in variables]


def _value_copies(variables) -> list:
    """The variables' values as they are now, untouched by later writes: JAX's arrays never
    change (no copy, which would compile a program for each new shape); TensorFlow's
    ``.value`` is the variable itself."""
    if keras.backend.backend() == "jax":
        return _values(variables)
    return [keras.ops.copy(v) for v in _values(variables)]


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values):
        variable.assign(value)


def _shapes(*args) -> str:
    return repr(keras.tree.map_structure(lambda a: (tuple(a.shape), str(a.dtype)), args))


def _program_name(batch) -> str:
    return f"{batch.__module__}.{batch.__qualname__}"


def _floats(logs: dict) -> dict:
    """Logs as Python floats (a metric with a vector result as a NumPy array)."""
    out = {}
    for k, v in logs.items():
        v = np.asarray(v)
        out[k] = float(v) if v.ndim == 0 else v
    return out


class CompiledCache:
    """Process-wide, thread-safe cache of training programs by architecture, bounded in bytes.

    The size of an entry is counted as its template's variables plus a fixed allowance per
    compiled shape (XLA's executables are small for the dense networks this is for).
    """

    _PER_EXECUTABLE_BYTES = 2 * 2**20

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[str, _Programs] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def programs_for(self, model: keras.Model, batch: tuple) -> _Programs | None:
        """The programs for ``model``'s architecture (made on a miss, ``batch`` lending its
        shapes to build the template); None: not cacheable."""
        key = architecture_key(model)
        if key is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry
            self.misses += 1
        template = _clone_for_programs(model, batch)
        if template is None:
            return None
        entry = _PROGRAMS[keras.backend.backend()](template, state_bytes(template))
        with self._lock:
            entry = self._entries.setdefault(key, entry)
            self._evict()
        return entry

    def size(self) -> int:
        """Bytes counted for the cached entries."""
        with self._lock:
            return sum(self._entry_bytes(e) for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _entry_bytes(self, entry: _Programs) -> int:
        return entry.nbytes + self._PER_EXECUTABLE_BYTES * max(1, len(entry.seen))

    def _evict(self) -> None:
        total = sum(self._entry_bytes(e) for e in self._entries.values())
        while total > self.max_bytes and len(self._entries) > 1:
            _, dropped = self._entries.popitem(last=False)
            total -= self._entry_bytes(dropped)


compiled_cache = CompiledCache(int(float(os.environ.get("SKANN_ENGINE_CACHE_MB", "512")) * 2**20))


# ---------------------------------------------------------------------- the fused loop
def _bucket_rows(n: int, row_bytes: int) -> int:
    """Rows to pad data to: the next power of four (at least 64) while that stays small, so
    that the training folds of a cross-validation and the refit on all rows (a quarter more)
    mostly share one compiled program; else the next power of two; big data is not padded."""
    for rows in (_power_of_four(n), _power_of_two(n)):
        if rows * row_bytes <= _PAD_LIMIT_BYTES:
            return rows
    return n


def _power_of_two(n: int) -> int:
    """The next power of two from ``n``, at least 64."""
    return max(64, 1 << max(0, n - 1).bit_length())


def _power_of_four(n: int) -> int:
    """The next power of four from ``n``, at least 64."""
    rows = 64
    while rows < n:
        rows *= 4
    return rows


def first_batch(x, y, sample_weight=None) -> tuple:
    """``(x, y, sample_weight)`` of the first row only: what building a network's training
    state needs (shapes and dtypes)."""

    def first(data):
        return keras.tree.map_structure(lambda a: a[:1], data)

    return first(x), first(y), None if sample_weight is None else sample_weight[:1]


def _on_device(programs: _Programs, feed: Feed) -> tuple:
    """``(tensors, rows)``: the feed's arrays on the backend, padded to their row bucket (with
    shared arrays: the pair of row arrays and shared arrays)."""
    arrays = feed.device_arrays()
    n = len(keras.tree.flatten(arrays)[0])
    row_bytes = sum(np.asarray(a[:1]).nbytes for a in keras.tree.flatten(arrays))
    rows = _bucket_rows(n, row_bytes)
    data = programs.device_data(arrays, rows)
    shared = feed.shared_arrays()
    if shared:
        data = (data, tuple(keras.ops.convert_to_tensor(a) for a in shared))
    return data, rows


# ---------------------------------------------------------------------- feeds
class Feed:
    """What the fused loop trains on: arrays put on the device once per fit, and each epoch's
    steps as rows of them.

    A subclass sets ``arrays`` (a tuple of arrays, or nested structures of them, with rows
    first) and implements :meth:`epoch` and :meth:`batch`. The default feed is
    :class:`MiniBatches`; the perceptron's one-vs-rest schedule is another.

    Attributes
    ----------
    arrays : tuple
        The training data (:meth:`device_arrays` puts them on the device once per fit,
        zero-padded to a bucket of rows).
    steps_per_epoch : int
    fused_backends : frozenset of str
        The Keras backends on which this feed trains in the fused loop (elsewhere the
        estimator trains with ``Model.fit``).
    pads_last_batch : bool
        Whether a step's rows are a batch of samples, so that a short last step may be padded
        to the others' size with rows of weight 0 (the engine pads only networks it trains
        exactly so) or, on TensorFlow, traced with an unknown number of rows: every size of
        it shares one compiled program. The rows of :meth:`epoch` then have room for the
        last step, and :meth:`batch` must not need its number of rows as a Python int.
    """

    arrays: tuple = ()
    steps_per_epoch: int = 0
    fused_backends = frozenset({"jax", "tensorflow"})
    pads_last_batch = False

    def device_arrays(self) -> tuple:
        """The arrays as the compiled programs take them (converted to tensors after this)."""
        return self.arrays

    def shared_arrays(self) -> tuple:
        """Arrays every step reads whole, not by rows (a sparse matrix's stored values), put on
        the device once per fit as they are (padded by the feed as it likes). With any, the
        ``data`` of :meth:`batch` is the pair ``(row arrays, shared arrays)``."""
        return ()

    def epoch(self, epoch: int, bucket_rows: int) -> tuple:
        """``(loop_rows, n_loop, last_rows)`` of epoch ``epoch``: the rows of each step but the
        last (``loop_rows[:n_loop]``, an int32 array padded to a shape that depends only on
        ``bucket_rows``, so that fits of a few rows more or less share a program), and the
        rows of the last step."""
        raise NotImplementedError

    @staticmethod
    def batch(data, rows, take):
        """The data of one step (traced into the compiled program): from ``data`` (the arrays
        on the device; see :meth:`shared_arrays`) and the step's ``rows``, with ``take(array, rows)`` (the backend's
        gather along the first axis)."""
        raise NotImplementedError

    def first_batch(self) -> tuple:
        """The data of a one-row step: what building a network's training state needs."""
        raise NotImplementedError


class MiniBatches(Feed):
    """Mini-batches of rows, as ``Model.fit`` takes them: epoch e shuffled by ``(seed, e)``
    alone (a fit continued later sees the batches of one uninterrupted fit), the last batch
    short. Floats are cast to Keras' floatx, as ``Model.fit`` casts arrays."""

    pads_last_batch = True

    def __init__(self, x, y, sample_weight=None, *, batch_size: int, shuffle: bool = True, seed: int | None = None):
        self.arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
        self.n_rows = _rows.n_rows(x)
        if self.n_rows == 0:
            raise ValueError("No training samples.")
        self.batch_size = batch_size
        self.shuffle = shuffle
        if shuffle and seed is None:
            seed = int(np.random.randint(np.iinfo(np.int32).max))
        self.seed = seed
        self.steps_per_epoch = -(-self.n_rows // batch_size)

    def epoch(self, epoch: int, bucket_rows: int) -> tuple:
        n, size = self.n_rows, self.batch_size
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        n_loop = self.steps_per_epoch - 1
        loop = np.zeros((-(-bucket_rows // size), size), dtype=np.int32)  # room for the last step, padded
        loop[:n_loop] = order[: n_loop * size].reshape(n_loop, size)
        return loop, np.int32(n_loop), order[n_loop * size :].astype(np.int32)

    def device_arrays(self) -> tuple:
        return keras.tree.map_structure(_as_floatx, self.arrays)

    @staticmethod
    def batch(data, rows, take):
        return keras.tree.map_structure(lambda a: take(a, rows), data)

    def first_batch(self) -> tuple:
        x, y, *weights = self.arrays
        return first_batch(x, y, weights[0] if weights else None)


class SparseMiniBatches(MiniBatches):
    """:class:`MiniBatches` of a sparse (CSR/CSC) ``x``, densified one batch at a time on the
    device: the matrix's stored values and column indices stay on the device as they are
    (never dense), each row its start and length, and a step scatters its rows' values into
    a dense ``(batch, n_features)`` block. The same batches, in the same order, as
    :class:`MiniBatches` of ``x.toarray()``."""

    def __init__(self, x, y, sample_weight=None, *, batch_size: int, shuffle: bool = True, seed: int | None = None):
        self.matrix = _rows.as_csr(x, dtype=keras.backend.floatx())
        super().__init__(self.matrix, y, sample_weight, batch_size=batch_size, shuffle=shuffle, seed=seed)
        lengths = np.diff(self.matrix.indptr)
        # The stored values of a step's rows fit in the ``slots`` of the batch_size longest
        # rows (a power of two: folds of one data set share a program).
        most = int(np.sort(lengths)[-batch_size:].sum())
        self._slots = _power_of_two(most)
        self._row_arrays = (self.matrix.indptr[:-1].astype(np.int32), lengths.astype(np.int32))

    def device_arrays(self) -> tuple:
        return (self._row_arrays, *keras.tree.map_structure(_as_floatx, self.arrays[1:]))

    def shared_arrays(self) -> tuple:
        size = _power_of_two(self.matrix.nnz)
        values = np.zeros(size, dtype=keras.backend.floatx())
        columns = np.zeros(size, dtype=np.int32)
        values[: self.matrix.nnz] = self.matrix.data
        columns[: self.matrix.nnz] = self.matrix.indices
        width = np.zeros((0, self.matrix.shape[1]), dtype=np.int8)  # the number of columns, as a shape
        return values, columns, np.arange(self._slots, dtype=np.int32), width

    @staticmethod
    def batch(data, rows, take):
        ((starts, lengths), *targets), (values, columns, slots, width) = data
        ops = keras.ops
        n, n_columns = ops.shape(rows)[0], width.shape[1]  # (n: unknown in a TensorFlow trace)
        starts, lengths = take(starts, rows), take(lengths, rows)
        ends = ops.cumsum(lengths)
        # Slot s holds the (s - begin)-th stored value of the batch row it falls in.
        row = ops.minimum(ops.searchsorted(ends, slots, side="right"), n - 1)
        stored = slots < ends[-1]
        position = ops.where(stored, take(starts - ends + lengths, row) + slots, 0)
        value = ops.where(stored, take(values, position), ops.zeros_like(slots, dtype=values.dtype))
        dense = ops.scatter(ops.stack([row, take(columns, position)], axis=1), value, (n, n_columns))
        return (dense, *keras.tree.map_structure(lambda a: take(a, rows), tuple(targets)))

    def first_batch(self) -> tuple:
        _, y, *weights = self.arrays
        return first_batch(_rows.dense_rows(self.matrix[:1]), y, weights[0] if weights else None)


class LazyMiniBatches(MiniBatches):
    """:class:`MiniBatches` of rows read a batch at a time (a :class:`skann.SliceDataset`):
    never on the device whole, so never in the fused loop (Keras' loop reads them,
    ``skann._rows.RowBatches``)."""

    fused_backends = frozenset()

    def device_arrays(self) -> tuple:
        raise TypeError("A SliceDataset is read a batch at a time: it is never put on the device whole.")

    def first_batch(self) -> tuple:
        x, y, *weights = self.arrays
        return first_batch(_rows.take_rows(x, np.arange(1)), y, weights[0] if weights else None)


def mini_batches(x, y, sample_weight=None, **kwargs) -> MiniBatches:
    """:class:`SparseMiniBatches` for a sparse ``x``, :class:`LazyMiniBatches` for a
    SliceDataset, else :class:`MiniBatches`."""
    feed = SparseMiniBatches if _rows.is_sparse(x) else LazyMiniBatches if _rows.is_lazy(x) else MiniBatches
    return feed(x, y, sample_weight, **kwargs)



def _as_floatx(a):
    a = np.asarray(a)
    floatx = keras.backend.floatx()
    if a.dtype.kind == "f" and a.dtype != np.dtype(floatx):
        a = a.astype(floatx)
    return a


# ---------------------------------------------------------------------- the fused loop
def fit_model(
    model: keras.Model,
    feed: Feed,
    *,
    epochs: int,
    initial_epoch: int = 0,
    validation_data: tuple | None = None,
    validation_batch_size: int | None = None,
    callbacks: list = (),
) -> dict[str, list[float]] | None:
    """Train a compiled ``model`` on ``feed`` in the fused loop for epochs ``initial_epoch``
    to ``epochs - 1`` and return the history of this call (``Model.fit``'s
    ``history.history``), or None, having trained nothing, when no private copy of the
    network can be made to compile with (then train it with ``Model.fit``).

    Check :func:`fused_loop_available` first (the settings it cannot serve are not checked
    here).
    """
    first = feed.first_batch()
    programs = _programs_with_training_state(model, first)
    if programs is None:
        return None
    data, bucket = _on_device(programs, feed)
    evaluate = None
    if validation_data is not None:
        validation = _validation_batches(programs, validation_data, validation_batch_size or VALIDATION_BATCH)

        def evaluate(zero_metrics):
            return programs.evaluate(model, zero_metrics, *validation)

    first_steps = feed.epoch(initial_epoch, bucket)
    chunk = 1
    if evaluate is None and all(replays_epochs(cb) for cb in callbacks):
        chunk = programs.epochs_per_call(first_steps[0])

    def train_epochs(first, n, zero_metrics):
        steps = [first_steps if e == initial_epoch else feed.epoch(e, bucket) for e in range(first, first + n)]
        return programs.train_epochs(model, zero_metrics, data, type(feed).batch, steps, pad=feed.pads_last_batch)

    return _run_epochs(
        model, callbacks, epochs, initial_epoch, feed.steps_per_epoch, train_epochs, evaluate, chunk=chunk,
        programs=programs,
    )


def _programs_with_training_state(model: keras.Model, batch: tuple) -> _Programs | None:
    """The cached programs for ``model``'s architecture (None: not cacheable), its training
    state built: from shapes alone where its architecture's template shows that Keras' own
    loss and metrics make it (:func:`padded_loss_weighting`), else by Keras' tracing."""
    programs = compiled_cache.programs_for(model, batch) if model.built else None
    if programs is not None and programs.padding is not None and build_training_state_from_shapes(model, batch):
        if _state_shapes(model) == _state_shapes(programs.template):
            return programs
        return None  # cannot happen for the networks padded: Model.fit trains it, its state built by Keras
    build_training_state(model, batch)
    return programs if programs is not None else compiled_cache.programs_for(model, batch)


def _state_shapes(model: keras.Model) -> list:
    return [(tuple(v.shape), str(v.dtype)) for group in _state_variables(model) for v in group]


def fit_model_by_batch(
    model: keras.Model,
    batches,
    *,
    steps_per_epoch: int,
    epochs: int,
    initial_epoch: int = 0,
    validation_batches=None,
    callbacks: list = (),
) -> dict[str, list[float]] | None:
    """:func:`fit_model` for data read from the host a batch at a time: ``batches[i]``
    is the i-th batch of the fit (epoch ``initial_epoch + i // steps_per_epoch``), and
    ``validation_batches`` (a sequence) is evaluated at every epoch's end. One step's program
    per architecture and batch shape, cached as the fused loop's are, so a new fit of the same
    architecture compiles nothing. None when the network cannot be cached (then use
    ``Model.fit``)."""
    first = tuple(batches[0])
    build_training_state(model, first)
    programs = compiled_cache.programs_for(model, first)
    if programs is None:
        return None
    evaluate = None
    if validation_batches is not None:

        def evaluate(zero_metrics):
            return programs.evaluate_batches(model, zero_metrics, (validation_batches[i] for i in range(len(validation_batches))))

    def train_epochs(first, n, zero_metrics):
        start = (first - initial_epoch) * steps_per_epoch
        logs = programs.train_batches(model, zero_metrics, (batches[i] for i in range(start, start + steps_per_epoch)))
        return [logs], True

    return _run_epochs(model, callbacks, epochs, initial_epoch, steps_per_epoch, train_epochs, evaluate)


def replays_epochs(callback: keras.callbacks.Callback) -> bool:
    """Whether ``callback`` lets the engine run several epochs in one call and replay them to
    it afterwards: it only reads each epoch's logs at its end, and, for skann's
    :class:`~skann.callbacks.DivergenceGuard`, that the weights are finite (the program
    checks that at every epoch; a run of epochs that did not stay finite runs again an
    epoch at a time, so the guard stops at the same epoch as ever)."""
    from skann.callbacks import DivergenceGuard

    return type(callback) in (keras.callbacks.History, DivergenceGuard)


def _run_epochs(
    model, callbacks, epochs: int, initial_epoch: int, steps_per_epoch: int, train_epochs, evaluate, *, chunk: int = 1,
    programs: _Programs | None = None,
) -> dict:
    """The epochs of a fit as ``Model.fit`` runs them for its callbacks: ``train_epochs(first,
    n, zero_metrics)`` trains epochs ``first`` to ``first + n - 1`` (n is ``chunk`` at most)
    and gives ``(logs of each, whether all ended finite)``, ``evaluate(zero_metrics)`` (or
    None) the validation logs of an epoch; returns the history of this call. With ``chunk``
    above 1 (only callbacks that :func:`replays_epochs`, no validation), epochs run ``chunk``
    at a time and the callbacks see each afterwards; a run that did not stay finite starts
    again from its first epoch's state (``programs`` copies it), an epoch at a time."""
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=False, model=model, verbose=0, epochs=epochs,
        steps=steps_per_epoch,
    )
    model.stop_training = False
    model.reset_metrics()
    # Values, not TensorFlow's variables (which ``.value`` gives there): each epoch starts from them.
    zero_metrics = _value_copies(model.metrics_variables)
    logs: dict = {}
    callback_list.on_train_begin()

    def one_epoch(epoch):
        callback_list.on_epoch_begin(epoch)
        (logs,), _ = train_epochs(epoch, 1, zero_metrics)
        if evaluate is not None:
            logs.update({"val_" + k: v for k, v in evaluate(zero_metrics).items()})
        callback_list.on_epoch_end(epoch, logs)
        return logs

    epoch = initial_epoch
    while epoch < epochs and not model.stop_training:
        n = min(chunk, epochs - epoch)
        if n == 1:
            logs = one_epoch(epoch)
            epoch += 1
            continue
        start = programs.snapshot(model)
        run, finite = train_epochs(epoch, n, zero_metrics)
        if finite:
            for epoch, logs in enumerate(run, epoch):
                callback_list.on_epoch_begin(epoch)
                for callback in callback_list.callbacks:  # the weights were finite at every epoch's end
                    checks_losses = getattr(callback, "check_losses", None)
                    (checks_losses or callback.on_epoch_end)(epoch, logs)
        else:
            programs.restore(model, start)
            for epoch in range(epoch, epoch + n):
                logs = one_epoch(epoch)
                if model.stop_training:
                    break
        epoch += 1
    callback_list.on_train_end(logs)
    return dict(model.history.history)


def _validation_batches(programs: _Programs, validation_data: tuple, batch_size: int):
    """``(data, batch, loop_rows, n_loop, last_rows)`` of the validation data for
    :meth:`_Programs.evaluate`: on the device, padded to its bucket of rows."""
    x_val, y_val, *rest = validation_data
    weights = rest[0] if rest else None
    n = _rows.n_rows(x_val)
    feed = mini_batches(x_val, y_val, weights, batch_size=_rows.chunk_rows(x_val, min(batch_size, n)), shuffle=False)
    data, bucket = _on_device(programs, feed)
    if programs.pads_evaluation and bucket > n:
        # Batches of the bucket's size at most, the last padded: one program for every size
        # of validation data in the bucket.
        size = _rows.chunk_rows(x_val, min(batch_size, bucket))
        feed = mini_batches(x_val, y_val, weights, batch_size=size, shuffle=False)
    return (data, type(feed).batch, *feed.epoch(0, bucket))


if keras.backend.backend() == "jax":
    _use_compilation_cache_dir()
