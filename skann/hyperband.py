"""Hyperband over epochs inside scikit-learn: :class:`HyperbandSearchCV`.

Candidates are scheduled in Hyperband's brackets of successive halving with epochs as the
resource. A surviving candidate *continues* training from its own state (weights, optimizer
state, epoch count, the fitted transformers of a Pipeline) in every fold instead of being
retrained. The search runs in waves: the brackets are laid out so that they all end on the
last wave, and a wave's rungs (candidates x folds) run together on joblib workers, so the
workers stay busy and every wave ends at a synchronisation point where a checkpoint is
written, the sampler learns from the finished rungs and a lost worker costs only that wave.

The schedule and the samplers are deterministic given ``random_state`` and the results, so a
resumed search replays the finished trials from its checkpoint and ends exactly where an
uninterrupted one would.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import copy
import hashlib
import json
import math
import numbers
import os
import pickle
import time
import traceback
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from scipy.stats import rv_discrete
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_random_state, indexable

from skann import persistence
from skann.engine import state_bytes
from skann._sklearn_compat import (
    BaseSearchCV, HasMethods, Interval, StrOptions, check_method_params, insert_error_scores, safe_split,
    score as score_on_test, warn_or_raise_about_fit_failures,
)
from skann._steps import epochs_parameter, final_step, through_transformers
from skann.search import search_space

__all__ = ["HyperbandSearchCV", "hyperband_brackets"]


# ---------------------------------------------------------------------- the schedule
@dataclass(frozen=True)
class Rung:
    """One rung of a bracket: how many candidates train to how many epochs."""

    n_candidates: int
    epochs: int


def hyperband_brackets(max_epochs: int, factor: int = 3, min_epochs: int = 1) -> list[list[Rung]]:
    """Hyperband's brackets (Li et al., 2018), the most exploratory first.

    With ``s_max = floor(log_factor(max_epochs / min_epochs))``, bracket ``s`` (from ``s_max``
    down to 0) starts ``ceil((s_max + 1) / (s + 1) * factor**s)`` candidates at
    ``max_epochs / factor**s`` epochs and keeps the best ``1/factor`` at each of its ``s``
    further rungs, whose epochs grow by ``factor`` up to ``max_epochs``.

    Examples
    --------
    >>> [[(r.n_candidates, r.epochs) for r in b] for b in hyperband_brackets(9, factor=3)]
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    """
    s_max = int(math.floor(math.log(max_epochs / min_epochs, factor) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * factor**s)
        rungs, previous = [], 0
        for i in range(s + 1):
            epochs = max(min_epochs, round(max_epochs * factor ** (i - s)), previous + 1)
            rungs.append(Rung(max(1, math.floor(n * factor**-i)), min(epochs, max_epochs)))
            previous = rungs[-1].epochs
        brackets.append(rungs)
    return brackets


# ---------------------------------------------------------------------- samplers
def _draw(distributions, rng: np.random.RandomState) -> dict:
    """One candidate from a dict (or list of dicts) of scipy.stats distributions and lists."""
    if isinstance(distributions, (list, tuple)):
        distributions = distributions[rng.randint(len(distributions))]
    params = {}
    for name in sorted(distributions):
        dist = distributions[name]
        params[name] = dist.rvs(random_state=rng) if hasattr(dist, "rvs") else dist[rng.randint(len(dist))]
    return params


class _RandomSampler:
    """Candidates drawn independently (with replacement), as ``RandomizedSearchCV`` does for
    distributions."""

    def __init__(self, distributions, seed: int):
        self.distributions, self.rng = distributions, np.random.RandomState(seed)

    def sample(self, n: int) -> list[dict]:
        return [_draw(self.distributions, self.rng) for _ in range(n)]

    def report(self, candidate: int, epochs: int, score: float, finished: bool, pruned: bool) -> None:
        """Random sampling learns nothing from results."""


class _OptunaSampler:
    """Candidates from an Optuna sampler (TPE by default) through ask-and-tell.

    Every rung's score is reported as an intermediate value at its epoch; a candidate dropped
    from its bracket is told as pruned, one that finished its bracket as complete. Optuna's
    TPE ranks pruned trials by how far they got, then by their last score: what BOHB does.
    scipy.stats distributions are searched in their quantile space (``ppf`` of a uniform
    variable, so a log-uniform's quantile is linear in its log), lists by index.
    """

    def __init__(self, distributions, sampler, seed: int):
        try:
            import optuna
        except ImportError as exc:
            raise ImportError(
                "sampler='tpe' (or an Optuna sampler) needs Optuna: pip install 'skann[optuna]'."
            ) from exc
        if isinstance(distributions, (list, tuple)):
            raise ValueError("An Optuna sampler needs one dict of distributions, not a list of dicts.")
        # "tpe" is seeded by the search; a given sampler is copied, leaving the parameter as it was.
        sampler = optuna.samplers.TPESampler(seed=seed) if sampler == "tpe" else copy.deepcopy(sampler)
        self.optuna = optuna
        self.distributions = distributions
        self.space = {}
        for name, dist in distributions.items():
            if hasattr(dist, "ppf"):
                self.space[name] = optuna.distributions.FloatDistribution(0.0, 1.0)
            else:
                self.space[name] = optuna.distributions.CategoricalDistribution(list(range(len(dist))))
        with self._quiet():
            self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.trials: list = []

    def _quiet(self):
        """Optuna logs every trial at INFO; a search prints only what its verbose asks for."""
        import contextlib

        @contextlib.contextmanager
        def lowered():
            level = self.optuna.logging.get_verbosity()
            self.optuna.logging.set_verbosity(self.optuna.logging.WARNING)
            try:
                yield
            finally:
                self.optuna.logging.set_verbosity(level)

        return lowered()

    def _value(self, name: str, raw):
        dist = self.distributions[name]
        if hasattr(dist, "ppf"):
            value = dist.ppf(min(max(raw, 1e-12), 1 - 1e-12))
            value = value.item() if isinstance(value, np.generic) else value
            # A discrete distribution's quantile is a float holding an integer (randint's 2.0).
            return int(value) if isinstance(getattr(dist, "dist", None), rv_discrete) else value
        return dist[raw]

    def sample(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            with self._quiet():
                trial = self.study.ask(self.space)
            self.trials.append(trial)
            out.append({name: self._value(name, trial.params[name]) for name in sorted(self.space)})
        return out

    def report(self, candidate: int, epochs: int, score: float, finished: bool, pruned: bool) -> None:
        trial = self.trials[candidate]
        value = score if math.isfinite(score) else -1e300
        trial.report(value, step=epochs)
        with self._quiet():
            if pruned:
                self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
            elif finished:
                self.study.tell(trial, value)


def _make_sampler(sampler, distributions, seed: int):
    if sampler is None or sampler == "random":
        return _RandomSampler(distributions, seed)
    return _OptunaSampler(distributions, sampler, seed)


# ---------------------------------------------------------------------- one trial
# Live estimators kept in this process between rungs, so a candidate whose next rung runs in
# the same process continues without unpickling and retracing its network. Keyed by the
# search run, candidate, fold and epochs reached, with the size of their pickled state; the
# oldest go beyond _LIVE_MAX_BYTES. A miss only costs the load from the state.
_LIVE: OrderedDict = OrderedDict()
_LIVE_MAX_BYTES = 512 * 2**20


# States of live estimators pushed out of _LIVE in a search that keeps no states of its own
# (one process, no checkpoint): pickled only then, so that they can still continue.
_EVICTED: dict = {}


def _keep_live(key: tuple, estimator, n_bytes: int, *, pickle_when_evicted: bool = False) -> None:
    _LIVE[key] = (estimator, n_bytes, pickle_when_evicted)
    total = sum(entry[1] for entry in _LIVE.values())
    while total > _LIVE_MAX_BYTES and len(_LIVE) > 1:
        old_key, (old, n, keep) = _LIVE.popitem(last=False)
        if keep:
            _EVICTED[old_key] = pickle.dumps(old, protocol=pickle.HIGHEST_PROTOCOL)
        total -= n


def _forget_live(run_id: str, candidate: int | None = None) -> None:
    """Drop this process's live estimators of a run (of one candidate)."""
    for store in (_LIVE, _EVICTED):
        for key in [k for k in store if k[0] == run_id and (candidate is None or k[1] == candidate)]:
            del store[key]


def _network_bytes(estimator) -> int:
    """The size of a fitted estimator's network state (weights and optimizer slots)."""
    model = getattr(final_step(estimator)[0], "model_", None)
    return 0 if model is None else state_bytes(model)


def _runs_in_this_process(n_jobs) -> bool:
    """Whether joblib runs ``n_jobs`` tasks one after another in this process (not on Dask,
    whose workers run even one job elsewhere)."""
    backend, _ = joblib.parallel.get_active_backend()
    return joblib.effective_n_jobs(n_jobs) == 1 and "Dask" not in type(backend).__name__


@dataclass
class _Task:
    candidate: int
    fold: int
    params: dict
    start: int  # epochs trained so far (0 for a new network)
    stop: int  # epochs to have trained after this task


def _train_and_score(run_id, task: _Task, state, base, X, y, train, test, fit_params, score_params, scorer,
                     return_train_score, error_score, log_dir, keep_state=True):
    """Train one candidate on one fold up to ``task.stop`` epochs and score it.

    Returns the result dict (scores, times, epochs trained) and the estimator's new state
    (pickled bytes; None when the fit failed, or without ``keep_state``: a search in one
    process without checkpoints continues from the live estimator, pickled only if it must
    leave this process's live cache).
    """
    X_train, y_train = safe_split(base, X, y, train)
    X_test, y_test = safe_split(base, X, y, test, train)
    fit_params = check_method_params(X, params=fit_params, indices=train)
    score_params_test = check_method_params(X, params=score_params, indices=test)
    result = {"candidate": task.candidate, "fold": task.fold, "epochs": task.stop, "n_test_samples": len(test),
              "fit_error": None, "epochs_before": task.start}
    start_time = time.time()
    try:
        key = (run_id, task.candidate, task.fold, task.start)
        estimator = _LIVE.pop(key, (None,))[0]
        state = _EVICTED.pop(key, state)
        if estimator is None and state is not None:
            estimator = pickle.loads(state)
        if estimator is None and task.start > 0:
            raise RuntimeError(
                f"The state of candidate {task.candidate} (fold {task.fold}) at {task.start} epochs is missing."
            )
        if estimator is None:
            estimator = clone(base).set_params(**clone(task.params, safe=False))
            final, prefix = final_step(estimator)
            settings = {epochs_parameter(final): task.stop}
            if log_dir is not None:
                settings["log_dir"] = os.path.join(log_dir, f"candidate_{task.candidate:04d}", f"fold_{task.fold}")
            final.set_params(**settings)
            estimator.fit(X_train, y_train, **fit_params)
        else:
            final, prefix = final_step(estimator)
            result["epochs_before"] = int(final.current_epoch)
            remaining = task.stop - final.current_epoch
            final.set_params(warm_start=True, **{epochs_parameter(final): max(1, remaining)})
            if prefix:  # fitted transformers stay as they are: only the network trains on
                final_params = {k[len(prefix):]: v for k, v in fit_params.items() if k.startswith(prefix)}
                final.fit(through_transformers(estimator, X_train), y_train, **final_params)
            else:
                estimator.fit(X_train, y_train, **fit_params)
        result["epochs_trained"] = int(final.current_epoch)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_time"] = time.time() - start_time
        result["score_time"] = 0.0
        names = scorer._scorers if hasattr(scorer, "_scorers") else None
        result["test_scores"] = {n: error_score for n in names} if names else error_score
        if return_train_score:
            result["train_scores"] = result["test_scores"]
        result["fit_error"] = traceback.format_exc()
        result["epochs_trained"] = task.start
        return result, None
    result["fit_time"] = time.time() - start_time
    start_time = time.time()
    result["test_scores"] = score_on_test(estimator, X_test, y_test, scorer, score_params_test, error_score)
    result["score_time"] = time.time() - start_time
    if return_train_score:
        score_params_train = check_method_params(X, params=score_params, indices=train)
        result["train_scores"] = score_on_test(estimator, X_train, y_train, scorer, score_params_train, error_score)
    key = (run_id, task.candidate, task.fold, task.stop)
    if not keep_state:
        _keep_live(key, estimator, _network_bytes(estimator), pickle_when_evicted=True)
        return result, None
    new_state = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    _keep_live(key, estimator, len(new_state))
    return result, new_state


# ---------------------------------------------------------------------- states and checkpoints
class _States:
    """Where the trials' results and the live candidates' states are kept.

    In memory by default; with a folder, on disk as well, so that an interrupted search can
    resume: ``search.json`` (what search this is), ``results.jsonl`` (one line per finished
    trial, appended as they come) and ``states/`` (the latest state of each live candidate and
    fold; a pruned candidate's are deleted at once).
    """

    def __init__(self, folder: str | None):
        self.folder = folder
        self.results: dict[tuple[int, int, int], dict] = {}
        self.memory: dict[tuple[int, int], tuple[int, bytes]] = {}
        if folder is not None:
            os.makedirs(os.path.join(folder, "states"), exist_ok=True)

    def open(self, fingerprint: str, seed: int) -> int:
        """Check the folder holds this search (or nothing); load its results; return its seed."""
        header = os.path.join(self.folder, "search.json")
        if os.path.exists(header):
            with open(header) as f:
                saved = json.load(f)
            if saved.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"checkpoint_dir {self.folder!r} holds a different search (other parameters or data). "
                    "Use a new folder, or delete this one to start over."
                )
            seed = saved["seed"]
            self._load_results()
        else:
            _write_atomically(header, json.dumps({"fingerprint": fingerprint, "seed": seed}).encode())
        return seed

    def _load_results(self) -> None:
        path = os.path.join(self.folder, "results.jsonl")
        if not os.path.exists(path):
            return
        with open(path) as f:
            for line in f:
                try:
                    result = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                self.results[(result["candidate"], result["fold"], result["epochs"])] = result

    def _state_path(self, candidate: int, fold: int, epochs: int) -> str:
        return os.path.join(self.folder, "states", f"c{candidate}_f{fold}_e{epochs}.pkl")

    def state(self, candidate: int, fold: int, epochs: int) -> bytes | None:
        if epochs == 0:
            return None
        kept = self.memory.get((candidate, fold))
        if kept is not None and kept[0] == epochs:
            return kept[1]
        if self.folder is not None and os.path.exists(path := self._state_path(candidate, fold, epochs)):
            with open(path, "rb") as f:
                return f.read()
        raise RuntimeError(f"The state of candidate {candidate} (fold {fold}) at {epochs} epochs is missing.")

    def record(self, result: dict, state: bytes | None, previous_epochs: int) -> None:
        """Keep a finished trial: its state first, then its result line, then drop the old state
        (a kill between any two steps leaves a consistent folder)."""
        candidate, fold, epochs = result["candidate"], result["fold"], result["epochs"]
        if state is not None:
            self.memory[(candidate, fold)] = (epochs, state)
        if self.folder is not None:
            if state is not None:
                _write_atomically(self._state_path(candidate, fold, epochs), state)
            with open(os.path.join(self.folder, "results.jsonl"), "a") as f:
                f.write(json.dumps(result) + "\n")
                f.flush()
                os.fsync(f.fileno())
            old = self._state_path(candidate, fold, previous_epochs)
            if state is not None and previous_epochs and os.path.exists(old):
                os.remove(old)
        self.results[(candidate, fold, epochs)] = result

    def drop(self, candidate: int) -> None:
        """Forget a candidate's states (pruned, or its bracket is over)."""
        for key in [k for k in self.memory if k[0] == candidate]:
            del self.memory[key]
        if self.folder is not None:
            prefix = f"c{candidate}_"
            for name in os.listdir(os.path.join(self.folder, "states")):
                if name.startswith(prefix):
                    os.remove(os.path.join(self.folder, "states", name))


