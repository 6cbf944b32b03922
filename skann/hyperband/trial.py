"""One trial of a search, run on a worker: train a candidate on a fold up to its rung's
epochs (from scratch, or continuing from its state) and score it."""

from __future__ import annotations

import os
import pickle
import time
import traceback
from dataclasses import dataclass

from sklearn.base import clone

from skann._sklearn_compat import check_method_params, safe_split
from skann._sklearn_compat import score as score_on_test
from skann._steps import epochs_parameter, final_step, through_transformers
from skann.hyperband.live import EVICTED, LIVE, keep_live, network_bytes

__all__ = ["Task", "TrialContext", "train_and_score"]


@dataclass
class Task:
    candidate: int
    fold: int
    params: dict
    start: int  # epochs trained so far (0 for a new network)
    stop: int  # epochs to have trained after this task


@dataclass
class TrialContext:
    """What every trial of one search shares (sent to the workers with each trial)."""

    run_id: str
    base: object  # the estimator (or Pipeline), unfitted
    X: object
    y: object
    fit_params: dict
    score_params: dict
    scorer: object
    return_train_score: bool
    error_score: object
    log_dir: str | None
    keep_state: bool = True  # return the new state pickled (else kept live in this process)


def train_and_score(context: TrialContext, task: Task, state: bytes | None, train, test) -> tuple[dict, bytes | None]:
    """Train one candidate on one fold up to ``task.stop`` epochs and score it.

    Returns the result dict (scores, times, epochs trained) and the estimator's new state
    (pickled bytes; None when the fit failed, or without ``context.keep_state``: a search in
    one process without checkpoints continues from the live estimator, pickled only if it
    must leave this process's live cache).
    """
    c = context
    X_train, y_train = safe_split(c.base, c.X, c.y, train)
    X_test, y_test = safe_split(c.base, c.X, c.y, test, train)
    fit_params = check_method_params(c.X, params=c.fit_params, indices=train)
    score_params_test = check_method_params(c.X, params=c.score_params, indices=test)
    result = {"candidate": task.candidate, "fold": task.fold, "epochs": task.stop, "n_test_samples": len(test),
              "fit_error": None, "epochs_before": task.start}
    start_time = time.time()
    try:
        estimator, final = _trained(c, task, state, X_train, y_train, fit_params, result)
        result["epochs_trained"] = int(final.current_epoch)
    except Exception:
        if c.error_score == "raise":
            raise
        result["fit_time"] = time.time() - start_time
        result["score_time"] = 0.0
        names = c.scorer._scorers if hasattr(c.scorer, "_scorers") else None
        result["test_scores"] = {n: c.error_score for n in names} if names else c.error_score
        if c.return_train_score:
            result["train_scores"] = result["test_scores"]
        result["fit_error"] = traceback.format_exc()
        result["epochs_trained"] = task.start
        return result, None
    result["fit_time"] = time.time() - start_time
    start_time = time.time()
    result["test_scores"] = score_on_test(estimator, X_test, y_test, c.scorer, score_params_test, c.error_score)
    result["score_time"] = time.time() - start_time
    if c.return_train_score:
        score_params_train = check_method_params(c.X, params=c.score_params, indices=train)
        result["train_scores"] = score_on_test(estimator, X_train, y_train, c.scorer, score_params_train, c.error_score)
    key = (c.run_id, task.candidate, task.fold, task.stop)
    if not c.keep_state:
        keep_live(key, estimator, network_bytes(estimator), pickle_when_evicted=True)
        return result, None
    new_state = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    keep_live(key, estimator, len(new_state))
    return result, new_state


def _trained(c: TrialContext, task: Task, state, X_train, y_train, fit_params, result: dict):
    """``(estimator, its skann estimator)`` trained to ``task.stop`` epochs: a new one, or the
    candidate's own (live in this process, or from its state) trained further."""
    key = (c.run_id, task.candidate, task.fold, task.start)
    estimator = LIVE.pop(key, (None,))[0]
    state = EVICTED.pop(key, state)
    if estimator is None and state is not None:
        estimator = pickle.loads(state)
    if estimator is None and task.start > 0:
        raise RuntimeError(f"The state of candidate {task.candidate} (fold {task.fold}) at {task.start} epochs is missing.")
    if estimator is None:
        estimator = clone(c.base).set_params(**clone(task.params, safe=False))
        final, _ = final_step(estimator)
        settings = {epochs_parameter(final): task.stop}
        if c.log_dir is not None:
            settings["log_dir"] = os.path.join(c.log_dir, f"candidate_{task.candidate:04d}", f"fold_{task.fold}")
        final.set_params(**settings)
        estimator.fit(X_train, y_train, **fit_params)
        return estimator, final
    final, prefix = final_step(estimator)
    result["epochs_before"] = int(final.current_epoch)
    remaining = task.stop - final.current_epoch
    final.set_params(warm_start=True, **{epochs_parameter(final): max(1, remaining)})
    if prefix:  # fitted transformers stay as they are: only the network trains on
        final_params = {k[len(prefix):]: v for k, v in fit_params.items() if k.startswith(prefix)}
        final.fit(through_transformers(estimator, X_train), y_train, **final_params)
    else:
        estimator.fit(X_train, y_train, **fit_params)
    return estimator, final
