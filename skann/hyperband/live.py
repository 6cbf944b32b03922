"""This process's live estimators between rungs: a candidate whose next rung runs in the
same process continues from them, without unpickling (bounded in bytes)."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import joblib

from skann._steps import final_step
from skann.engine import state_bytes

__all__ = ["EVICTED", "LIVE", "LIVE_MAX_BYTES", "forget_live", "keep_live", "network_bytes", "runs_in_this_process"]


# Live estimators kept in this process between rungs, so a candidate whose next rung runs in
# the same process continues without unpickling and retracing its network. Keyed by the
# search run, candidate, fold and epochs reached, with the size of their pickled state; the
# oldest go beyond LIVE_MAX_BYTES. A miss only costs the load from the state.
LIVE: OrderedDict = OrderedDict()
LIVE_MAX_BYTES = 512 * 2**20


# States of live estimators pushed out of LIVE in a search that keeps no states of its own
# (one process, no checkpoint): pickled only then, so that they can still continue.
EVICTED: dict = {}


def keep_live(key: tuple, estimator, n_bytes: int, *, pickle_when_evicted: bool = False) -> None:
    LIVE[key] = (estimator, n_bytes, pickle_when_evicted)
    total = sum(entry[1] for entry in LIVE.values())
    while total > LIVE_MAX_BYTES and len(LIVE) > 1:
        old_key, (old, n, keep) = LIVE.popitem(last=False)
        if keep:
            EVICTED[old_key] = pickle.dumps(old, protocol=pickle.HIGHEST_PROTOCOL)
        total -= n


def forget_live(run_id: str, candidate: int | None = None) -> None:
    """Drop this process's live estimators of a run (of one candidate)."""
    for store in (LIVE, EVICTED):
        for key in [k for k in store if k[0] == run_id and (candidate is None or k[1] == candidate)]:
            del store[key]


def network_bytes(estimator) -> int:
    """The size of a fitted estimator's network state (weights and optimizer slots)."""
    model = getattr(final_step(estimator)[0], "model_", None)
    return 0 if model is None else state_bytes(model)


def runs_in_this_process(n_jobs) -> bool:
    """Whether joblib runs ``n_jobs`` tasks one after another in this process (not on Dask,
    whose workers run even one job elsewhere)."""
    backend, _ = joblib.parallel.get_active_backend()
    return joblib.effective_n_jobs(n_jobs) == 1 and "Dask" not in type(backend).__name__
