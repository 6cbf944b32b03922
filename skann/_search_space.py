"""The book's search spaces, as ``param_distributions`` (shared by skann.search and
HyperbandSearchCV)."""

from __future__ import annotations

from scipy.stats import loguniform, randint

from skann._steps import final_step

__all__ = ["search_space"]


def search_space(estimator, *, batch_size: bool = True) -> dict:
    """The book's search space for ``estimator``, as ``param_distributions``.

    For the MLPs and Wide & Deep: ``n_hidden`` 0-3, ``n_neurons`` 1-100, ``learning_rate``
    log-uniform 3e-4 to 3e-2, ``optimizer`` SGD or Adam (and ``batch_size`` 16-128). For the
    perceptron: ``eta0`` log-uniform 1e-3 to 10 and ``fit_intercept``. Names carry the
    Pipeline prefix when ``estimator`` is a Pipeline ending in a skann estimator.

    Parameters
    ----------
    estimator : skann estimator or Pipeline ending in one
    batch_size : bool, default=True
        Include ``batch_size`` in the space.

    Returns
    -------
    dict of str to scipy.stats distribution or list
        Ready for ``RandomizedSearchCV(param_distributions=...)``; lists sample uniformly.

    Examples
    --------
    >>> from skann import HousingMLPRegressor
    >>> from skann.search import search_space
    >>> sorted(search_space(HousingMLPRegressor()))
    ['batch_size', 'learning_rate', 'n_hidden', 'n_neurons', 'optimizer']
    """
    from skann.perceptron import PerceptronBaseline

    final, prefix = final_step(estimator)
    if isinstance(final, PerceptronBaseline):
        space = {"eta0": loguniform(1e-3, 10.0), "fit_intercept": [True, False]}
    else:
        space = {
            "n_hidden": randint(0, 4),
            "n_neurons": randint(1, 101),
            "learning_rate": loguniform(3e-4, 3e-2),
            "optimizer": ["sgd", "adam"],
        }
        if batch_size:
            space["batch_size"] = [16, 32, 64, 128]
    return {prefix + name: dist for name, dist in space.items()}
