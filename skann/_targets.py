"""Target encoders: sklearn targets <-> what the Keras output layer trains on.

They follow SciKeras' target-encoder protocol (``fit``/``transform``/``inverse_transform``
and ``get_metadata``) and also tell the builder which output layer and loss fit the target,
as in the book's table of classification MLPs.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target


class ClassificationTarget(TransformerMixin, BaseEstimator):
    """Encode class labels (ints or strings), binary targets and multilabel indicators.

    Parameters
    ----------
    classes : array-like or None
        All classes, when known in advance (``partial_fit``); else taken from ``y``.

    Attributes
    ----------
    kind_ : {"binary", "multiclass", "multilabel"}
    classes_ : ndarray
    n_outputs_expected_ : int
        Units of the output layer: 1 (binary), n_classes (multiclass) or n_labels.
    """

    def __init__(self, classes=None):
        self.classes = classes

    def fit(self, y):
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type == "multilabel-indicator":
            if not np.isin(np.unique(y), (0, 1)).all():
                raise ValueError("A multilabel target must hold only 0 and 1.")
            self.kind_ = "multilabel"
            self.classes_ = np.arange(y.shape[1])
            self.n_outputs_expected_ = y.shape[1]
        elif target_type in ("binary", "multiclass"):
            classes = np.unique(y) if self.classes is None else np.unique(np.asarray(self.classes))
            if classes.size < 2:
                raise ValueError(
                    "The target needs samples of at least 2 classes; it holds only one class: "
                    f"{classes[0]!r}."
                )
            self.classes_ = classes
            self.kind_ = "binary" if classes.size == 2 else "multiclass"
            self.n_outputs_expected_ = 1 if self.kind_ == "binary" else classes.size
        else:
            raise ValueError(
                f"Unsupported target for a classifier: {target_type}. Use a 1-D array of class "
                "labels or a 2-D 0/1 multilabel indicator matrix."
            )
        return self

    @property
    def output_activation(self) -> str:
        return "softmax" if self.kind_ == "multiclass" else "sigmoid"

    @property
    def loss(self) -> str:
        return (
            "sparse_categorical_crossentropy" if self.kind_ == "multiclass" else "binary_crossentropy"
        )

    def transform(self, y) -> np.ndarray:
        y = np.asarray(y)
        if self.kind_ == "multilabel":
            if y.ndim != 2 or y.shape[1] != self.classes_.size:
                raise ValueError(
                    f"Expected a multilabel target with {self.classes_.size} columns; got shape {y.shape}."
                )
            return y.astype(np.float32)
        if y.ndim != 1:
            raise ValueError(f"Expected a 1-D array of class labels; got shape {y.shape}.")
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, self.classes_.size - 1)
        unknown = self.classes_[codes] != y
        if unknown.any():
            raise ValueError(
                f"y holds labels not seen in fit: {np.unique(y[unknown]).tolist()}; "
                f"known classes: {self.classes_.tolist()}."
            )
        return codes.astype(np.float32 if self.kind_ == "binary" else np.int32)

    def proba(self, outputs: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), from the raw model outputs."""
        outputs = np.asarray(outputs)
        if self.kind_ == "binary":
            p = outputs.reshape(-1)
            return np.column_stack([1.0 - p, p])
        return outputs

    def inverse_transform(self, outputs: np.ndarray, return_proba: bool = False) -> np.ndarray:
        proba = self.proba(outputs)
        if return_proba:
            return proba
        if self.kind_ == "multilabel":
            return (proba >= 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]

    def get_metadata(self) -> dict:
        return {
            "classes_": self.classes_,
            "n_classes_": self.classes_.size,
            "n_outputs_": 1 if self.kind_ != "multilabel" else self.classes_.size,
            "n_outputs_expected_": self.n_outputs_expected_,
        }


class RegressionTarget(TransformerMixin, BaseEstimator):
    """Continuous targets: float32 for Keras, float64 predictions in the shape of ``y``."""

    def fit(self, y):
        y = np.asarray(y)
        self.ndim_ = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return self

    def transform(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} target column(s); this model was fitted on {self.n_outputs_}.")
        return y

    def inverse_transform(self, outputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(outputs, dtype=np.float64)
        return outputs.reshape(-1) if self.ndim_ == 1 else outputs.reshape(len(outputs), -1)

    def get_metadata(self) -> dict:
        return {"n_outputs_": self.n_outputs_, "n_outputs_expected_": self.n_outputs_}
