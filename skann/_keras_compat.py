"""Every use of Keras' private internals in skann, in one place (Keras 3.15)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import sys
import threading

import keras

from skann._scopes import ThreadScope


def build_training_state(model: keras.Model, batch: tuple) -> None:
    """Create the optimizer's, the compiled loss's and the metrics' variables before training.

    Keras otherwise creates them inside the first traced training step, and a tf.function
    that creates variables is traced twice: building them first halves the fixed cost of a
    fit on TensorFlow; the fused JAX loop needs them to exist before it reads the state. The
    variables, and so the training, are the same. ``batch`` only lends its shapes and dtypes.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)  # Keras' own pre-fit build
    if symbolic_build is not None:
        try:
            symbolic_build(data_batch=batch)
            return
        except Exception:  # a model Keras cannot build symbolically: fit builds it lazily, only slower
            pass
    if model.built and model.trainable_variables and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def build_training_state_from_shapes(model: keras.Model, batch: tuple) -> bool:
    """:func:`build_training_state` without tracing the network (Keras traces its forward pass
    and its metric update for the shapes: ~15 ms a fit on JAX, ~40 ms on TensorFlow, measured
    with Keras 3.15): the output's shape comes from the layers' own shape rules, and the
    compiled loss and metrics are built from the shapes. For a built network of one output
    whose loss and metrics make their state from shapes alone (Keras' own, as
    ``skann.engine.padded_loss_weighting`` accepts them: the caller checks that). False,
    having done nothing, for a network not built or not of one output."""
    from keras.src import backend as keras_backend

    if not model.built or len(getattr(model, "outputs", None) or ()) != 1:
        return False

    def spec(a):
        return None if a is None else keras_backend.KerasTensor(a.shape, keras_backend.standardize_dtype(a.dtype))

    x, y, _ = keras.tree.map_structure(spec, keras.utils.unpack_x_y_sample_weight(batch))
    y_pred = keras.tree.flatten(model.compute_output_spec(x, training=False))[0]  # a single output, as model(x) gives it
    for compiled in (model._compile_metrics, model._compile_loss):
        if compiled is not None and not compiled.built:
            compiled.build(y, y_pred)
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model._post_build()
    return True


def set_random_seed(seed: int) -> None:
    """What ``keras.utils.set_random_seed`` does for Keras: Python's, NumPy's and Keras' global
    seeds (from which layers draw their initial weights and dropout seeds on every backend).

    TensorFlow's global seed is left alone: Keras' own function imports TensorFlow whenever it
    is installed (seconds, on JAX too), and setting TensorFlow's seed clears its caches of
    instantiated functions, which made the next call of a compiled training program ~0.1 s
    slower at every fit. skann's data feeds shuffle with explicit seeds.
    """
    import random

    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


@contextlib.contextmanager
def tensorflow_unseen():
    """Keep Keras from importing TensorFlow (seconds) to look for TensorFlow types, while
    serializing on another backend: Keras' serializer asks ``tf.available``, which imports
    TensorFlow whenever it is installed. Objects of a TensorFlow not yet imported cannot be
    in what is serialized, so the answer "unavailable" is exact there."""
    from keras.src.utils import module_utils

    lazy = module_utils.tensorflow
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules or lazy._available is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        if "tensorflow" not in sys.modules:
            lazy._available = None


def all_layers(model: keras.Model) -> list:
    """Every layer inside ``model``, nested models' layers included (not ``model`` itself)."""
    return list(model._flatten_layers(include_self=False))


def adapted_constants(layer) -> dict | None:
    """For a layer whose ``call`` reads constants computed from its variables when it was
    adapted or built (Keras' ``Normalization``: ``mean`` and ``variance``), a function that
    recomputes them from given variable values: ``{attribute: (variables, function)}``.
    Returns {} for layers that read only variables, None for preprocessing layers skann does
    not know (their constants cannot follow the state)."""
    if isinstance(layer, keras.layers.Normalization):
        if layer.input_mean is not None:  # given constants: part of the configuration
            return {}
        shape, dtype = layer._broadcast_shape, layer.compute_dtype

        def as_constant(value):
            return keras.ops.cast(keras.ops.reshape(value, shape), dtype)

        return {"mean": (layer.adapt_mean, as_constant), "variance": (layer.adapt_variance, as_constant)}
    if hasattr(layer, "finalize_state") or hasattr(layer, "adapt"):
        return None
    return {}


def count_deferred_weights(build) -> int:
    """Weights created by ``build()`` (a callable), their allocation deferred and then
    abandoned: what a model would allocate, counted without allocating it."""
    import math

    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            build()
        return sum(math.prod(v.shape) for v in pending[before:])
    finally:
        del pending[before:]


def compile_arguments(model: keras.Model) -> dict:
    """The arguments a compiled model's ``compile`` was called with, as given (objects, not
    their serialized configs: ``get_compile_config`` serializes them)."""
    return dict(model._compile_config.config)


