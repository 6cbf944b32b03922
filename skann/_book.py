"""What the book's four estimators add to the wrappers: flat book parameters and early stopping.

``FashionMLPClassifier`` and the others are ``BookNetwork`` + :class:`skann.KerasClassifier` (or
``KerasRegressor``): the wrapper does the work (validation, the guarded fit, training,
prediction, pickling); this layer maps the book's flat parameters (``n_hidden``, ``n_neurons``,
``learning_rate`` ...) to a fixed model-building function and its compile settings, holds out a
stratified validation fraction for early stopping, and gives the network float32 rows.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import numbers
import os

import keras
import numpy as np
from sklearn.base import is_classifier
from skann._sklearn_compat import Interval, StrOptions

from skann.builders import hidden_layer_sizes
from skann._routing import route_params
from skann._compile_settings import make_optimizer, optimizer_class

# Parameter constraints shared by the book estimators (scikit-learn's validation, at fit).
BOOK_CONSTRAINTS: dict = {
    "n_hidden": [Interval(numbers.Integral, 0, None, closed="left")],
    "n_neurons": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
    "activation": [str, callable],
    "optimizer": [str, type, keras.optimizers.Optimizer],
    "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    "patience": [Interval(numbers.Integral, 1, None, closed="left")],
    "callbacks": [list, tuple, keras.callbacks.Callback, None],
    "log_dir": [str, os.PathLike, None],
    "shuffle": ["boolean"],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "steps_per_execution": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "verbose": ["verbose"],
    "class_weight": [dict, StrOptions({"balanced"}), None],
}


class BookNetwork:
    """Mixin put before KerasClassifier/KerasRegressor by the four book estimators.

    What a book estimator must provide is declared in ``REQUIRES`` and checked when its class
    is defined (a class that leaves one out fails there, not at its first fit): its network
    (``build_network``) and its compile settings (``_get_compile_kwargs``, or the loss and
    metrics this mixin compiles with, ``_loss`` and ``_metrics``). Its parameters are checked
    by what it declares: a book estimator without ``n_hidden`` (the perceptron) has no layer
    sizes to check.
    """

    REQUIRES = {
        "build_network": "the network of a new fit",
        "_get_compile_kwargs": "the compile settings (or _loss and _metrics, which the default uses)",
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        from skann.wrappers import BaseWrapper

        if not issubclass(cls, BaseWrapper):
            return
        missing = []
        for name, what in cls.REQUIRES.items():
            own = getattr(cls, name) is not getattr(BaseWrapper, name, None)
            if name == "_get_compile_kwargs" and getattr(cls, name) is BookNetwork._get_compile_kwargs:
                own = all(hasattr(cls, part) for part in ("_loss", "_metrics"))
            if not own:
                missing.append(f"{name} ({what})")
        if missing:
            raise TypeError(f"{cls.__name__} is a book estimator without {', '.join(missing)}.")

    # The book estimators build a fixed network: extra keywords must be routed ones.
    _user_params_go_to_builder = False
    _routing_prefixes = frozenset({"fit", "predict", "optimizer", "callbacks", "score"})
    _parameter_constraints = BOOK_CONSTRAINTS

    def _input_ranks(self) -> list[int] | None:
        return [2]

    _allow_nd = False  # rows of features (FashionMLPClassifier flattens images first)
    _accept_sparse = False  # the chapter's networks take dense features (scaled, normalised, split)
    _accept_lazy = False
    _poor_score = False

    def _initialize(self, X, y, **kwargs):
        X, y = super()._initialize(X, y, **kwargs)
        if is_classifier(self) and self.n_classes_ is not None and self.n_classes_ < 2:
            raise ValueError(
                "The target needs samples of at least 2 classes; it holds only one class: "
                f"{self.classes_[0]!r}."
            )
        return X, y

    def encode_features(self, X):
        return X.astype(np.float32, copy=False)

    def _check_params(self) -> None:
        super()._check_params()
        declared = self._parameter_constraints  # the book parameters this estimator has
        if "n_hidden" in declared:
            hidden_layer_sizes(self.n_hidden, self.n_neurons)  # one int, or one size per layer
        # Names Keras would refuse only when the network is built, refused here at once.
        for name in ("activation", "output_activation"):
            value = getattr(self, name, None) if name in declared else None
            if isinstance(value, str):
                try:
                    keras.activations.get(value)
                except ValueError:
                    raise ValueError(
                        f"{name}={value!r} is not a Keras activation; use a name such as 'relu', "
                        "'tanh', 'sigmoid', 'selu', 'elu' or 'linear', or a function."
                    ) from None
        if "optimizer" in declared:
            optimizer_class(self.optimizer)

    def _get_compile_kwargs(self) -> dict:
        optimizer_args = route_params(self.get_params(), "optimizer", pass_filter=(), strict=True)
        return {
            "optimizer": make_optimizer(self.optimizer, {"learning_rate": self.learning_rate, **optimizer_args}),
            "loss": self._loss(),
            "metrics": self._metrics(),
        }

    def _patience(self) -> int:
        return self.patience  # the book's name for scikit-learn's n_iter_no_change
