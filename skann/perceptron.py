"""PerceptronBaseline: Rosenblatt's perceptron as a Keras model, the linear baseline."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import numbers

import keras
import numpy as np
from keras import ops
from sklearn.utils._param_validation import Interval
from sklearn.utils.metaestimators import available_if

from skann._book import BOOK_CONSTRAINTS, BookNetwork
from skann.builders import build_perceptron
from skann.wrappers import KerasClassifier

__all__ = ["PerceptronBaseline", "perceptron_loss"]


@keras.saving.register_keras_serializable(package="skann")
def perceptron_loss(y_true, y_pred):
    """Perceptron criterion summed over the units: ``max(0, -y s)`` with y in {-1, +1}.

    Its gradient is ``-y x`` for every unit whose score has the wrong sign *or is zero*
    (as in scikit-learn, so that learning starts from all-zero weights), and 0 otherwise:
    one SGD step with learning rate eta is Rosenblatt's rule ``w <- w + eta (y - y_hat) x``.
    """
    margin = y_true * y_pred
    return ops.sum(ops.where(margin <= 0, -margin, ops.zeros_like(margin)), axis=-1)


@keras.saving.register_keras_serializable(package="skann")
def mistakes(y_true, y_pred):
    """Fraction of samples with at least one unit on the wrong side (or on the boundary)."""
    wrong = ops.cast(y_true * y_pred <= 0, "float32")
    return ops.max(wrong, axis=-1)


class _StopWhenNoMistakes(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if logs and logs.get("mistakes", 1.0) == 0.0:
            self.model.stop_training = True


def _no_probabilities(estimator) -> bool:
    return False


class PerceptronBaseline(BookNetwork, KerasClassifier):
    """Rosenblatt's perceptron in Keras: the linear baseline next to the MLPs.

    One layer of threshold logic units: scores ``XW + b``, Heaviside step for prediction
    (score > 0), one unit per class for more than two classes (one-vs-rest; ``predict`` is
    the arg-max of the scores). Trained with the perceptron learning rule
    ``w <- w + eta0 (y - y_hat) x``, i.e. SGD with a constant learning rate on
    :func:`perceptron_loss`, one instance at a time, from all-zero weights, without
    regularisation. Training stops when an epoch makes no mistakes, after ``max_iter``
    epochs, or when the epoch loss has not improved by ``tol`` for ``n_iter_no_change``
    epochs: the same knobs as ``sklearn.linear_model.Perceptron``.

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
        Seeds the shuffling (the weights start at zero).
    steps_per_execution : int or "auto", default="auto"
        Training batches run per call into TensorFlow. "auto" runs 256 (about twice as fast
        per epoch as Keras' default of 1 for one-sample steps, with identical learning) when the fit
        runs at least 1,000 batches, else 1 (multi-step execution costs ~0.7 s of extra
        graph tracing per fit); also 1 when a callback in ``callbacks`` acts on every batch. With N > 1, Keras calls the batch hooks
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
        Per-epoch ``loss`` and ``mistakes`` (fraction of training samples misclassified
        while the epoch ran).
    log_run_dir_ : str
        The TensorBoard run folder of the last new fit (only when ``log_dir`` is set).
    n_iter_ : int
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
    >>> per_clf = PerceptronBaseline(shuffle=False).fit(X, y)  # same order as sklearn's
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
    def _default_epochs(self) -> int:
        return self.max_iter

    def _fit_args(self, X) -> dict:
        return {**super()._fit_args(X), "batch_size": 1}  # one instance per step

    @property
    def patience(self) -> int:
        return self.n_iter_no_change

    def _check_params(self) -> None:
        KerasClassifier._check_params(self)  # no hidden layers to check

    def _encode_targets(self, y: np.ndarray):
        # {-1, +1} per unit: one unit for two classes, one per class (one-vs-rest) otherwise.
        codes = super()._encode_targets(y)
        if self.target_type_ == "multiclass":
            codes = np.eye(self.target_encoder_.output_units, dtype=np.float32)[codes.astype(int).ravel()]
        return (2.0 * np.asarray(codes, dtype=np.float32) - 1.0)

    def _build_keras_model(self) -> keras.Model:
        return build_perceptron(self.n_features_in_, self.target_encoder_.output_units, fit_intercept=self.fit_intercept)

    def _get_compile_kwargs(self) -> dict:
        return {
            "optimizer": keras.optimizers.SGD(learning_rate=self.eta0),
            "loss": perceptron_loss,
            "metrics": [mistakes],
        }

    def _extra_callbacks(self, has_validation: bool) -> list:
        callbacks = super()._extra_callbacks(has_validation)
        callbacks.append(_StopWhenNoMistakes())
        if self.tol is not None and not self.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="loss", min_delta=self.tol, patience=self.n_iter_no_change
                )
            )
        return callbacks

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
        return np.asarray(self.model_.get_layer("tlu").kernel).T

    @property
    def intercept_(self) -> np.ndarray:
        layer = self.model_.get_layer("tlu")
        return np.asarray(layer.bias) if layer.use_bias else np.zeros(layer.units)
