"""Successive halving over epochs vs a random search with the same budget (California housing).

Both searches sample from the book's space (``skann.search.search_space``). The random
search trains every candidate for ``max_epochs``; the halving search starts many candidates
for a few epochs and lets only the best ones train on (factor 3 per round; ``HyperbandSearchCV``
with one bracket, survivors continue where they stopped), so for about the
same compute it explores many more settings. Prints time, candidates tried and the test RMSE
of each search's refit best model.

    python examples/halving_housing.py           # max 27 epochs
    python examples/halving_housing.py --fast    # max 9 epochs, 2 folds, 800 rows, sequential
"""

from __future__ import annotations

import argparse
import time

from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import RandomizedSearchCV, train_test_split

from skann import HousingMLPRegressor
from skann.datasets import load_california_housing
from skann.search import HyperbandSearchCV, format_params, search_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=None, help="default: all cores (1 with --fast)")
    args = parser.parse_args()
    if args.n_jobs is None:
        args.n_jobs = 1 if args.fast else -1
    X, y = load_california_housing(return_X_y=True, sample=True)  # the full table ships with skann
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
    if args.fast:
        X_train, y_train = X_train[:800], y_train[:800]
    max_epochs = 9 if args.fast else 27
    cv = 2 if args.fast else 3
    base = HousingMLPRegressor(early_stopping=False, random_state=42)
    space = search_space(base)

    # One bracket of successive halving: 9 candidates x max/9 epochs, 3 x max/3, 1 x max;
    # survivors continue training, so a candidate's epochs are not paid twice.
    halving = HyperbandSearchCV(base, space, max_epochs=max_epochs, min_epochs=max_epochs // 9, factor=3,
                                n_brackets=1, cv=cv, n_jobs=args.n_jobs, random_state=42)
    start = time.perf_counter()
    halving.fit(X_train, y_train)
    halving_time = time.perf_counter() - start
    budget = halving.total_epochs_ // cv  # epochs trained by the search, per fold

    n_random = max(1, round(budget / max_epochs))  # same total epochs, all at max_epochs
    random = RandomizedSearchCV(base.set_params(epochs=max_epochs), space, n_iter=n_random, cv=cv,
                                n_jobs=args.n_jobs, random_state=42)
    start = time.perf_counter()
    random.fit(X_train, y_train)
    random_time = time.perf_counter() - start

    print(f"budget: {budget} epochs per fold; max {max_epochs} epochs per candidate")
    for name, search, seconds, tried in (
        ("halving over epochs", halving, halving_time, halving.n_candidates_),
        ("random search", random, random_time, n_random),
    ):
        rmse = root_mean_squared_error(y_test, search.predict(X_test))
        print(f"{name:20s}: {tried:3d} candidates, {seconds:5.0f} s, test RMSE {rmse:.4f}, "
              f"best: {format_params(search.best_params_)}")


if __name__ == "__main__":
    main()
