"""skann: scikit-learn compatible Keras neural networks, following the book's chapter on
artificial neural networks with Keras.

``import skann`` is light: it imports neither Keras nor a backend, so the command line answers
at once. Whenever Keras or TensorFlow is imported afterwards (by skann or by you), skann sets it
up first (``skann._backend``): TensorFlow without its start-up log spam, thread pools sized for
this process's share of the CPU. (skann's own modules import ``skann._backend`` first as well.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys


class _BackendSetUpFirst(importlib.abc.MetaPathFinder):
    """Sets the Keras backend up the first time Keras or TensorFlow is imported.

    Keras picks its backend when it is imported: ``skann._backend`` runs just before (while
    Keras is looked for). TensorFlow imported directly is loaded by its own loader, with its
    start-up notices filtered and its thread pools sized as ``skann._backend`` does.
    """

    def find_spec(self, name, path=None, target=None):
        if self not in sys.meta_path:
            return None
        if name == "keras" and not _QuietTensorFlowLoader.running:  # (TensorFlow probes for Keras as it loads)
            _finder_done()
            return None
        if name == "tensorflow":
            for finder in sys.meta_path:
                if finder is not self and hasattr(finder, "find_spec"):
                    spec = finder.find_spec(name, path, target)
                    if spec is not None:
                        if spec.loader is not None:
                            spec.loader = _QuietTensorFlowLoader(spec.loader)
                        return spec
        return None


class _QuietTensorFlowLoader(importlib.abc.Loader):
    running = False

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        from skann._quiet import tensorflow_starting_quietly
        from skann._threads import limit_tensorflow_threads

        _QuietTensorFlowLoader.running = True
        try:
            with tensorflow_starting_quietly():
                self.loader.exec_module(module)
        finally:
            _QuietTensorFlowLoader.running = False
        limit_tensorflow_threads()
        if "keras" in sys.modules:  # TensorFlow imported Keras as it loaded: set up now
            _finder_done()


def _finder_done() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _BackendSetUpFirst)]
    importlib.import_module("skann._backend")


if "keras" not in sys.modules:
    sys.meta_path.insert(0, _BackendSetUpFirst())
else:  # Keras came first: its backend's thread pools are still sized now
    importlib.import_module("skann._backend")

__version__ = "0.1.0"

_EXPORTS = {
    "DivergenceError": "skann.callbacks",
    "KerasClassifier": "skann.wrappers",
    "KerasRegressor": "skann.wrappers",
    "KerasTransformer": "skann.keras_transformer",
    "FashionMLPClassifier": "skann.estimators",
    "HousingMLPRegressor": "skann.estimators",
    "PerceptronBaseline": "skann.perceptron",
    "WideDeepRegressor": "skann.wide_deep",
    "FeatureSplitter": "skann.transformers",
    "ImageFlattener": "skann.transformers",
    "ImageReshaper": "skann.transformers",
    "PixelScaler": "skann.transformers",
    "SliceDataset": "skann.datasets",
    "load": "skann.persistence",
    "save": "skann.persistence",
    "to_onnx": "skann.onnx",
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
