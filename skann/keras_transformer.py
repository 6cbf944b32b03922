"""A Keras network as a scikit-learn transformer: embeddings, an autoencoder's bottleneck."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)

import keras
import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError

from skann import _rows as row_data
from skann import _streams as streams
from skann._inference import numpy_forward
from skann.wrappers import BaseWrapper, _refuse_missing, _subclass_doc

__all__ = ["KerasTransformer"]


class KerasTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseWrapper):
    __doc__ = _subclass_doc(
        "A Keras network fitted like the other wrappers, used as a ``Pipeline`` step: ``transform``\n"
        "    returns the output of one of its layers (``layer``), one row per sample, flattened to\n"
        "    (n_samples, n_features_out).\n\n"
        "    ``fit(X, y)`` trains the network on ``y`` as it is given (integer labels for a sparse\n"
        "    categorical loss, numbers for a regression loss ...); with ``autoencoder=True`` it\n"
        "    trains the network to reproduce ``X`` (as validated, before the feature encoder) and\n"
        "    ignores ``y``, as scikit-learn's unsupervised transformers do in a ``Pipeline``.\n"
        "    ``predict`` returns the network's output, ``score`` minus its loss.",
        extra_params=(
            "    layer : str or None, default=None\n"
            "        Name of the layer whose output ``transform`` returns (e.g. an autoencoder's\n"
            "        bottleneck, an embedding); None: the network's output. The network must be\n"
            "        functional or Sequential (its layers connected) for a named layer.\n"
            "    autoencoder : bool, default=False\n"
            "        Train the network to output ``X`` itself (``y`` is ignored).\n"
        ),
    ) + """
    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_digits
    >>> from skann import KerasTransformer
    >>> def autoencoder(meta, code=8):
    ...     return keras.Sequential([
    ...         keras.Input((meta["n_features_in_"],)),
    ...         keras.layers.Dense(code, activation="relu", name="code"),
    ...         keras.layers.Dense(meta["n_features_in_"]),
    ...     ])
    >>> X, _ = load_digits(return_X_y=True)
    >>> codes = KerasTransformer(autoencoder, layer="code", autoencoder=True, loss="mse",
    ...                          optimizer="adam", epochs=2, random_state=0).fit_transform(X / 16)
    >>> codes.shape
    (1797, 8)
    """

    _parameter_constraints = {**BaseWrapper._parameter_constraints, "layer": [str, None], "autoencoder": ["boolean"]}

    def __init__(
        self,
        model=None,
        *,
        build_fn=None,
        warm_start=False,
        random_state=None,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        batch_size=None,
        validation_batch_size=None,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        shuffle=True,
        run_eagerly=False,
        epochs=1,
        layer=None,
        autoencoder=False,
        steps_per_execution="auto",
        log_dir=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        validation_scoring=None,
        **kwargs,
    ):
        super().__init__(
            model=model,
            build_fn=build_fn,
            warm_start=warm_start,
            random_state=random_state,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            validation_batch_size=validation_batch_size,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            shuffle=shuffle,
            run_eagerly=run_eagerly,
            epochs=epochs,
            steps_per_execution=steps_per_execution,
            log_dir=log_dir,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            validation_scoring=validation_scoring,
            **kwargs,
        )
        self.layer = layer
        self.autoencoder = autoencoder

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None, **kwargs):
        """Build a new network (unless ``warm_start``) and train it on ``(X, y)``, or to
        reproduce ``X`` (``autoencoder=True``). Keyword arguments as for the other wrappers'
        ``fit`` (an autoencoder's ``validation_data`` is ``(X_val, None)`` or ``(X_val, X_val)``)."""
        return super().fit(X, self._target(X, y), sample_weight, **kwargs)

    def partial_fit(self, X, y=None, sample_weight=None, **kwargs):
        """Train for one epoch (on ``y``, or to reproduce ``X`` with ``autoencoder=True``),
        continuing from the current weights, optimizer state and epoch."""
        return super().partial_fit(X, self._target(X, y), sample_weight, **kwargs)

    def _target(self, X, y):
        """The y ``fit`` trains on: None for an autoencoder (X takes its place)."""
        if self.autoencoder:
            self._refuse_by_rows(X)
            return None
        if y is None and not streams.is_stream(X):  # (a stream's batches carry y)
            raise ValueError(
                f"{type(self).__name__} trains the network on y, and y is None: pass y, or set "
                "autoencoder=True to train the network to reproduce X."
            )
        return y

    def build_network(self) -> keras.Model:
        model = super().build_network()
        self._output_model(model)  # a wrong layer name fails before any training
        return model

    def split_fit_data(self, X, y, sample_weight, validation_data):
        if self.autoencoder:
            y = self._reproduced(X)
            if validation_data is not None and isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
                validation_data = (validation_data[0], None, *validation_data[2:])
        X, y, sample_weight, validation = super().split_fit_data(X, y, sample_weight, validation_data)
        if validation is not None and validation[1] is None:
            validation = (validation[0], self._reproduced(validation[0]), *validation[2:])
        return X, y, sample_weight, validation

    def _reproduced(self, X):
        """What an autoencoder trains to output: X itself."""
        self._refuse_by_rows(X)
        outputs = getattr(self.model_, "outputs", None)
        if outputs is not None and len(outputs) == 1 and tuple(outputs[0].shape[1:]) != tuple(X.shape[1:]):
            raise ValueError(
                f"autoencoder=True trains the network to reproduce X, of shape {tuple(X.shape[1:])} per "
                f"sample, but the network outputs {tuple(outputs[0].shape[1:])} per sample: make its last "
                "layer output the input's shape."
            )
        return X

    @staticmethod
    def _refuse_by_rows(X) -> None:
        if row_data.by_rows(X) or streams.is_stream(X):
            raise ValueError(
                "autoencoder=True trains the network to reproduce X, which needs X as a dense array: sparse X, "
                "a SliceDataset or a stream would be made dense whole as the target. Pass X as an array, or "
                "train on a y."
            )

    # ------------------------------------------------------------------ transforming
    def transform(self, X):
        """The output of ``layer`` for each sample of X, shape (n_samples, n_features_out), in the
        network's float dtype."""
        if not self.initialized_:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )
        _refuse_missing(X)
        if streams.is_stream(X):
            return np.concatenate([self.transform(x) for x, _, _ in streams.Stream(X).batches()])
        X, _ = self._validate_data(X, reset=False)
        model = self._output_model(self.model_)
        out = self._forward(X, numpy_forward(model) or model.predict_on_batch)
        return np.asarray(out).reshape(row_data.n_rows(X), -1)

    def _output_model(self, model: keras.Model) -> keras.Model:
        """``model`` up to ``layer`` (the whole model when ``layer`` is None)."""
        if self.layer is None:
            return model
        names = [layer.name for layer in model.layers]
        if self.layer not in names:
            raise ValueError(
                f"layer={self.layer!r} is not a layer of the network; its layers are {names}."
            )
        output = model.get_layer(self.layer)
        try:
            return keras.Model(model.inputs, output.output)
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValueError(
                f"layer={self.layer!r}: the output of a named layer needs a network whose layers are "
                f"connected (functional or Sequential, built from keras.Input); {model.name} is not "
                f"({type(exc).__name__}: {exc})."
            ) from exc

    @property
    def _n_features_out(self) -> int:
        """Columns of ``transform``'s output (read by ``get_feature_names_out``)."""
        if not self.initialized_:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet.")
        outputs = keras.tree.flatten(self._output_model(self.model_).outputs)
        if len(outputs) != 1:
            raise ValueError(f"transform returns one array: layer={self.layer!r} has {len(outputs)} outputs.")
        return int(np.prod(outputs[0].shape[1:]))

    # ------------------------------------------------------------------ scoring
    def score(self, X, y=None, sample_weight=None) -> float:
        """Minus the network's loss on ``(X, y)`` (on reproducing ``X`` for an autoencoder):
        higher is better, as scikit-learn's searches expect."""
        if not self.initialized_:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet.")
        _refuse_missing(X)
        if streams.is_stream(X):
            if self.autoencoder:
                self._refuse_by_rows(X)
            batches = streams.EncodedStream(streams.Stream(X), self._encoded_batch)
            return -float(self.model_.evaluate(batches.keras_data(), verbose=0, return_dict=True)["loss"])
        X, y = self._validate_data(X, None if self.autoencoder else y, reset=False)
        if self.autoencoder:
            y = self._reproduced(X)
        elif y is None:
            raise ValueError(f"{type(self).__name__}.score compares the network's output with y: pass y.")
        x, y = self._encoded(X), self.encode_targets(y)
        if row_data.by_rows(x):
            batches = row_data.RowBatches(x, y, sample_weight, batch_size=row_data.chunk_rows(x, 1024))
            logs = self.model_.evaluate(batches, verbose=0, return_dict=True)
        else:
            logs = self.model_.evaluate(x, y, sample_weight=sample_weight, batch_size=1024, verbose=0, return_dict=True)
        return -float(logs["loss"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [str(np.dtype(self._network_dtype()))]
        tags.target_tags.required = not self.autoencoder
        tags.input_tags.sparse = tags.input_tags.sparse and not self.autoencoder  # a dense target
        return tags

