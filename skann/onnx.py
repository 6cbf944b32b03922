"""ONNX export: a skann estimator, or a scikit-learn pipeline ending in one, as one ONNX graph.

The scikit-learn steps are converted by skl2onnx; skann registers converters for its
estimators with it. A converter writes the estimator's own input handling (pixel scaling,
Wide & Deep's column split), the network's layers as ONNX operators built from the Keras
model's weights, and the decoding of its outputs (class probabilities and labels) — from the
weights alone, so the export is the same on every Keras backend and needs neither TensorFlow
nor a backend-specific exporter. A layer it cannot write gets an error naming it.

Needs the ``onnx`` extra: ``pip install "skann[onnx]"`` (onnx, onnxruntime, skl2onnx).
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import numpy as np

from skann._text import one_line

__all__ = ["to_onnx"]


def to_onnx(model, X_sample=None, *, target_opset: int | None = None):
    """The fitted ``model`` as an ONNX model (``onnx.ModelProto``).

    Parameters
    ----------
    model : fitted skann estimator, or scikit-learn Pipeline / ColumnTransformer ... ending in one
    X_sample : array-like or DataFrame, optional
        Rows like those ``model.predict`` takes: they fix the graph's inputs (one input for an
        array, of its dtype and row shape; one per column for a DataFrame, named after it,
        each of shape (n_samples, 1)); float64 becomes float32. Without it, a
        bare skann estimator's inputs come from what it was fitted on (``X_shape_``,
        ``X_dtype_``); a pipeline needs it.
    target_opset : int, optional
        ONNX opset; by default skl2onnx's latest tested one.

    Returns
    -------
    onnx.ModelProto
        A regressor's graph has one output, ``variable`` (n_samples, n_outputs); a
        classifier's ``label`` (n_samples,) and ``probabilities`` (n_samples, n_classes) —
        for :class:`skann.PerceptronBaseline`, the scores of its decision function.

    Raises
    ------
    ImportError
        Without the ``onnx`` extra.
    ValueError
        A layer, activation or step the export cannot write (the message names it; for
        scikit-learn steps, skl2onnx's reason: e.g. a SimpleImputer of strings must mark
        missing values with a string, not NaN or None).
    """
    try:
        import skl2onnx
    except ImportError:  # pragma: no cover - the extra's absence
        raise ImportError('skann.to_onnx needs the onnx extra: pip install "skann[onnx]"') from None
    from sklearn.base import is_classifier
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    from skann._onnx_network import estimators_in, register_converters, skann_parts

    check_is_fitted(model)
    estimators = estimators_in(model)
    register_converters(skann_parts(estimators))
    X_sample = _float32(_sample_from_fit(model) if X_sample is None else X_sample)
    # Probabilities as one array per classifier, not skl2onnx's default list of dicts (ZipMap).
    options = {id(est): {"zipmap": False} for est in estimators if is_classifier(est) and not isinstance(est, Pipeline)}
    try:
        return skl2onnx.to_onnx(model, X_sample, options=options or None, target_opset=target_opset)
    except (NotImplementedError, RuntimeError, TypeError) as exc:  # skl2onnx's refusals of a step
        raise ValueError(f"skl2onnx cannot convert a step of this model: {one_line(exc)}") from exc


def _float32(X_sample):
    """The sample with float64 values as float32: the graph's float inputs are float32 (what
    the networks compute in, and what onnxruntime's Imputer and most of its kernels take)."""
    if hasattr(X_sample, "columns"):
        wide = [c for c in X_sample.columns if X_sample[c].dtype == np.float64]
        return X_sample.astype({c: np.float32 for c in wide}) if wide else X_sample
    X_sample = np.asarray(X_sample)
    return X_sample.astype(np.float32) if X_sample.dtype == np.float64 else X_sample


def _sample_from_fit(model) -> np.ndarray:
    """One row like those ``model`` was fitted on, for a bare skann estimator."""
    shape, dtype = getattr(model, "X_shape_", None), getattr(model, "X_dtype_", None)
    if shape is None or dtype is None or getattr(model, "feature_names_in_", None) is not None:
        raise ValueError(
            f"skann.to_onnx cannot tell the inputs of a {type(model).__name__} from its fit: give it a "
            "few rows like those it predicts on (X_sample=..., a DataFrame for a pipeline over "
            "columns; on the command line, skann export --rows FILE.csv)."
        )
    images = getattr(model, "sample_shape_", None)  # fitted on images: the graph takes images
    return np.zeros((1, *(images or shape[1:])), dtype=dtype)
