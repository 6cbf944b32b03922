"""scikit-learn estimators around any Keras model: :class:`KerasClassifier`, :class:`KerasRegressor`.

They speak SciKeras' API (``model=`` a builder or a ``keras.Model``, routed parameters such as
``model__units`` or ``optimizer__momentum``, ``meta``/``compile_kwargs`` for builders that ask
for them, feature and target encoders, ``initialize``, ``partial_fit``, ``history_``), so SciKeras
code runs after changing its import, and they are correct scikit-learn citizens on today's
scikit-learn and Keras: tags (stratified CV for classifiers), input validation with
scikit-learn's utilities, ``feature_names_in_``, fits that either succeed or leave the
estimator as it was, pickling through Keras' own format without patching Keras, prediction
without ``Model.predict``'s per-call cost, and TensorFlow sized to the share of the CPU a
parallel worker was given.

:class:`BaseWrapper` does all the work; skann's book estimators (``FashionMLPClassifier`` ...)
are thin subclasses of the two wrappers with a fixed model-building function.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import contextlib
import functools
import inspect
import numbers
import os
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import validate_data

from skann import _rows as row_data
from skann import _streams as streams
from skann import engine
from skann._backend import tensorflow
from skann._sklearn_compat import Interval, Options, StrOptions, check_sample_weight
from skann._inference import numpy_forward
from skann._keras_compat import build_training_state, compile_arguments, shared_initializer_programs, tensorflow_unseen
from skann.callbacks import (  # noqa: F401 (DivergenceError: importable from its old home)
    PREDICT_HOOKS, DivergenceError, DivergenceGuard, HoldOutEarlyStopping, HoldOutScoring, TensorBoardRun,
    needs_every_batch, new_run_dir, overrides_hooks,
)
from skann._pipeline import batch_dataset
from skann._routing import accepts_kwargs, build_routed, has_param, route_params
from skann._targets import ClassifierLabelEncoder, RegressorTargetEncoder, TargetReshaper
from skann._compile_settings import class_of_name, history_key, loss_name, make_optimizer, resolve_names
from skann._pickling import PackedKerasModel, PackedKerasObject, pack_keras_objects, unpack_keras_objects
from skann._seeding import seeded
from skann._tf_compat import reusable_variable_kernels
from skann._keras_archive import model_from_bytes, model_to_bytes

# Pickles written before these moved name them here.
_PackedKerasModel, _PackedKerasObject = PackedKerasModel, PackedKerasObject

__all__ = [
    "BaseWrapper",
    "ClassifierLabelEncoder",
    "KerasClassifier",
    "KerasRegressor",
    "RegressorTargetEncoder",
    "TargetReshaper",
]

# Rows per call of the prediction function: bounds the memory of large predictions.
PREDICT_CHUNK = 8192


# ---------------------------------------------------------------------- helpers
# Keras fit arguments that only its array adapter handles.
_KERAS_ARRAY_ARGS = ("validation_split", "class_weight", "steps_per_epoch", "validation_steps")


def _snapshot_variables(model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in engine.network_variables(model)]


def _restore_variables(model, values: list[np.ndarray]) -> None:
    for variable, value in zip(engine.network_variables(model), values):
        variable.assign(value)


def _as_numpy(raw):
    return keras.tree.map_structure(np.asarray, raw)


def _copy_model(model: keras.Model) -> keras.Model:
    """A new model with ``model``'s architecture, weights and compile settings (fresh optimizer)."""
    try:
        with tensorflow_unseen():
            copy = keras.models.clone_model(model)
    except Exception as exc:
        raise TypeError(
            f"skann could not clone the Keras model given as model= ({type(exc).__name__}: {exc}). "
            "Pass a function that builds the model instead (model=build_fn), or make the model's "
            "class serializable (get_config/from_config)."
        ) from exc
    if model.built and model.weights:
        if not copy.built:
            copy.build_from_config(model.get_build_config())
        copy.set_weights(model.get_weights())
    if getattr(model, "compiled", False):
        settings = compile_arguments(model)
        settings["optimizer"] = type(model.optimizer).from_config(model.optimizer.get_config())
        copy.compile(**settings)
    return copy


def _all_samples_per_batch(args: dict, keys: tuple, X) -> None:
    """Replace a batch size of -1 (SciKeras' "all samples in one batch") by the number of rows."""
    for key in keys:
        if args.get(key) == -1:
            if not hasattr(X, "shape"):
                raise ValueError(f"`{key}=-1` requires that `X` implement `shape` (one array).")
            args[key] = X.shape[0]


def _overrides_fit(model: keras.Model) -> bool:
    """Whether a model has its own ``fit``, in its class or set on the instance (a wrapper or a
    mock): it then gets the arrays and ``batch_size``, as SciKeras gave them."""
    return type(model).fit is not keras.Model.fit or "fit" in vars(model)


def _refuse_epoch_arguments(kwargs: dict) -> None:
    for key in ("epochs", "initial_epoch"):
        if key in kwargs:
            raise TypeError(
                f"Invalid argument `{key}` to `partial_fit`: partial_fit always trains for one "
                "epoch, from the current epoch. Use fit (with warm_start=True) for more."
            )


def _refuse_all_zero_weights(sample_weight: np.ndarray) -> None:
    """A clear error when no sample carries any weight."""
    if not np.any(sample_weight > 0):
        raise ValueError(
            "No training samples had any weight: only zeros were passed in sample_weight, so "
            "there is nothing to train on."
        )


