"""WideDeepRegressor: the book's Wide & Deep network as a scikit-learn regressor."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import numbers

import keras
import numpy as np
from skann._sklearn_compat import Interval, StrOptions

from skann._book import BOOK_CONSTRAINTS, BookNetwork
from skann.builders import WideAndDeepModel, build_wide_deep
from skann.estimators import _COMMON_ATTRS_DOC, _COMMON_PARAMS_DOC
from skann.transformers import FeatureSplitter, resolve_columns
from skann.wrappers import KerasRegressor

__all__ = ["WideDeepRegressor"]

_OUTPUTS = ("output", "aux_output")


class WideDeepRegressor(BookNetwork, KerasRegressor):
    __doc__ = f"""Wide & Deep regressor (Cheng et al., 2016), as built in the book.

    The **wide** features go (normalized) straight to the output layer; the **deep** features
    go (normalized) through ``n_hidden`` x ``n_neurons`` hidden layers; both meet in a
    ``concatenate`` before the output ``Dense``. Each path has its own ``Normalization``
    layer, adapted inside ``fit``. You pass **one** 2-D X (array or DataFrame): a
    ``FeatureSplitter`` (``feature_encoder_``) makes the two model inputs, so the estimator
    works in Pipelines, ``cross_val_score`` and searches.

    With ``aux_weight`` > 0 an auxiliary output sits on the deep stack (a regularizer): both
    outputs train on the same y with loss weights ``(1 - aux_weight, aux_weight)``,
    ``predict`` returns the main output and ``predict_aux`` the auxiliary one, and
    ``history_`` shows ``output_loss`` and ``aux_output_loss`` (and their RMSEs).

    Parameters
    ----------
    wide_features : ints, slice, boolean mask or column names, default=(0, 1, 2, 3, 4)
        Features of the wide path (book: the first five California housing features).
    deep_features : ints, slice, boolean mask or column names, default=(2, 3, 4, 5, 6, 7)
        Features of the deep path (book: features 2-7); may overlap the wide ones.
    aux_weight : float in [0, 1) or None, default=0.1
        Weight of the auxiliary output's loss; 0 or None builds no auxiliary output.
    api : {{"functional", "subclass"}}, default="functional"
        Build the network with the functional API (``skann.builders.build_wide_deep``) or
        as the book's subclassed ``WideAndDeepModel`` (registered with Keras, so it saves
        and loads the same way).
    {_COMMON_PARAMS_DOC.strip()}

    Attributes
    ----------
    feature_encoder_ : FeatureSplitter
        The fitted splitter (integer column indices of both paths).
    n_outputs_ : int
    has_aux_output_ : bool
        Whether the fitted network has the auxiliary output.
    {_COMMON_ATTRS_DOC.strip()}

    Examples
    --------
    >>> from skann import WideDeepRegressor
    >>> from skann.datasets import load_california_housing
    >>> X, y = load_california_housing(sample=True, return_X_y=True)
    >>> reg = WideDeepRegressor(epochs=2, random_state=42).fit(X[:2000], y[:2000])
    >>> reg.predict(X[:3]).shape, reg.predict_aux(X[:3]).shape
    ((3,), (3,))
    """

    _parameter_constraints = {
        **BOOK_CONSTRAINTS,
        "wide_features": "no_validation",  # resolved (with clear errors) by FeatureSplitter
        "deep_features": "no_validation",
        "aux_weight": [Interval(numbers.Real, 0, 1, closed="left"), None],
        "api": [StrOptions({"functional", "subclass"})],
    }

    def __init__(
        self,
        wide_features=(0, 1, 2, 3, 4),
        deep_features=(2, 3, 4, 5, 6, 7),
        n_hidden=2,
        n_neurons=30,
        activation="relu",
        aux_weight=0.1,
        api="functional",
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=32,
        epochs=100,
        early_stopping=True,
        validation_fraction=0.1,
        patience=20,
        callbacks=None,
        log_dir=None,
        shuffle=True,
        warm_start=False,
        random_state=None,
        steps_per_execution="auto",
        verbose=0,
        **kwargs,
    ):
        self.wide_features = wide_features
        self.deep_features = deep_features
        self.n_hidden = n_hidden
        self.n_neurons = n_neurons
        self.activation = activation
        self.aux_weight = aux_weight
        self.api = api
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.callbacks = callbacks
        self.log_dir = log_dir
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.random_state = random_state
        self.steps_per_execution = steps_per_execution
        self.verbose = verbose
        vars(self).update(kwargs)

    @property
    def feature_encoder(self) -> FeatureSplitter:
        # Column names are resolved against the names seen by validate_data; the splitter then
        # works on the validated array.
        names = getattr(self, "feature_names_in_", None)
        wide = resolve_columns(self.wide_features, self.n_features_in_, names, "wide_features")
        deep = resolve_columns(self.deep_features, self.n_features_in_, names, "deep_features")
        return FeatureSplitter(wide=wide, deep=deep)

    def encode_features(self, X: np.ndarray):
        return self.feature_encoder_.transform(super().encode_features(X))

    def encode_targets(self, y: np.ndarray):
        y = super().encode_targets(y)
        return (y, y) if self.has_aux_output_ else y

    def build_network(self) -> keras.Model:
        n_wide, n_deep = (len(columns) for columns in (self.feature_encoder_.wide_indices_, self.feature_encoder_.deep_indices_))
        settings = dict(
            n_hidden=self.n_hidden,
            n_neurons=self.n_neurons,
            activation=self.activation,
            aux_output=bool(self.aux_weight),
            seed=self._seed,
        )
        self.has_aux_output_ = bool(self.aux_weight)
        self.n_outputs_expected_ = 2 if self.has_aux_output_ else 1
        if self.api == "functional":
            return build_wide_deep(n_wide, n_deep, self.n_outputs_, **settings)
        return WideAndDeepModel(n_outputs=self.n_outputs_, **settings)

    def _adapt_model(self, X) -> None:
        X_wide, X_deep = X
        self.model_.get_layer("normalization_wide").adapt(X_wide)
        self.model_.get_layer("normalization_deep").adapt(X_deep)

    def _loss(self) -> str:
        return "mse"

    def _metrics(self) -> list:
        return [keras.metrics.RootMeanSquaredError()]

    def _get_compile_kwargs(self) -> dict:
        kwargs = super()._get_compile_kwargs()
        if not self.has_aux_output_:
            return kwargs
        # Named losses and metrics give the same history_ keys for both APIs:
        # output_loss, aux_output_loss, output_root_mean_squared_error, ...
        prefix = "" if self.api == "functional" else "{}_"
        kwargs["loss"] = [keras.losses.MeanSquaredError(name=name) for name in _OUTPUTS]
        kwargs["loss_weights"] = [1.0 - self.aux_weight, self.aux_weight]
        kwargs["metrics"] = [
            [keras.metrics.RootMeanSquaredError(name=prefix.format(name) + "root_mean_squared_error")]
            for name in _OUTPUTS
        ]
        return kwargs

    def _predict_raw(self, X, **kwargs):
        raw = super()._predict_raw(X, **kwargs)
        return raw[0] if self.has_aux_output_ else raw

    def predict_aux(self, X) -> np.ndarray:
        """Predictions of the auxiliary output (on the deep path), shaped like ``predict``'s."""
        if self.initialized_ and not self.has_aux_output_:
            raise AttributeError("This WideDeepRegressor has no auxiliary output (aux_weight is 0 or None).")
        raw = super()._predict_raw(X)
        return self.target_encoder_.inverse_transform(raw[1])
