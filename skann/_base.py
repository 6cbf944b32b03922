"""The one shared SciKeras base of skann's Keras estimators.

SciKeras 0.13 predates scikit-learn 1.6's tag system. This base puts right, in one place:
estimator type and tags (``is_classifier``/``is_regressor``, stratified CV), the mixin order,
input validation with scikit-learn's own utilities (``n_features_in_``/``feature_names_in_``
checked at predict, sparse/NaN/strings refused), flat hyperparameters turned into builder
arguments, seeding, early stopping, and fits that either succeed or leave the estimator as it
was before the call.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import contextlib
import importlib.util
import inspect
import itertools
import math
import numbers
import os
import random
import time

import keras
import numpy as np
from scikeras.wrappers import KerasClassifier, KerasRegressor
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from skann._inference import numpy_forward
from skann._threads import thread_limit
from skann.builders import hidden_layer_sizes
from skann.persistence import model_from_bytes, model_to_bytes
from skann._targets import ClassificationTarget, RegressionTarget

# Routed parameters (SciKeras style ``prefix__name``) that skann passes on.
ROUTING_PREFIXES = ("fit", "optimizer")

PREDICT_CHUNK = 8192
# Evaluation batch size: it changes speed only, not the validation figures.
VALIDATION_BATCH = 1024


class _MixinsBeforeBaseEstimator(type):
    """Put ClassifierMixin/RegressorMixin ahead of BaseEstimator in the MRO.

    SciKeras declares ``KerasClassifier(BaseWrapper, ClassifierMixin)``, which puts the
    mixin *after* BaseEstimator; scikit-learn >= 1.6 then reads the tags of BaseEstimator
    (no estimator type). C3 linearisation cannot reorder that from a subclass, so the
    metaclass moves the two mixins to just before BaseEstimator.
    """

    def mro(cls):
        order = super().mro()
        mixins = [k for k in order if k in (ClassifierMixin, RegressorMixin)]
        if not mixins or BaseEstimator not in order:
            return order
        rest = [k for k in order if k not in mixins]
        at = rest.index(BaseEstimator)
        return rest[:at] + mixins + rest[at:]


@contextlib.contextmanager
def seeded(seed: int | None):
    """Seed Python, NumPy and the Keras backend for reproducible builds and fits.

    The caller's Python and NumPy global random states are restored afterwards.
    """
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        keras.utils.set_random_seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _model_variables(model) -> list:
    optimizer = getattr(model, "optimizer", None)
    return list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])


def _snapshot_variables(model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in _model_variables(model)]


def _restore_variables(model, values: list[np.ndarray]) -> None:
    for variable, value in zip(_model_variables(model), values):
        variable.assign(value)


def make_optimizer(optimizer, learning_rate: float, extra: dict) -> keras.optimizers.Optimizer:
    """A fresh optimizer from a name, class or instance, with ``learning_rate`` applied."""
    if isinstance(optimizer, str):
        try:
            cls = type(keras.optimizers.get(optimizer))
        except ValueError:
            raise ValueError(
                f"Unknown optimizer {optimizer!r}; use a Keras optimizer name such as 'sgd', "
                "'adam', 'rmsprop', 'nadam', 'adamw', or a keras.optimizers.Optimizer."
            ) from None
        return cls(learning_rate=learning_rate, **extra)
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        return optimizer(learning_rate=learning_rate, **extra)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # Never reuse the instance: its slots belong to one model, and clones must not share it.
        config = optimizer.get_config() | {"learning_rate": learning_rate} | extra
        return type(optimizer).from_config(config)
    raise ValueError(
        f"optimizer must be a name, a keras.optimizers.Optimizer class or instance; got {optimizer!r}."
    )


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def _needs_every_batch(callback: keras.callbacks.Callback) -> bool:
    """Whether a callback does something per training batch (not only per epoch)."""
    if isinstance(callback, keras.callbacks.ModelCheckpoint):
        return callback.save_freq != "epoch"
    if isinstance(callback, keras.callbacks.TensorBoard):
        return callback.update_freq != "epoch"
    for hook in _BATCH_HOOKS:
        method = getattr(callback, hook)  # LambdaCallback sets its hooks on the instance
        if getattr(method, "__func__", method) is not getattr(keras.callbacks.Callback, hook):
            return True
    return False


def _build_training_state(model: keras.Model, batch: tuple) -> None:
    """Create the optimizer's, the compiled loss's and the metrics' variables before training.

    Keras otherwise creates them inside the first traced training step, and a tf.function
    that creates variables is traced twice: building them first halves the fixed cost of a
    fit (about 0.8 s), most of the time of a small fit in a search or cross-validation. The
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