# ---------------------------------------------------------------------- the base
class BaseWrapper(BaseEstimator):
    """The scikit-learn API around a Keras model: what :class:`KerasClassifier` and
    :class:`KerasRegressor` share (use them, or subclass this for other estimator kinds such as
    transformers).

    Parameters
    ----------
    model : keras.Model, callable or None, default=None
        The network. A callable (a model-building function, or ``functools.partial``) is called
        at every new fit with the parameters it declares: plain ones (``hidden=10``) and those
        routed to it (``model__hidden=10``), plus ``meta`` (what fit learnt about the data:
        ``n_features_in_``, ``X_shape_``, ``n_classes_``, ``target_type_`` ...),
        ``compile_kwargs`` (optimizer, loss, metrics built from the parameters below) and
        ``params`` (all parameters) when it declares them or ``**kwargs``. It may return a
        compiled model or an uncompiled one (then compiled with ``compile_kwargs``). A
        ``keras.Model`` instance is copied at every fit (architecture, weights, compile
        settings), so fitting never trains your object and every fit starts from the same
        weights; ``initialize`` wraps the instance itself, for inference. None: the subclass
        implements ``_keras_build_fn``.
    build_fn : deprecated alias of ``model``.
    warm_start : bool, default=False
        ``fit`` continues training the current network (weights, optimizer state, epoch
        count and ``history_``) instead of building a new one, as scikit-learn's MLPs do.
    random_state : int, RandomState or None, default=None
        Seeds model building and training: two fits with the same int give identical
        predictions. The global random states of Python, NumPy and TensorFlow are restored.
    optimizer : str, keras optimizer class or instance, default="rmsprop"
        Built fresh for every new fit; its arguments are routed: ``optimizer__learning_rate``.
    loss : str, keras loss, class, function, list/dict of them, or None, default=None
        Classes (and class names) are built with routed arguments (``loss__from_logits``).
    metrics : list/dict of metrics or None, default=None
        As ``loss``: ``metrics__0__name`` routes to the first one.
    batch_size : int or None, default=None
        Samples per gradient step (Keras' default 32 when None); -1 uses all samples. Route
        ``fit__batch_size`` and ``predict__batch_size`` for different values.
    validation_batch_size : int or None, default=None
    verbose : int, default=0
        Keras' progress output in ``fit`` (0 silent, 1 progress bar, 2 one line per epoch).
    callbacks : callback, callback class, list or dict of them, or None, default=None
        Keras callbacks; classes are built at every fit with routed arguments
        (``callbacks__0__patience=3``). ``fit__callbacks`` and ``predict__callbacks`` add
        callbacks for one of the two.
    validation_split : float, default=0.0
        Fraction of the training data Keras holds out (the last rows) for validation.
    shuffle : bool, default=True
    run_eagerly : bool, default=False
    epochs : int, default=1
        Epochs per ``fit`` (``partial_fit`` trains one).
    steps_per_execution : int or "auto", default="auto"
        Training batches per call into the backend, in Keras' own fit loop (fits the engine's
        fused loop cannot serve: see :mod:`skann.engine`; the fused loop runs a whole epoch
        per call). "auto": 64 when the fit runs at least 1,000 batches, else 1 (multi-step
        execution costs one more graph trace); 1 when a callback acts on every batch; a
        value the model was compiled with is kept. Where skann feeds Keras' loop one sequence
        of batches for the whole fit (backends other than TensorFlow, sparse X, a
        SliceDataset), it is rounded down to a divisor of an epoch's batches, so that no call
        runs across two epochs.
    log_dir : str, path-like or None, default=None
        Write TensorBoard logs under this folder: each new fit gets its own
        ``run_YYYY_MM_DD_HH_MM_SS`` folder (``log_run_dir_``); ``warm_start`` and
        ``partial_fit`` continue the run. Needs ``pip install "skann[tensorboard]"``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (shuffled, seeded by
        ``random_state``, stratified for a classifier) and stop when its loss has not
        improved for ``n_iter_no_change`` epochs, restoring the best epoch's weights
        (:class:`skann.callbacks.HoldOutEarlyStopping`, as the book estimators do).
        ``validation_data`` given to ``fit`` is used instead of a hold-out.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
        Epochs without improvement before ``early_stopping`` stops.
    validation_scoring : str, callable, list of them, or None, default=None
        scikit-learn scores of the hold-out (``early_stopping``) or of ``validation_data`` at
        the end of every epoch, recorded in ``history_`` as ``val_<name>_score``: scorer names
        (``"accuracy"``, ``"f1_macro"``, ``"neg_root_mean_squared_error"`` ...) or callables
        ``scorer(estimator, X, y)`` (:class:`skann.callbacks.HoldOutScoring`).
    **kwargs
        Routed parameters (``model__``, ``fit__``, ``predict__``, ``compile__``,
        ``optimizer__``, ``loss__``, ``metrics__``, ``callbacks__``, ``score__``) and plain
        parameters of the model-building function.

    Attributes
    ----------
    model_ : keras.Model
        The compiled, trained Keras model.
    history_ : dict of str to list of float
        Per-epoch loss and metrics of all training so far (metric shorthands spelt out:
        ``mae`` is ``mean_absolute_error``).
    current_epoch : int
        Epochs trained so far.
    initialized_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X was a DataFrame with string column names.
    X_shape_, X_dtype_, y_dtype_, y_ndim_, target_type_ : what ``fit`` saw.
    feature_encoder_, target_encoder_ : the fitted encoders.
    n_outputs_expected_ : int
        Outputs the Keras model must have.
    log_run_dir_ : str
        The TensorBoard run folder (only with ``log_dir``).
    """

    _fit_kwargs = frozenset(
        {
            "batch_size",
            "epochs",
            "verbose",
            "validation_split",
            "shuffle",
            "class_weight",
            "sample_weight",
            "initial_epoch",
            "validation_steps",
            "validation_batch_size",
            "validation_freq",
        }
    )
    _predict_kwargs = frozenset({"batch_size", "verbose", "steps"})
    _compile_kwargs = frozenset(
        {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics", "run_eagerly"}
    )
    _routing_prefixes = frozenset(
        {"model", "fit", "compile", "predict", "optimizer", "loss", "metrics", "callbacks", "score"}
    )
    # Whether plain extra keywords are parameters of the model-building function.
    _user_params_go_to_builder = True
    # Whether fit and partial_fit need y (the classifier and the regressor do).
    _requires_y = False
    # Whether X may have more than two dimensions (images, sequences).
    _allow_nd = True
    # Whether X may be a SciPy sparse matrix (densified a batch at a time for the network),
    # and a skann.SliceDataset (read a batch at a time).
    _accept_sparse = True
    _accept_lazy = True
    # A user's network is of unknown quality (one epoch by default): scikit-learn's checks
    # then use lenient score thresholds. The book estimators reach the strict ones.
    _poor_score = True

    _parameter_constraints: dict = {
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), Options(numbers.Integral, {-1}), None],
        "validation_batch_size": [Interval(numbers.Integral, 1, None, closed="left"), Options(numbers.Integral, {-1}), None],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "validation_split": [Interval(numbers.Real, 0, 1, closed="left")],
        "shuffle": ["boolean"],
        "run_eagerly": ["boolean"],
        "steps_per_execution": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "log_dir": [str, os.PathLike, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_scoring": [str, callable, list, tuple, None],
    }
    # Batches run per call into TensorFlow when steps_per_execution="auto": large enough that
    # Python's per-call overhead stops mattering, small enough that a progress bar still moves.
    _auto_steps_per_execution = 64
    # Keras traces the training step twice for multi-step execution (~0.7 s more per fit),
    # which only pays off once a fit runs about this many batches.
    _auto_min_batches = 1000
    # skann.callbacks.DivergenceGuard first in every fit (a subclass that checks its own
    # training, as the perceptron's schedule does, turns it off).
    _divergence_guard = True

    def __init__(
        self,
        model=None,
        *,
        build_fn=None,
        warm_start=False,
        random_state=None,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        batch_size=None,
        validation_batch_size=None,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        shuffle=True,
        run_eagerly=False,
        epochs=1,
        steps_per_execution="auto",
        log_dir=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        validation_scoring=None,
        **kwargs,
    ):
        self.model = model
        self.build_fn = build_fn
        self.warm_start = warm_start
        self.random_state = random_state
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.batch_size = batch_size
        self.validation_batch_size = validation_batch_size
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.run_eagerly = run_eagerly
        self.epochs = epochs
        self.steps_per_execution = steps_per_execution
        self.log_dir = log_dir
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.validation_scoring = validation_scoring
        vars(self).update(kwargs)

    # ------------------------------------------------------------------ parameters
    def _get_param_names(self):
        # Every public attribute set in __init__ is a parameter: the explicit arguments, the
        # routed ones and the builder's (as in SciKeras), so clone() and searches see them all.
        return sorted(k for k in vars(self) if not k.startswith("_") and not k.endswith("_"))

    def set_params(self, **params):
        """Set parameters; routed ones (``model__units``, ``optimizer__momentum`` ...) may be new."""
        known = set(self.get_params(deep=False))
        for key, value in params.items():
            head = key.split("__", 1)[0]
            if "__" in key and head in self._routing_prefixes:
                setattr(self, key, value)
            elif key in known or ("__" in key and head in known):
                BaseEstimator.set_params(self, **{key: value})
            else:
                name = type(self).__name__
                raise ValueError(
                    f"Invalid parameter {key} for estimator {name}. This issue can likely be "
                    f"resolved by setting this parameter in the {name} constructor: "
                    f"{name}({key}=...). Valid parameters: {sorted(known)}; routed parameters "
                    f"start with {sorted(p + '__' for p in self._routing_prefixes)}."
                )
        return self

    @classmethod
    def _declared_params(cls) -> set[str]:
        """Parameter names of the ``__init__`` of this class and of the wrappers it extends."""
        names = set()
        for klass in cls.__mro__:
            if issubclass(klass, BaseWrapper) and "__init__" in vars(klass):
                names |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
        return names

    def _check_params(self) -> None:
        """Parameter checks at fit: constraints, and extra keywords that have nowhere to go."""
        self._validate_params()
        declared = self._declared_params()
        bad = []
        for key in self.get_params(deep=False):
            if key in declared:
                continue
            if "__" in key:
                if key.split("__", 1)[0] not in self._routing_prefixes:
                    bad.append(key)
            elif not self._user_params_go_to_builder:
                bad.append(key)
        if bad:
            raise ValueError(
                f"{type(self).__name__} has no parameter(s) {bad}. Extra keywords must be routed "
                f"parameters starting with one of {sorted(p + '__' for p in self._routing_prefixes)} "
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

    @property
    def __name__(self) -> str:  # SciKeras' error messages (and users) refer to it
        return type(self).__name__

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self._accept_sparse
        tags.input_tags.allow_nan = False
        ranks = self._input_ranks()
        tags.input_tags.two_d_array = ranks is None or all(r == 2 for r in ranks)
        tags.input_tags.three_d_array = ranks is None or any(r >= 3 for r in ranks)
        tags.target_tags.required = self._requires_y
        tags.target_tags.multi_output = True
        return tags

    def _input_ranks(self) -> list[int] | None:
        """Ranks of the inputs the network takes (with the batch axis), when known before fit."""
        model = getattr(self, "model", None)
        if isinstance(model, keras.Model):
            try:
                return [len(t.shape) for t in keras.tree.flatten(model.inputs)]
            except (AttributeError, ValueError):  # a subclassed model not built yet
                return None
        return None

    # ------------------------------------------------------------------ encoders
    @property
    def feature_encoder(self):
        """The (unfitted) transformer from validated X to the model's inputs; override it for
        multi-input models (e.g. return ``FunctionTransformer(lambda X: [X[:, :2], X[:, 2:]])``)."""
        return FunctionTransformer()

    @property
    def target_encoder(self):
        """The (unfitted) transformer from y to the model's targets and back
        (``inverse_transform``); override it for multi-output models."""
        return FunctionTransformer()

    # ------------------------------------------------------------------ validation
    def _validate_data(self, X=None, y=None, reset: bool = False, y_numeric: bool = False):
        """Validate X and/or y with scikit-learn (NaN, infinities and empty input are refused
        with a clear error; sparse X is kept as CSR or CSC where ``_accept_sparse``) and record
        (``reset``) or check their shape and dtype."""
        name = type(self).__name__
        _refuse_structured(y, "y")
        if X is None:
            return None, self._validate_y(y, reset)
        if row_data.is_lazy(X):
            X, y = self._validate_lazy(X, y, reset, y_numeric)
            return self._check_shape(X, reset), y
        _refuse_structured(X, "X")
        dtype = _input_dtype(X)
        accept_sparse = ["csr", "csc"] if self._accept_sparse else False
        kwargs = dict(accept_sparse=accept_sparse, allow_nd=self._allow_nd, dtype=dtype, ensure_all_finite=True, reset=reset)
        if y is None and not reset and self._plainly_valid(X):
            pass  # what scikit-learn would check, checked faster (a third of a 1-row predict)
        elif y is None:
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(self, X, y, multi_output=True, y_numeric=y_numeric, **kwargs)
            y = self._validate_y(y, reset)
        X = self._check_shape(X, reset)
        self._check_float_range(X)
        return X, y

    def _check_shape(self, X, reset: bool):
        """Record (``reset``) or check X's shape per sample and dtype."""
        name = type(self).__name__
        if reset:
            self.X_dtype_ = X.dtype
            self.X_shape_ = X.shape
        else:
            if X.ndim != len(self.X_shape_):
                raise ValueError(
                    f"X has {X.ndim} dimensions, but this {name} is expecting "
                    f"{len(self.X_shape_)} dimensions in X."
                )
            if X.shape[1:] != self.X_shape_[1:]:
                raise ValueError(
                    f"X has shape {X.shape[1:]} per sample, but this {name} is expecting X of "
                    f"shape {self.X_shape_[1:]}."
                )
        return X

    def _validate_lazy(self, X, y, reset: bool, y_numeric: bool):
        """A SliceDataset checked from its first sample (every batch is checked as it is read:
        shape, finite values); y validated as scikit-learn validates it."""
        from sklearn.utils import check_array, check_consistent_length

        name = type(self).__name__
        if not self._accept_lazy:
            raise TypeError(
                f"{name} takes X in memory (an array or DataFrame); a SliceDataset is read a batch at a "
                "time, which this estimator's preprocessing (fitted on all of X) cannot do. Load X, or use "
                "KerasClassifier / KerasRegressor with your network."
            )
        if len(X) == 0:
            raise ValueError(f"X holds no samples (an empty SliceDataset); {name} needs at least 1.")
        first = X[0]
        if first.dtype.kind not in "biuf" or first.ndim == 0:
            raise ValueError(
                f"The samples of the SliceDataset must be numeric arrays (what load returns); the first is "
                f"{'a scalar' if first.ndim == 0 else 'of dtype ' + str(first.dtype)}."
            )
        if first.ndim > 1 and not self._allow_nd:
            raise ValueError(f"{name} takes rows of features; the SliceDataset's samples have shape {first.shape}.")
        if y is not None:
            y = check_array(y, ensure_2d=False, dtype="numeric" if y_numeric else None, ensure_all_finite=True, input_name="y")
            check_consistent_length(X, y)
            y = self._validate_y(y, reset)
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {name} is expecting {self.n_features_in_} features as input.")
        return X, y

    def _check_float_range(self, X) -> None:
        """Finite float64 values beyond float32's range (about 3.4e38) become infinite in a
        float32 network, and its predictions NaN: refused, naming the columns."""
        if row_data.is_lazy(X) or X.dtype.kind != "f" or X.dtype.itemsize <= 4 or X.size == 0:
            return
        if self._network_dtype() != np.float32:
            return
        limit = np.finfo(np.float32).max
        values = X.data if row_data.is_sparse(X) else X
        if values.size == 0 or (values.max() <= limit and values.min() >= -limit):  # two passes, no copy of X
            return
        if row_data.is_sparse(X):
            coo = X.tocoo()
            beyond = np.zeros(X.shape[1], dtype=bool)
            beyond[coo.col[np.abs(coo.data) > limit]] = True
            offending = X.tocsc()[:, beyond].toarray()  # only those columns, dense
        else:
            beyond = (np.abs(X) > limit).reshape(len(X), -1).any(axis=0)
            offending = X.reshape(len(X), -1)[:, beyond]
        names = getattr(self, "feature_names_in_", None)
        if names is not None and len(names) == beyond.size:
            columns = [str(n) for n in names[beyond]]
        else:  # indices (of the flattened sample, for images)
            columns = np.flatnonzero(beyond).tolist()
        example = offending.flat[np.argmax(np.abs(offending))]
        raise ValueError(
            f"X has values beyond float32's range (±{limit:.3g}) in column(s) {columns[:10]}"
            f"{' ...' if len(columns) > 10 else ''} (e.g. {example:g}): this network computes in "
            "float32, where they become infinite. Rescale those columns (e.g. a log transform or "
            "StandardScaler)."
        )

    def _network_dtype(self) -> np.dtype:
        """The float dtype the network computes in (before fit: the given model's, else Keras')."""
        model = getattr(self, "model_", None)
        if model is None and isinstance(getattr(self, "model", None), keras.Model):
            model = self.model
        return np.dtype(model.compute_dtype if model is not None else keras.backend.floatx())

    def _plainly_valid(self, X) -> bool:
        """Whether X is a finite numeric ndarray of the fitted width, without feature names to
        check: what validate_data would accept unchanged. Anything else goes through it."""
        return (
            type(X) is np.ndarray
            and X.dtype.kind in "biuf"
            and (X.ndim == 2 or (X.ndim > 2 and self._allow_nd))
            and X.shape[0] > 0
            and X.shape[1] == getattr(self, "n_features_in_", None)
            and not hasattr(self, "feature_names_in_")
            and (X.dtype.kind != "f" or bool(np.isfinite(X).all()))
        )

    def _validate_y(self, y, reset: bool):
        if y is None:
            return None
        y = np.asarray(y)
        if reset:
            self.target_type_ = self._type_of_target(y)
            self.y_dtype_ = y.dtype
            self.y_ndim_ = y.ndim
        elif self.y_ndim_ != y.ndim:
            raise ValueError(
                f"y has {y.ndim} dimensions, but this {type(self).__name__} is expecting "
                f"{self.y_ndim_} dimensions in y."
            )
        return y

    def _check_dtype_unchanged(self, X) -> None:
        """A network trained further must get X of the dtype it was trained on (or one safely
        cast to it): float pixels after integer ones, say, are scaled differently. (y is checked
        by the target encoder: known classes, same number of columns.)"""
        if not np.can_cast(X.dtype, self.X_dtype_):
            raise ValueError(
                f"Got X with dtype {X.dtype}, but this {type(self).__name__} expected "
                f"{self.X_dtype_} and casting from {X.dtype} to {self.X_dtype_} is not safe! Cast "
                f"X to {self.X_dtype_}, or refit (warm_start=False) to train on the new dtype."
            )

    def _type_of_target(self, y) -> str:
        from sklearn.utils.multiclass import type_of_target

        return type_of_target(y)

    # ------------------------------------------------------------------ building
    def _check_model_param(self):
        """The function that builds the model: from ``model``, ``build_fn`` or ``_keras_build_fn``."""
        model = self.model
        if model is None and self.build_fn is not None:
            import warnings

            warnings.warn(
                "``build_fn`` will be renamed to ``model`` in a future release, at which point use "
                "of ``build_fn`` will raise an Error instead: pass model=... instead.",
                UserWarning,
                stacklevel=5,
            )
            model = self.build_fn
        if model is None:
            if not hasattr(self, "_keras_build_fn"):
                raise ValueError(
                    "No model: pass model= (a keras.Model or a function that builds one), or, in a "
                    "subclass, you must implement ``_keras_build_fn``."
                )
            return self._keras_build_fn
        if isinstance(model, keras.Model):
            return functools.partial(_copy_model, model)
        if callable(model):
            if hasattr(self, "_keras_build_fn"):
                raise ValueError(
                    "This class cannot implement ``_keras_build_fn`` if using the `model` parameter:"
                    " give one or the other."
                )
            return model
        raise TypeError(
            f"``model`` must be a callable, a Keras Model instance or None; got {type(model).__name__}."
        )

    def _get_metadata(self) -> dict[str, Any]:
        """What fit learnt about the data (public attributes ending in one underscore)."""
        return {k: v for k, v in vars(self).items() if len(k) > 1 and k.endswith("_") and not k.endswith("__") and not k.startswith("_")}

    def _get_compile_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Model.compile`` from the parameters: the optimizer, losses
        and metrics built (classes, names of classes) with their routed arguments."""
        params = self.get_params()
        kwargs = route_params(params, "compile", pass_filter=self._compile_kwargs)
        optimizer_args = route_params(params, "optimizer", pass_filter=(), strict=True)
        optimizer = kwargs.get("optimizer")
        kwargs["optimizer"] = None if optimizer is None else make_optimizer(optimizer, optimizer_args)
        for key, module, kind in (("loss", keras.losses, "loss"), ("metrics", keras.metrics, "metric")):
            routed = route_params(params, key, pass_filter=())
            value = resolve_names(kwargs.get(key), kind)
            if routed:
                value = class_of_name(value, module)
            kwargs[key] = build_routed(value, routed)
        if kwargs["metrics"] is not None and not isinstance(kwargs["metrics"], (list, dict)):
            kwargs["metrics"] = [kwargs["metrics"]]
        return kwargs

    def _build_keras_model(self) -> keras.Model:
        """Call the model-building function with the parameters it declares."""
        build = self._check_model_param()
        params = self.get_params()
        user = {k for k in params if "__" not in k} - self._declared_params()
        arguments = route_params(params, "model", pass_filter=user, strict=True)
        takes_all = accepts_kwargs(build)
        if takes_all or has_param(build, "meta"):
            arguments["meta"] = self._get_metadata()
        if takes_all or has_param(build, "compile_kwargs"):
            arguments["compile_kwargs"] = self._get_compile_kwargs()
        if takes_all or has_param(build, "params"):
            arguments["params"] = params
        model = build(**arguments)
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"The model-building function returned {type(model).__name__}, not a keras.Model."
            )
        return model

    def _ensure_compiled_model(self) -> None:
        if not self.model_.compiled:
            self.model_.compile(**self._get_compile_kwargs())
        if not getattr(self.model_, "optimizer", None):
            raise ValueError(
                "You must provide an optimizer or a compiled model: set optimizer= (e.g. 'adam') "
                "or compile the model in the model-building function."
            )
        loss = getattr(self.model_, "loss", None)
        leaves = [v for v in keras.tree.flatten(loss) if v is not None] if loss is not None else []
        if not leaves:
            raise ValueError(
                "No loss function: you must provide a loss (loss=..., e.g. 'mse' or "
                "'sparse_categorical_crossentropy') or compile the model with one."
            )

    def _check_model_compatibility(self, y) -> None:
        """Clear errors where Keras would fail later: outputs that do not match the target, and a
        ``loss`` parameter contradicted by the loss the model was compiled with."""
        expected = getattr(self, "n_outputs_expected_", None)
        outputs = getattr(self.model_, "outputs", None)  # None for a subclassed model
        if expected and outputs is not None and expected != len(outputs):
            raise ValueError(
                f"Detected a Keras model input of size {expected} (outputs the target needs), but "
                f"{self.model_.name} has {len(self.model_.outputs)} outputs. Make the model's "
                "outputs match the target, or change the target_encoder."
            )
        given = getattr(self, "loss", None)
        got = getattr(self.model_, "loss", None)
        if given is None or not all(isinstance(v, (str, keras.losses.Loss, type)) or callable(v) for v in (given, got)):
            return
        default = inspect.signature(type(self).__init__).parameters.get("loss")
        default_name = loss_name(default.default) if default is not None and default.default is not None else None
        if loss_name(given) not in (default_name, loss_name(got)):
            raise ValueError(
                f"loss={given!r} but model compiled with {got!r}. Data may not match loss "
                "function! Remove the loss parameter or compile the model with it."
            )

    # ------------------------------------------------------------------ fitting
    @property
    def current_epoch(self) -> int:
        """Epochs trained so far."""
        return len(getattr(self, "history_", {}).get("loss", []))

    @property
    def initialized_(self) -> bool:
        return hasattr(self, "model_")

    def initialize(self, X, y=None):
        """Build (and compile) the network for ``X`` (and ``y``) without training it.

        For a pre-trained ``keras.Model`` given as ``model``, this wraps that very model, so
        ``predict`` uses it at once. A later ``fit`` builds a new network (unless
        ``warm_start``); ``partial_fit`` trains this one.
        """
        _refuse_missing(X)
        before = dict(vars(self))
        try:
            with seeded(self._seed), reusable_variable_kernels(), shared_initializer_programs():
                self._check_params()
                X, _ = self._initialize(X, y, copy_model=False)
                self._adapt_model(self.encode_features(X))
                self._ensure_compiled_model()
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    def _initialize(self, X, y, *, copy_model: bool = True, classes=None):
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, key)  # nothing of an earlier fit reaches the builder's meta
        self._classes_hint = classes
        try:
            X, y = self._validate_data(X, y, reset=True)
            self.target_encoder_ = self.target_encoder.fit(y)
            vars(self).update(getattr(self.target_encoder_, "get_metadata", dict)())
            self.feature_encoder_ = self.feature_encoder.fit(X)
            vars(self).update(getattr(self.feature_encoder_, "get_metadata", dict)())
        finally:
            del self._classes_hint
        model = getattr(self, "model", None)
        if not copy_model and isinstance(model, keras.Model):
            self.model_ = model
        else:
            self.model_ = self.build_network()
        return X, y

    # ------------------------------------------------------------------ extension points
    # Public hooks for subclasses (skann's own estimators override these). Each calls the
    # private method of the same job, which SciKeras-style subclasses may override instead.
    def build_network(self) -> keras.Model:
        """Build the Keras network for a new fit (called once per fit, after the encoders are
        fitted, so ``n_features_in_``, ``n_classes_`` ... are set). The default calls the
        ``model`` parameter's builder with the parameters it declares; a compiled or
        uncompiled ``keras.Model`` may be returned (compiled then with the parameters)."""
        return self._build_keras_model()

    def encode_features(self, X):
        """What the network is called on, from validated X (in fit, predict and validation)."""
        return self._encode_features(X)

    def encode_targets(self, y):
        """What the network trains on, from validated y."""
        return self._encode_targets(y)

    def split_fit_data(self, X, y, sample_weight, validation_data):
        """The data to fit on: ``(X, y, sample_weight, validation)`` from the validated
        training data and the ``validation_data`` argument (None or a tuple); with
        ``early_stopping`` and no ``validation_data``, ``validation_fraction`` of the rows is
        held out (:meth:`skann.callbacks.HoldOutEarlyStopping.split`)."""
        X, y, sample_weight, validation = self._validation_split(X, y, sample_weight, validation_data)
        if validation is None and getattr(self, "early_stopping", False):
            if getattr(self, "validation_split", 0.0):
                raise ValueError(
                    f"early_stopping holds out validation_fraction={self.validation_fraction} of the data, and "
                    f"validation_split={self.validation_split} asks Keras for another split: use one of them."
                )
            return self._early_stopping(has_validation=True).split(X, y, sample_weight, classifier=is_classifier(self))
        return X, y, sample_weight, validation

    def epoch_feed(self, X, y, args: dict) -> engine.Feed:
        """What each epoch trains on, from the encoded training data and the ``Model.fit``
        arguments of this fit (``args``: ``sample_weight``, ``batch_size``, ``shuffle``,
        ``callbacks`` ...; a feed may take entries over). The default: shuffled mini-batches
        (:class:`skann.engine.MiniBatches`; of sparse X, :class:`skann.engine.SparseMiniBatches`),
        epoch e shuffled by ``(random_state, e)``."""
        return engine.mini_batches(
            X, y, args.get("sample_weight"), batch_size=args.get("batch_size") or 32,
            shuffle=args.get("shuffle", True) is not False, seed=self._seed,
        )

    def default_callbacks(self, has_validation: bool) -> list:
        """skann's callbacks for a fit, after the user's: TensorBoard when ``log_dir`` is set,
        and what subclasses add (the book estimators' early stopping). skann's divergence
        guard always comes first, before the user's callbacks."""
        callbacks = []
        if self.log_dir is not None:
            callbacks.append(TensorBoardRun(self.log_dir, run_dir=self.log_run_dir_))
        return callbacks + self.early_stopping_callbacks(has_validation) + self._extra_callbacks(has_validation)

    def early_stopping_callbacks(self, has_validation: bool) -> list:
        """Early stopping on the hold-out's loss (or the training loss), best weights
        restored (:class:`skann.callbacks.HoldOutEarlyStopping`); none without
        ``early_stopping``."""
        return [self._early_stopping(has_validation)] if getattr(self, "early_stopping", False) else []

    def _early_stopping(self, has_validation: bool) -> HoldOutEarlyStopping:
        # One owner for the hold-out and the stop: the same settings split and stop.
        return HoldOutEarlyStopping(
            self.validation_fraction, self._patience(), random_state=self._seed,
            monitor="val_loss" if has_validation else "loss",
        )

    def _patience(self) -> int:
        """Epochs without improvement before early stopping stops."""
        return self.n_iter_no_change

    # The private implementations (and SciKeras' names).
    def _encode_features(self, X):
        """What the model is called on, from validated X."""
        return self.feature_encoder_.transform(X)

    def _encode_targets(self, y):
        """What the model trains on, from validated y."""
        return self.target_encoder_.transform(y)

    def _adapt_model(self, X) -> None:
        """Adapt preprocessing layers of a new network to its (encoded) training inputs."""

    def fit(self, X, y=None, sample_weight=None, **kwargs):
        """Build a new network (unless ``warm_start``) and train it on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), sparse matrix, SliceDataset, or a stream
            A stream (``keras.utils.PyDataset``, ``tf.data.Dataset`` or generator) yields batches
            ``(x, y)`` or ``(x, y, sample_weight)``; then ``y`` and ``sample_weight`` are None
            (a classifier takes ``classes=[...]``, else reads the stream once to find them).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        **kwargs
            Passed on to ``keras.Model.fit`` for this call (``epochs``, ``batch_size``,
            ``validation_data`` ... win over the parameters). ``validation_data`` goes through
            the same validation and encoders as ``X`` and ``y``. ``initial_epoch`` numbers this
            fit's first epoch, as SciKeras did: the fit trains ``epochs`` epochs, numbered from
            ``initial_epoch`` (what learning-rate schedules and callbacks see); by default 0,
            or the epochs trained so far when ``warm_start`` continues a fit.

        Returns
        -------
        self
        """
        epochs = kwargs.pop("epochs", None)
        if epochs is None:
            epochs = self._default_epochs()
        initial_epoch = kwargs.get("initial_epoch")
        if initial_epoch is not None and (
            not isinstance(initial_epoch, numbers.Integral) or isinstance(initial_epoch, bool) or initial_epoch < 0
        ):
            raise ValueError(
                f"initial_epoch must be an int >= 0 (the number of this fit's first epoch, as in "
                f"keras.Model.fit); got {initial_epoch!r}."
            )
        return self._guarded_fit(
            X, y, sample_weight, kwargs, continue_training=self.warm_start and self.initialized_, epochs=epochs
        )

    def partial_fit(self, X, y=None, sample_weight=None, **kwargs):
        """Train for one epoch, continuing from the current weights, optimizer state and epoch.

        The first call builds the network, as ``fit`` would.
        """
        _refuse_epoch_arguments(kwargs)
        return self._guarded_fit(X, y, sample_weight, kwargs, continue_training=self.initialized_, epochs=1)

    def _epochs_parameter(self) -> str:
        """The parameter that counts a fit's epochs (``fit__epochs`` wins when given)."""
        return "fit__epochs" if hasattr(self, "fit__epochs") else "epochs"

    def _default_epochs(self) -> int:
        return getattr(self, self._epochs_parameter())

    def _guarded_fit(self, X, y, sample_weight, kwargs, *, continue_training: bool, epochs: int, classes=None):
        # A failed or interrupted fit (Ctrl-C included) leaves the estimator exactly as it was
        # before the call: attributes, and the weights and optimizer state of a network that
        # was being trained further (warm_start, partial_fit).
        before = dict(vars(self))
        saved_variables = _snapshot_variables(self.model_) if continue_training else None
        try:
            with reusable_variable_kernels(), shared_initializer_programs():
                self._fit(X, y, sample_weight, kwargs, continue_training, epochs, classes)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            if saved_variables is not None:
                _restore_variables(self.model_, saved_variables)
            raise
        return self

    def _fit(self, X, y, sample_weight, kwargs, continue_training, epochs, classes):
        self._check_params()
        _refuse_missing(X)
        if streams.is_stream(X):
            return self._fit_stream(streams.Stream(X), y, sample_weight, kwargs, continue_training, epochs, classes)
        if y is None and self._requires_y:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        seed = self._seed
        with seeded(seed):
            if continue_training:
                X, y = self._validate_data(X, y, reset=False)
                self._check_dtype_unchanged(X)
            else:
                X, y = self._initialize(X, y, classes=classes)
            self._ensure_compiled_model()
            if not continue_training:
                self._compiled_steps = self.model_.steps_per_execution
            X, y, sample_weight = self._sample_weight(X, y, sample_weight)
            validation_data = kwargs.pop("validation_data", None)
            X, y, sample_weight, validation = self.split_fit_data(X, y, sample_weight, validation_data)
            self._keep_scored_validation(
                validation, "set early_stopping=True (a hold-out of validation_fraction) or pass validation_data to fit"
            )
            y_enc = self.encode_targets(y)
            X_enc = self._encoded(X)
            row_data.refuse_split_sparse(X_enc, type(self).__name__)
            if not continue_training:
                self._adapt_model(X_enc)
            self._check_model_compatibility(y_enc)
            self._train(X_enc, y_enc, sample_weight, self._encoded_validation(validation), kwargs, continue_training, epochs)

    def _keep_scored_validation(self, validation, how_to_give_it: str) -> None:
        """The (unencoded) held-out data ``validation_scoring`` scores, kept for the fit's
        callbacks; an error saying how to give some when there is none."""
        if getattr(self, "validation_scoring", None) is None:
            return
        if validation is None:
            raise ValueError(f"validation_scoring scores held-out data: {how_to_give_it}.")
        X_val, y_val, *sw_val = validation
        self._scored_validation = (X_val, y_val, sw_val[0] if sw_val else None)

    def _encoded_validation(self, validation):
        """Validation data ``(X, y[, sample_weight])`` as the network takes it (None stays None)."""
        if validation is None:
            return None
        X_val, y_val, *sw_val = validation
        return (self._encoded(X_val), self.encode_targets(y_val), *sw_val)

    def _train(self, X_enc, y_enc, sample_weight, validation, kwargs, continue_training, epochs) -> None:
        """Train on encoded data: this fit's TensorBoard run and first epoch, then Keras."""
        if self.log_dir is not None and not (continue_training and hasattr(self, "log_run_dir_")):
            self.log_run_dir_ = new_run_dir(self.log_dir)
        initial_epoch = kwargs.pop("initial_epoch", None)
        if initial_epoch is None:
            initial_epoch = self.current_epoch if continue_training else 0
        try:
            self._fit_keras_model(
                X_enc, y_enc, sample_weight, validation, epochs, initial_epoch=initial_epoch,
                new_model=not continue_training, **kwargs,
            )
        finally:
            vars(self).pop("_scored_validation", None)  # the data is not the estimator's

    def _fit_stream(self, stream, y, sample_weight, kwargs, continue_training, epochs, classes):
        """``_fit`` for a PyDataset, tf.data.Dataset or generator of batches."""
        name = type(self).__name__
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"X is a {stream.kind} of batches, which carry the targets (and sample weights): batches "
                "(x, y) or (x, y, sample_weight), and y=None, sample_weight=None."
            )
        if not self._accept_lazy:
            raise TypeError(f"{name} takes X in memory (an array or DataFrame), not a {stream.kind}.")
        validation_data = kwargs.pop("validation_data", None)
        if (getattr(self, "early_stopping", False) and validation_data is None) or getattr(self, "validation_split", 0.0):
            raise ValueError(
                f"A {stream.kind} cannot be split into training and validation rows (early_stopping's "
                "validation_fraction, validation_split): pass validation_data (arrays or a stream)."
            )
        if getattr(self, "class_weight", None) == "balanced":
            raise ValueError(
                f"class_weight='balanced' needs the class counts of all of y, which a {stream.kind} only shows "
                "batch by batch: give class_weight as a dict."
            )
        given = kwargs.pop("classes", None)
        classes = given if given is not None else classes
        with seeded(self._seed):
            x0, y0, _ = stream.first()
            if y0 is None and self._requires_y:
                raise ValueError(f"{name} trains on targets: the {stream.kind}'s batches must be (x, y) or (x, y, sample_weight).")
            if continue_training:
                self._validate_data(x0, reset=False)
                self._check_dtype_unchanged(x0)
            else:
                if is_classifier(self) and classes is None:
                    classes = stream.classes()
                self._initialize(x0, y0, classes=classes)
                self.X_shape_ = (None, *self.X_shape_[1:])  # the number of rows is the stream's
            self._ensure_compiled_model()
            if not continue_training:
                self._compiled_steps = self.model_.steps_per_execution
            data = streams.EncodedStream(stream, self._encoded_batch)
            first = data.first_batch()
            if len(first) > 1:
                self._check_model_compatibility(first[1])
            if validation_data is not None and streams.is_stream(validation_data):
                if getattr(self, "validation_scoring", None) is not None:
                    raise ValueError("validation_scoring scores validation data given as arrays: pass validation_data=(X_val, y_val).")
                validation = streams.EncodedStream(streams.Stream(validation_data), self._encoded_batch)
            else:
                validation = None if validation_data is None else self._validation_split(None, None, None, validation_data)[3]
                self._keep_scored_validation(validation, "pass validation_data=(X_val, y_val) to fit")
                validation = self._encoded_validation(validation)
            self._train(data, None, None, validation, kwargs, continue_training, epochs)

    def _encoded_batch(self, x, y=None, sample_weight=None) -> tuple:
        """One batch of a stream, validated like X and y, as the network takes it."""
        x, y = self._validate_data(x, y, reset=False)
        batch = (self.encode_features(x),)
        if y is not None:
            batch += (self.encode_targets(y),)
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is not None or (class_weight is not None and y is not None):
            weights = check_sample_weight(sample_weight, x, dtype=np.dtype(keras.backend.floatx()), ensure_non_negative=True)
            if class_weight is not None:
                weights = weights * compute_sample_weight(class_weight, y).astype(weights.dtype)
            batch += (weights,)
        return batch

    def _encoded(self, X):
        """``encode_features(X)``; for a SliceDataset, a view that encodes each batch as it is read."""
        return row_data.EncodedRows(X, self.encode_features) if row_data.is_lazy(X) else self.encode_features(X)

    def _sample_weight(self, X, y, sample_weight):
        """Validated sample weights (times class weights); samples of weight 0 are dropped, which
        is what a weight of 0 means (and makes it equal to leaving the sample out). Weights are
        relative: they are scaled to average 1, because Keras' loss sums weighted terms over
        the batch size, so weights summing to 1 (as AdaBoost gives) would divide the learning
        rate by the number of samples."""
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is None and class_weight is None:
            return X, y, None
        sw = check_sample_weight(
            sample_weight, X, dtype=np.dtype(keras.backend.floatx()), ensure_non_negative=True, allow_all_zero_weights=True
        )
        if class_weight is not None:
            sw = sw * compute_sample_weight(class_weight, y).astype(sw.dtype)
        _refuse_all_zero_weights(sw)
        keep = sw > 0
        if not keep.all():
            keep = np.flatnonzero(keep)  # (a sparse matrix takes indices, not a mask)
            X, y, sw = X[keep], (None if y is None else y[keep]), sw[keep]
        return X, y, sw * (len(sw) / sw.sum())

    def _validation_split(self, X, y, sample_weight, validation_data):
        """``(X, y, sample_weight, validation)``: ``validation_data`` validated like the training
        data (subclasses may hold a fraction out here)."""
        if validation_data is None:
            return X, y, sample_weight, None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (X_val, y_val[, sample_weight_val]).")
        X_val, y_val = self._validate_data(validation_data[0], validation_data[1], reset=False)
        validation = (X_val, y_val)
        if len(validation_data) == 3:
            validation += (check_sample_weight(validation_data[2], X_val, dtype=np.float32),)
        return X, y, sample_weight, validation

    def _fit_args(self, X) -> dict[str, Any]:
        """Arguments for ``keras.Model.fit`` from the parameters (``fit__`` ones win)."""
        args = route_params(self.get_params(), "fit", pass_filter=self._fit_kwargs, strict=True)
        args = {k: v for k, v in args.items() if not k.startswith("callbacks")}
        return args

    def _fit_keras_model(self, X, y, sample_weight, validation, epochs, *, initial_epoch, new_model, **kwargs):
        args = self._fit_args(X)
        args.update(kwargs)
        _all_samples_per_batch(args, ("batch_size", "validation_batch_size"), X)
        args["epochs"] = initial_epoch + epochs
        args["initial_epoch"] = initial_epoch
        if sample_weight is not None:
            args["sample_weight"] = sample_weight
        if validation is not None:
            args["validation_data"] = validation
        has_validation = validation is not None or bool(args.get("validation_split"))
        args["callbacks"] = self._fit_callbacks(has_validation)
        if isinstance(X, streams.EncodedStream):
            if new_model:
                build_training_state(self.model_, X.first_batch())
            readers = [X] + [v for v in [args.get("validation_data")] if isinstance(v, streams.EncodedStream)]
            history = self._keras_fit(self._stream_fit_data(X, args), args, readers)
            self._record_history(history.history, new_model)
            return
        feed = self.epoch_feed(X, y, args)
        if self._fits_in_fused_loop(args, feed):
            history = engine.fit_model(
                self.model_, feed, epochs=args["epochs"], initial_epoch=initial_epoch,
                validation_data=args.get("validation_data"), validation_batch_size=args.get("validation_batch_size"),
                callbacks=args["callbacks"],
            )
            if history is not None:
                self._record_history(history, new_model)
                return
        if new_model:
            build_training_state(self.model_, feed.first_batch())
        data = self._keras_fit_data(X, y, args, feed)
        if self._fits_by_batch(data, args):
            with self._reading([data["x"], args.get("validation_data")]):
                history = engine.fit_model_by_batch(
                    self.model_, data["x"], steps_per_epoch=args["steps_per_epoch"], epochs=args["epochs"],
                    initial_epoch=args["initial_epoch"], validation_batches=args.get("validation_data"),
                    callbacks=args["callbacks"],
                )
            if history is not None:
                self._record_history(history, new_model)
                return
        history = self._keras_fit(data, args)
        self._record_history(history.history, new_model)

    def _keras_fit(self, data: dict, args: dict, readers: list | None = None):
        """``keras.Model.fit`` on data skann reads (``readers``: by default ``x`` and the
        validation data)."""
        with self._reading(readers if readers is not None else [data.get("x"), args.get("validation_data")]):
            return self.model_.fit(**data, **args)

    @staticmethod
    @contextlib.contextmanager
    def _reading(readers: list):
        """An error raised while skann read a batch (a bad sample, a failing file) is raised as
        it was, not as the backend re-raises it (TensorFlow wraps it); reading ahead stops."""
        read = [b for b in readers if isinstance(b, row_data.ReadByBatch)]
        try:
            yield
        except Exception as exc:
            failure = next((b.failure for b in read if b.failure is not None), None)
            if failure is None or failure is exc:
                raise
            raise failure from None
        finally:
            for batches in read:
                batches.close()

    # Model.fit arguments of a fit fed by skann._rows.RowBatches that fit_model_by_batch serves.
    _BY_BATCH_FIT_ARGS = frozenset(
        {"epochs", "initial_epoch", "callbacks", "steps_per_epoch", "shuffle", "validation_data", "validation_batch_size", "verbose"}
    )

    def _fits_by_batch(self, data: dict, args: dict) -> bool:
        """Whether the engine trains this Keras-loop fit step by step (JAX: one cached step
        program per architecture, instead of Keras tracing and compiling one per fit)."""
        if set(data) != {"x"} or not isinstance(data["x"], row_data.RowBatches) or set(args) - self._BY_BATCH_FIT_ARGS:
            return False
        if args.get("validation_data") is not None and not isinstance(args["validation_data"], row_data.RowBatches):
            return False
        return engine.by_batch_available(
            self.model_, args["callbacks"], verbose=args.get("verbose"), run_eagerly=getattr(self, "run_eagerly", False)
        )

    # ``Model.fit`` arguments the fused loop serves (others go to Keras' own loop).
    _FUSED_FIT_ARGS = frozenset(
        {"epochs", "initial_epoch", "batch_size", "shuffle", "verbose", "callbacks", "sample_weight",
         "validation_data", "validation_batch_size", "validation_split"}
    )

    def _fits_in_fused_loop(self, args: dict, feed: engine.Feed) -> bool:
        if _overrides_fit(self.model_):  # a model with its own fit gets it called
            return False
        if set(args) - self._FUSED_FIT_ARGS or args.get("validation_split") or args.get("shuffle", True) not in (True, False):
            return False
        if row_data.is_lazy(_validation_x(args)):  # read a batch at a time
            return False
        return engine.fused_loop_available(
            self.model_, args["callbacks"], verbose=args.get("verbose"), run_eagerly=getattr(self, "run_eagerly", False),
            feed=feed,
        )

    def _record_history(self, history: dict, new_model: bool) -> None:
        if new_model or not hasattr(self, "history_"):
            self.history_ = {}
        for key, values in history.items():
            self.history_.setdefault(history_key(key), []).extend(float(v) for v in values)
        self.n_iter_ = self.current_epoch

    def _keras_fit_data(self, X, y, args: dict, feed: engine.Feed) -> dict:
        """The data arguments of ``keras.Model.fit`` (may take over entries of ``args``), for
        a fit the fused loop does not serve; sets the model's ``steps_per_execution`` first.

        On TensorFlow an index-gather tf.data pipeline (see ``skann._pipeline``: fits of many
        short epochs run ~1.6-2x faster than through Keras' array adapter), on the other
        backends NumPy batches (:class:`skann._rows.RowBatches`), or the arrays themselves when a
        ``fit`` argument needs Keras' own array handling (``validation_split``, Keras'
        ``class_weight``, ``steps_per_epoch``, ``shuffle="batch"``).
        """
        epochs = args["epochs"] - args["initial_epoch"]
        self._apply_steps_per_execution(self.model_, feed.steps_per_epoch * epochs, args["callbacks"])
        if row_data.by_rows(X) or row_data.by_rows(_validation_x(args)):
            return self._row_batches(X, y, args)
        if any(args.get(k) for k in _KERAS_ARRAY_ARGS) or args.get("shuffle", True) not in (True, False):
            return {"x": X, "y": y}
        if _overrides_fit(self.model_):  # its own fit receives what Model.fit would: the arrays
            return {"x": X, "y": y}
        if keras.backend.backend() != "tensorflow":
            # NumPy batches (TensorFlow stays unimported): on JAX 1.4x faster than tf.data for
            # a small MLP through Keras' loop, as fast for a CNN.
            return self._row_batches(X, y, args)
        args.pop("validation_split", None)  # 0.0: SciKeras' default
        batch_size, shuffle = args.pop("batch_size", None) or 32, args.pop("shuffle", True)
        steps = self.model_.steps_per_execution
        validation = args.pop("validation_data", None)
        if validation is not None:
            validation_batch = args.pop("validation_batch_size", None) or engine.VALIDATION_BATCH
            args["validation_data"], args["validation_steps"], _ = batch_dataset(validation, validation_batch, steps)
        args["shuffle"] = False  # the dataset shuffles itself
        data, args["steps_per_epoch"], callbacks = batch_dataset(
            (X, y, args.pop("sample_weight", None)), batch_size, steps, shuffle, self._seed, args["initial_epoch"]
        )
        args["callbacks"] = callbacks + args["callbacks"]
        return {"x": data}

    def _stream_fit_data(self, X, args: dict) -> dict:
        """``keras.Model.fit``'s data for a stream of batches (may take over entries of ``args``)."""
        for key in ("batch_size", "validation_batch_size", "shuffle", "validation_split"):
            args.pop(key, None)  # the stream's own (it shuffles itself, if at all)
        args["shuffle"] = False
        epochs = args["epochs"] - args["initial_epoch"]
        steps = args.get("steps_per_epoch") or X.num_batches
        if steps is None and epochs > 1:
            raise ValueError(
                f"A {X.stream.kind} of unknown length is read once: with epochs={epochs}, give steps_per_epoch "
                "(fit(..., steps_per_epoch=k)) and a stream of at least epochs x k batches, or use a "
                "keras.utils.PyDataset (read again each epoch)."
            )
        if steps is not None:
            self._apply_steps_per_execution(self.model_, steps * epochs, args["callbacks"], epoch_steps=steps)
        else:
            self._apply_steps_per_execution(self.model_, 1, args["callbacks"])
        validation = args.get("validation_data")
        if isinstance(validation, streams.EncodedStream):
            args["validation_data"] = validation.keras_data()
        return {"x": X.keras_data()}

    def _row_batches(self, X, y, args: dict) -> dict:
        """``keras.Model.fit``'s data for sparse or lazy X (or lazy validation data): batches
        made dense as they are needed (:class:`skann._rows.RowBatches`, every epoch of the fit
        in one sequence), shuffled as the fused loop shuffles them."""
        refused = [k for k in _KERAS_ARRAY_ARGS if args.get(k)]
        if refused or args.get("shuffle", True) not in (True, False) or _overrides_fit(self.model_):
            what = f"fit argument {refused[0]}" if refused else (
                "a model with its own fit" if _overrides_fit(self.model_) else f"shuffle={args['shuffle']!r}"
            )
            raise ValueError(
                f"Sparse X and SliceDatasets are fed to the network a batch at a time, which {what} cannot "
                "take. Use early_stopping/validation_fraction or validation_data instead of validation_split, "
                "the class_weight parameter instead of Keras' fit argument, or pass X as a dense array."
            )
        args.pop("validation_split", None)
        batch_size, shuffle = args.pop("batch_size", None) or 32, args.pop("shuffle", True)
        read_ahead = 2 if row_data.is_lazy(X) else 0  # a thread reads the next files while the network trains
        validation = args.pop("validation_data", None)
        if validation is not None:
            X_val, y_val, *sw_val = validation
            rows = row_data.chunk_rows(X_val, args.pop("validation_batch_size", None) or engine.VALIDATION_BATCH)
            args["validation_data"] = row_data.RowBatches(X_val, y_val, *sw_val, batch_size=rows, read_ahead=read_ahead)
        epochs = args["epochs"] - args["initial_epoch"]
        batches = row_data.RowBatches(
            X, y, args.pop("sample_weight", None), batch_size=batch_size, shuffle=shuffle, seed=self._seed,
            first_epoch=args["initial_epoch"], epochs=epochs, read_ahead=read_ahead,
        )
        # One iterator for the whole fit: no execution may run across two epochs.
        self._apply_steps_per_execution(
            self.model_, batches.steps_per_epoch * epochs, args["callbacks"], epoch_steps=batches.steps_per_epoch
        )
        args["steps_per_epoch"] = batches.steps_per_epoch
        args["shuffle"] = False  # the batches are shuffled already
        return {"x": batches}

    # ------------------------------------------------------------------ callbacks
    def _callbacks_from(self, destination: str) -> list:
        params = self.get_params()
        given = params.get(destination)
        if given is None:
            return []
        built = build_routed(given, route_params(params, destination, pass_filter=()))
        if isinstance(built, Mapping):
            built = list(built.values())
        elif isinstance(built, keras.callbacks.Callback):
            built = [built]
        flat = []
        for item in built if isinstance(built, (list, tuple)) else [built]:
            flat.extend(item if isinstance(item, (list, tuple)) else [item])
        for cb in flat:
            if not isinstance(cb, keras.callbacks.Callback):
                raise TypeError(
                    f"{destination} must be a keras.callbacks.Callback, a callback class, or a list or "
                    f"dict of them (lists may be nested); got {cb!r}."
                )
        return flat

    def _fit_callbacks(self, has_validation: bool) -> list:
        # The divergence check first: no later callback sees (or saves) a diverged network.
        guard = [DivergenceGuard(type(self).__name__)] if self._divergence_guard else []
        # Scores first after the guard: the user's callbacks (early stopping on a score) see them.
        scored = getattr(self, "_scored_validation", None)
        scoring = []
        if scored is not None:
            X_val, y_val, sw_val = scored
            scoring = [HoldOutScoring(self, X_val, y_val, self.validation_scoring, sample_weight=sw_val)]
        callbacks = guard + scoring + self._callbacks_from("callbacks") + self._callbacks_from("fit__callbacks")
        callbacks += self.default_callbacks(has_validation)
        if any(isinstance(cb, keras.callbacks.TensorBoard) for cb in callbacks):
            tensorflow()  # its summaries need TensorFlow on any backend: imported quietly
        return callbacks

    def _extra_callbacks(self, has_validation: bool) -> list:
        """SciKeras-style hook for callbacks a subclass adds to every fit (see
        :meth:`default_callbacks`)."""
        return []

    def _steps_per_execution(self, batches: int, callbacks: list | None = None) -> int:
        """``steps_per_execution`` for a fit of ``batches`` training batches with ``callbacks``
        (the ``callbacks`` parameter's when None)."""
        if callbacks is None:
            callbacks = self._callbacks_from("callbacks")
        if keras.backend.backend() == "torch":  # Keras' PyTorch trainer runs one batch per call
            if self.steps_per_execution not in ("auto", 1):
                raise ValueError(
                    f"steps_per_execution={self.steps_per_execution!r}: Keras' PyTorch backend runs one "
                    "batch per call; use 'auto' or 1 (or another Keras backend)."
                )
            return 1
        if self.steps_per_execution != "auto":
            return int(self.steps_per_execution)
        # Keras calls batch hooks once per execution: a callback that acts on every batch gets
        # one batch per execution.
        if batches < self._auto_min_batches or any(needs_every_batch(cb) for cb in callbacks):
            return 1
        return self._auto_steps_per_execution

    def _apply_steps_per_execution(
        self, model: keras.Model, batches: int, callbacks: list, epoch_steps: int | None = None
    ) -> None:
        # Set after compile, before the first step function is traced; a network trained
        # further (warm_start, partial_fit) gets its step functions rebuilt only on change.
        # A value the user compiled the model with is theirs to keep. With ``epoch_steps``,
        # rounded down to a divisor of it, so that no execution runs across two epochs.
        if self.steps_per_execution == "auto" and getattr(self, "_compiled_steps", 1) != 1:
            return
        steps = self._steps_per_execution(batches, callbacks)
        if epoch_steps is not None:
            steps = max(d for d in range(1, min(steps, epoch_steps) + 1) if epoch_steps % d == 0)
        if model.steps_per_execution != steps:
            model.steps_per_execution = steps
            model.train_function = model.test_function = model.predict_function = None

    # ------------------------------------------------------------------ prediction
    def _predict_raw(self, X, **kwargs):
        """The model's raw output for X (all outputs of a multi-output model)."""
        if not self.initialized_:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' (or "
                "'initialize') with appropriate arguments before using this estimator."
            )
        _refuse_missing(X)
        if streams.is_stream(X):  # batch by batch, concatenated
            return _concatenated([self._predict_raw(x, **kwargs) for x, _, _ in streams.Stream(X).batches()])
        X, _ = self._validate_data(X, reset=False)
        # Keras' predict loop only when asked for: predict__ arguments, call keywords, or
        # callbacks that act during prediction (looked up without get_params: it is slow).
        state = vars(self)
        routed = any(k.startswith("predict__") and k != "predict__callbacks" for k in state)
        callbacks = []
        if state.get("callbacks") is not None or state.get("predict__callbacks") is not None:
            callbacks = self._callbacks_from("callbacks") + self._callbacks_from("predict__callbacks")
            callbacks = [cb for cb in callbacks if overrides_hooks(cb, PREDICT_HOOKS)]
        if routed or kwargs or callbacks:
            params = self.get_params()
            args = route_params(params, "predict", pass_filter=self._predict_kwargs, strict=True)
            args = {k: v for k, v in args.items() if not k.startswith("callbacks")}
            args.update(kwargs)
            if row_data.by_rows(X):
                _all_samples_per_batch(args, ("batch_size",), X)
                return self._forward(X, lambda rows: self.model_.predict(x=rows, callbacks=callbacks, **args))
            x = self.encode_features(X)
            _all_samples_per_batch(args, ("batch_size",), x)  # the network's input, as fit checks it
            return self.model_.predict(x=x, callbacks=callbacks, **args)
        return self._forward(X)

    def _forward(self, X, forward=None):
        """The model on validated X in chunks, each encoded on its own (so that a float32 copy
        of a big uint8 input never exists whole; sparse X densified, a SliceDataset read, a
        chunk at a time), through NumPy when every layer allows it (else Keras'
        ``predict_on_batch``, never ``Model.predict`` and its per-call pipeline), or through
        ``forward``."""
        if row_data.n_rows(X) == 0:
            raise ValueError("X holds no samples.")
        forward = forward or self._inference_function()
        outs = []
        for chunk in row_data.encoded_chunks(X, self.encode_features, PREDICT_CHUNK):
            raw = _as_numpy(forward(chunk))
            if isinstance(raw, (list, tuple)) and len(raw) == 1:  # as Model.predict gives it
                raw = raw[0]
            outs.append(raw)
        return _concatenated(outs)

    def _inference_function(self):
        """NumPy forward pass of ``model_`` when every layer is supported, else Keras'.

        Compiling the NumPy function takes ~15 microseconds, so nothing is cached: predict
        leaves the estimator untouched and always sees the model's current layers.
        """
        return numpy_forward(self.model_) or self.model_.predict_on_batch

    def predict(self, X, **kwargs):
        """Predictions for X, decoded by the target encoder.

        Keyword arguments go to ``keras.Model.predict`` for this call.
        """
        raw = self._predict_raw(X, **kwargs)
        return self.target_encoder_.inverse_transform(raw)

    @staticmethod
    def scorer(y_true, y_pred, **kwargs) -> float:
        """The score of ``score`` (accuracy for the classifier, R² for the regressor)."""
        raise NotImplementedError("BaseWrapper has no score: use KerasClassifier or KerasRegressor, or override scorer.")

    def score(self, X, y=None, sample_weight=None) -> float:
        """``scorer(y, predict(X))``, weighted by ``sample_weight``; ``score__`` parameters go to
        the scorer. For a stream of batches, ``y`` and the weights come from its batches."""
        if streams.is_stream(X):
            return self._score_stream(streams.Stream(X), y, sample_weight)
        if y is None:
            raise ValueError(f"{type(self).__name__}.score needs y (the true targets of X).")
        y = np.asarray(y)
        y_pred = self.predict(X)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, y_pred)
        return self._scored(y, y_pred, sample_weight)

    def _scored(self, y, y_pred, sample_weight) -> float:
        """``scorer`` with the ``score__`` parameters."""
        routed = route_params(self.get_params(), "score", pass_filter=())
        return float(self.scorer(y, y_pred, sample_weight=sample_weight, **routed))

    def _score_stream(self, stream, y, sample_weight) -> float:
        if y is not None or sample_weight is not None:
            raise ValueError(f"X is a {stream.kind} of batches, which carry the targets: pass y=None and sample_weight=None.")
        truths, predictions, weights = [], [], []
        for x, y_batch, sw in stream.batches():
            if y_batch is None:
                raise ValueError(f"score needs targets: the {stream.kind}'s batches must be (x, y) or (x, y, sample_weight).")
            truths.append(np.asarray(y_batch))
            predictions.append(self.predict(x))
            weights.append(None if sw is None else np.asarray(sw, dtype=float))
        if any(w is None for w in weights) and not all(w is None for w in weights):
            raise ValueError("Some batches carry sample weights and some do not.")
        weight = None if weights[0] is None else np.concatenate(weights)
        return self._scored(np.concatenate(truths), np.concatenate(predictions), weight)

    # ------------------------------------------------------------------ pickling (joblib)
    def __getstate__(self):
        # The Keras model travels in Keras' own .keras format (architecture, weights and
        # optimizer state); Keras' own classes are left as they are.
        state = dict(super().__getstate__())
        for key in self._get_param_names():
            state[key] = pack_keras_objects(state[key])
        if "model_" in state:
            state["model_"] = PackedKerasModel(model_to_bytes(state["model_"]))
        return state

    def __setstate__(self, state):
        state = {k: unpack_keras_objects(v) for k, v in state.items()}
        model = state.get("model_")
        if isinstance(model, PackedKerasModel):
            state["model_"] = model_from_bytes(model.data, safe_mode=False)
        super().__setstate__(state)
        self._fill_added_parameters()

    # Parameters added after earlier skann versions wrote their files and pickles, with the
    # values that keep such a file's behaviour.
    _ADDED_PARAMETERS = {
        "early_stopping": False, "validation_fraction": 0.1, "n_iter_no_change": 10, "validation_scoring": None,
    }

    @classmethod
    def _added_parameter_values(cls) -> dict:
        """The parameters of this class's ``__init__`` added after earlier skann versions
        wrote their files, with the values that keep such a file's behaviour (a pickle, and
        the safe format, give them to an estimator that lacks them)."""
        declared = inspect.signature(cls.__init__).parameters
        return {name: value for name, value in cls._ADDED_PARAMETERS.items() if name in declared}

    def _fill_added_parameters(self) -> None:
        """Give an estimator unpickled from an older file the parameters it lacks."""
        for name, value in self._added_parameter_values().items():
            vars(self).setdefault(name, value)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")


