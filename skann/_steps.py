"""Where the skann estimator sits in what the user gave (it alone or the last step of a
Pipeline, nested Pipelines too), and which of its parameters counts epochs."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

__all__ = ["epochs_parameter", "final_estimator", "final_step", "max_epochs", "through_transformers"]


def final_estimator(model):
    """The last step of ``model`` (through nested Pipelines), or ``model`` itself."""
    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def final_step(estimator) -> tuple:
    """``(skann estimator, parameter prefix)``: the prefix is ``"step__"`` (per Pipeline level)
    when ``estimator`` is a Pipeline ending in a skann estimator. Anything else: TypeError."""
    from skann.wrappers import BaseWrapper

    prefix = ""
    while isinstance(estimator, Pipeline):
        name, estimator = estimator.steps[-1]
        prefix += name + "__"
    if not isinstance(estimator, BaseWrapper):
        raise TypeError(
            f"Expected a skann estimator (or a Pipeline ending in one); got {type(estimator).__name__}."
        )
    return estimator, prefix


def through_transformers(pipeline, X):
    """X transformed by every fitted step before the final estimator (nested Pipelines too)."""
    while isinstance(pipeline, Pipeline):
        if len(pipeline) > 1:
            X = pipeline[:-1].transform(X)
        pipeline = pipeline.steps[-1][1]
    return X


def epochs_parameter(estimator) -> str:
    """Name of the parameter counting training epochs (``epochs``; ``max_iter`` for the
    perceptron; ``fit__epochs`` when a general wrapper was given one, since it wins), with its
    Pipeline prefix: the resource for successive halving and Hyperband."""
    final, prefix = final_step(estimator)
    return prefix + final._epochs_parameter()


def max_epochs(model) -> int:
    """Epochs a fit of ``model`` (a skann estimator or a Pipeline ending in one) runs at most."""
    return int(final_step(model)[0]._default_epochs())
