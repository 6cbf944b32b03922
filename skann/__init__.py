"""skann: scikit-learn compatible Keras neural networks, following the book's chapter on
artificial neural networks with Keras."""

from skann._quiet import import_tensorflow_quietly
from skann._threads import limit_tensorflow_threads

import_tensorflow_quietly()
limit_tensorflow_threads()  # one share of the CPU per parallel worker (joblib, Dask)

from skann.estimators import FashionMLPClassifier, HousingMLPRegressor  # noqa: E402
from skann.perceptron import PerceptronBaseline  # noqa: E402
from skann.persistence import load, save  # noqa: E402
from skann.wide_deep import WideDeepRegressor  # noqa: E402
from skann.transformers import (  # noqa: E402
    FeatureSplitter,
    ImageFlattener,
    ImageReshaper,
    PixelScaler,
)

__version__ = "0.1.0"

__all__ = [
    "FashionMLPClassifier",
    "FeatureSplitter",
    "HousingMLPRegressor",
    "ImageFlattener",
    "ImageReshaper",
    "PerceptronBaseline",
    "PixelScaler",
    "WideDeepRegressor",
    "__version__",
    "load",
    "save",
]
