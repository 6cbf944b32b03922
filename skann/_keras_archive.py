"""Keras models in Keras' native ``.keras`` archive, read within bounds, and Keras' own
serialization of losses, metrics and optimizers given as parameters.

Loading a network from a stranger's file checks the archive before Keras opens it: its
members, sizes (declared, and inflated by the weights' own compression), JSON nesting, the
weights its config would create (counted without allocating them) and the state of its
metrics; then Keras loads it in safe mode."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)

import importlib
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

from skann._safe_reading import (
    MAX_BYTES, MAX_CONFIG_INT, MAX_JSON_BYTES, MAX_PARAMS, SkannFileError, UnsafeFileError, UnsafeObjectError,
    checked_members, parse_json, read_member,
)
from skann._keras_compat import shared_initializer_programs
from skann._text import one_line
from skann._tf_compat import reusable_variable_kernels

__all__ = [
    "check_keras_objects", "is_keras_model", "keras_object_config", "load_keras_file", "model_from_bytes",
    "model_to_bytes", "refusal",
]

# A .keras archive (Keras' format) holds its config, metadata, weights and assets.
_KERAS_MEMBERS = frozenset({"config.json", "metadata.json", "model.weights.h5"})
_ASSET_MEMBER = re.compile(r"assets/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+/?")


def model_to_bytes(model) -> bytes:
    """A Keras model (architecture, weights, optimizer state) in the native .keras format."""
    from skann._keras_compat import tensorflow_unseen

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with tensorflow_unseen():
            model.save(path)
        return Path(path).read_bytes()


def model_from_bytes(data: bytes, *, safe_mode: bool = True):
    """The Keras model in ``data`` (.keras bytes).

    With ``safe_mode`` (the safe format) only Keras' own and registered classes are rebuilt,
    within the default limits (see :func:`load`); a class that is not registered gets an error
    saying how to register it. Without it (joblib, pickle: trusted files) classes are also
    found by importing the module named in the file, as unpickling does.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "model.keras")
        path.write_bytes(data)
        return load_keras_file(path, safe_mode=safe_mode, max_bytes=MAX_BYTES, max_params=MAX_PARAMS)


def load_keras_file(path: Path, *, safe_mode: bool, max_bytes: int | None, max_params: int | None):
    import keras

    try:
        if safe_mode:
            _check_keras_archive(path, max_bytes, max_params)
        custom = {} if safe_mode else _importable_classes(path)
        with reusable_variable_kernels(), shared_initializer_programs():
            return keras.saving.load_model(path, compile=True, safe_mode=safe_mode, custom_objects=custom)
    except Exception as exc:
        message = _unregistered(exc)
        if message is None:
            raise
        raise (UnsafeFileError if safe_mode else UnsafeObjectError)(message) from None


def _unregistered(exc: BaseException) -> str | None:
    """How to fix Keras' refusal of a class it does not know, if ``exc`` is one (Keras wraps
    it: the cause is looked for along the chain)."""
    while exc is not None:
        text = str(exc)
        if "Could not locate" in text:
            name = text.split("'")[1] if "'" in text else "a custom class"
            return (
                f"The Keras model uses {name}, which is not registered with Keras. Decorate it "
                "with @keras.saving.register_keras_serializable() (at module level, not inside a "
                "function), and import its module before loading."
            )
        exc = exc.__cause__ or exc.__context__
    return None


def _check_keras_archive(path: Path, max_bytes: int | None, max_params: int | None) -> None:
    """Refuse a .keras archive that is malformed or would take unbounded memory to load:
    foreign or duplicate members, sizes over ``max_bytes`` (declared, or inflated by the
    weights' own compression), JSON nested too deep, a network of more than ``max_params``
    weights (counted from its config without allocating them)."""
    import h5py

    with zipfile.ZipFile(path) as archive:
        infos = checked_members(archive, _is_keras_member, max_bytes, "the network")
        names = {info.filename for info in infos}
        if not {"config.json", "model.weights.h5"} <= names:
            raise SkannFileError("The network in the file lacks its config.json or model.weights.h5.")
        config = parse_json(read_member(archive, "config.json", MAX_JSON_BYTES), "the network's config.json")
        if not isinstance(config, dict):
            raise SkannFileError("The network's config.json is not a Keras model config.")
        if max_params is not None:
            try:
                n_params = _count_weights(config)
            except Exception as exc:
                raise refusal(exc, "The size of the network in the file could not be checked "
                               "before building it; if you trust the file, load it with max_params=None") from None
            if n_params > max_params:
                raise SkannFileError(
                    f"The network in the file declares {n_params:,} weights, more than the limit "
                    f"of {max_params:,}. If you trust the file, load it with max_params=None "
                    "(or a larger limit)."
                )
        check_keras_objects(config.get("compile_config"), max_params)  # its metrics, optimizer
        with archive.open("model.weights.h5") as raw, h5py.File(raw, "r") as weights:
            stored = _h5_bytes(weights)
    if max_bytes is not None and stored > max_bytes:
        raise SkannFileError(
            f"The network's weights take {stored:,} bytes once decompressed, more than the limit "
            f"of {max_bytes:,}. If you trust the file, load it with max_bytes=None (or a larger limit)."
        )


