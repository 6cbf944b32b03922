"""Target encoders: scikit-learn targets <-> what a Keras model trains on and outputs.

They speak SciKeras' target-encoder protocol (``fit``/``transform``/``inverse_transform`` with
``return_proba``, and ``get_metadata``), so an encoder written for SciKeras works here, and
they tell skann's own builders which output layer fits the target (the book's table of
classification MLPs): :attr:`ClassifierLabelEncoder.output_units` and ``output_activation``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import type_of_target

__all__ = ["ClassifierLabelEncoder", "RegressorTargetEncoder", "TargetReshaper"]

_CATEGORICAL_NAMES = ("categorical_crossentropy", "cce", "CategoricalCrossentropy")


def _floatx() -> np.dtype:
    import keras

    return np.dtype(keras.backend.floatx())


def is_categorical_crossentropy(loss) -> bool:
    """Whether ``loss`` (a name, function, class or instance) is categorical cross-entropy,
    which trains on one-hot rows rather than class indices."""
    if isinstance(loss, str):
        return loss in _CATEGORICAL_NAMES
    cls = loss if isinstance(loss, type) else type(loss)
    return cls.__name__ == "CategoricalCrossentropy" or getattr(loss, "__name__", None) == "categorical_crossentropy"


class TargetReshaper(TransformerMixin, BaseEstimator):
    """Make a 1-D target 2-D (one column) and back.

    Attributes
    ----------
    ndim_ : int
        Dimensions of the target seen in ``fit``.
    """

    def fit(self, y):
        self.ndim_ = np.ndim(y)
        return self

    def transform(self, y):
        y = np.asarray(y)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y):
        if not hasattr(self, "ndim_"):
            raise NotFittedError(f"This {type(self).__name__} is not initialized: call fit first.")
        y = np.asarray(y)
        return y[:, 0] if self.ndim_ == 1 and y.ndim == 2 and y.shape[1] == 1 else y


class ClassifierLabelEncoder(TransformerMixin, BaseEstimator):
    """The default target encoder of :class:`skann.KerasClassifier`.

    Class labels (ints, strings, bools, floats) become class indices ``(n, 1)`` in Keras'
    float type, or one-hot rows when the loss is categorical cross-entropy; multilabel
    indicator and one-hot targets pass through. ``inverse_transform`` turns the model's
    probabilities back into labels of the fitted dtype and shape (``return_proba=True``: one
    column per class; a single sigmoid unit gives two columns).

    Parameters
    ----------
    loss : str, keras loss or None, default=None
        The model's loss: categorical cross-entropy makes one-hot targets.
    categories : "auto" or list of one array, default="auto"
        All classes, when not all of them are in the first ``y`` (``partial_fit``).

    Attributes
    ----------
    target_type_ : str
        ``type_of_target`` of the fitted y ("binary", "multiclass", "multiclass-onehot",
        "multilabel-indicator" or "multiclass-multioutput").
    classes_ : ndarray or None
    n_classes_ : int or None
    n_outputs_ : int
        Always 1: one target.
    n_outputs_expected_ : int
        Outputs the Keras model must have (1).
    """

    def __init__(self, loss=None, categories="auto"):
        self.loss = loss
        self.categories = categories

    def fit(self, y):
        y = np.asarray(y)
        target_type = type_of_target(y)
        if target_type == "binary" and not isinstance(self.categories, str):
            # classes given up front may make a binary-looking first batch multiclass
            target_type = type_of_target(np.asarray(self.categories[0]))
        if target_type not in ("binary", "multiclass", "multilabel-indicator", "multiclass-multioutput"):
            raise ValueError(
                f"Unknown label type: {target_type}. KerasClassifier takes class labels (1-D, "
                "or one column), one-hot or multilabel indicator rows; for other targets, "
                "subclass it and override the target_encoder property."
            )
        if target_type == "multilabel-indicator" and y.min() == 0 and (y.sum(axis=1) == 1).all():
            target_type = "multiclass-onehot"
        self._y_shape = y.shape
        self._y_dtype = y.dtype
        if target_type in ("binary", "multiclass"):
            classes = np.unique(y) if isinstance(self.categories, str) else np.asarray(self.categories[0])
            self.classes_ = np.sort(classes)
            self.n_classes_ = self.classes_.size
        elif target_type == "multiclass-multioutput":
            self.classes_ = None
            self.n_classes_ = None
        else:
            self.classes_ = np.arange(y.shape[1])
            self.n_classes_ = y.shape[1]
        self.target_type_ = target_type
        self.n_outputs_ = 1
        self.n_outputs_expected_ = 1
        return self

    @property
    def output_units(self) -> int:
        """Units of an output layer for this target: 1 (binary, one sigmoid), else one per class
        or label."""
        return 1 if self.target_type_ == "binary" else self.n_classes_

    @property
    def output_activation(self) -> str:
        return "softmax" if self.target_type_ in ("multiclass", "multiclass-onehot") else "sigmoid"

    @property
    def default_loss(self) -> str:
        """The loss that fits the target and the output layer skann's builders make."""
        if self.target_type_ == "multiclass":
            return "sparse_categorical_crossentropy"
        if self.target_type_ == "multiclass-onehot":
            return "categorical_crossentropy"
        return "binary_crossentropy"

    def _codes(self, y: np.ndarray) -> np.ndarray:
        column = y.reshape(-1) if y.ndim == 1 or y.shape[1:] == (1,) else None
        if column is None:
            raise ValueError(
                f"y has {y.shape[1]} columns, but this encoder was fitted on a single column of "
                "labels (the number of features in y changed)."
            )
        codes = np.clip(np.searchsorted(self.classes_, column), 0, self.classes_.size - 1)
        unknown = self.classes_[codes] != column
        if unknown.any():
            raise ValueError(
                f"Found unknown categories {np.unique(column[unknown]).tolist()} in y; the known "
                f"classes are {self.classes_.tolist()}. Pass every class to the first partial_fit "
                "(classes=...) or refit."
            )
        return codes

    def transform(self, y) -> np.ndarray:
        y = np.asarray(y)
        if self.target_type_ in ("binary", "multiclass"):
            codes = self._codes(y)
            if self.target_type_ == "multiclass" and is_categorical_crossentropy(self.loss):
                return np.eye(self.n_classes_, dtype=_floatx())[codes]
            return codes.astype(_floatx()).reshape(-1, 1)
        if self.target_type_ != "multiclass-multioutput" and (y.ndim != 2 or y.shape[1] != self.n_classes_):
            raise ValueError(
                f"y has shape {y.shape}, but this encoder was fitted on indicator rows of "
                f"{self.n_classes_} columns (the number of features in y changed)."
            )
        return y

    def proba(self, outputs) -> np.ndarray:
        """Class probabilities, one column per class, from the model's outputs."""
        outputs = np.asarray(outputs)
        if self.n_classes_ == 1:  # a target with one class: it is always that class
            return np.ones((len(outputs), 1))
        if self.target_type_ == "binary" and (outputs.ndim == 1 or outputs.shape[1] == 1):
            p = outputs.reshape(-1)
            return np.column_stack([1 - p, p])
        return outputs

    def inverse_transform(self, y, return_proba: bool = False) -> np.ndarray:
        if self.target_type_ == "multiclass-multioutput":
            if return_proba:
                return y
            raise NotImplementedError(
                "Class-predictions are not clearly defined for 'multiclass-multioutput' targets: "
                "subclass KerasClassifier and override target_encoder with an encoder that maps "
                "the model's outputs to labels."
            )
        proba = self.proba(y)
        if return_proba:
            return proba
        if self.target_type_ in ("binary", "multiclass"):
            labels = self.classes_[np.argmax(proba, axis=1)].astype(self._y_dtype, copy=False)
            return labels.reshape(-1, *self._y_shape[1:])
        if self.target_type_ == "multiclass-onehot":
            onehot = np.zeros(proba.shape, dtype=int)
            onehot[np.arange(len(proba)), np.argmax(proba, axis=1)] = 1
            return onehot
        return (proba > 0.5).astype(int)

    def get_metadata(self) -> dict:
        return {
            "classes_": self.classes_,
            "n_classes_": self.n_classes_,
            "n_outputs_": self.n_outputs_,
            "n_outputs_expected_": self.n_outputs_expected_,
        }


class RegressorTargetEncoder(TransformerMixin, BaseEstimator):
    """The default target encoder of :class:`skann.KerasRegressor`.

    The target goes to Keras as it is; predictions come back in float64 (as every
    scikit-learn regressor's do) and in the shape of the fitted y.

    Attributes
    ----------
    n_outputs_ : int
        Number of target columns.
    n_outputs_expected_ : int
        Outputs the Keras model must have (1: one output with ``n_outputs_`` units).
    """

    def fit(self, y):
        y = np.asarray(y)
        self._y_shape = y.shape
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self.n_outputs_expected_ = 1
        return self

    def transform(self, y):
        y = np.asarray(y)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if n_outputs != self.n_outputs_:
            raise ValueError(
                f"Detected ``y`` to have {n_outputs} outputs with y.shape={y.shape}, but this "
                f"model was fitted on {self.n_outputs_}."
            )
        return y

    def inverse_transform(self, y) -> np.ndarray:
        return np.asarray(y, dtype=np.float64).reshape(-1, *self._y_shape[1:])

    def get_metadata(self) -> dict:
        return {"n_outputs_": self.n_outputs_, "n_outputs_expected_": self.n_outputs_expected_}
