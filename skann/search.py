"""Hyperparameter search helpers: the book's search spaces, halving over epochs, an LR finder.

skann's estimators work in every scikit-learn search as they are (``GridSearchCV``,
``RandomizedSearchCV``, ``HalvingGridSearchCV``, ``HalvingRandomSearchCV``), alone or as the
last step of a Pipeline. This module adds what the book's chapter uses on top:

- :func:`search_space`: ready ``param_distributions`` per estimator (the book's ranges);
- :func:`halving_search`: successive halving with epochs as the resource, so that each round
  trains the surviving candidates longer (the idea behind Keras Tuner's Hyperband);
- :func:`find_learning_rate`: the book's learning-rate finder.

Parallel searches (``n_jobs``) and Dask clusters need nothing special: each worker process
limits TensorFlow to its share of the CPU (see ``docs/tuning.md``).
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import math
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingRandomSearchCV

from skann._search_space import search_space
from skann._steps import epochs_parameter, final_step
from skann._workers import retry_lost_workers, wait_for_dask_workers
from skann.hyperband import HyperbandSearchCV

__all__ = [
    "HyperbandSearchCV",
    "LearningRateFinderResult",
    "epochs_parameter",
    "find_learning_rate",
    "fit_with_dask",
    "format_params",
    "halving_search",
    "search_space",
]


def format_params(params: dict) -> str:
    """``"learning_rate=0.0123, n_hidden=2"``: a candidate's parameters for people to read
    (floats to 3 significant digits, NumPy scalars as plain numbers, Pipeline prefixes kept)."""
    def short(value) -> str:
        if isinstance(value, np.generic):
            value = value.item()
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{name}={short(value)}" for name, value in sorted(params.items()))


def halving_search(
    estimator,
    param_distributions: dict | None = None,
    *,
    max_epochs: int = 81,
    min_epochs: int | None = None,
    factor: int = 3,
    n_candidates="exhaust",
    scoring=None,
    cv=3,
    refit: bool = True,
    n_jobs: int | None = None,
    random_state=None,
    error_score=np.nan,
    verbose: int = 0,
) -> HalvingRandomSearchCV:
    """Successive halving over epochs: many candidates for a few epochs, the best for more.

    .. deprecated:: 0.2
        Use :class:`HyperbandSearchCV` with ``n_brackets=1`` (one bracket of successive
        halving), whose survivors continue training instead of starting over, with
        checkpoints, samplers and per-rung results. ``halving_search`` will be removed.

    Round 1 trains ``n_candidates`` for ``min_epochs`` epochs each; every round keeps the best
    ``1/factor`` of them and multiplies their epochs by ``factor``, up to ``max_epochs``. For
    the same compute a search tries many more settings than a random search that trains every
    candidate for ``max_epochs``. Each round trains the survivors from scratch (as
    ``HalvingRandomSearchCV`` does), so early stopping and seeds behave as in a plain fit.

    Parameters
    ----------
    estimator : skann estimator or Pipeline ending in one
    param_distributions : dict, default=None
        Defaults to :func:`search_space` of the estimator.
    max_epochs : int, default=81
    min_epochs : int, default=None
        Epochs in the first round; by default ``max_epochs / factor**2`` (three rounds).
    factor : int, default=3
    n_candidates : int or "exhaust", default="exhaust"
        Candidates in the first round; "exhaust" picks as many as make the last round use
        ``max_epochs``.
    scoring, cv, refit, n_jobs, random_state, error_score, verbose
        As for ``HalvingRandomSearchCV``.

    Returns
    -------
    sklearn.model_selection.HalvingRandomSearchCV
        Not fitted yet: call ``fit(X, y)``.

    Examples
    --------
    >>> from skann import HousingMLPRegressor
    >>> from skann.search import halving_search
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     search = halving_search(HousingMLPRegressor(early_stopping=False), max_epochs=27)
    >>> search.resource, search.min_resources, search.max_resources
    ('epochs', 3, 27)
    """
    warnings.warn(
        "halving_search is deprecated and will be removed: use HyperbandSearchCV(estimator, "
        "param_distributions, max_epochs=..., n_brackets=1), one bracket of successive halving whose "
        "survivors continue training instead of starting over.",
        FutureWarning,
        stacklevel=2,
    )
    if min_epochs is None:
        min_epochs = max(1, max_epochs // factor**2)
    if not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"Need 1 <= min_epochs <= max_epochs; got {min_epochs} and {max_epochs}.")
    return HalvingRandomSearchCV(
        estimator,
        search_space(estimator) if param_distributions is None else param_distributions,
        n_candidates=n_candidates,
        factor=factor,
        resource=epochs_parameter(estimator),
        min_resources=min_epochs,
        max_resources=max_epochs,
        aggressive_elimination=False,
        scoring=scoring,
        cv=cv,
        refit=refit,
        n_jobs=n_jobs,
        random_state=random_state,
        error_score=error_score,
        verbose=verbose,
    )


# ---------------------------------------------------------------------- learning-rate finder
@dataclass
class LearningRateFinderResult:
    """What :func:`find_learning_rate` measured.

    Attributes
    ----------
    learning_rates : ndarray
        Learning rate used at each training step (growing exponentially).
    losses : ndarray
        Training loss of each step's batch.
    smoothed_losses : ndarray
        Exponential moving average of ``losses`` (bias-corrected), used for the suggestion.
    suggested_learning_rate : float
        A tenth of the rate with the lowest smoothed loss: the book's rule of thumb, "about
        10 times lower than the point where the loss starts to climb".
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggested_learning_rate: float
    stopped_early: bool = field(default=False)

    def plot(self, ax=None, *, path=None):
        """Loss against learning rate (log scale), with the suggestion marked; returns the Figure.

        See :func:`skann.plot.plot_learning_rate_finder`.
        """
        from skann.plot import plot_learning_rate_finder

        return plot_learning_rate_finder(self, ax=ax, path=path)