def _is_keras_member(name: str) -> bool:
    return name in _KERAS_MEMBERS or (_ASSET_MEMBER.fullmatch(name) is not None and ".." not in name.split("/"))


def _h5_bytes(group) -> int:
    """Bytes of every dataset in an HDF5 group once read (from its metadata: nothing is read)."""
    import h5py

    total = 0

    def visit(_, item):
        nonlocal total
        if isinstance(item, h5py.Dataset):
            total += int(item.size or 0) * item.dtype.itemsize

    group.visititems(visit)
    return total


def _count_weights(config: dict) -> int:
    """Weights a Keras model config creates, counted by building it with variable creation
    deferred (``keras.StatelessScope``): shapes only, nothing allocated. The deferred
    variables are then dropped, so that no later stateless scope initialises them."""
    import keras

    from skann._keras_compat import count_deferred_weights

    config = {k: v for k, v in config.items() if k != "compile_config"}  # optimizers: later
    return count_deferred_weights(lambda: _build_model(keras.saving.deserialize_keras_object(config, safe_mode=True), config))


def check_keras_objects(config, max_params: int | None) -> None:
    """Refuse Keras loss, metric or optimizer configs that would allocate without bound: an
    integer over MAX_CONFIG_INT, or a metric whose state (built with its variables deferred,
    then counted) exceeds ``max_params``. Metrics are the Keras objects whose variables grow
    with their config (confusion matrices); losses have none, optimizers none until built."""
    import keras

    from skann._keras_compat import count_deferred_weights

    stack, metrics = [config], []
    while stack:  # every integer first: a metric is built only once its config has passed
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if type(value) is int and abs(value) > MAX_CONFIG_INT and key != "seed":
                    raise SkannFileError(f"a Keras object in the file has {key}={value}, over the limit of {MAX_CONFIG_INT:,}.")
                stack.append(value)
            if str(node.get("module", "")).startswith("keras.metrics") and "config" in node:
                metrics.append(node)
    for metric in metrics if max_params is not None else ():
        try:
            n_params = count_deferred_weights(lambda: keras.saving.deserialize_keras_object(metric, safe_mode=True))
        except Exception as exc:
            raise refusal(exc, "a Keras metric in the file could not be rebuilt") from None
        if n_params > max_params:
            raise SkannFileError(
                f"a Keras metric in the file declares {n_params:,} weights, more than the limit of {max_params:,}."
            )


def _build_model(model, config: dict):
    build = config.get("build_config")
    if build and not model.built:
        model.build_from_config(build)
    return model


def refusal(exc: Exception, context: str) -> SkannFileError:
    """The SkannFileError for an error Keras raised on a file's network: an unsafe-class
    refusal stays one (Keras' safe mode, unregistered classes)."""
    message, unregistered = one_line(exc), _unregistered(exc)
    if unregistered:
        return UnsafeFileError(unregistered)
    if "safe_mode" in message:
        return UnsafeFileError(f"Keras' safe mode refused part of the file: {message}")
    return SkannFileError(f"{context} ({type(exc).__name__}: {message}).")


def _importable_classes(path: str) -> dict:
    """Custom classes and functions named in a .keras file's config, found by importing their
    module (what unpickling does); those that cannot be imported are left to Keras' error."""
    import keras

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    found = {}

    def visit(node):
        if isinstance(node, dict):
            module, name = node.get("module"), node.get("class_name")
            if isinstance(module, str) and isinstance(name, str) and not module.startswith("keras"):
                key = node.get("registered_name") or name
                if keras.saving.get_registered_object(key) is None:
                    try:
                        found[key] = getattr(importlib.import_module(module), name)
                    except (ImportError, AttributeError):
                        pass
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return found


def keras_object_config(value) -> dict | None:
    """Keras' own serialization of a loss, metric, optimizer or Keras function given as a
    parameter (None for anything else). Loading uses Keras' safe mode."""
    try:
        import keras
    except ImportError:  # pragma: no cover
        return None
    kinds = (keras.losses.Loss, keras.metrics.Metric, keras.optimizers.Optimizer)
    is_keras_function = callable(value) and not isinstance(value, type) and str(getattr(value, "__module__", "")).startswith("keras")
    if not (isinstance(value, kinds) or is_keras_function):
        return None
    from skann._keras_compat import tensorflow_unseen

    try:
        with tensorflow_unseen():
            return keras.saving.serialize_keras_object(value)
    except Exception:  # not serializable: the caller reports it
        return None


def is_keras_model(value) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, keras.Model)
