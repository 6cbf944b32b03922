"""How HyperbandSearchCV draws candidates: at random, or from an Optuna sampler (TPE) that
learns from every rung."""

from __future__ import annotations

import copy
import math

import numpy as np
from scipy.stats import rv_discrete

__all__ = ["OptunaSampler", "RandomSampler", "make_sampler"]


def _draw(distributions, rng: np.random.RandomState) -> dict:
    """One candidate from a dict (or list of dicts) of scipy.stats distributions and lists."""
    if isinstance(distributions, (list, tuple)):
        distributions = distributions[rng.randint(len(distributions))]
    params = {}
    for name in sorted(distributions):
        dist = distributions[name]
        params[name] = dist.rvs(random_state=rng) if hasattr(dist, "rvs") else dist[rng.randint(len(dist))]
    return params


class RandomSampler:
    """Candidates drawn independently (with replacement), as ``RandomizedSearchCV`` does for
    distributions."""

    def __init__(self, distributions, seed: int):
        self.distributions, self.rng = distributions, np.random.RandomState(seed)

    def sample(self, n: int) -> list[dict]:
        return [_draw(self.distributions, self.rng) for _ in range(n)]

    def report(self, candidate: int, epochs: int, score: float, finished: bool, pruned: bool) -> None:
        """Random sampling learns nothing from results."""


class OptunaSampler:
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


def make_sampler(sampler, distributions, seed: int):
    if sampler is None or sampler == "random":
        return RandomSampler(distributions, seed)
    return OptunaSampler(distributions, sampler, seed)
