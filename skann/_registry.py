"""The four model kinds of the command line and the demo: estimator, data and book settings."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline, make_pipeline

from skann._steps import final_estimator
from skann.datasets import BookSplit, SampleDataWarning, load_book_split
from skann.estimators import FashionMLPClassifier, HousingMLPRegressor
from skann.perceptron import PerceptronBaseline
from skann.transformers import ImageFlattener, PixelScaler
from skann.wide_deep import WideDeepRegressor

SEED = 42


@dataclass(frozen=True)
class ModelKind:
    name: str
    dataset: str
    estimator_class: type
    book: dict = field(default_factory=dict)  # the chapter's settings (the demo's default)
    quick: dict = field(default_factory=dict)  # a few minutes on 2 cores for the whole demo
    book_figure: str = ""
    needs_pipeline: bool = False

    @property
    def title(self) -> str:
        return self.estimator_class.__name__

    def make(self, params: dict | None = None) -> BaseEstimator:
        """A fresh model with ``params`` set on its skann estimator (invalid ones raise)."""
        est = self.estimator_class(random_state=SEED)
        if params:
            est.set_params(**params)
        est._check_params()
        if self.needs_pipeline:  # the perceptron takes scaled pixel rows
            return make_pipeline(ImageFlattener(), PixelScaler(), est)
        return est


KINDS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            "fashion", "fashion", FashionMLPClassifier,
            book={"epochs": 30}, quick={"epochs": 5}, book_figure="accuracy 0.8864",
        ),
        ModelKind(
            "perceptron", "fashion", PerceptronBaseline,
            book={"max_iter": 5}, quick={"max_iter": 1}, needs_pipeline=True,
            book_figure="- (linear baseline)",
        ),
        ModelKind(
            "housing", "housing", HousingMLPRegressor,
            book={"epochs": 20, "early_stopping": False}, quick={"epochs": 10, "early_stopping": False},
            book_figure="RMSE about 0.53",
        ),
        ModelKind(
            "wide-deep", "housing", WideDeepRegressor,
            book={"epochs": 20, "early_stopping": False, "aux_weight": 0.1},
            quick={"epochs": 10, "early_stopping": False, "aux_weight": 0.1},
            book_figure="RMSE 0.568 (book's code)",
        ),
    )
}


def kind_of(model: BaseEstimator) -> ModelKind | None:
    """The kind a loaded model belongs to (by its skann estimator's class), if any."""
    cls = type(final_estimator(model))
    return next((kind for kind in KINDS.values() if kind.estimator_class is cls), None)


def fit_on_split(model: BaseEstimator, split: BookSplit, callbacks: list | None = None) -> BaseEstimator:
    """Train on the split's training set, validating on its validation set (as the book)."""
    est = final_estimator(model)
    est.set_params(callbacks=callbacks or None)
    try:
        if isinstance(model, Pipeline):  # validation data would bypass the pipeline's steps
            model.fit(split.X_train, split.y_train)
        else:
            model.fit(split.X_train, split.y_train, validation_data=(split.X_valid, split.y_valid))
    finally:
        est.set_params(callbacks=None)  # progress bars are not part of the model
    return model


def score_metrics(model: BaseEstimator, X, y) -> dict[str, float]:
    """Accuracy for classifiers; RMSE, MAE and R² for regressors."""
    y_pred = model.predict(X)
    if is_classifier(model):
        return {"accuracy": float(accuracy_score(y, y_pred))}
    y_pred = np.asarray(y_pred, dtype=float)
    return {
        "rmse": float(root_mean_squared_error(y, y_pred)),
        "mae": float(mean_absolute_error(y, y_pred)),
        "r2": float(r2_score(y, y_pred)),
    }


def headline(metrics: dict[str, float]) -> str:
    """The one figure the chapter reports: test accuracy, or test RMSE."""
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.4f}"
    return f"RMSE {metrics['rmse']:.4f}"


def plural(count: int, noun: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def load_or_sample(
    dataset: str, sample: bool, note: Callable[[str], None], *, download: bool = True
) -> BookSplit:
    """``load_book_split``'s rule (the full data when found, else the bundled copy), with its
    warning about a stand-in sample given to ``note``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = load_book_split(dataset, sample=True if sample else "auto", download=download)
    for warning in caught:
        if issubclass(warning.category, SampleDataWarning):
            note(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return split