def functional_graph(model: keras.Model):
    """The functional graph of a Sequential or functional model, or None (a subclassed one)."""
    if type(model) is keras.Sequential:
        return getattr(model, "_functional", None)
    if type(model).__name__ == "Functional" and hasattr(model, "_run_through_graph"):
        return model
    return None


def run_through_graph(graph, inputs, operation_fn):
    """Walk ``graph`` from ``inputs`` as Keras runs it, each layer replaced by
    ``operation_fn(layer)`` (a callable of that layer's inputs): NumPy functions, ONNX writers."""
    return graph._run_through_graph(inputs, operation_fn=operation_fn)


def dense_kernel(layer):
    """A Dense layer's kernel variable itself (``layer.kernel`` is a property computing it)."""
    return layer._kernel


def backend_variable(variable):
    """The backend's own variable that holds a Keras variable's value (a ``tf.Variable`` on
    TensorFlow), read without Keras' ``.value`` property and its autocast checks."""
    return variable._value


def keras_trains_it(model: keras.Model) -> bool:
    """Whether ``model`` trains with Keras' own training step, loss and metric computation
    (none of them overridden by a subclass)."""
    for name in ("train_step", "compute_loss", "compute_metrics", "compute_loss_and_updates", "_compute_loss"):
        method = getattr(type(model), name, None)
        if method is not None and not getattr(method, "__module__", "").startswith("keras."):
            return False
    return True


def compiled_metric_functions(model: keras.Model) -> list:
    """The metrics ``model`` was compiled with (built), each as the function a
    ``MeanMetricWrapper`` averages, or as the metric itself for other kinds of metric."""
    compiled = getattr(model, "_compile_metrics", None)
    metrics = [] if compiled is None else compiled.metrics
    return [getattr(m, "_fn", m) if isinstance(m, keras.metrics.MeanMetricWrapper) else m for m in metrics]


def output_loss_trackers(model: keras.Model) -> list:
    """The metrics in which Keras tracks each output's loss, for a network of several outputs
    (none for one): each counts a batch by its static number of rows (``shape[0]``)."""
    compiled = getattr(model, "_compile_loss", None)
    return [] if compiled is None else list(compiled.metrics)


def update_metrics(model: keras.Model, loss, n_rows, x, y, y_pred, mask, masked_weights) -> None:
    """Update ``model``'s metrics after one batch whose first ``n_rows`` rows are real, as
    Keras' training and test steps do, except that the loss tracker counts ``n_rows`` (a traced
    number) where Keras counts the batch's static size, and the compiled metrics are given
    ``mask`` (1 for real rows, 0 for padding) as their sample weights, the weighted metrics
    ``masked_weights`` (the batch's sample weights times ``mask``). Keras gives unweighted
    metrics no weights at all: with weights of one they average the same values, and padding
    rows count nowhere."""
    model._loss_tracker.update_state(loss, sample_weight=n_rows)
    compiled = model._compile_metrics
    if compiled is None:
        return
    if not compiled.built:
        compiled.build(y, y_pred)
    y, y_pred = compiled._flatten_y(y), compiled._flatten_y(y_pred)
    for metrics, weights in ((compiled._flat_metrics, mask), (compiled._flat_weighted_metrics, masked_weights)):
        for metric, y_t, y_p in zip(metrics, y, y_pred):
            if metric:
                metric.update_state(y_t, y_p, sample_weight=weights)


def stateless_update_metrics(model: keras.Model, metrics_values, *args) -> list:
    """:func:`update_metrics` on the metric variables given as ``metrics_values`` (JAX's
    stateless training): their new values."""
    mapping = list(zip(model.metrics_variables, metrics_values))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        update_metrics(model, *args)
    updated = []
    for variable, value in mapping:
        new = scope.get_current_value(variable)
        updated.append(value if new is None else new)
    return updated


def stateless_metrics_result(model: keras.Model, metrics_values) -> dict:
    """What ``model.get_metrics_result()`` gives for the metric variables ``metrics_values``."""
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_values))):
        return model.get_metrics_result()


_INITIALIZING = ThreadScope()
_INSTALL = threading.Lock()
_RANDOM_DRAWS = ("uniform", "normal", "truncated_normal")


def shared_initializer_programs():
    """While skann builds, loads and trains networks (JAX only), Keras' initializers compile
    one program per bucket of sizes instead of one per weight shape, with the same values.

    On JAX, Keras' random initializers call ``jax.random`` functions compiled for each shape
    (~0.15-0.2 s of XLA compilation for each new kernel shape here: a third of a first small
    fit), and ``zeros`` compiles per shape too (~0.02 s). Under this scope a random draw of
    ``n`` values draws a flat array of a bucket of sizes (:func:`_draw_size`) and keeps its
    first ``n``: with JAX's partitionable threefry (its default since 0.5), the bits of a value
    depend only on the key and the value's position, so these are exactly the values of the
    draw of that shape (a test checks it bitwise). A uniform draw's program compiles with
    skann's XLA options (:func:`skann._backend.jax_compiler_options`: 49 against 124 ms of
    XLA's compiling in a cold search, the same bits); the normal draws keep JAX's, under which
    their bits differ. Zeros come from NumPy. Keys being traced, a distribution set, or a JAX
    whose threefry is not partitionable: Keras' own calls.
    """
    if keras.backend.backend() != "jax" or not _install_initializer_buckets():
        return contextlib.nullcontext()
    return _INITIALIZING


