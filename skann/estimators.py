"""skann's MLP estimators: the book's Fashion-MNIST classifier and California housing regressor."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import warnings

import keras
import numpy as np
from skann._sklearn_compat import StrOptions

from skann._book import BOOK_CONSTRAINTS, BookNetwork
from skann.builders import build_classification_mlp, build_regression_mlp
from skann.wrappers import KerasClassifier, KerasRegressor

__all__ = ["FashionMLPClassifier", "HousingMLPRegressor"]

_COMMON_PARAMS_DOC = """
    n_hidden : int
        Number of hidden layers (0 gives a linear model).
    n_neurons : int or sequence of int
        Neurons per hidden layer: one int for all layers, or one size per layer
        (its length must equal ``n_hidden``).
    activation : str or callable, default="relu"
        Activation of the hidden layers (any Keras activation).
    optimizer : str, keras.optimizers.Optimizer class or instance
        Optimizer name ("sgd", "adam", "rmsprop", "nadam", ...). A fresh optimizer is built
        for every fit; extra optimizer arguments are given as ``optimizer__name=value``
        (e.g. ``optimizer__momentum=0.9``).
    learning_rate : float
        Learning rate given to the optimizer (also when ``optimizer`` is an instance).
    batch_size : int, default=32
    epochs : int
        Epochs per ``fit`` (``partial_fit`` trains one epoch).
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data (stratified for classifiers),
        stop when the validation loss has not improved for ``patience`` epochs and restore
        the best weights. ``validation_data`` given to ``fit`` is used instead of the split.
    validation_fraction : float, default=0.1
    patience : int
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks (e.g. ``ModelCheckpoint``, ``TensorBoard``).
    log_dir : str, path-like or None, default=None
        Write TensorBoard logs (per-epoch loss and metrics, training and validation) under
        this folder: each new fit gets its own ``run_YYYY_MM_DD_HH_MM_SS`` folder (named in
        ``log_run_dir_``); ``warm_start`` and ``partial_fit`` continue the run. View with
        ``tensorboard --logdir <log_dir>``. Needs ``pip install "skann[tensorboard]"``.
    shuffle : bool, default=True
        Shuffle the training data before each epoch.
    warm_start : bool, default=False
        If True, ``fit`` continues training the existing network (and appends to
        ``history_``) instead of building a new one.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling and the validation split: two fits with the
        same int give identical predictions. The global random states of Python and NumPy
        are left as they were.
    steps_per_execution : int or "auto", default="auto"
        Training batches run per call into TensorFlow. "auto" runs 64 (about twice as fast
        per epoch as Keras' default of 1 at batch size 32, with identical learning) when the fit
        runs at least 1,000 batches, else 1 (multi-step execution costs ~0.7 s of extra
        graph tracing per fit); also 1 when a callback in ``callbacks`` acts on every batch. With N > 1, Keras calls the batch hooks
        (``on_train_batch_end`` ...) once per N batches, with the logs of the last one; epoch
        hooks are unaffected.
    verbose : int, default=0
        Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
    **kwargs
        Routed parameters: ``fit__<name>`` goes to ``keras.Model.fit``,
        ``optimizer__<name>`` to the optimizer."""

_COMMON_ATTRS_DOC = """
    model_ : keras.Model
        The fitted Keras model (``model_.summary()``, ``get_layer``, ``get_weights``).
    history_ : dict of str to list of float
        Per-epoch loss and metrics; ``val_*`` entries when validating.
    n_iter_ : int
        Epochs trained in total.
    log_run_dir_ : str
        The TensorBoard run folder of the last new fit (only when ``log_dir`` is set).
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names seen in fit, when X was a DataFrame with string column names."""


class FashionMLPClassifier(BookNetwork, KerasClassifier):
    __doc__ = f"""Multilayer perceptron classifier, by default the book's Fashion-MNIST model.

    Input (28, 28) -> Flatten -> Dense(300, relu) -> Dense(100, relu) -> Dense(10, softmax),
    sparse categorical cross-entropy, SGD with learning rate 0.01, batch size 32, 30 epochs.
    The output layer follows the target: softmax for several classes, one sigmoid unit for
    two classes, one sigmoid unit per label (binary cross-entropy) for a 2-D 0/1 multilabel
    target. Class labels may be ints or strings.

    X may be images ``(n, h, w[, c])`` or rows ``(n, h*w*c)``; either form is accepted at
    predict time too (the model keeps the sample shape seen in ``fit``).

    Pixel scaling rule (``scale_pixels="auto"``): integer input (e.g. uint8 0-255) is divided
    by 255; float input is used as it is, assumed already in [0, 1]. So the estimator works on
    raw ``load_fashion_mnist()`` arrays and after a ``PixelScaler`` (float32 output) alike,
    never scaling twice. ``scale_pixels=True``/``False`` always/never divides.

    Parameters
    ----------
    {_COMMON_PARAMS_DOC.strip()}
    class_weight : dict, "balanced" or None, default=None
        Weights per class, multiplied into ``sample_weight``.
    scale_pixels : "auto" or bool, default="auto"
        See the pixel scaling rule above.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (label indices for multilabel targets).
    n_classes_ : int
    sample_shape_ : tuple of int or None
        Shape of one image when fitted on images, else None.
    {_COMMON_ATTRS_DOC.strip()}

    Examples
    --------
    >>> from skann import FashionMLPClassifier
    >>> from skann.datasets import load_fashion_mnist
    >>> (X_train, y_train), (X_test, y_test) = load_fashion_mnist(sample=True)
    >>> clf = FashionMLPClassifier(epochs=2, random_state=42).fit(X_train, y_train)
    >>> clf.predict_proba(X_test[:3]).shape
    (3, 10)
    """

    _parameter_constraints = {**BOOK_CONSTRAINTS, "scale_pixels": ["boolean", StrOptions({"auto"})]}

    def __init__(
        self,
        n_hidden=2,
        n_neurons=(300, 100),
        activation="relu",
        optimizer="sgd",
        learning_rate=0.01,
        batch_size=32,
        epochs=30,
        early_stopping=False,
        validation_fraction=0.1,
        patience=5,
        callbacks=None,
        log_dir=None,
        class_weight=None,
        scale_pixels="auto",
        shuffle=True,
        warm_start=False,
        random_state=None,
        steps_per_execution="auto",
        verbose=0,
        **kwargs,
    ):
        self.n_hidden = n_hidden
        self.n_neurons = n_neurons
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.callbacks = callbacks
        self.log_dir = log_dir
        self.class_weight = class_weight
        self.scale_pixels = scale_pixels
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.random_state = random_state
        self.steps_per_execution = steps_per_execution
        self.verbose = verbose
        vars(self).update(kwargs)

    def _input_ranks(self) -> None:
        return None  # rows (n, h*w*c) or images (n, h, w[, c])

    def _validate_data(self, X=None, y=None, reset: bool = False, y_numeric: bool = False):
        # Images (n, h, w[, c]) are validated as rows of h*w*c features; the model gets the
        # sample shape seen in fit back in encode_features.
        X = np.asarray(X) if isinstance(X, (list, tuple)) else X
        shape = None
        if X is not None and getattr(X, "ndim", 2) >= 3 and not hasattr(X, "columns"):
            shape = tuple(X.shape[1:])
            X = np.asarray(X).reshape(len(X), int(np.prod(shape)))
        X, y = super()._validate_data(X, y, reset=reset, y_numeric=y_numeric)
        if reset:
            self.sample_shape_ = shape
            if self.scale_pixels == "auto" and X.dtype.kind == "f" and X.size and np.max(X) > 1.0:
                warnings.warn(
                    f"{type(self).__name__}: float input with values up to {np.max(X):g} is "
                    "used unscaled (scale_pixels='auto' divides only integer pixels by 255). "
                    "Pass uint8 pixels, add a PixelScaler, or set scale_pixels=True.",
                    UserWarning,
                    stacklevel=6,  # the caller of fit
                )
        return X, y

    def scales_pixels(self, dtype) -> bool:
        """Whether input of ``dtype`` is divided by 255 (``scale_pixels``: "auto" scales integers)."""
        return np.dtype(dtype).kind in "biu" if self.scale_pixels == "auto" else bool(self.scale_pixels)

    def encode_features(self, X: np.ndarray) -> np.ndarray:
        if self.scales_pixels(X.dtype):
            X = X.astype(np.float32)  # one float32 copy, never float64
            X /= np.float32(255.0)
        X = super().encode_features(X)
        return X if self.sample_shape_ is None else X.reshape((len(X), *self.sample_shape_))

    def build_network(self) -> keras.Model:
        return build_classification_mlp(
            self.sample_shape_ or (self.n_features_in_,),
            self.target_encoder_.output_units,
            n_hidden=self.n_hidden,
            n_neurons=self.n_neurons,
            activation=self.activation,
            output_activation=self.target_encoder_.output_activation,
            seed=self._seed,
        )

    def _loss(self) -> str:
        return self.target_encoder_.default_loss

    def _metrics(self) -> list:
        return ["binary_accuracy" if self.target_type_ == "multilabel-indicator" else "accuracy"]


class HousingMLPRegressor(BookNetwork, KerasRegressor):
    __doc__ = f"""Multilayer perceptron regressor, by default the book's California housing model.

    Normalization (adapted to the training data inside ``fit``, so no separate scaler is
    needed) -> 3 x Dense(50, relu) -> Dense(n_targets); MSE loss, Adam with learning rate
    1e-3, RMSE metric. A 2-D ``y`` gives one output unit per target.

    The defaults differ from the book's 20-epoch run in one way: they train up to 100 epochs
    with early stopping (patience 20, best weights restored), which scores better on the
    test set; ``epochs=20, early_stopping=False`` reproduces the book.

    Parameters
    ----------
    {_COMMON_PARAMS_DOC.strip()}
    output_activation : {{None, "relu", "softplus", "sigmoid", "tanh"}}, default=None
        None for any value; "relu"/"softplus" for positive outputs; "sigmoid"/"tanh" for
        bounded (scaled) targets.
    loss : {{"mse", "huber", "mae"}}, default="mse"
        Huber is less sensitive to outliers than MSE.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    {_COMMON_ATTRS_DOC.strip()}

    Examples
    --------
    >>> from sklearn.model_selection import train_test_split
    >>> from skann import HousingMLPRegressor
    >>> from skann.datasets import load_california_housing
    >>> X, y = load_california_housing(sample=True, return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
    >>> reg = HousingMLPRegressor(epochs=2, random_state=42).fit(X_train, y_train)
    >>> reg.predict(X_test[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BOOK_CONSTRAINTS,
        "output_activation": [StrOptions({"relu", "softplus", "sigmoid", "tanh"}), None],
        "loss": [StrOptions({"mse", "huber", "mae"})],
    }

    def __init__(
        self,
        n_hidden=3,
        n_neurons=50,
        activation="relu",
        output_activation=None,
        loss="mse",
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
        self.n_hidden = n_hidden
        self.n_neurons = n_neurons
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
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

    def _loss(self) -> str:
        return self.loss

    def _metrics(self) -> list:
        return [keras.metrics.RootMeanSquaredError()]

    def build_network(self) -> keras.Model:
        return build_regression_mlp(
            self.n_features_in_,
            self.n_outputs_,
            n_hidden=self.n_hidden,
            n_neurons=self.n_neurons,
            activation=self.activation,
            output_activation=self.output_activation,
            seed=self._seed,
        )

    def _adapt_model(self, X: np.ndarray) -> None:
        self.model_.get_layer("normalization").adapt(X)