def new_run_dir(log_dir: str | os.PathLike) -> str:
    """Create and return a fresh ``log_dir/run_YYYY_MM_DD_HH_MM_SS`` folder for one fit.

    Fits started in the same second (a search, parallel workers) get ``_2``, ``_3`` ...
    suffixes; ``os.mkdir`` makes the choice atomic across processes.
    """
    if importlib.util.find_spec("tensorboard") is None:
        raise ImportError(
            "log_dir needs the tensorboard package, which TensorFlow no longer installs: "
            'pip install "skann[tensorboard]" (or pip install tensorboard).'
        )
    os.makedirs(log_dir, exist_ok=True)
    stem = os.path.join(os.fspath(log_dir), time.strftime("run_%Y_%m_%d_%H_%M_%S"))
    for n in itertools.count(1):
        path = stem if n == 1 else f"{stem}_{n}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


class _PackedKerasModel:
    """A Keras model as .keras bytes inside a pickle."""

    def __init__(self, data: bytes):
        self.data = data


class SkannKerasBase:
    """Behaviour shared by all of skann's Keras estimators (put before a SciKeras class)."""

    # Subclasses set these.
    _builder_params: tuple[str, ...] = ()
    _accepts_images = False

    _parameter_constraints: dict = {
        "n_hidden": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_neurons": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "activation": [str, callable],
        "optimizer": [str, type, keras.optimizers.Optimizer],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "callbacks": [list, tuple, keras.callbacks.Callback, None],
        "log_dir": [str, os.PathLike, None],
        "shuffle": ["boolean"],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "steps_per_execution": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "verbose": ["verbose"],
    }
    # Batches run per call into TensorFlow when steps_per_execution="auto": large enough that
    # Python's per-call overhead stops mattering (2x faster epochs at batch 32), small enough
    # that the progress bar still moves.
    _auto_steps_per_execution = 64
    # Keras traces the training step twice for multi-step execution (~0.7 s more per fit),
    # which only pays off once a fit runs about this many batches.
    _auto_min_batches = 1000

    # ------------------------------------------------------------------ parameters
    def _get_param_names(self):
        # The explicit __init__ arguments plus any extra keyword given (routed parameters
        # such as ``optimizer__momentum``; anything else is refused at fit).
        names = self._init_param_names()
        extra = sorted(
            k for k in vars(self) if k not in names and not k.startswith("_") and not k.endswith("_")
        )
        return sorted(names) + extra

    @classmethod
    def _init_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def _routed(self, prefix: str) -> dict:
        return {
            k[len(prefix) + 2 :]: v for k, v in vars(self).items() if k.startswith(prefix + "__")
        }

    def set_params(self, **params):
        # Routed parameters may be added after construction, as in SciKeras; others must exist.
        routed = {k: v for k, v in params.items() if k.split("__", 1)[0] in ROUTING_PREFIXES}
        vars(self).update(routed)
        rest = {k: v for k, v in params.items() if k not in routed}
        valid = self.get_params(deep=False)
        for key in rest:
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for {type(self).__name__}. Valid parameters: "
                    f"{sorted(valid)}; routed parameters start with "
                    f"{[p + '__' for p in ROUTING_PREFIXES]}."
                )
        return BaseEstimator.set_params(self, **rest) if rest else self

    __repr__ = BaseEstimator.__repr__

    def _check_routed_params(self) -> None:
        known = set(self._init_param_names())
        bad = [
            k
            for k in self.get_params(deep=False)
            if k not in known and k.split("__", 1)[0] not in ROUTING_PREFIXES
        ]
        if bad:
            raise ValueError(
                f"{type(self).__name__} has no parameter(s) {bad}. Extra keywords must be routed "
                f"parameters starting with one of {[p + '__' for p in ROUTING_PREFIXES]} "
                "(e.g. optimizer__momentum=0.9); see get_params() for the rest."
            )

    @property
    def _seed(self) -> int | None:
        if self.random_state is None:
            return None
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        # A RandomState: draw one seed from a copy, so the caller's generator is untouched
        # and the same RandomState always gives the same fit.
        state = np.random.RandomState()
        state.set_state(check_random_state(self.random_state).get_state())
        return int(state.randint(np.iinfo(np.int32).max))

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = self._accepts_images
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ input handling
    def _validate_X(self, X, *, reset: bool, y=None):
        """Validate X (and y) with scikit-learn and return Keras-ready float32 inputs."""
        if self._accepts_images:
            X = self._flatten_images(X, reset=reset)
        kwargs = dict(
            accept_sparse=False,
            dtype="numeric",
            ensure_all_finite=True,
            reset=reset,
        )
        if y is None:
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(
                self, X, y, multi_output=True, y_numeric=not is_classifier(self), **kwargs
            )
            if is_classifier(self) and y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
        return self._encode_features(X, reset=reset), y

    def _flatten_images(self, X, *, reset: bool):
        # Images (n, h, w[, c]) are validated as rows of h*w*c features; the model gets the
        # sample shape seen in fit back in _encode_features.
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if hasattr(X, "ndim") and getattr(X, "ndim", 2) >= 3 and not hasattr(X, "columns"):
            shape = tuple(X.shape[1:])
            X = np.asarray(X).reshape(len(X), int(np.prod(shape)))
        else:
            shape = None
        if reset:
            self.sample_shape_ = shape
        return X

    def _encode_features(self, X: np.ndarray, *, reset: bool) -> np.ndarray:
        X = X.astype(np.float32, copy=False)
        if self._accepts_images and getattr(self, "sample_shape_", None) is not None:
            X = X.reshape((len(X), *self.sample_shape_))
        return X

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None, *, validation_data=None):
        """Build and train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), default=None
            Validation set as in Keras ``fit``; it goes through the same input handling as X
            and replaces the ``validation_fraction`` split when ``early_stopping`` is on.

        Returns
        -------
        self
        """
        warm = self.warm_start and self.initialized_
        return self._guarded_fit(
            X, y, sample_weight, validation_data, reuse_model=warm, epochs=self._fit_epochs()
        )

    def partial_fit(self, X, y, sample_weight=None, *, validation_data=None):
        """Train for one more epoch, keeping the weights and optimizer state."""
        return self._guarded_fit(
            X, y, sample_weight, validation_data, reuse_model=self.initialized_, epochs=1
        )

    def _guarded_fit(self, X, y, sample_weight, validation_data, *, reuse_model, epochs, **kw):
        # A failed or interrupted fit (Ctrl-C included) leaves the estimator exactly as it was
        # before the call: attributes, and the weights and optimizer state of a network that
        # was being trained further (warm_start, partial_fit).
        before = dict(vars(self))
        saved_variables = _snapshot_variables(self.model_) if reuse_model else None
        try:
            self._fit_network(X, y, sample_weight, validation_data, reuse_model, epochs, **kw)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            if saved_variables is not None:
                _restore_variables(self.model_, saved_variables)
            raise
        return self

    def _fit_network(self, X, y, sample_weight, validation_data, reuse_model, epochs, classes=None):
        self._validate_params()
        self._check_routed_params()
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X, y = self._validate_X(X, reset=not reuse_model, y=y)
        if not reuse_model:
            self.target_encoder_ = self._make_target_encoder(classes).fit(y)
            vars(self).update(self.target_encoder_.get_metadata())
        y_enc = self.target_encoder_.transform(y)
        sample_weight = self._sample_weight(X, y, sample_weight)
        X, y_enc, sample_weight, val = self._split_validation(X, y, y_enc, sample_weight, validation_data)

        if self.log_dir is not None and not (reuse_model and hasattr(self, "log_run_dir_")):
            self.log_run_dir_ = new_run_dir(self.log_dir)

        seed = self._seed
        with seeded(seed):
            if not reuse_model:
                self.model_ = self._build_model(X)
                self._compile(self.model_)
                _build_training_state(self.model_, (
                    self._model_inputs(X[:1]),
                    self._model_targets(y_enc[:1]),
                    None if sample_weight is None else sample_weight[:1],
                ))
            batch_size = self._fit_batch_size()
            self._apply_steps_per_execution(self.model_, math.ceil(len(X) / batch_size) * epochs)
            initial_epoch = self.current_epoch if reuse_model else 0
            history = self.model_.fit(
                self._dataset((X, y_enc, sample_weight), batch_size, self.shuffle, seed),
                validation_data=None if val is None else self._dataset(val, VALIDATION_BATCH),
                shuffle=False,  # the dataset shuffles itself
                epochs=initial_epoch + epochs,
                initial_epoch=initial_epoch,
                verbose=self.verbose,
                callbacks=self._callbacks(has_validation=val is not None),
                **self._routed("fit"),
            )
        if not reuse_model or not hasattr(self, "history_"):
            self.history_ = {}
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(float(v) for v in values)
        self.n_iter_ = len(self.history_.get("loss", []))

    def _dataset(self, arrays, batch_size: int, shuffle: bool = False, seed: int | None = None):
        """A batched tf.data pipeline over ``(X, y[, sample_weight])`` in memory.

        The arrays are converted to tensors once; each batch is gathered by (shuffled) index,
        so no shuffle buffer holds a second copy of the data. Keras' own array adapter
        rebuilds its pipeline every epoch, which costs tens of milliseconds per epoch.
        """
        import tensorflow as tf

        X, y, *weights = arrays
        parts = (self._model_inputs(X), self._model_targets(y))
        if weights and weights[0] is not None:
            parts += (weights[0],)
        tensors = tf.nest.map_structure(tf.convert_to_tensor, parts)
        indices = tf.data.Dataset.range(len(X))
        if shuffle:
            indices = indices.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
        batches = indices.batch(batch_size).map(
            lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors)
        )
        threads = thread_limit()
        if threads is not None:  # tf.data's own pool stays within this worker's share too
            options = tf.data.Options()
            options.threading.private_threadpool_size = threads
            batches = batches.with_options(options)
        return batches.prefetch(2)

    # Hooks for estimators whose Keras model has several inputs/outputs or other settings.
    def _fit_epochs(self) -> int:
        return self.epochs

    def _fit_batch_size(self) -> int:
        return self.batch_size

    def _model_inputs(self, X: np.ndarray):
        """What the Keras model is called on, from validated 2-D (or image) X."""
        return X

    def _model_targets(self, y: np.ndarray):
        """What the Keras model trains on, from the encoded target."""
        return y

    def _check_params(self) -> None:
        """Checks across parameters, at fit (one int or one size per hidden layer)."""
        hidden_layer_sizes(self.n_hidden, self.n_neurons)

    def _sample_weight(self, X, y, sample_weight):
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is None and class_weight is None:
            return None
        sw = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
        if class_weight is not None:
            sw = sw * compute_sample_weight(class_weight, y).astype(np.float32)
        if not np.any(sw > 0):
            raise ValueError("All sample weights are zero: there is nothing to train on.")
        return sw

    def _split_validation(self, X, y, y_enc, sample_weight, validation_data):
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (X_val, y_val[, sample_weight_val]).")
            X_val, y_val = self._validate_X(validation_data[0], reset=False, y=validation_data[1])
            val = (X_val, self.target_encoder_.transform(y_val))
            if len(validation_data) == 3:
                val += (_check_sample_weight(validation_data[2], X_val, dtype=np.float32),)
            return X, y_enc, sample_weight, val
        if not self.early_stopping:
            return X, y_enc, sample_weight, None
        n_val = int(np.ceil(self.validation_fraction * len(X)))
        if n_val < 1 or len(X) - n_val < 1:
            raise ValueError(
                f"early_stopping needs a validation set: validation_fraction="
                f"{self.validation_fraction} of {len(X)} samples leaves none for training or "
                "validation. Use more samples, another validation_fraction, or validation_data."
            )
        stratify = None
        if is_classifier(self) and y.ndim == 1:
            _, counts = np.unique(y, return_counts=True)
            if counts.min() >= 2 and n_val >= counts.size:
                stratify = y
        train_idx, val_idx = train_test_split(
            np.arange(len(X)), test_size=n_val, random_state=self._seed, stratify=stratify
        )
        sw_train = None if sample_weight is None else sample_weight[train_idx]
        val = (X[val_idx], y_enc[val_idx])
        if sample_weight is not None:
            val += (sample_weight[val_idx],)
        return X[train_idx], y_enc[train_idx], sw_train, val

    def _user_callbacks(self) -> list:
        given = self.callbacks
        if given is None:
            callbacks = []
        elif isinstance(given, keras.callbacks.Callback):
            callbacks = [given]
        else:
            callbacks = list(given)
        for cb in callbacks:
            if not isinstance(cb, keras.callbacks.Callback):
                raise TypeError(f"callbacks must be keras.callbacks.Callback instances; got {cb!r}.")
        return callbacks

    def _steps_per_execution(self, batches: int) -> int:
        """``steps_per_execution`` for a fit of ``batches`` training batches ("auto" resolved)."""
        if self.steps_per_execution != "auto":
            return int(self.steps_per_execution)
        # Keras calls batch hooks once per execution: a callback that acts on every batch
        # gets one batch per execution.
        if batches < self._auto_min_batches or any(
            _needs_every_batch(cb) for cb in self._user_callbacks()
        ):
            return 1
        return self._auto_steps_per_execution

    def _apply_steps_per_execution(self, model: keras.Model, batches: int) -> None:
        # Set after compile, before the first step function is traced; a network trained
        # further (warm_start, partial_fit) gets its step functions rebuilt only on change.
        steps = self._steps_per_execution(batches)
        if model.steps_per_execution != steps:
            model.steps_per_execution = steps
            model.train_function = model.test_function = model.predict_function = None

    def _callbacks(self, *, has_validation: bool) -> list:
        callbacks = self._user_callbacks()
        if self.log_dir is not None:
            callbacks.append(keras.callbacks.TensorBoard(self.log_run_dir_))
        if self.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss" if has_validation else "loss",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        return callbacks

    def _make_optimizer(self) -> keras.optimizers.Optimizer:
        return make_optimizer(self.optimizer, self.learning_rate, self._routed("optimizer"))

    def _compile(self, model: keras.Model) -> None:
        model.compile(optimizer=self._make_optimizer(), loss=self._loss(), metrics=self._metrics())

    # ------------------------------------------------------------------ prediction
    def _predict_raw(self, X, output: int = 0):
        """Raw model output for X; ``output`` picks one output of a multi-output model."""
        check_is_fitted(self, "model_")
        X, _ = self._validate_X(X, reset=False)
        return self._forward(X, output)

    def _forward(self, X: np.ndarray, output: int = 0) -> np.ndarray:
        if len(X) == 0:
            raise ValueError("X holds no samples.")
        forward = self._inference_function()
        outs = []
        for start in range(0, len(X), PREDICT_CHUNK):
            inputs = self._model_inputs(X[start : start + PREDICT_CHUNK])
            raw = forward(inputs)
            outs.append(np.asarray(raw[output] if isinstance(raw, (list, tuple)) else raw))
        return np.concatenate(outs) if len(outs) > 1 else outs[0]

    def _inference_function(self):
        """NumPy forward pass of ``model_`` when every layer is supported, else Keras'.

        Keras' ``predict_on_batch`` (still ~100x faster than ``Model.predict``, which builds a
        data pipeline per call) is the fallback for layers the NumPy path does not know.
        Compiling the NumPy function takes ~15 microseconds, so nothing is cached: predict
        leaves the estimator untouched and always sees the model's current layers.
        """
        return numpy_forward(self.model_) or self.model_.predict_on_batch

    @property
    def initialized_(self) -> bool:
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ pickling (joblib)
    def __getstate__(self):
        # The Keras model travels in Keras' own .keras format (architecture, weights and
        # optimizer state), not through SciKeras' global Model.__reduce__ patch.
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            state["model_"] = _PackedKerasModel(model_to_bytes(state["model_"]))
        return state

    def __setstate__(self, state):
        model = state.get("model_")
        if isinstance(model, _PackedKerasModel):
            state = dict(state)
            state["model_"] = model_from_bytes(model.data, safe_mode=False)
        super().__setstate__(state)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")


