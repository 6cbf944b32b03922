"""Callbacks skann adds to fits, and what the training engine needs to know of callbacks.

:class:`DivergenceGuard` stops a fit at the end of the first epoch whose loss or weights are
not finite (skann's estimators add it first, so that no later callback sees or saves a
diverged network). :func:`needs_every_batch` tells whether a callback acts on every training
batch: such a fit runs one batch per call into the backend (no multi-step execution, no
fused epochs).
"""

from __future__ import annotations

import keras

__all__ = ["DivergenceGuard", "needs_every_batch", "overrides_hooks", "BATCH_HOOKS", "PREDICT_HOOKS"]

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


class DivergenceGuard(keras.callbacks.Callback):
    """Raise at the end of the first epoch whose loss or weights are not finite.

    Parameters
    ----------
    check : callable ``(epoch, logs) -> None``
        Raises the error to stop with (skann's estimators pass their own check, which raises
        :class:`skann.DivergenceError` naming the step size and the usual fixes). An epoch, not
        a batch: a batch hook would cost multi-step execution and fused epochs.
    """

    def __init__(self, check):
        super().__init__()
        self.check = check

    def on_epoch_end(self, epoch, logs=None):
        self.check(epoch, logs or {})