def _validation_x(args: dict):
    """The X of a fit's ``validation_data`` argument (None without one)."""
    validation = args.get("validation_data")
    return None if validation is None else validation[0]


def _concatenated(outs: list):
    """Chunks of predictions (arrays, or structures of them) as one."""
    if len(outs) == 1:
        return outs[0]
    return keras.tree.map_structure(lambda *parts: np.concatenate(parts), *outs)


def _subclass_doc(summary: str, extra_params: str = "") -> str:
    """BaseWrapper's docstring with ``summary`` as its first paragraph and ``extra_params``
    before ``**kwargs`` (a missing marker fails at import, never silently)."""
    _, rest = BaseWrapper.__doc__.split("\n\n", 1)
    marker = "    **kwargs\n"
    if rest.count(marker) != 1:
        raise AssertionError("BaseWrapper's docstring must list **kwargs once, as its last parameter.")
    return summary + "\n\n" + rest.replace(marker, extra_params + marker)


def _refuse_missing(X) -> None:
    if X is None:
        raise ValueError("X is None: pass the samples, an array-like of shape (n_samples, n_features) or (n_samples, ...).")


def _refuse_structured(data, name: str) -> None:
    """A clear error for a NumPy structured (record) array, which NumPy cannot cast to numbers."""
    fields = getattr(getattr(data, "dtype", None), "names", None)
    if fields:
        shown = ", ".join(fields[:8]) + (" ..." if len(fields) > 8 else "")
        raise ValueError(
            f"{name} is a structured NumPy array (fields {shown}); pass a plain numeric array of shape "
            "(n_samples, n_features) instead, e.g. numpy.lib.recfunctions.structured_to_unstructured("
            f"{name}), or a pandas DataFrame (pandas.DataFrame({name}))."
        )


