"""PerceptronBaseline: Rosenblatt's perceptron as a Keras model, the linear baseline."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import numbers

import keras
import numpy as np
from keras import ops
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils.metaestimators import available_if

from skann import engine
from skann._book import BOOK_CONSTRAINTS, BookNetwork
from skann.callbacks import divergence_error
from skann._backend import float64_available, tensorflow
from skann._pipeline import batch_dataset, with_feed_options
from skann._quiet import float64_graphs_quietly
from skann._sklearn_compat import Interval, check_sample_weight
from skann.builders import build_perceptron
from skann._compile_settings import make_optimizer
from skann.wrappers import KerasClassifier, _refuse_all_zero_weights

__all__ = ["PerceptronBaseline", "PerceptronLoss", "perceptron_loss"]


@keras.saving.register_keras_serializable(package="skann")
def perceptron_loss(y_true, y_pred):
    """Perceptron criterion summed over the units: ``max(0, -y s)`` with y in {-1, +1}.

    Its gradient is ``-y x`` for every unit whose score has the wrong sign *or is zero*
    (as in scikit-learn, so that learning starts from all-zero weights), and 0 otherwise:
    one SGD step with learning rate eta is Rosenblatt's rule ``w <- w + eta (y - y_hat) x``.
    """
    return ops.sum(_wrong_side(ops.cast(y_true, y_pred.dtype) * y_pred), axis=-1)


def _wrong_side(margin):
    """``max(0, -margin)``, and a gradient also where the margin is exactly 0."""
    return ops.where(margin <= 0, -margin, ops.zeros_like(margin))


@keras.saving.register_keras_serializable(package="skann")
class PerceptronLoss(keras.losses.Loss):
    """:func:`perceptron_loss` summed over the rows of a batch, in float64.

    Summed, not averaged: in training each row of a step is another unit's sample (see
    :class:`PerceptronBaseline`), and every unit takes its full step ``eta0 * y * x``.
    """

    def __init__(self, name: str = "perceptron_loss", reduction: str = "sum", dtype="float64"):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return perceptron_loss(y_true, y_pred)

    def get_config(self) -> dict:
        # With its dtype (Keras' Loss leaves it out): a copy, or a compiled program traced
        # with one, sums in the same precision.
        return {**super().get_config(), "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="skann")
def mistakes(y_true, y_pred):
    """1 for a row with a unit on the wrong side of its boundary (or on it), else 0.

    Units whose target is 0 in the row take no part (see :class:`PerceptronBaseline`: in
    training, row k of a step is unit k's sample).
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    wrong = ops.logical_and(y_true * y_pred <= 0, ops.not_equal(y_true, 0))
    return ops.max(ops.cast(wrong, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="skann")
class UnitLosses(keras.metrics.Metric):
    """Sum of :func:`perceptron_loss` per unit over an epoch, unweighted (what scikit-learn's
    SGD compares between epochs to stop); ``result()`` is their total."""

    def __init__(self, units: int, name: str = "unit_losses", dtype="float64"):
        super().__init__(name=name, dtype=dtype)
        self.units = units
        self.sums = self.add_variable(shape=(units,), initializer="zeros", name="sums", dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        margin = ops.cast(y_true, self.dtype) * ops.cast(y_pred, self.dtype)
        self.sums.assign_add(ops.sum(_wrong_side(margin), axis=0))

    def result(self):
        return ops.sum(self.sums)

    def get_config(self) -> dict:
        return {"units": self.units, "name": self.name, "dtype": self.dtype}


MAX_INT = np.iinfo(np.int32).max


def sgd_shuffle_permutation(n_samples: int, seed: int) -> np.ndarray:
    """The permutation scikit-learn's SGD applies to its sample order at each epoch.

    Its sequential dataset shuffles in place with a Fisher-Yates pass drawing from a 32-bit
    xorshift generator, given the same ``seed`` at every epoch: epoch e sees the order of
    epoch e - 1 permuted once more by this same permutation.
    """
    state = seed & 0xFFFFFFFF
    order = list(range(n_samples))
    for i in range(n_samples - 1):
        if state == 0:
            state = 1
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        j = i + (state & 0x7FFFFFFF) % (n_samples - i)
        order[i], order[j] = order[j], order[i]
    return np.asarray(order, dtype=np.int64)


def sgd_shuffle_seeds(random_state, n_units: int) -> list[int]:
    """The shuffle seed of each binary problem, drawn as scikit-learn's SGD draws them: one
    stream for a binary target, else one seed per class, each starting its own stream (whose
    first draw seeds the dataset's sampling, unused by the shuffle)."""
    rng = check_random_state(random_state)
    streams = [rng] if n_units == 1 else [np.random.RandomState(s) for s in rng.randint(MAX_INT, size=n_units)]
    seeds = []
    for stream in streams:
        stream.randint(1, MAX_INT)
        seeds.append(int(stream.randint(MAX_INT)))
    return seeds


class _OneVsRestSGD(keras.callbacks.Callback):
    """Applies scikit-learn's SGD stopping rule to each unit of the perceptron.

    At the end of every epoch this callback checks the live units' weights are finite and
    applies the stopping rule per unit (mean training loss, or validation accuracy, not
    improving by ``tol`` for ``n_iter_no_change`` epochs). A unit that stops keeps the
    weights it stopped with (they are put back at the end: its later steps touch only its own
    column); the fit ends when no unit is left. See :class:`OneVsRestSteps` for the steps.
    """

    def __init__(self, n_train: int, n_units: int, validation, *, tol, n_iter_no_change: int, estimator: str, eta0: float):
        super().__init__()
        self.n_train = n_train
        self.validation = validation  # (X, codes, weights) for early stopping, else None
        self.tol = -np.inf if tol is None else tol
        self.n_iter_no_change = n_iter_no_change
        self.estimator, self.eta0 = estimator, eta0  # for the divergence error
        self.best = np.full(n_units, np.inf if validation is None else -np.inf)
        self.no_improvement = np.zeros(n_units, dtype=int)
        self.live = np.ones(n_units, dtype=bool)
        self.frozen: dict[int, tuple[np.ndarray, float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        kernel, bias = tlu_weights(self.model)
        finite = np.isfinite(kernel).all(axis=0) & np.isfinite(bias)
        if not finite[self.live].all():
            raise divergence_error(self.estimator, epoch, "its weights overflowed", ("eta0", f"{self.eta0:g}"))
        sums = np.asarray(_unit_losses(self.model).sums)
        if logs is not None:
            logs.pop("unit_losses", None)
        if self.validation is None:
            value = sums / self.n_train
            worse, better = value > self.best - self.tol, value < self.best
        else:
            X_val, codes, weights = self.validation
            value = np.average((X_val @ kernel + bias > 0) == (codes > 0), axis=0, weights=weights)
            worse, better = value < self.best + self.tol, value > self.best
        self.no_improvement = np.where(worse, self.no_improvement + 1, 0)
        self.best = np.where(better, value, self.best)
        for unit in np.flatnonzero(self.live & (self.no_improvement >= self.n_iter_no_change)):
            self.frozen[unit] = (kernel[:, unit].copy(), bias[unit])
            self.live[unit] = False
        if not self.live.any():
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self.frozen:
            return
        kernel, bias = (np.array(w) for w in tlu_weights(self.model))
        for unit, (column, intercept) in self.frozen.items():
            kernel[:, unit], bias[unit] = column, intercept
        layer = self.model.get_layer("tlu")
        layer.kernel.assign(kernel)
        if layer.bias is not None:
            layer.bias.assign(bias)


def tlu_weights(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """Kernel (n_features, n_units) and bias (n_units,) of a perceptron's ``tlu`` layer."""
    layer = model.get_layer("tlu")
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    return kernel, (np.zeros(kernel.shape[1]) if layer.bias is None else keras.ops.convert_to_numpy(layer.bias))


class OneVsRestSteps(engine.Feed):
    """The perceptron's training schedule, as scikit-learn's SGD runs it for each unit.

    Each step is a batch of one sample per unit: row k is unit k's next sample in its own
    order, with a target only in column k (a diagonal target matrix) and unit k's weight, so
    the units learn exactly as separate binary perceptrons would. With shuffling, each
    unit's order is permuted at every epoch by its own permutation
    (:func:`sgd_shuffle_permutation`), compounding from the first epoch of the fit;
    samples held out for early stopping stay in the order, skipped.

    The fused loop serves it on JAX and TensorFlow (compiled once per architecture; on
    TensorFlow faster than Keras' multi-step loop fed by :meth:`dataset`, whose step Keras
    traces at every fit: see docs/backends.md); Keras' loop (PyTorch, per-batch callbacks,
    ``verbose``) trains on that tf.data pipeline.
    """

    fused_backends = frozenset({"jax", "tensorflow"})

    def __init__(self, X, codes, unit_weight, train_mask, shuffle_seeds, first_epoch: int = 0):
        self.arrays = (X, codes, unit_weight)
        self.first_epoch = first_epoch
        self.train_mask = train_mask
        n_samples, self.n_units = codes.shape
        self.steps_per_epoch = int(train_mask.sum())
        self.permutations = None
        if shuffle_seeds is not None:
            self.permutations = np.stack([sgd_shuffle_permutation(n_samples, seed) for seed in shuffle_seeds], axis=1)
        self._start = np.repeat(np.arange(n_samples)[:, None], self.n_units, axis=1)
        self._position, self._epochs_done = self._start, 0

    def orders(self, epochs: int) -> np.ndarray:
        """The samples of each step of the fit's ``epochs``-th epoch (1-based), shape
        (steps, units)."""
        if epochs <= self._epochs_done:
            self._position, self._epochs_done = self._start, 0
        while self._epochs_done < epochs:
            if self.permutations is not None:
                self._position = np.take_along_axis(self._position, self.permutations, axis=0)
            self._epochs_done += 1
        position = self._position
        if self.steps_per_epoch == len(position):
            return position
        kept = self.train_mask[position]  # each unit keeps its training samples, in order
        return position.T[kept.T].reshape(self.n_units, self.steps_per_epoch).T

    def epoch(self, epoch: int, bucket_rows: int) -> tuple:
        # Epochs count from the fit's first (a continued fit starts the orders again, as
        # scikit-learn's SGD does at every call).
        order = self.orders(epoch - self.first_epoch + 1).astype(np.int32)
        loop = np.zeros((bucket_rows, self.n_units), dtype=np.int32)
        loop[: len(order) - 1] = order[:-1]
        return loop, np.int32(len(order) - 1), order[-1]

    @staticmethod
    def batch(data, rows, take):
        X, codes, weights = data
        own = ops.eye(rows.shape[0], dtype="bool")
        targets = take(codes, rows)
        return take(X, rows), ops.where(own, targets, ops.zeros_like(targets)), ops.diagonal(take(weights, rows))

    def first_batch(self) -> tuple:
        X, codes, weights = self.arrays
        return X[:1], codes[:1], weights[:1, 0]

    def dataset(self):
        """The schedule as an endless tf.data pipeline of steps."""
        tf = tensorflow()
        X, codes, unit_weight = self.arrays
        n_samples, n_units, n_train = len(X), self.n_units, self.steps_per_epoch
        X_t, codes_t, weight_t, train_t = (tf.constant(a) for a in (X, codes, unit_weight, self.train_mask))
        units = tf.range(n_units, dtype=tf.int64)
        grid = np.broadcast_to(np.arange(n_units), (n_samples, n_units))
        # (Written without transposes: TensorFlow logs an error for an integer transpose in
        # tf.data on CPUs whose oneDNN lacks it.)
        moves = None if self.permutations is None else tf.constant(np.stack([self.permutations, grid], axis=-1))

        def next_epoch(position, _):
            # position[:, k] is unit k's sample order; an epoch permutes it once more, and the
            # held-out samples stay in it, skipped.
            if moves is not None:
                position = tf.gather_nd(position, moves)
            if n_train == n_samples:
                return position, position
            kept = tf.where(tf.gather(train_t, position))  # (row, unit) pairs, row-major
            rank = tf.gather_nd(tf.cumsum(tf.cast(tf.gather(train_t, position), tf.int64), axis=0) - 1, kept)
            order = tf.scatter_nd(tf.stack([rank, kept[:, 1]], axis=1), tf.gather_nd(position, kept), (n_train, n_units))
            return position, order

        def steps(rows):  # a block of steps (rows: (steps, units)); per-step maps are slower
            pairs = tf.stack([rows, tf.broadcast_to(units, tf.shape(rows))], axis=-1)
            target = tf.linalg.diag(tf.gather_nd(codes_t, pairs))  # row k: unit k only
            return tf.gather(X_t, rows), target, tf.gather_nd(weight_t, pairs)

        start = tf.constant(self._start)
        orders = tf.data.Dataset.range(1).repeat().scan(start, next_epoch)
        data = orders.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(256).map(steps).unbatch())
        return with_feed_options(data).prefetch(2)


def _unit_losses(model: keras.Model) -> UnitLosses:
    for metric in model.metrics:
        for inner in getattr(metric, "metrics", [metric]):
            if isinstance(inner, UnitLosses):
                return inner
    raise RuntimeError("The perceptron's model was compiled without its UnitLosses metric.")


def _no_probabilities(estimator) -> bool:
    return False


class PerceptronBaseline(BookNetwork, KerasClassifier):
    """Rosenblatt's perceptron in Keras: the linear baseline next to the MLPs.

    One layer of threshold logic units: scores ``XW + b``, Heaviside step for prediction
    (score > 0), one unit per class for more than two classes (one-vs-rest; ``predict`` is
    the arg-max of the scores). Trained with the perceptron learning rule
    ``w <- w + eta0 (y - y_hat) x``, i.e. SGD with a constant learning rate on
    :func:`perceptron_loss`, one instance at a time, from all-zero weights,
    without regularisation, in the input's precision (float32 input in float32, anything else
    in float64), as scikit-learn's SGD.

    It learns exactly as ``sklearn.linear_model.Perceptron`` does, with the same parameters:
    for an int ``random_state`` the same sample order at every epoch (scikit-learn's
    shuffle), each one-vs-rest unit trained as its own binary problem with its own order and
    its own stop, the same stopping rule (the mean training loss, or with
    ``early_stopping`` the accuracy on the same held-out samples, has not improved by ``tol``
    for ``n_iter_no_change`` epochs; at most ``max_iter`` epochs), class and sample weights
    applied alike: the same weights, ``n_iter_`` and predictions. In each training step,
    row k of the batch is unit k's next sample and only unit k learns from it.

    Perceptrons output no probabilities: there is no ``predict_proba``
    (``hasattr(est, "predict_proba")`` is False); use ``decision_function``.

    Parameters
    ----------
    eta0 : float, default=1.0
        Learning rate of the perceptron rule.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stop when the epoch loss has not improved by ``tol`` for ``n_iter_no_change`` epochs
        (None: no such stop).
    n_iter_no_change : int, default=5
    fit_intercept : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified) and stop when the validation loss has
        not improved for ``n_iter_no_change`` epochs, keeping the best weights.
    validation_fraction : float, default=0.1
    shuffle : bool, default=True
    class_weight : dict, "balanced" or None, default=None
    callbacks : list of keras.callbacks.Callback, default=None
    log_dir : str, path-like or None, default=None
        Write TensorBoard logs (per-epoch loss and metrics, training and validation) under
        this folder: each new fit gets its own ``run_YYYY_MM_DD_HH_MM_SS`` folder (named in
        ``log_run_dir_``); ``warm_start`` and ``partial_fit`` continue the run. View with
        ``tensorboard --logdir <log_dir>``. Needs ``pip install "skann[tensorboard]"``.
    warm_start : bool, default=False
    random_state : int, RandomState or None, default=None
        Seeds the shuffling and the early-stopping hold-out (the weights start at zero). An
        int gives scikit-learn's order; a RandomState gives one seed drawn from a copy of it
        (the same every fit), so scikit-learn, which draws from the instance itself, differs.
    steps_per_execution : int or "auto", default="auto"
        Training steps run per call into TensorFlow. "auto" runs up to 256 (about twice as fast
        per epoch as Keras' default of 1 for one-sample steps, with identical learning) when the fit
        runs at least 1,000 steps, else 1 (multi-step execution costs ~0.7 s of extra
        graph tracing per fit); also 1 when a callback in ``callbacks`` acts on every batch.
        The value (given or "auto") is rounded down to a divisor of the epoch's steps, so that
        one data iterator serves the whole fit and no call runs across two epochs. With N > 1, Keras calls the batch hooks
        (``on_train_batch_end`` ...) once per N batches, with the logs of the last one; epoch
        hooks are unaffected.
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray
    model_ : keras.Model
        The Keras model (one ``Dense`` layer named ``tlu``).
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    history_ : dict
        Per-epoch ``loss`` (summed over the units) and ``mistakes`` (fraction of the
        training steps of the epoch, over units, on the wrong side of a unit's boundary).
    log_run_dir_ : str
        The TensorBoard run folder of the last new fit (only when ``log_dir`` is set).
    n_iter_ : int
        Epochs run by the last ``fit`` (the most of any unit), as scikit-learn counts.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skann import PerceptronBaseline
    >>> iris = load_iris(as_frame=True)
    >>> X = iris.data[["petal length (cm)", "petal width (cm)"]].values
    >>> y = iris.target == 0  # Iris setosa
    >>> per_clf = PerceptronBaseline(random_state=42).fit(X, y)  # the book's Perceptron call
    >>> per_clf.predict([[2, 0.5], [3, 1]])
    array([ True, False])
    >>> per_clf.score(X, y)
    1.0
    """

    _parameter_constraints = {
        "eta0": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        **{
            name: BOOK_CONSTRAINTS[name]
            for name in ("class_weight", "callbacks", "log_dir", "warm_start", "random_state", "steps_per_execution", "verbose")
        },
    }
    # One instance per step: many steps per call so that Python is not the bottleneck.
    _auto_steps_per_execution = 256
    # The schedule checks the live units' weights itself (stopped units are put back).
    _divergence_guard = False

    def __init__(
        self,
        eta0=1.0,
        max_iter=1000,
        tol=1e-3,
        n_iter_no_change=5,
        fit_intercept=True,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        class_weight=None,
        callbacks=None,
        log_dir=None,
        warm_start=False,
        random_state=None,
        steps_per_execution="auto",
        verbose=0,
        **kwargs,
    ):
        self.eta0 = eta0
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.fit_intercept = fit_intercept
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.class_weight = class_weight
        self.callbacks = callbacks
        self.log_dir = log_dir
        self.warm_start = warm_start
        self.random_state = random_state
        self.steps_per_execution = steps_per_execution
        self.verbose = verbose
        vars(self).update(kwargs)

    # The perceptron names its settings as scikit-learn's Perceptron does.
    def _epochs_parameter(self) -> str:
        return "max_iter"

    def _fit_args(self, X) -> dict:
        return {**super()._fit_args(X), "batch_size": 1}  # one instance (per unit) per step

    @property
    def patience(self) -> int:
        return self.n_iter_no_change

    def _compute_dtype(self) -> str:
        # As scikit-learn's SGD: float32 input is learned in float32, anything else in float64
        # where the backend computes in float64 (not JAX without x64: float32 there).
        if np.dtype(self.X_dtype_) == np.float32 or not float64_available():
            return "float32"
        return "float64"

    def _accumulator_dtype(self) -> str:
        # Losses are summed in float64 wherever the backend has it (JAX needs x64 for that).
        return "float64" if float64_available() else "float32"

    def encode_features(self, X):
        return X.astype(self._compute_dtype(), copy=False)

    def _network_dtype(self) -> np.dtype:
        return np.dtype(self._compute_dtype())

    def encode_targets(self, y: np.ndarray):
        # {-1, +1} per unit: one unit for two classes, one per class (one-vs-rest) otherwise.
        codes = super().encode_targets(y)
        if self.target_type_ == "multiclass":
            codes = np.eye(self.target_encoder_.output_units)[codes.astype(int).ravel()]
        return (2.0 * np.asarray(codes, dtype=np.float64) - 1.0).astype(self._compute_dtype())

    def build_network(self) -> keras.Model:
        return build_perceptron(
            self.n_features_in_, self.target_encoder_.output_units, fit_intercept=self.fit_intercept,
            dtype=self._compute_dtype(),
        )

    def _get_compile_kwargs(self) -> dict:
        return {
            "optimizer": make_optimizer("sgd", {"learning_rate": self.eta0}),
            # Summed over the rows of a step: each row is another unit's sample.
            "loss": PerceptronLoss(dtype=self._accumulator_dtype()),
            "metrics": [mistakes, UnitLosses(self.target_encoder_.output_units, dtype=self._accumulator_dtype())],
        }

    def _sample_weight(self, X, y, sample_weight):
        # Absolute weights, as scikit-learn's SGD takes them; class weights are applied per
        # unit with the sample order (_keras_fit_data).
        if sample_weight is None:
            return X, y, None
        sw = check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True, allow_all_zero_weights=True)
        _refuse_all_zero_weights(sw)
        return X, y, sw

    def split_fit_data(self, X, y, sample_weight, validation_data):
        # The early-stopping hold-out stays in the shuffled order, skipped (epoch_feed).
        return self._validation_split(X, y, sample_weight, validation_data)

    def early_stopping_callbacks(self, has_validation: bool) -> list:
        return []  # the stopping rule is part of the one-vs-rest schedule

    def epoch_feed(self, X, y, args: dict) -> engine.Feed:
        # scikit-learn's SGD, unit by unit: the same sample orders, class and sample weights,
        # hold-out and stopping rule (see _OneVsRestSGD).
        for name in ("batch_size", "shuffle"):
            args.pop(name, None)
        args["shuffle"] = False  # the schedule orders the samples
        n_samples, n_units = y.shape
        sample_weight = args.pop("sample_weight", None)
        sample_weight = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        labels = None  # class indices, for stratifying the hold-out and class weights
        if self.target_type_ in ("binary", "multiclass"):
            labels = (y[:, 0] > 0).astype(int) if n_units == 1 else y.argmax(axis=1)
        unit_weight = np.repeat(sample_weight[:, None], n_units, axis=1)
        if self.class_weight is not None:
            if labels is None:
                raise ValueError(f"class_weight needs a binary or multiclass target, not {self.target_type_}.")
            weights = compute_class_weight(self.class_weight, classes=self.classes_, y=self.classes_[labels])
            if n_units == 1:
                unit_weight[:, 0] *= weights[labels]
            else:  # one-vs-rest: the class weight goes to the unit's positive samples
                positive = labels[:, None] == np.arange(n_units)
                unit_weight *= np.where(positive, weights[None, :], 1.0)

        train_mask = np.ones(n_samples, dtype=bool)
        held_out = None
        if self.early_stopping:  # the hold-out is the stopping rule's, not Keras' validation
            validation = args.pop("validation_data", None)
            if validation is not None:
                X_val, y_val, *w_val = validation
                held_out = (X_val, y_val, w_val[0] if w_val else None)
            else:
                rows = self._hold_out(labels, n_samples)
                train_mask[rows] = False
                held_out = (X[rows], y[rows], sample_weight[rows])
        feed = OneVsRestSteps(
            X, y, unit_weight.astype(self._accumulator_dtype()), train_mask,
            sgd_shuffle_seeds(self._seed, n_units) if self.shuffle else None, first_epoch=args["initial_epoch"],
        )
        # First: before History and TensorBoard read the logs.
        args["callbacks"].insert(0, _OneVsRestSGD(
            feed.steps_per_epoch, n_units, held_out, tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            estimator=type(self).__name__, eta0=self.eta0,
        ))
        return feed

    def _keras_fit_data(self, X, y, args: dict, feed: engine.Feed) -> dict:
        # Keras' loop (PyTorch; per-batch callbacks, verbose): the schedule as a tf.data pipeline.
        n_train = feed.steps_per_epoch
        # One iterator for the whole fit: each execution of steps ends within an epoch.
        self._apply_steps_per_execution(
            self.model_, n_train * (args["epochs"] - args["initial_epoch"]), args["callbacks"], epoch_steps=n_train
        )
        args["steps_per_epoch"] = n_train
        validation = args.pop("validation_data", None)
        if validation is not None:  # Keras reports val_loss
            args["validation_data"], args["validation_steps"], _ = batch_dataset(
                validation, engine.VALIDATION_BATCH, self.model_.steps_per_execution
            )
        return {"x": feed.dataset()}

    def _hold_out(self, labels, n_samples: int) -> np.ndarray:
        """Rows held out for early stopping, chosen as scikit-learn's SGD chooses them."""
        from sklearn.model_selection import ShuffleSplit

        splitter = (StratifiedShuffleSplit if labels is not None else ShuffleSplit)(
            test_size=self.validation_fraction, random_state=self._seed
        )
        try:
            _, rows = next(splitter.split(np.zeros((n_samples, 1)), labels))
        except ValueError as error:
            raise ValueError(
                f"early_stopping cannot hold out validation_fraction={self.validation_fraction} of "
                f"{n_samples} samples ({error}). Use more samples, another validation_fraction, "
                "or validation_data."
            ) from error
        return rows

    def _fit_keras_model(self, X, y, sample_weight, validation, epochs, *, initial_epoch, new_model, **kwargs):
        before = 0 if new_model else self.current_epoch
        with float64_graphs_quietly():
            super()._fit_keras_model(
                X, y, sample_weight, validation, epochs, initial_epoch=initial_epoch, new_model=new_model, **kwargs
            )
        self.n_iter_ = self.current_epoch - before  # epochs of this call, as scikit-learn counts

    def _tlu_weights(self) -> tuple[np.ndarray, np.ndarray]:
        return tlu_weights(self.model_)

    def decision_function(self, X) -> np.ndarray:
        """Scores ``XW + b``: shape (n_samples,) for two classes, else (n_samples, n_classes)."""
        scores = self._predict_raw(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        """Heaviside step of the scores (two classes), else the class with the highest score."""
        scores = self._predict_raw(X)
        if self.target_type_ == "multilabel-indicator":
            return (scores > 0).astype(int)
        if scores.shape[1] == 1:
            return self.classes_[(scores.ravel() > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    @available_if(_no_probabilities)
    def predict_proba(self, X):  # pragma: no cover - never available
        raise AttributeError("A perceptron outputs no probabilities.")

    @property
    def coef_(self) -> np.ndarray:
        return self._tlu_weights()[0].T

    @property
    def intercept_(self) -> np.ndarray:
        return self._tlu_weights()[1]
