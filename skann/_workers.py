"""Lost worker processes (Dask or loky): how to tell them from failed fits, and how to run a
piece of work again once the cluster has its workers back."""

from __future__ import annotations

import warnings
from typing import Callable, TypeVar

__all__ = ["lost_worker_errors", "retry_lost_workers", "wait_for_dask_workers"]

T = TypeVar("T")


def lost_worker_errors() -> tuple:
    """Exceptions meaning a worker process died (Dask or loky), not that a fit failed."""
    import concurrent.futures

    from joblib.externals.loky.process_executor import TerminatedWorkerError

    errors = [TerminatedWorkerError, concurrent.futures.CancelledError]
    try:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        errors += [FutureCancelledError, KilledWorker]
    except ImportError:
        pass
    return tuple(errors)


def wait_for_dask_workers(client=None, n_workers: int = 1, timeout: float = 120.0) -> None:
    """After a lost Dask worker, give the nannies time to bring ``n_workers`` back (the
    current client's, when ``client`` is None; nothing to wait for without Dask)."""
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            return
    try:
        client.wait_for_workers(n_workers, timeout=timeout)
    except TimeoutError:
        pass


def retry_lost_workers(
    run: Callable[[], T],
    retries: int,
    *,
    retry_notice: Callable[[BaseException], str],
    failure: Callable[[int, BaseException], str],
    before_retry: Callable[[], None] = wait_for_dask_workers,
) -> T:
    """``run()``, run again after a lost worker up to ``retries`` times: each rerun warns
    (RuntimeWarning, ``retry_notice(error)``) and waits (``before_retry``); past ``retries``,
    RuntimeError(``failure(attempts, error)``) with the last error chained."""
    for attempt in range(retries + 1):
        try:
            return run()
        except lost_worker_errors() as exc:
            if attempt == retries:
                raise RuntimeError(failure(attempt + 1, exc)) from exc
            warnings.warn(retry_notice(exc), RuntimeWarning, stacklevel=3)
            before_retry()
    raise AssertionError("unreachable")  # pragma: no cover
