"""scikit-learn's own estimator checks over skann's estimators: the four book networks and
the general wrappers around three users' networks (Dense, convolutional, multi-output).

Settings are small and fast but still learn the checks' toy problems well enough for their
score thresholds: ``poor_score`` is not set.
"""

from __future__ import annotations

import warnings

import keras
import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

from skann import (
    FashionMLPClassifier,
    HousingMLPRegressor,
    KerasClassifier,
    KerasRegressor,
    KerasTransformer,
    PerceptronBaseline,
    WideDeepRegressor,
)

from .conftest import BACKEND

# Each entry is a check a stochastic mini-batch network cannot pass; pytest shows the reason.
_SGD_WEIGHTS = (
    "stochastic gradient descent on shuffled data: weight 2 on a sample is one scaled "
    "step, the sample repeated is two steps at other points of the epoch (and changes "
    "the batches), so the fits differ"
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": _SGD_WEIGHTS,
    "check_sample_weight_equivalence_on_sparse_data": _SGD_WEIGHTS,
}

FAST = dict(n_hidden=1, n_neurons=16, epochs=4, batch_size=32, random_state=0)


@keras.saving.register_keras_serializable(package="skann_tests")
class ConfigPickledAdam(keras.optimizers.Adam):
    """Adam pickled by its config. Keras pickles an optimizer as a .keras archive stamped with
    the time of saving, so joblib.hash of an untouched instance changes from one second to the
    next; check_estimators_overwrite_params compares such hashes across a fit and failed
    whenever the fit crossed a second boundary (seen once in a CI run)."""

    def __reduce__(self):
        return type(self).from_config, (self.get_config(),)


# Routed constructor keywords (optimizer__learning_rate=...) are parameters, but not in the
# signature, which check_no_attributes_set_in_init reads: the checks get an optimizer instance.
USER = dict(optimizer=ConfigPickledAdam(0.03), epochs=4, batch_size=32, random_state=0)


def _output_for(meta, compile_kwargs):
    """The output layer and loss that fit the target (binary, multiclass or multilabel)."""
    if meta["target_type_"] == "binary":
        units, activation, loss = 1, "sigmoid", "binary_crossentropy"
    elif meta["target_type_"] == "multilabel-indicator":
        units, activation, loss = meta["n_classes_"], "sigmoid", "binary_crossentropy"
    else:
        units, activation, loss = meta["n_classes_"], "softmax", "sparse_categorical_crossentropy"
    compile_kwargs["loss"] = loss
    return keras.layers.Dense(units, activation=activation)


def dense_classifier(meta, compile_kwargs, hidden=16):
    """A user's Dense classifier, compiled in the builder."""
    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu"),
        _output_for(meta, compile_kwargs),
    ])
    model.compile(**compile_kwargs)
    return model


def conv_classifier(meta, compile_kwargs, filters=8):
    """A user's convolutional classifier: each row seen as a one-pixel-wide image."""
    n = meta["n_features_in_"]
    model = keras.Sequential([
        keras.Input((n,)),
        keras.layers.Reshape((n, 1, 1)),
        keras.layers.Conv2D(filters, (1, 1), activation="relu"),
        keras.layers.Flatten(),
        _output_for(meta, compile_kwargs),
    ])
    model.compile(**compile_kwargs)
    return model


def multi_output_regressor(meta, hidden=16):
    """A user's functional regressor with one unit per target column."""
    inputs = keras.Input((meta["n_features_in_"],))
    hidden_layer = keras.layers.Dense(hidden, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(meta["n_outputs_"])(hidden_layer))


def coder(meta, code=4):
    """A user's autoencoder: a bottleneck layer, then the features again."""
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(code, activation="relu", name="code"),
        keras.layers.Dense(meta["n_features_in_"]),
    ])


def _expected_failures(estimator):
    if (BACKEND == "jax" and isinstance(estimator, HousingMLPRegressor)) or (
        BACKEND == "torch" and isinstance(estimator, KerasRegressor)
    ):
        # Seen on JAX and PyTorch (other weights than TensorFlow's for the same seed): one or two
        # predictions of 20 differed in their last float32 bit between a batch of 20 rows and
        # a batch of 10.
        return {
            **EXPECTED_FAILED_CHECKS,
            "check_methods_subset_invariance": (
                "float32 matrix products: BLAS blocks a batch of 20 rows differently from a batch "
                "of 10, which can change a prediction's last bit (2.4e-7 here)"
            ),
        }
    return EXPECTED_FAILED_CHECKS


def _id(value) -> str:
    """Stable test ids (the default ones hold the builders' memory addresses, which differ
    between xdist workers)."""
    if isinstance(value, BaseEstimator):
        model = value.get_params().get("model")
        return type(value).__name__ + (f"[{model.__name__}]" if callable(model) else "")
    func, keywords = getattr(value, "func", value), getattr(value, "keywords", {})
    return func.__name__ + (f"({','.join(f'{k}={v}' for k, v in keywords.items())})" if keywords else "")


# The book's three networks are thin subclasses of the wrappers checked below on every
# backend (the same engine, feed and prediction path; their backend-specific training is
# tested in test_estimators and test_wide_deep): their ~130 checks run in the JAX run of the
# README's test command only, which keeps the TensorFlow run within its time.
BOOK_NETWORKS = [
    FashionMLPClassifier(optimizer="adam", learning_rate=0.03, **FAST),
    HousingMLPRegressor(early_stopping=False, learning_rate=0.01, **FAST),
    # The checks' data has 1-10 features: the book's column sets (0-4, 2-7) cannot apply.
    WideDeepRegressor(wide_features=[0], deep_features=slice(None), early_stopping=False, learning_rate=0.01, **FAST),
]

_CHECKS = parametrize_with_checks(
    [
        *(BOOK_NETWORKS if BACKEND == "jax" else []),
        PerceptronBaseline(max_iter=10, random_state=0),
        KerasClassifier(dense_classifier, **USER),
        KerasRegressor(multi_output_regressor, loss="mse", **USER),
        KerasTransformer(coder, layer="code", autoencoder=True, loss="mse", **USER),
    ],
    expected_failed_checks=_expected_failures,
)


@pytest.mark.parametrize(_CHECKS.args[0], list(_CHECKS.args[1]), ids=_id)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        # The checks feed generic float data to the Fashion classifier, which (rightly)
        # warns that float input is used unscaled.
        warnings.filterwarnings("ignore", message=".*used unscaled", category=UserWarning)
        check(estimator)


# The convolutional model differs from the Dense one where prediction is concerned (no NumPy
# forward pass for Conv2D: Keras' predict_on_batch serves it), so it gets the checks that
# predict, pickle and validate input, not the whole suite again.
CONV_CHECKS = [
    "check_classifiers_train", "check_classifiers_classes", "check_methods_subset_invariance",
    "check_methods_sample_order_invariance", "check_fit2d_predict1d", "check_estimators_pickle",
    "check_estimators_dtypes", "check_classifier_data_not_an_array", "check_supervised_y_2d",
    "check_fit_idempotent", "check_n_features_in_after_fitting", "check_estimators_nan_inf",
]


@pytest.mark.parametrize("check_name", CONV_CHECKS)
def test_sklearn_checks_on_a_convolutional_user_model(check_name):
    from sklearn.utils import estimator_checks

    check = getattr(estimator_checks, check_name)
    estimator = KerasClassifier(conv_classifier, **USER)
    check(type(estimator).__name__, estimator)
