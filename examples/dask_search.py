"""A hyperparameter search on a Dask cluster: here a LocalCluster of worker processes.

The search is plain scikit-learn; ``skann.search.fit_with_dask`` runs it under
``joblib.parallel_config(backend="dask")``, which sends its fits to the cluster's workers,
and runs it again if a worker dies. Each worker limits TensorFlow to one thread (Dask's workers run
with ``OMP_NUM_THREADS=1``, which skann follows). To use a cluster on several machines, start
``dask scheduler`` on one and ``dask worker tcp://SCHEDULER:8786`` on each of the others, and
pass ``--scheduler tcp://SCHEDULER:8786`` (see docs/tuning.md).

    python examples/dask_search.py                    # LocalCluster with 2 workers
    python examples/dask_search.py --fast
    python examples/dask_search.py --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from sklearn.model_selection import RandomizedSearchCV

from skann import HousingMLPRegressor
from skann.datasets import load_california_housing
from skann.search import fit_with_dask, format_params, search_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--scheduler", help="address of a running scheduler, e.g. tcp://host:8786")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--dask-logs", action="store_true", help="show Dask's INFO/WARNING logs")
    args = parser.parse_args()
    if not args.dask_logs:
        # Quiet scheduler and LocalCluster workers (they inherit the variable): on a busy
        # machine they warn about slow event loops, which is noise for this demonstration.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    import dask
    from dask.distributed import Client, LocalCluster

    scratch = tempfile.TemporaryDirectory(prefix="skann-dask-")  # Dask's files, removed at the end
    dask.config.set({"temporary-directory": scratch.name})
    if args.scheduler:
        client, cluster = Client(args.scheduler), None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=":0", local_directory=scratch.name)
        client = Client(cluster)
    X, y = load_california_housing(return_X_y=True, sample=True)
    X, y = (X[:2000], y[:2000]) if args.fast else (X[:12000], y[:12000])
    search = RandomizedSearchCV(
        HousingMLPRegressor(epochs=3 if args.fast else 20, early_stopping=False, random_state=0),
        search_space(HousingMLPRegressor()),
        n_iter=4 if args.fast else 16,
        cv=3,
        random_state=0,
    )
    try:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers at {client.scheduler.address}")
        start = time.perf_counter()
        fit_with_dask(search, X, y, client=client)
        print(f"searched {len(search.cv_results_['params'])} candidates in {time.perf_counter() - start:.0f} s")
        print(f"best parameters: {format_params(search.best_params_)}")
        print(f"best CV R^2: {search.best_score_:.4f}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        scratch.cleanup()


if __name__ == "__main__":
    main()