def _write_atomically(path: str, data: bytes) -> None:
    """skann.save's atomic write (a killed writer's part file is removed by the next write to
    the same path), with the data on disk before the rename."""

    def write(handle) -> None:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())

    persistence._write_atomically(Path(path), write)


def _lost_worker_errors() -> tuple:
    """Exceptions meaning a worker process died (Dask or loky), not that a fit failed."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError
    import concurrent.futures

    errors = [TerminatedWorkerError, concurrent.futures.CancelledError]
    try:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        errors += [FutureCancelledError, KilledWorker]
    except ImportError:
        pass
    return tuple(errors)


# ---------------------------------------------------------------------- the search
class HyperbandSearchCV(BaseSearchCV):
    """Hyperband over epochs with continued training, cross-validation and checkpoints.

    Hyperband (Li et al., 2018) runs several brackets of successive halving: each bracket
    starts many candidates for a few epochs and lets the best ``1/factor`` continue,
    ``factor`` times longer, up to ``max_epochs``; the brackets trade exploration (many
    candidates, short first rung) against trusting short runs less (few candidates, long
    first rung). A surviving candidate continues training from its own state in every fold
    (weights, optimizer state, epoch count, and the fitted transformers when the estimator is
    a Pipeline), so a candidate that reaches ``max_epochs`` has trained ``max_epochs`` epochs
    per fold in all, not the sum of its rungs.

    A candidate's rung score is the mean over its folds (of the ``refit`` metric when several
    are given); all folds of a candidate advance together. ``best_params_`` is the best among
    the candidates that trained ``max_epochs`` epochs; the refit trains it from scratch on all
    of ``X``.

    Parameters
    ----------
    estimator : skann estimator or Pipeline ending in one
        The search sets its epochs (``epochs``; ``max_iter`` for the perceptron) and, to
        continue a candidate, ``warm_start``. Give it a ``random_state`` for reproducible
        (and exactly resumable) searches. With early stopping on, a rung may end before its
        epochs; the next rung trains on up to its own epoch count.
    param_distributions : dict or list of dicts, default=None
        scipy.stats distributions (anything with ``rvs``) and lists, as for
        ``RandomizedSearchCV``; by default :func:`skann.search.search_space` of the estimator.
        The epochs parameter is the resource and may not be searched.
    max_epochs : int, default=81
        Epochs of a candidate that survives its bracket.
    factor : int, default=3
        Each rung keeps the best ``1/factor`` and trains them ``factor`` times longer.
    min_epochs : int, default=1
        Epochs of the first rung of the most exploratory bracket.
    hyperband_iterations : int, default=1
        How many times to run the whole set of brackets (more candidates, same schedule).
    n_brackets : int, default=None
        Run only the first (most exploratory) ``n_brackets`` brackets; 1 gives one run of
        successive halving. By default all of them.
    sampler : "random", "tpe" or optuna.samplers.BaseSampler, default="random"
        How candidates are drawn. "random" needs nothing more; "tpe" (Optuna's TPE sampler,
        seeded by ``random_state``) or any Optuna sampler learns from every finished rung,
        so later brackets draw from what worked (BOHB-like); needs ``pip install
        'skann[optuna]'``.
    scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, return_train_score
        As for ``RandomizedSearchCV``. A multi-metric ``scoring`` needs ``refit`` to name the
        metric the rungs are ranked by. Workers follow joblib's backend:
        ``joblib.parallel_config(backend="dask")`` runs the trials on a Dask cluster.
    random_state : int, RandomState or None, default=None
        Seeds the sampler.
    checkpoint_dir : str or path, default=None
        Keep the search's results and the live candidates' states in this folder, so that a
        search interrupted (Ctrl-C, a killed process) resumes where it stopped when ``fit``
        is called again with the same folder, search and data, and ends with the same result.
        The states are pickles: use a folder only you write to.
    log_dir : str or path, default=None
        TensorBoard logs: every trial's curves under ``candidate_NNNN/fold_K/run_...`` and an
        HParams summary (each candidate's parameters, its last score and epochs), shown in
        TensorBoard's HPARAMS tab. Needs ``pip install 'skann[tensorboard]'``.
    max_retries : int, default=2
        Reruns of a wave after lost workers (a Dask worker or a loky process that died);
        only the wave's unfinished trials run again.

    Attributes
    ----------
    cv_results_ : dict of ndarrays
        One row per candidate and rung (as ``HalvingRandomSearchCV``): the columns of
        ``RandomizedSearchCV`` plus ``candidate``, ``bracket``, ``rung``, ``n_epochs`` (the
        rung's epochs, also in ``params``) and ``epochs_trained`` (mean over folds; lower
        only when early stopping ended the rung early).
    best_estimator_, best_score_, best_params_, best_index_, scorer_, refit_time_, multimetric_, n_splits_
        As for ``RandomizedSearchCV``; the best is chosen among rows with ``max_epochs``.
    brackets_ : list of list of Rung
        The schedule (per Hyperband iteration).
    n_candidates_ : int
        Candidates drawn.
    total_epochs_ : int
        Epochs trained by the search, over all candidates and folds (the refit not counted).
    rungs_ : list of dict
        One entry per finished rung, in order: ``bracket``, ``rung``, ``n_epochs``,
        ``n_candidates``, ``best_score`` (of the rung), ``elapsed`` (seconds since the search
        started; replayed rungs of a resumed search count as 0) and ``total_epochs`` so far.
    seed_ : int
        The seed the sampler used (drawn when ``random_state`` is None; kept in the
        checkpoint).

    Examples
    --------
    >>> from skann import HousingMLPRegressor
    >>> from skann.search import HyperbandSearchCV
    >>> search = HyperbandSearchCV(HousingMLPRegressor(early_stopping=False), max_epochs=9)
    >>> [[(r.n_candidates, r.epochs) for r in b] for b in search.schedule()]
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_distributions": [dict, list, None],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "factor": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "hyperband_iterations": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_brackets": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "sampler": [StrOptions({"random", "tpe"}), None, HasMethods(["sample_independent"])],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "log_dir": [str, os.PathLike, None],
        "max_retries": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        estimator,
        param_distributions=None,
        *,
        max_epochs=81,
        factor=3,
        min_epochs=1,
        hyperband_iterations=1,
        n_brackets=None,
        sampler="random",
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        checkpoint_dir=None,
        log_dir=None,
        max_retries=2,
    ):
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_distributions = param_distributions
        self.max_epochs = max_epochs
        self.factor = factor
        self.min_epochs = min_epochs
        self.hyperband_iterations = hyperband_iterations
        self.n_brackets = n_brackets
        self.sampler = sampler
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.log_dir = log_dir
        self.max_retries = max_retries

    def schedule(self) -> list[list[Rung]]:
        """The brackets one Hyperband iteration runs (each a list of :class:`Rung`)."""
        if self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) must not exceed max_epochs ({self.max_epochs}).")
        brackets = hyperband_brackets(self.max_epochs, self.factor, self.min_epochs)
        return brackets[: self.n_brackets] if self.n_brackets else brackets

    def _distributions(self, epochs_name: str):
        distributions = search_space(self.estimator) if self.param_distributions is None else self.param_distributions
        for dists in distributions if isinstance(distributions, (list, tuple)) else [distributions]:
            if epochs_name in dists:
                raise ValueError(
                    f"{epochs_name!r} is the resource HyperbandSearchCV schedules; remove it from "
                    "param_distributions (max_epochs sets the most a candidate trains)."
                )
            for name, dist in dists.items():
                if not hasattr(dist, "rvs") and not (isinstance(dist, (list, tuple)) and len(dist)):
                    raise TypeError(
                        f"param_distributions[{name!r}] must be a scipy.stats distribution or a "
                        f"non-empty list; got {dist!r}."
                    )
        return distributions

    @staticmethod
    def _select_best_index(refit, refit_metric, results):
        """The best among the candidates that trained the full ``max_epochs``."""
        if callable(refit):
            return BaseSearchCV._select_best_index(refit, refit_metric, results)
        full = results["n_epochs"] == results["n_epochs"].max()
        ranks = np.where(full, results[f"rank_test_{refit_metric}"].astype(float), np.inf)
        return int(np.argmin(ranks))

    def _run_search(self, evaluate_candidates):  # pragma: no cover - fit schedules itself
        raise NotImplementedError("HyperbandSearchCV.fit schedules its own trials.")

    def fit(self, X, y=None, **params):
        """Run the search: Hyperband's brackets over epochs, then refit the best.

        Parameters
        ----------
        X, y : training data
        **params
            Passed to the estimator's ``fit`` (sample-aligned ones split with the folds), the
            scorer and the CV splitter, as for ``RandomizedSearchCV``.

        Returns
        -------
        self
        """
        self._validate_params()
        base = clone(self.estimator)
        epochs_name = epochs_parameter(base)  # also checks it is a skann estimator (or Pipeline ending in one)
        if isinstance(self.scoring, (list, tuple, dict)) and not isinstance(self.refit, str):
            raise ValueError(
                "With several metrics, HyperbandSearchCV ranks each rung by one of them: set refit to "
                f"its name (for example refit={next(iter(self.scoring))!r}); got refit={self.refit!r}."
            )
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = check_method_params(X, params=params)
        routed = self._get_routed_params_for_fit(params)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, **routed.splitter.split))
        self.n_splits_ = len(splits)
        distributions = self._distributions(epochs_name)
        brackets = self.schedule()
        self.brackets_ = brackets

        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        states = _States(None if self.checkpoint_dir is None else os.fspath(self.checkpoint_dir))
        if self.checkpoint_dir is not None:  # hashing the data is only needed to resume
            seed = states.open(self._fingerprint(X, y, splits), seed)
        self.seed_ = seed
        sampler = _make_sampler(self.sampler, distributions, seed)
        log_dir = None if self.log_dir is None else os.fspath(self.log_dir)
        run = _Run(self, base, X, y, splits, routed, scorers, refit_metric, states, sampler, epochs_name, log_dir)
        try:
            run.all()
        finally:
            _forget_live(run.run_id)

        results = self._format_results(run.candidate_params, self.n_splits_, run.out, run.more_results)
        first = run.out[0]["test_scores"]
        self.multimetric_ = isinstance(first, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first)
            refit_metric = self.refit
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(base).set_params(**clone(self.best_params_, safe=False))
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **routed.estimator.fit)
            else:
                self.best_estimator_.fit(X, **routed.estimator.fit)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers._scorers if hasattr(scorers, "_scorers") else scorers
        self.cv_results_ = results
        self.n_candidates_ = run.n_candidates
        self.total_epochs_ = run.total_epochs
        self.rungs_ = run.rungs
        return self

    def _fingerprint(self, X, y, splits) -> str:
        """What makes two searches the same for resuming: parameters (but not how they run),
        data and folds."""
        ignore = {"n_jobs", "verbose", "pre_dispatch", "checkpoint_dir", "log_dir", "max_retries"}
        settings = {k: v for k, v in self.get_params(deep=False).items() if k not in ignore}
        digest = joblib.hash((_stable_description(settings), X, y, splits))
        return hashlib.sha256(digest.encode()).hexdigest()