class SkannClassifierBase(SkannKerasBase, KerasClassifier, metaclass=_MixinsBeforeBaseEstimator):
    """Shared base of skann's Keras classifiers."""

    _parameter_constraints = {
        **SkannKerasBase._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def _make_target_encoder(self, classes=None):
        return ClassificationTarget(classes=classes)

    @property
    def target_encoder(self):
        return ClassificationTarget()

    def _loss(self):
        return self.target_encoder_.loss

    def _metrics(self):
        return ["accuracy"] if self.target_encoder_.kind_ != "multilabel" else ["binary_accuracy"]

    def fit(self, X, y, sample_weight=None, *, validation_data=None):
        return SkannKerasBase.fit(self, X, y, sample_weight, validation_data=validation_data)

    def partial_fit(self, X, y, classes=None, sample_weight=None, *, validation_data=None):
        """Train for one epoch; ``classes`` lists all classes on the first call."""
        return self._guarded_fit(
            X,
            y,
            sample_weight,
            validation_data,
            reuse_model=self.initialized_,
            epochs=1,
            classes=None if self.initialized_ else classes,
        )

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes); rows sum to 1 (not multilabel)."""
        raw = self._predict_raw(X)
        return self.target_encoder_.inverse_transform(raw, return_proba=True)

    def predict(self, X):
        """Predicted class labels (0/1 indicator rows for multilabel targets)."""
        raw = self._predict_raw(X)
        return self.target_encoder_.inverse_transform(raw)

    score = ClassifierMixin.score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class SkannRegressorBase(SkannKerasBase, KerasRegressor, metaclass=_MixinsBeforeBaseEstimator):
    """Shared base of skann's Keras regressors."""

    def _make_target_encoder(self, classes=None):
        return RegressionTarget()

    @property
    def target_encoder(self):
        return RegressionTarget()

    def _loss(self):
        return "mse"

    def _metrics(self):
        return [keras.metrics.RootMeanSquaredError()]

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs), float64."""
        raw = self._predict_raw(X)
        return self.target_encoder_.inverse_transform(raw)

    score = RegressorMixin.score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

