"""Pickling (joblib) of skann's estimators: the Keras model as .keras bytes, Keras losses,
metrics and optimizers given as parameters by class and config."""

from __future__ import annotations

import keras

from skann._keras_compat import tensorflow_unseen

__all__ = ["PackedKerasModel", "PackedKerasObject", "pack_keras_objects", "unpack_keras_objects"]


class PackedKerasModel:
    """A Keras model as .keras bytes inside a pickle."""

    def __init__(self, data: bytes):
        self.data = data


class PackedKerasObject:
    """A loss, metric or optimizer parameter inside a pickle: its class (by reference, as
    pickle stores classes) and its config. Keras' own pickling of these objects looks the
    class up in its registry and fails for a user's unregistered subclass."""

    def __init__(self, obj):
        with tensorflow_unseen():
            self.cls, self.config = type(obj), obj.get_config()

    def unpack(self):
        return self.cls.from_config(self.config)


def pack_keras_objects(value):
    keras_types = (keras.losses.Loss, keras.metrics.Metric, keras.optimizers.Optimizer)
    return keras.tree.map_structure(lambda v: PackedKerasObject(v) if isinstance(v, keras_types) else v, value)


def unpack_keras_objects(value):
    return keras.tree.map_structure(lambda v: v.unpack() if isinstance(v, PackedKerasObject) else v, value)
