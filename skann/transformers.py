"""Preprocessing transformers for images and for the Wide & Deep feature paths."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = ["FeatureSplitter", "ImageFlattener", "ImageReshaper", "PixelScaler"]


def _check_images(X, estimator_name: str) -> np.ndarray:
    X = check_array(X, allow_nd=True, dtype=None, ensure_2d=False, input_name="X")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{estimator_name} expects numeric pixel values; got dtype {X.dtype}.")
    if X.ndim not in (3, 4):
        raise ValueError(
            f"{estimator_name} expects images of shape (n_samples, height, width) or "
            f"(n_samples, height, width, channels); got an array of shape {X.shape}."
        )
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{estimator_name}: the images contain NaN or infinity.")
    return X


class ImageFlattener(TransformerMixin, BaseEstimator):
    """Flatten images ``(n, h, w[, c])`` into rows ``(n, h*w*c)``.

    The dtype is kept (uint8 stays uint8) and no data is copied for contiguous input.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image seen in ``fit``.
    n_features_out_ : int
        ``h * w * c``.

    Examples
    --------
    >>> import numpy as np
    >>> from skann import ImageFlattener
    >>> ImageFlattener().fit_transform(np.zeros((2, 28, 28), dtype=np.uint8)).shape
    (2, 784)
    """

    def fit(self, X, y=None):
        X = _check_images(X, type(self).__name__)
        self.image_shape_ = tuple(X.shape[1:])
        self.n_features_out_ = int(np.prod(self.image_shape_))
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = _check_images(X, type(self).__name__)
        if tuple(X.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"ImageFlattener was fitted on images of shape {self.image_shape_}; "
                f"got images of shape {tuple(X.shape[1:])}."
            )
        return X.reshape(len(X), self.n_features_out_)

    def inverse_transform(self, X):
        check_is_fitted(self)
        X = check_array(X, dtype=None)
        if X.shape[1] != self.n_features_out_:
            raise ValueError(f"Expected rows of {self.n_features_out_} pixels; got {X.shape[1]}.")
        return X.reshape((len(X), *self.image_shape_))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return np.asarray([f"pixel{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class ImageReshaper(TransformerMixin, BaseEstimator):
    """Reshape rows ``(n, h*w)`` back into images ``(n, *shape)``; the inverse of ImageFlattener.

    Parameters
    ----------
    shape : tuple of int, default=(28, 28)
        Shape of one image.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per row, ``prod(shape)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skann import ImageReshaper
    >>> ImageReshaper().fit_transform(np.zeros((2, 784))).shape
    (2, 28, 28)
    """

    def __init__(self, shape=(28, 28)):
        self.shape = shape

    def _image_shape(self) -> tuple[int, ...]:
        shape = self.shape
        if (
            not isinstance(shape, Sequence)
            or len(shape) == 0
            or not all(isinstance(s, numbers.Integral) and s > 0 for s in shape)
        ):
            raise ValueError(f"shape must be a tuple of positive ints such as (28, 28); got {shape!r}.")
        return tuple(int(s) for s in shape)

    def fit(self, X, y=None):
        shape = self._image_shape()
        X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        if X.shape[1] != np.prod(shape):
            raise ValueError(
                f"Rows of {X.shape[1]} values cannot be reshaped into images of shape {shape} "
                f"({int(np.prod(shape))} pixels); set ImageReshaper(shape=...)."
            )
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        return X.reshape((len(X), *self._image_shape()))

    def inverse_transform(self, X):
        check_is_fitted(self)
        X = _check_images(X, type(self).__name__)
        return X.reshape(len(X), -1)


class PixelScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Scale 0-255 pixel intensities to float32 in [0, 1] by dividing by 255.

    A fixed rescaling, as in the book (``X / 255.``), not a fitted min-max scaler: every
    image is scaled the same way whatever the training set. Accepts images ``(n, h, w[, c])``
    or flattened rows ``(n, h*w)`` and keeps the shape. Values outside [0, 255] are refused.

    skann's ``FashionMLPClassifier`` uses float input as it is, so
    ``make_pipeline(PixelScaler(), FashionMLPClassifier())`` never scales twice.

    Examples
    --------
    >>> import numpy as np
    >>> from skann import PixelScaler
    >>> PixelScaler().fit_transform(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]], dtype=float32)
    """

    def fit(self, X, y=None):
        X = self._validate(X, reset=True)
        if X.dtype.kind == "f" and X.size and X.max() <= 1.0:
            warnings.warn(
                "PixelScaler: all values are in [0, 1]; the data looks already scaled and will "
                "be divided by 255 again. Remove one of the scaling steps.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = self._validate(X, reset=False)
        out = X.astype(np.float32)  # one float32 copy, never float64
        out /= np.float32(255.0)
        return out

    def inverse_transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = check_array(X, allow_nd=True, dtype=np.float32)
        return X * np.float32(255.0)

    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(
            self, X, reset=reset, allow_nd=True, dtype=None, ensure_all_finite=True
        )
        if X.dtype.kind not in "biuf":
            X = check_array(X, allow_nd=True, dtype=np.float32)
        if reset:
            self.image_shape_ = tuple(X.shape[1:])
        elif tuple(X.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"PixelScaler was fitted on samples of shape {self.image_shape_}; "
                f"got {tuple(X.shape[1:])}."
            )
        if X.size and (X.min() < 0 or X.max() > 255):
            what = "Negative values in data" if X.min() < 0 else "Values above 255 in data"
            raise ValueError(
                f"{what} passed to PixelScaler: it expects pixel intensities in [0, 255]; "
                f"got values in [{X.min()}, {X.max()}]."
            )
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True  # pixel intensities
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def resolve_columns(spec, n_features: int, feature_names, what: str) -> np.ndarray:
    """Integer column indices for a selection given as ints, a slice, a mask or names."""
    if isinstance(spec, slice):
        indices = np.arange(n_features)[spec]
    else:
        items = np.atleast_1d(np.asarray(spec, dtype=object if _has_str(spec) else None))
        if items.size == 0:
            indices = np.array([], dtype=int)
        elif items.dtype == bool:
            if items.shape != (n_features,):
                raise ValueError(
                    f"{what}: a boolean mask must have one entry per feature ({n_features}); "
                    f"got {items.shape[0]}."
                )
            indices = np.flatnonzero(items)
        elif all(isinstance(i, str) for i in items):
            if feature_names is None:
                raise ValueError(
                    f"{what}: column names {list(items)} need X as a DataFrame with named columns."
                )
            names = list(feature_names)
            unknown = [c for c in items if c not in names]
            if unknown:
                raise ValueError(f"{what}: unknown column(s) {unknown}; X has columns {names}.")
            indices = np.array([names.index(c) for c in items])
        elif all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in items):
            indices = np.array(items, dtype=int)
            bad = indices[(indices < -n_features) | (indices >= n_features)]
            if bad.size:
                raise ValueError(
                    f"{what}: column index {bad.tolist()} out of range for X with "
                    f"{n_features} features."
                )
            indices = indices % n_features
        else:
            raise ValueError(
                f"{what} must be int indices, a slice, a boolean mask or column names; got {spec!r}."
            )
    if indices.size == 0:
        raise ValueError(f"{what} selects no features; it needs at least one.")
    return indices