def _input_dtype(X):
    """dtype for check_array: numeric input keeps its dtype; anything else becomes Keras' float."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):  # a DataFrame
        kinds = {np.dtype(d).kind if isinstance(d, np.dtype) else "O" for d in X.dtypes}
        return None if kinds <= set("biuf") else keras.backend.floatx()
    if dtype is None:
        return "numeric"
    return None if np.dtype(dtype).kind in "biuf" else keras.backend.floatx()


class KerasClassifier(ClassifierMixin, BaseWrapper):
    __doc__ = _subclass_doc(
        "A scikit-learn classifier around any Keras model.\n\n    Labels may be ints, strings or bools, 1-D or one column; one-hot and multilabel indicator\n    targets work too. The default target encoder (:class:`ClassifierLabelEncoder`) gives the\n    model class indices (one-hot rows when the loss is categorical cross-entropy), and turns\n    its probabilities back into labels: ``predict_proba`` has one column per class (two for a\n    single sigmoid unit).",
        extra_params="    class_weight : dict, \"balanced\" or None, default=None\n        Weights per class, multiplied into ``sample_weight``.\n",
    ) + """
    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_iris
    >>> from skann import KerasClassifier
    >>> def build(meta, hidden=16):
    ...     return keras.Sequential([
    ...         keras.Input((meta["n_features_in_"],)),
    ...         keras.layers.Dense(hidden, activation="relu"),
    ...         keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ...     ])
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = KerasClassifier(build, loss="sparse_categorical_crossentropy", optimizer="adam",
    ...                       model__hidden=32, epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _estimator_type = "classifier"  # for libraries that predate scikit-learn's tags
    _requires_y = True
    _parameter_constraints = {
        **BaseWrapper._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        model=None,
        *,
        build_fn=None,
        warm_start=False,
        random_state=None,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        batch_size=None,
        validation_batch_size=None,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        shuffle=True,
        run_eagerly=False,
        epochs=1,
        class_weight=None,
        steps_per_execution="auto",
        log_dir=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        validation_scoring=None,
        **kwargs,
    ):
        super().__init__(
            model=model,
            build_fn=build_fn,
            warm_start=warm_start,
            random_state=random_state,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            validation_batch_size=validation_batch_size,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            shuffle=shuffle,
            run_eagerly=run_eagerly,
            epochs=epochs,
            steps_per_execution=steps_per_execution,
            log_dir=log_dir,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            validation_scoring=validation_scoring,
            **kwargs,
        )
        self.class_weight = class_weight

    # class_weight becomes sample weights (so it works with any target encoding)
    _fit_kwargs = BaseWrapper._fit_kwargs - {"class_weight"}

    @property
    def target_encoder(self):
        classes = getattr(self, "_classes_hint", None)
        return ClassifierLabelEncoder(
            loss=getattr(self, "loss", None), categories="auto" if classes is None else [np.asarray(classes)]
        )

    def _type_of_target(self, y) -> str:
        target_type = super()._type_of_target(y)
        classes = getattr(self, "_classes_hint", None)
        if target_type == "binary" and classes is not None:
            target_type = super()._type_of_target(np.asarray(classes))
        return target_type

    def fit(self, X, y=None, sample_weight=None, **kwargs):
        return super().fit(X, y, sample_weight, **kwargs)

    fit.__doc__ = BaseWrapper.fit.__doc__

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **kwargs):
        """Train for one epoch, continuing from the current weights, optimizer state and epoch.

        ``classes`` lists every class on the first call, when the first ``y`` lacks some.
        """
        _refuse_epoch_arguments(kwargs)
        return self._guarded_fit(
            X, y, sample_weight, kwargs, continue_training=self.initialized_, epochs=1,
            classes=None if self.initialized_ else classes,
        )

    score = BaseWrapper.score  # (ClassifierMixin's takes arrays only)

    def predict_proba(self, X, **kwargs):
        """Class probabilities, shape (n_samples, n_classes) (rows sum to 1 for one label)."""
        raw = self._predict_raw(X, **kwargs)
        return self.target_encoder_.inverse_transform(raw, return_proba=True)

    @staticmethod
    def scorer(y_true, y_pred, **kwargs) -> float:
        """Accuracy (override to change what ``score`` measures)."""
        return accuracy_score(y_true, y_pred, **kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.poor_score = self._poor_score
        return tags


class KerasRegressor(RegressorMixin, BaseWrapper):
    __doc__ = _subclass_doc(
        "A scikit-learn regressor around any Keras model.\n\n    ``y`` of shape (n,) or (n, n_targets) goes to the model as it is; predictions come back\n    in float64 and in the shape of ``y``.",
    ) + """
    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_diabetes
    >>> from skann import KerasRegressor
    >>> def build(meta):
    ...     return keras.Sequential([
    ...         keras.Input((meta["n_features_in_"],)),
    ...         keras.layers.Dense(32, activation="relu"),
    ...         keras.layers.Dense(meta["n_outputs_"]),
    ...     ])
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = KerasRegressor(build, loss="mse", optimizer="adam", epochs=3, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _estimator_type = "regressor"  # for libraries that predate scikit-learn's tags
    _requires_y = True

    @property
    def target_encoder(self):
        return RegressorTargetEncoder()

    def _validate_data(self, X=None, y=None, reset: bool = False, y_numeric: bool = True):
        return super()._validate_data(X, y, reset=reset, y_numeric=True)

    def fit(self, X, y=None, sample_weight=None, **kwargs):
        return super().fit(X, y, sample_weight, **kwargs)

    fit.__doc__ = BaseWrapper.fit.__doc__

    def partial_fit(self, X, y=None, sample_weight=None, **kwargs):
        return super().partial_fit(X, y, sample_weight, **kwargs)

    partial_fit.__doc__ = BaseWrapper.partial_fit.__doc__

    score = BaseWrapper.score  # (RegressorMixin's takes arrays only)

    @staticmethod
    def scorer(y_true, y_pred, **kwargs) -> float:
        """R² (override to change what ``score`` measures)."""
        return r2_score(y_true, y_pred, **kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = self._poor_score
        return tags
