"""skann: scikit-learn compatible Keras neural networks, following the book's chapter on
artificial neural networks with Keras.

``import skann`` imports TensorFlow without its start-up log spam (so a later ``import keras``
is quiet too) and sizes its thread pools for this process. The ``skann`` command line defers
that to the commands that need it, so ``skann --help`` answers at once.
"""

from __future__ import annotations

import importlib
import os
import sys

if os.path.basename(sys.argv[0] if sys.argv else "") != "skann":
    import skann._backend  # noqa: F401

__version__ = "0.1.0"

_EXPORTS = {
    "DivergenceError": "skann.callbacks",
    "KerasClassifier": "skann.wrappers",
    "KerasRegressor": "skann.wrappers",
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