class _ExponentialLearningRate(keras.callbacks.Callback):
    """Multiply the learning rate by a constant factor every batch and record each batch's loss."""

    def __init__(self, min_lr: float, factor: float, n_steps: int, divergence: float):
        super().__init__()
        self.rate, self.factor, self.n_steps, self.divergence = min_lr, factor, n_steps, divergence
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.stopped_early = False

    def on_epoch_begin(self, epoch, logs=None):
        # Keras logs the running mean of the epoch's batch losses; recover each batch's loss.
        self._batch, self._previous_mean = 0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        k = self._batch
        self.losses.append((k + 1) * mean - k * self._previous_mean)
        self.rates.append(self.rate)
        self._batch, self._previous_mean = k + 1, mean
        self.rate *= self.factor
        best = min(self.losses)
        if len(self.rates) >= self.n_steps:
            self.model.stop_training = True
        elif not math.isfinite(self.losses[-1]) or (
            len(self.losses) > 10 and self.losses[-1] > self.divergence * max(best, 1e-12)
        ):
            self.stopped_early = True
            self.model.stop_training = True


def _smooth(values: np.ndarray, beta: float = 0.98) -> np.ndarray:
    out, avg = np.empty_like(values), 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def find_learning_rate(
    estimator,
    X,
    y,
    *,
    min_lr: float = 1e-5,
    max_lr: float = 10.0,
    n_steps: int = 500,
    divergence: float = 4.0,
    plot: bool = False,
) -> LearningRateFinderResult:
    """The book's learning-rate finder, for any skann Keras estimator.

    Trains a copy of ``estimator`` (same network, optimizer, batch size and seed) for
    ``n_steps`` batches while the learning rate grows exponentially from ``min_lr`` to
    ``max_lr``, recording the loss of every batch. The loss first falls, then shoots up when
    the rate gets too large; a good learning rate is about a tenth of the rate where the loss
    is lowest. ``estimator`` itself is not changed (nor fitted). Training stops early once
    the loss exceeds ``divergence`` times its minimum.

    Parameters
    ----------
    estimator : skann estimator
    X, y : training data
    min_lr, max_lr : float, default=1e-5, 10.0
    n_steps : int, default=500
        Training steps (batches); the data is repeated if it has fewer batches.
    divergence : float, default=4.0
    plot : bool, default=False
        Also draw the curve (needs matplotlib); the figure is ``result.plot()``'s.

    Returns
    -------
    LearningRateFinderResult

    Examples
    --------
    >>> from skann import HousingMLPRegressor
    >>> from skann.datasets import load_california_housing
    >>> from skann.search import find_learning_rate
    >>> X, y = load_california_housing(sample=True, return_X_y=True)
    >>> result = find_learning_rate(HousingMLPRegressor(random_state=0), X, y, n_steps=100)
    >>> 1e-5 <= result.suggested_learning_rate <= 1.0
    True
    """
    final, prefix = final_step(estimator)
    if prefix:
        raise TypeError("find_learning_rate needs the skann estimator itself, not a Pipeline; "
                        "transform X with the pipeline's other steps first.")
    if not (0 < min_lr < max_lr):
        raise ValueError(f"Need 0 < min_lr < max_lr; got {min_lr} and {max_lr}.")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2; got {n_steps}.")
    factor = (max_lr / min_lr) ** (1.0 / (n_steps - 1))
    recorder = _ExponentialLearningRate(min_lr, factor, n_steps, divergence)
    probe = clone(estimator)
    batch_size = probe._fit_args(X).get("batch_size") or 32
    steps_per_epoch = max(1, math.ceil(len(X) / batch_size))
    epochs = math.ceil(n_steps / steps_per_epoch)
    params = probe.get_params()
    settings = {"warm_start": False, "steps_per_execution": 1, epochs_parameter(probe): epochs}
    # The recorder joins the estimator's own callbacks for this fit only.
    settings["fit__callbacks"] = [recorder]
    # The learning rate: a book estimator's parameter, else the optimizer's routed argument.
    rate_name = next((n for n in ("learning_rate", "eta0") if n in params), "optimizer__learning_rate")
    settings[rate_name] = min_lr
    for name, off in (("early_stopping", False), ("tol", None)):  # nothing may stop the sweep
        if name in params:
            settings[name] = off
    probe.set_params(**settings)
    probe.fit(X, y)
    rates = np.asarray(recorder.rates)
    losses = np.asarray(recorder.losses)
    smoothed = _smooth(losses)
    finite = np.where(np.isfinite(smoothed), smoothed, np.inf)
    suggested = float(rates[int(np.argmin(finite))] / 10.0)
    result = LearningRateFinderResult(rates, losses, smoothed, suggested, recorder.stopped_early)
    if plot:
        result.plot()
    return result