def _stable_description(value):
    """A description of a parameter that is the same in every process: no memory addresses
    (an object's default repr), no global random state (a scipy distribution's pickle)."""
    if isinstance(value, dict):
        return {str(k): _stable_description(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_stable_description(v) for v in value]
    if hasattr(value, "get_params") and not isinstance(value, type):
        return [type(value).__qualname__, _stable_description(value.get_params(deep=False))]
    if hasattr(value, "dist") and hasattr(value, "args"):  # a frozen scipy.stats distribution
        return ["scipy", value.dist.name, _stable_description(list(value.args)), _stable_description(value.kwds)]
    if isinstance(value, (str, bytes, bool, int, float, type(None), np.generic, np.ndarray)):
        return value
    if callable(value):
        return getattr(value, "__module__", ""), getattr(value, "__qualname__", type(value).__qualname__)
    text = repr(value)
    return type(value).__qualname__ if " at 0x" in text else text


@dataclass
class _Bracket:
    index: int
    rungs: list[Rung]
    first_wave: int
    live: list[int] = field(default_factory=list)  # candidate ids, best first after a rung


class _Run:
    """One fit of a HyperbandSearchCV: the waves, their trials and the bookkeeping."""

    def __init__(self, search, base, X, y, splits, routed, scorers, refit_metric, states, sampler, epochs_name, log_dir):
        self.search, self.base, self.X, self.y, self.splits = search, base, X, y, splits
        self.routed, self.scorers, self.refit_metric = routed, scorers, refit_metric
        self.states, self.sampler, self.epochs_name, self.log_dir = states, sampler, epochs_name, log_dir
        self.run_id = uuid.uuid4().hex
        self.params: list[dict] = []  # per candidate
        self.candidate_params, self.out = [], []
        self.more_results = {k: [] for k in ("candidate", "bracket", "rung", "n_epochs", "epochs_trained")}
        self.total_epochs = 0
        self.rungs: list[dict] = []
        self.start = time.time()
        if log_dir is None:
            self.hparams = None
        else:
            spaces = sampler.distributions if isinstance(sampler.distributions, (list, tuple)) else [sampler.distributions]
            self.hparams = _HParamsLog(log_dir, sorted({name for space in spaces for name in space}), refit_metric)

    @property
    def n_candidates(self) -> int:
        return len(self.params)

    def all(self) -> None:
        n_waves = len(self.search.brackets_[0])
        for iteration in range(self.search.hyperband_iterations):
            brackets = [
                _Bracket(iteration * len(self.search.brackets_) + b, rungs, n_waves - len(rungs))
                for b, rungs in enumerate(self.search.brackets_)
            ]
            for wave in range(n_waves):
                active = [b for b in brackets if b.first_wave <= wave]
                for bracket in active:
                    if wave == bracket.first_wave:
                        new = self.sampler.sample(bracket.rungs[0].n_candidates)
                        bracket.live = list(range(len(self.params), len(self.params) + len(new)))
                        self.params.extend(new)
                self._run_wave([(b, wave - b.first_wave) for b in active])

    def _previous_epochs(self, bracket: _Bracket, rung: int) -> int:
        return 0 if rung == 0 else bracket.rungs[rung - 1].epochs

    def _run_wave(self, work: list[tuple[_Bracket, int]]) -> None:
        tasks = [
            _Task(c, f, self.params[c], self._previous_epochs(b, r), b.rungs[r].epochs)
            for b, r in work
            for c in b.live
            for f in range(len(self.splits))
        ]
        search = self.search
        if search.verbose:
            shapes = ", ".join(f"bracket {b.index} rung {r}: {len(b.live)} x {_epochs(b.rungs[r].epochs)}" for b, r in work)
            print(f"[HyperbandSearchCV] {len(tasks)} trainings ({shapes})", flush=True)
        todo = [t for t in tasks if (t.candidate, t.fold, t.stop) not in self.states.results]
        for attempt in range(search.max_retries + 1):
            try:
                self._run_tasks(todo)
                break
            except _lost_worker_errors() as exc:
                todo = [t for t in todo if (t.candidate, t.fold, t.stop) not in self.states.results]
                if attempt == search.max_retries:
                    raise RuntimeError(
                        f"Workers were lost {attempt + 1} times in one wave (last: {type(exc).__name__}: {exc}); "
                        f"{len(todo)} trials unfinished. With checkpoint_dir, fit again to resume."
                    ) from exc
                warnings.warn(
                    f"A worker was lost ({type(exc).__name__}); running the wave's {len(todo)} unfinished "
                    "trials again.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                _wait_for_dask_workers()
        results = [self.states.results[(t.candidate, t.fold, t.stop)] for t in tasks]
        warn_or_raise_about_fit_failures(results, search.error_score)
        if callable(search.scoring):
            insert_error_scores(results, search.error_score)
        by_candidate: dict[int, list[dict]] = {}
        for result in results:
            by_candidate.setdefault(result["candidate"], []).append(result)
            self.total_epochs += result["epochs_trained"] - result["epochs_before"]
        for bracket, rung in work:
            self._finish_rung(bracket, rung, by_candidate)

    def _run_tasks(self, todo: list[_Task]) -> None:
        if not todo:
            return
        search = self.search
        fit_params = self.routed.estimator.fit
        score_params = self.routed.scorer.score
        parallel = joblib.Parallel(n_jobs=search.n_jobs, pre_dispatch=search.pre_dispatch, return_as="generator_unordered")
        # States travel as pickles only where another process may continue a candidate, or a
        # checkpoint keeps them; one process continues from its live estimators.
        keep_state = self.states.folder is not None or not _runs_in_this_process(search.n_jobs)
        calls = (
            joblib.delayed(_train_and_score)(
                self.run_id, t, self.states.state(t.candidate, t.fold, t.start) if keep_state else None, self.base,
                self.X, self.y, self.splits[t.fold][0], self.splits[t.fold][1], fit_params, score_params,
                self.scorers, search.return_train_score, search.error_score, self.log_dir, keep_state,
            )
            for t in todo
        )
        for result, state in parallel(calls):
            self.states.record(result, state, result["epochs_before"])

    def _finish_rung(self, bracket: _Bracket, rung: int, by_candidate: dict[int, list[dict]]) -> None:
        epochs = bracket.rungs[rung].epochs
        last = rung == len(bracket.rungs) - 1
        scores, failed = {}, set()
        for c in bracket.live:
            folds = sorted(by_candidate[c], key=lambda r: r["fold"])
            self.candidate_params.append({**self.params[c], self.epochs_name: epochs})
            self.out.extend(folds)
            for key, value in (("candidate", c), ("bracket", bracket.index), ("rung", rung), ("n_epochs", epochs)):
                self.more_results[key].append(value)
            self.more_results["epochs_trained"].append(float(np.mean([r["epochs_trained"] for r in folds])))
            scores[c] = _rank_score(folds, self.refit_metric)
            if any(r["fit_error"] is not None for r in folds):
                failed.add(c)
        # Best first; failed (NaN) last; ties by candidate id, so the order is reproducible.
        # A candidate whose fit failed in any fold has no state to continue from: never kept.
        ranked = sorted(bracket.live, key=lambda c: (-scores[c] if math.isfinite(scores[c]) else math.inf, c))
        keep = set([c for c in ranked if c not in failed][: bracket.rungs[rung + 1].n_candidates]) if not last else set()
        for c in ranked:
            pruned = not last and c not in keep
            self.sampler.report(c, epochs, scores[c], finished=last, pruned=pruned)
            if pruned or last:
                self.states.drop(c)
                _forget_live(self.run_id, c)  # when its trainings ran in this process
                if self.hparams is not None:
                    self.hparams.write(c, self.params[c], scores[c], epochs)
        bracket.live = [c for c in ranked if c in keep]
        finite = [s for s in scores.values() if math.isfinite(s)]
        self.rungs.append({
            "bracket": bracket.index, "rung": rung, "n_epochs": epochs, "n_candidates": len(scores),
            "best_score": max(finite) if finite else float("nan"),
            "elapsed": time.time() - self.start, "total_epochs": self.total_epochs,
        })
        if self.search.verbose:
            print(f"[HyperbandSearchCV] bracket {bracket.index} rung {rung} ({_epochs(epochs)}): best score "
                  f"{self.rungs[-1]['best_score']:.4g}, {len(bracket.live)} continue "
                  f"({self.rungs[-1]['elapsed']:.0f} s)", flush=True)


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _rank_score(folds: list[dict], metric: str) -> float:
    """A candidate's rung score: the mean of its folds' test scores (of the ranking metric)."""
    values = [r["test_scores"][metric] if isinstance(r["test_scores"], dict) else r["test_scores"] for r in folds]
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if np.isfinite(values).all() else float("nan")


def _wait_for_dask_workers(timeout: float = 120.0) -> None:
    """After a lost Dask worker, give the nanny time to bring it back before the rerun."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        pass


class _HParamsLog:
    """TensorBoard's HParams summary: one run per candidate, with its parameters and score."""

    def __init__(self, log_dir: str, names: list[str], metric: str):
        try:
            from skann._backend import tensorflow

            tf = tensorflow()
            from tensorboard.plugins.hparams import api as hp
        except ImportError as exc:
            raise ImportError("log_dir needs TensorBoard: pip install 'skann[tensorboard]'.") from exc
        self.tf, self.hp, self.log_dir, self.metric = tf, hp, log_dir, metric
        with tf.summary.create_file_writer(log_dir).as_default():
            hp.hparams_config(hparams=[hp.HParam(name) for name in names], metrics=[hp.Metric(f"hparams/{metric}", display_name=metric),
                                       hp.Metric("hparams/epochs", display_name="epochs")])

    def write(self, candidate: int, params: dict, score: float, epochs: int) -> None:
        values = {}
        for name, value in params.items():
            if isinstance(value, np.generic):
                value = value.item()
            values[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
        run = os.path.join(self.log_dir, f"candidate_{candidate:04d}")
        with self.tf.summary.create_file_writer(run).as_default():
            self.hp.hparams(values, trial_id=f"candidate_{candidate:04d}")
            self.tf.summary.scalar(f"hparams/{self.metric}", score, step=epochs)
            self.tf.summary.scalar("hparams/epochs", epochs, step=epochs)
