"""skann: scikit-learn compatible Keras neural networks, following the book's chapter on
artificial neural networks with Keras.

The estimators load TensorFlow on first use (``from skann import FashionMLPClassifier``), so
``import skann`` and the ``skann`` command line start quickly.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "FashionMLPClassifier": "skann.estimators",
    "HousingMLPRegressor": "skann.estimators",
    "PerceptronBaseline": "skann.perceptron",
    "WideDeepRegressor": "skann.wide_deep",
    "FeatureSplitter": "skann.transformers",
    "ImageFlattener": "skann.transformers",
    "ImageReshaper": "skann.transformers",
    "PixelScaler": "skann.transformers",
    "load": "skann.persistence",
    "save": "skann.persistence",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skann' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
