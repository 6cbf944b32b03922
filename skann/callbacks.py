"""Callbacks skann adds to fits, and what the training engine needs to know of callbacks.

:class:`DivergenceGuard` stops a fit at the end of the first epoch whose loss or weights are
not finite (skann's estimators add it first, so that no later callback sees or saves a
diverged network). :class:`HoldOutEarlyStopping` holds out part of the training data and stops
on it; :class:`HoldOutScoring` records scikit-learn scores of held-out data per epoch;
:class:`TensorBoardRun` logs each fit into a run folder of its own. :func:`needs_every_batch`
tells whether a callback acts on every training batch: such a fit runs one batch per call into
the backend (no multi-step execution, no fused epochs).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import time

import keras
import numpy as np

from skann._inference import weight_value  # zero-copy reads of the weights (checked every epoch)

__all__ = [
    "BATCH_HOOKS", "PREDICT_HOOKS", "DivergenceError", "DivergenceGuard", "HoldOutEarlyStopping", "HoldOutScoring",
    "TensorBoardRun", "divergence_error", "learning_rate_of", "needs_every_batch", "new_run_dir", "overrides_hooks",
]

BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
PREDICT_HOOKS = ("on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


def overrides_hooks(callback: keras.callbacks.Callback, hooks) -> bool:
    """Whether ``callback`` does something in any of ``hooks`` (Keras' base ones do nothing)."""
    for hook in hooks:
        method = getattr(callback, hook)  # LambdaCallback sets its hooks on the instance
        if getattr(method, "__func__", method) is not getattr(keras.callbacks.Callback, hook):
            return True
    return False


def needs_every_batch(callback: keras.callbacks.Callback) -> bool:
    """Whether a callback does something per training batch (not only per epoch)."""
    if isinstance(callback, keras.callbacks.ModelCheckpoint):
        return callback.save_freq != "epoch"
    if isinstance(callback, keras.callbacks.TensorBoard):
        return callback.update_freq != "epoch"
    return overrides_hooks(callback, BATCH_HOOKS)


class DivergenceError(ValueError):
    """Training diverged: the loss or the weights stopped being finite numbers. The estimator
    is left as it was before the fit."""


def divergence_error(estimator: str, epoch: int, what: str, step_size: tuple[str, str]) -> DivergenceError:
    """The error for a fit of ``estimator`` (a class name) that diverged at ``epoch`` (0-based,
    as Keras counts) because of ``what``; ``step_size`` is ``(name, value)`` of the setting
    that sets the size of a training step, which the message tells to lower."""
    name, value = step_size
    return DivergenceError(
        f"{estimator} diverged at epoch {epoch + 1}: {what} ({name}={value}). "
        "Scale the inputs (e.g. StandardScaler, or PixelScaler for images, in a Pipeline) or "
        f"lower {name}. The estimator is left as it was before this fit."
    )


def learning_rate_of(model: keras.Model) -> tuple[str, str]:
    """``("learning_rate", value)`` of a compiled model's optimizer (a schedule by its name)."""
    schedule = model.optimizer.learning_rate
    if isinstance(schedule, (keras.Variable, float, int)):
        return "learning_rate", f"{float(schedule):g}"
    return "learning_rate", type(schedule).__name__


class DivergenceGuard(keras.callbacks.Callback):
    """Raise :class:`DivergenceError` at the end of the first epoch whose loss (training or
    validation) or trainable weights are not finite.

    An epoch, not a batch: a batch hook would cost multi-step execution and fused epochs.
    skann's estimators put it before the user's callbacks, so that no later callback sees or
    saves a diverged network.

    Parameters
    ----------
    estimator : str, default="The network"
        Named in the error (skann's estimators give their class name).
    step_size : tuple of (str, str) or None, default=None
        ``(name, value)`` of the setting the error tells to lower; None: the optimizer's
        learning rate when it diverged.
    """

    def __init__(self, estimator: str = "The network", step_size: tuple[str, str] | None = None):
        super().__init__()
        self.estimator = estimator
        self.step_size = step_size

    def on_epoch_end(self, epoch, logs=None):
        self.check_losses(epoch, logs)
        if not all(np.isfinite(weight_value(v)).all() for v in self.model.trainable_variables):
            raise self._error(epoch, "the weights overflowed")

    def check_losses(self, epoch, logs=None) -> None:
        """The check of :meth:`on_epoch_end` on the losses alone (skann's engine checks the
        weights of epochs it runs several to a call in its program, and calls this when it
        shows them to the callbacks)."""
        logs = logs or {}
        losses = {k: logs[k] for k in ("loss", "val_loss") if k in logs}
        bad = [k for k, v in losses.items() if not np.isfinite(v)]
        if bad:
            raise self._error(epoch, f"the {bad[0].replace('_', ' ')} became {losses[bad[0]]}")

    def _error(self, epoch: int, what: str) -> DivergenceError:
        return divergence_error(self.estimator, epoch, what, self.step_size or learning_rate_of(self.model))


class HoldOutEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' early stopping on a hold-out of the training data, best weights restored.

    :meth:`split` holds out ``validation_fraction`` of the training rows (shuffled, seeded by
    ``random_state``, stratified for a classifier when every class can be); the estimator
    trains on the rest with the hold-out as validation data, and this callback stops the fit
    when ``monitor`` (``val_loss``) has not improved for ``patience`` epochs, then restores the
    weights of the best epoch. The book estimators' ``early_stopping=True`` is this callback.

    Parameters
    ----------
    validation_fraction : float in (0, 1), default=0.1
    patience : int, default=10
    random_state : int or None, default=None
        Seeds the hold-out.
    monitor : str, default="val_loss"
    **kwargs
        Keras' ``EarlyStopping`` arguments (``min_delta``, ``mode``, ``start_from_epoch`` ...).
    """

    def __init__(self, validation_fraction: float = 0.1, patience: int = 10, random_state=None, monitor: str = "val_loss", **kwargs):
        kwargs.setdefault("restore_best_weights", True)
        super().__init__(monitor=monitor, patience=patience, **kwargs)
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def split(self, X, y, sample_weight=None, *, classifier: bool = False) -> tuple:
        """``(X_train, y_train, sample_weight_train, validation)``, ``validation`` being
        ``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)``."""
        from sklearn.model_selection import train_test_split

        n_samples = X.shape[0] if hasattr(X, "shape") else len(X)  # (a sparse matrix has no len)
        n_val = int(np.ceil(self.validation_fraction * n_samples))
        if n_val < 1 or n_samples - n_val < 1:
            raise ValueError(
                f"early_stopping needs a validation set: validation_fraction="
                f"{self.validation_fraction} of {n_samples} samples leaves none for training or "
                "validation. Use more samples, another validation_fraction, or validation_data."
            )
        stratify = None
        if classifier and np.ndim(y) == 1:
            _, counts = np.unique(y, return_counts=True)
            if counts.min() >= 2 and n_val >= counts.size:
                stratify = y
        train, val = train_test_split(np.arange(n_samples), test_size=n_val, random_state=self.random_state, stratify=stratify)
        validation = (X[val], y[val]) if sample_weight is None else (X[val], y[val], sample_weight[val])
        return X[train], y[train], (None if sample_weight is None else sample_weight[train]), validation


class HoldOutScoring(keras.callbacks.Callback):
    """scikit-learn scores of an estimator on held-out data at the end of every epoch, added
    to the epoch's logs as ``val_<name>_score`` (so ``history_`` records them, and later
    callbacks such as early stopping or TensorBoard see them).

    Parameters
    ----------
    estimator : a fitted-in-progress skann estimator
        Scored through its public ``predict`` / ``predict_proba`` with the network's current
        weights.
    X, y : the held-out data, as the estimator takes it (before encoding)
    scoring : str, callable, or list of them
        scikit-learn scorer names (``"accuracy"``, ``"f1_macro"``, ``"neg_log_loss"`` ...) or
        callables ``scorer(estimator, X, y)`` (named by their ``__name__``).
    sample_weight : array-like or None
    """

    def __init__(self, estimator, X, y, scoring, sample_weight=None):
        super().__init__()
        from sklearn.metrics import get_scorer

        self.estimator, self.X, self.y, self.sample_weight = estimator, X, y, sample_weight
        self.scorers = {}
        for item in scoring if isinstance(scoring, (list, tuple)) else [scoring]:
            if isinstance(item, str):
                self.scorers[item] = get_scorer(item)  # an unknown name: scikit-learn's error, listing them
            elif callable(item):
                self.scorers[getattr(item, "__name__", type(item).__name__)] = item
            else:
                raise TypeError(f"validation_scoring takes scorer names or callables; got {item!r}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        kwargs = {} if self.sample_weight is None else {"sample_weight": self.sample_weight}
        for name, scorer in self.scorers.items():
            logs[f"val_{name}_score"] = float(scorer(self.estimator, self.X, self.y, **kwargs))


class TensorBoardRun(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback writing into a run folder of its own under ``log_dir``.

    Parameters
    ----------
    log_dir : str or path-like
        The folder TensorBoard is pointed at (``tensorboard --logdir log_dir``).
    run_dir : str or None, default=None
        The run's folder: None makes a new ``log_dir/run_YYYY_MM_DD_HH_MM_SS`` one
        (:func:`new_run_dir`); an existing run's folder continues that run (skann's
        ``warm_start`` and ``partial_fit`` pass it).
    **kwargs
        Keras' ``TensorBoard`` arguments (``update_freq="epoch"`` keeps fits in the fused loop).
    """

    def __init__(self, log_dir, run_dir: str | None = None, **kwargs):
        self.run_dir = run_dir if run_dir is not None else new_run_dir(log_dir)
        super().__init__(self.run_dir, **kwargs)


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
