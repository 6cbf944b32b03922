"""Grid search and randomized search for the Fashion-MNIST classifier.

First a small ``GridSearchCV`` over the learning rate and the layer sizes (every combination,
stratified folds since skann's classifiers are proper classifiers for scikit-learn). Then
``RandomizedSearchCV`` over the book's space: it samples candidates from ``skann.search.search_space`` (hidden layers 0-3, 1-100 neurons,
log-uniform learning rate, SGD or Adam, batch size), scores each with 3-fold stratified
cross-validation on the training images in parallel (``n_jobs``), refits the best on all of
them and reports the test accuracy.

    python examples/search_fashion.py             # 20 candidates, full data when found
    python examples/search_fashion.py --fast      # 3 candidates on 1,500 sample images
"""

from __future__ import annotations

import argparse
import time

from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from skann import FashionMLPClassifier
from skann.datasets import load_fashion_mnist
from skann.search import format_params, search_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args()
    try:
        if args.fast:
            raise FileNotFoundError
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist(download=False)
        X_train, y_train = X_train[:20000], y_train[:20000]
    except FileNotFoundError:
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist(sample=True)
        X_train, y_train = X_train[:1500], y_train[:1500]
    grid = GridSearchCV(
        FashionMLPClassifier(epochs=2 if args.fast else 10, random_state=42),
        {"learning_rate": [0.01, 0.03], "n_neurons": [(100, 50), (300, 100)]},
        cv=2 if args.fast else 3,
        n_jobs=args.n_jobs,
    )
    n_grid = 1000 if args.fast else len(X_train)
    grid.fit(X_train[:n_grid], y_train[:n_grid])
    print(f"grid search: {len(grid.cv_results_['params'])} combinations x {grid.n_splits_} folds; "
          f"best {format_params(grid.best_params_)}, CV accuracy {grid.best_score_:.4f}")

    search = RandomizedSearchCV(
        FashionMLPClassifier(epochs=2 if args.fast else 10, random_state=42),
        search_space(FashionMLPClassifier()),
        n_iter=3 if args.fast else 20,
        cv=3,
        n_jobs=args.n_jobs,
        random_state=42,
    )
    start = time.perf_counter()
    search.fit(X_train, y_train)
    print(f"searched {len(search.cv_results_['params'])} candidates on {len(X_train)} images "
          f"in {time.perf_counter() - start:.0f} s")
    for rank, params, score in sorted(zip(search.cv_results_["rank_test_score"],
                                          search.cv_results_["params"],
                                          search.cv_results_["mean_test_score"]), key=lambda t: t[0])[:5]:
        print(f"  rank {rank}: CV accuracy {score:.4f}  {format_params(params)}")
    print(f"best parameters: {format_params(search.best_params_)}")
    print(f"test accuracy of the refit best model: {search.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