# ---------------------------------------------------------------------- Dask
def fit_with_dask(search, X, y=None, *, client=None, retries: int = 2, worker_timeout: float = 120.0, **fit_params):
    """Fit a scikit-learn search on a Dask cluster, surviving the loss of workers.

    Runs ``search.fit(X, y)`` under ``joblib.parallel_config(backend="dask")``. joblib sends
    each fit's arguments (including the CV fold indices) to *one* worker; when that worker
    dies the data is gone and Dask cancels the search ("cancelled for reason: already
    forgotten"). Here the search is then run again, once the cluster has its workers back
    (Dask's nannies restart killed workers), up to ``retries`` times. Seeded skann fits are
    deterministic, so a rerun gives the same results.

    Parameters
    ----------
    search : GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV or HalvingRandomSearchCV
    X, y : training data
    client : dask.distributed.Client, default=None
        The client to use; by default the current one (``Client(...)`` made it current).
    retries : int, default=2
        Reruns after a lost worker.
    worker_timeout : float, default=120
        Seconds to wait for the cluster to get back to its number of workers before a rerun
        (the rerun goes ahead with the workers there are).
    **fit_params
        Passed to ``search.fit``.

    Returns
    -------
    The fitted ``search``.

    Raises
    ------
    RuntimeError
        When workers were lost more than ``retries`` times (the cause is chained).
    """
    import joblib

    try:
        from distributed import get_client
    except ImportError as exc:
        raise ImportError(
            "fit_with_dask needs Dask's distributed scheduler: pip install 'skann[dask]'."
        ) from exc

    if client is None:
        try:
            client = get_client()
        except ValueError:
            raise ValueError(
                "No Dask client: create one first, e.g. Client(LocalCluster()) or "
                "Client('tcp://scheduler-host:8786'), or pass client=."
            ) from None
    n_workers = len(client.scheduler_info()["workers"])

    def run():
        with joblib.parallel_config(backend="dask", client=client):
            return search.fit(X, y, **fit_params)

    return retry_lost_workers(
        run, retries,
        retry_notice=lambda exc: f"A Dask worker was lost during the search ({type(exc).__name__}); running it again.",
        failure=lambda attempts, exc: (
            f"The search lost Dask workers {attempts} times (last: {exc}). Check the workers' memory and "
            "logs; fits that kill their worker fail this way."
        ),
        before_retry=lambda: wait_for_dask_workers(client, n_workers, worker_timeout),
    )