def _initializing() -> bool:
    return _INITIALIZING.active and keras.distribution.distribution() is None


def _install_initializer_buckets() -> bool:
    """Wrap Keras' JAX random draws and its ``Zeros`` initializer once (they act inside the
    scope above); False where JAX's threefry is not partitionable or this Keras lays them out
    otherwise (then nothing changes)."""
    import jax

    try:
        from keras.src.backend.jax import random as jax_random
        from keras.src.initializers import constant_initializers
    except ImportError:  # pragma: no cover - another Keras layout
        return False
    names = (*_RANDOM_DRAWS, "jax_draw_seed")
    if not all(hasattr(jax_random, name) for name in names) or not hasattr(constant_initializers, "Zeros"):
        return False  # pragma: no cover - another Keras
    if not getattr(jax.config, "jax_threefry_partitionable", False):
        return False
    with _INSTALL:
        if getattr(jax_random.uniform, "_skann_buckets", False):
            return True
        for name in _RANDOM_DRAWS:
            setattr(jax_random, name, _bucketed_draw(getattr(jax_random, name), jax_random.jax_draw_seed, name))
        zeros = constant_initializers.Zeros.__call__

        @functools.wraps(zeros)
        def numpy_zeros(self, shape, dtype=None):
            if not _initializing():
                return zeros(self, shape, dtype=dtype)
            import numpy as np

            return jax.device_put(np.zeros(shape, dtype=keras.backend.standardize_dtype(dtype)))

        constant_initializers.Zeros.__call__ = numpy_zeros
    return True


def _draw_size(n: int) -> int:
    """The size of the flat draw that serves ``n`` values: a power of four from 4,096 up to 2**20
    (a small network's weights, its widths varied by a search, mostly share one program), then
    a power of two (at most twice the values drawn)."""
    size = 4096
    while size < n:
        size *= 4 if size < 1 << 20 else 2
    return size


def _bucketed_draw(draw, draw_seed, name: str):
    """``draw`` (Keras' JAX random function ``name``) of a flat bucket of sizes, cut to shape."""
    import jax
    import numpy as np

    @functools.wraps(draw)
    def bucketed(shape, *args, seed=None, **kwargs):
        if not _initializing():
            return draw(shape, *args, seed=seed, **kwargs)
        key = draw_seed(seed)  # (a seed generator advances once, as in Keras' call)
        n = math.prod(shape)
        if isinstance(key, jax.core.Tracer) or n == 0:
            return draw(shape, *args, seed=key, **kwargs)
        flat = flat_draw(_draw_size(n), args, kwargs, key)
        return jax.device_put(np.asarray(flat)[:n].reshape(shape))

    def flat_draw(size, args, kwargs, key):
        uniform = _uniform_arguments(signature, args, kwargs) if name == "uniform" else None
        program = _uniform_program(draw, size, uniform[0]) if uniform is not None else None
        if program is None:
            return draw((size,), *args, seed=key, **kwargs)
        return program(key, *uniform[1:])

    signature = inspect.signature(draw)
    bucketed._skann_buckets = True
    return bucketed


def _uniform_arguments(signature, args, kwargs) -> tuple | None:
    """``(dtype, minval, maxval)`` of a call of Keras' ``uniform`` (after the shape; its seed
    apart), or None for arguments it does not take (Keras' own call then says what is wrong)."""
    try:
        bound = signature.bind(None, *args, **kwargs).arguments
    except TypeError:
        return None
    if not set(bound) <= {"shape", "minval", "maxval", "dtype"}:
        return None
    dtype = keras.backend.standardize_dtype(bound.get("dtype") or keras.config.floatx())
    return dtype, bound.get("minval", 0.0), bound.get("maxval", 1.0)


@functools.cache
def _uniform_program(draw, size: int, dtype: str):
    """Keras' ``uniform`` draw of ``size`` values of ``dtype`` (a float32 or float64), jitted
    with skann's XLA options; None for other dtypes or where skann has none."""
    import jax

    from skann._backend import jax_compiler_options

    options = jax_compiler_options()
    if options is None or dtype not in ("float32", "float64"):
        return None

    def flat_uniform(key, minval, maxval):
        return draw((size,), minval, maxval, dtype, seed=key)

    return jax.jit(flat_uniform, compiler_options=options)