def _has_str(spec) -> bool:
    return isinstance(spec, str) or (
        isinstance(spec, (list, tuple)) and any(isinstance(s, str) for s in spec)
    )


class FeatureSplitter(TransformerMixin, BaseEstimator):
    """Select the wide-path and deep-path feature sets of a Wide & Deep network.

    Parameters
    ----------
    wide : ints, slice, boolean mask or column names, default=(0, 1, 2, 3, 4)
        Features fed straight to the output layer (the book's default: features 0-4).
    deep : ints, slice, boolean mask or column names, default=(2, 3, 4, 5, 6, 7)
        Features fed through the hidden stack (the book's default: features 2-7).
        The two sets may overlap.

    Attributes
    ----------
    wide_indices_, deep_indices_ : ndarray of int
        Column indices of each path.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skann import FeatureSplitter
    >>> X_wide, X_deep = FeatureSplitter().fit_transform(np.zeros((3, 8)))
    >>> X_wide.shape, X_deep.shape
    ((3, 5), (3, 6))
    """

    def __init__(self, wide=(0, 1, 2, 3, 4), deep=(2, 3, 4, 5, 6, 7)):
        self.wide = wide
        self.deep = deep

    def fit(self, X, y=None):
        X = validate_data(self, X, reset=True, dtype=[np.float32, np.float64])
        names = getattr(self, "feature_names_in_", None)
        self.wide_indices_ = resolve_columns(self.wide, self.n_features_in_, names, "wide")
        self.deep_indices_ = resolve_columns(self.deep, self.n_features_in_, names, "deep")
        return self

    def transform(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X_wide, X_deep)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        return X[:, self.wide_indices_], X[:, self.deep_indices_]

    def get_feature_names_out(self, input_features=None) -> tuple[np.ndarray, np.ndarray]:
        """Names of the wide and the deep features, as a pair."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names[self.wide_indices_], names[self.deep_indices_]
