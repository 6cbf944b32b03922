"""Saving and loading skann objects.

Two ways, for two levels of trust:

* ``joblib.dump`` / ``joblib.load`` (pickle): any skann estimator, transformer, Pipeline or
  fitted search. The Keras model inside an estimator is stored in Keras' native ``.keras``
  format (weights, architecture, optimizer state). Loading a pickle runs code chosen by whoever
  wrote the file: only load files you trust.
* :func:`save` / :func:`load`: a pickle-free zip holding each Keras model as ``.keras`` and
  everything else as JSON. Loading never unpickles, loads Keras models with
  ``safe_mode=True``, rebuilds only classes on an allow-list (:data:`SAFE_CLASSES`), and
  checks a SHA-256 of every member, so a model received from someone else can be opened
  without running their code.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import hashlib
import importlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "skann-safe"
FORMAT_VERSION = 1
MANIFEST = "skann-manifest.json"

# Classes the safe format may rebuild: skann's own, and scikit-learn steps whose fitted state
# is plain arrays and numbers.
SAFE_CLASSES = frozenset(
    {
        "skann.estimators.FashionMLPClassifier",
        "skann.estimators.HousingMLPRegressor",
        "skann.wide_deep.WideDeepRegressor",
        "skann.perceptron.PerceptronBaseline",
        "skann.transformers.ImageFlattener",
        "skann.transformers.ImageReshaper",
        "skann.transformers.PixelScaler",
        "skann.transformers.FeatureSplitter",
        "skann.wrappers.KerasClassifier",
        "skann.wrappers.KerasRegressor",
        "skann._targets.ClassifierLabelEncoder",
        "skann._targets.RegressorTargetEncoder",
        "skann._targets.TargetReshaper",
        # only ever rebuilt with plain values: a function cannot be stored, so none comes back
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.MaxAbsScaler",
        "sklearn.preprocessing._data.RobustScaler",
    }
)


class UnsafeObjectError(TypeError):
    """The safe format cannot store or rebuild this object."""


class SkannFileError(ValueError):
    """The file is not a valid skann model file (corrupt, modified, foreign or too new)."""


# ---------------------------------------------------------------- Keras models <-> bytes
def model_to_bytes(model) -> bytes:
    """A Keras model (architecture, weights, optimizer state) in the native .keras format."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return Path(path).read_bytes()


def model_from_bytes(data: bytes, *, safe_mode: bool = True):
    """The Keras model in ``data`` (.keras bytes).

    With ``safe_mode`` (the safe format) only Keras' own and registered classes are rebuilt; a
    class that is not registered gets an error saying how to register it. Without it (joblib,
    pickle: trusted files) classes are also found by importing the module named in the file,
    as unpickling does.
    """
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        Path(path).write_bytes(data)
        custom = {} if safe_mode else _importable_classes(path)
        try:
            return keras.saving.load_model(path, compile=True, safe_mode=safe_mode, custom_objects=custom)
        except TypeError as exc:
            if "Could not locate" not in str(exc):
                raise
            name = str(exc).split("'")[1] if "'" in str(exc) else "a custom class"
            raise UnsafeObjectError(
                f"The Keras model uses {name}, which is not registered with Keras. Decorate it "
                "with @keras.saving.register_keras_serializable() (at module level, not inside a "
                "function), and import its module before loading."
            ) from None


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


# ---------------------------------------------------------------- the safe format
def save(obj, path: str | os.PathLike) -> Path:
    """Save a skann estimator, transformer or Pipeline without pickle.

    Parameters
    ----------
    obj : estimator, transformer or sklearn Pipeline
        Fitted or not. Its class and every object inside it must be in :data:`SAFE_CLASSES`,
        and its parameters plain values (numbers, strings, tuples, lists, dicts, None).
    path : str or path-like
        The file to write (conventionally ``*.skann``); written atomically.

    Returns
    -------
    Path

    Raises
    ------
    UnsafeObjectError
        Something the format cannot store (e.g. Keras callbacks or an optimizer instance as
        a parameter, or a class outside the allow-list); use joblib for those.
    """
    models: dict[str, bytes] = {}
    spec = _encode(obj, models, where="object")
    from skann import __version__

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _library_versions(__version__),
        "object": spec,
    }
    members = {"skann.json": json.dumps(meta, indent=1).encode()}
    members.update(models)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for name, data in members.items():
                archive.writestr(name, data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; use the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: str | os.PathLike):
    """Load an object written by :func:`save`, without unpickling anything.

    Raises
    ------
    SkannFileError
        The file is not a skann model file, is truncated or modified (checksum mismatch), or
        was written by a newer, incompatible format version.
    UnsafeObjectError
        The file names a class outside :data:`SAFE_CLASSES` (for trusted files, use joblib).
    """
    path = Path(path)
    members = _read_verified(path)
    meta = _json_member(members, "skann.json", path)
    try:
        return _decode(meta["object"], members)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, (UnsafeObjectError, SkannFileError)):
            raise
        raise SkannFileError(f"{path} is not a valid skann model file ({type(exc).__name__}: {exc}).") from None


def read_metadata(path: str | os.PathLike) -> dict:
    """The file format and library versions recorded in a :func:`save` file, without loading it.

    Returns
    -------
    dict
        ``{"format": ..., "format_version": ..., "versions": {"skann": ..., "keras": ...}}``;
        the file's checksums are verified first.
    """
    path = Path(path)
    meta = _json_member(_read_verified(path), "skann.json", path)
    return {key: meta.get(key) for key in ("format", "format_version", "versions")}


def _read_verified(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if MANIFEST not in names:
                raise SkannFileError(f"{path} is not a skann model file (no {MANIFEST}).")
            members = {name: archive.read(name) for name in names}
    except zipfile.BadZipFile as exc:
        raise SkannFileError(f"{path} is not a skann model file, or it is truncated or corrupt ({exc}).") from None
    except (zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise SkannFileError(f"{path} could not be read as a skann model file ({exc}).") from None
    manifest = _json_member(members, MANIFEST, path)
    if manifest.get("format") != FORMAT_NAME:
        raise SkannFileError(f"{path} is not a skann model file (format {manifest.get('format')!r}).")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SkannFileError(
            f"{path} was written in skann file format version {version}; this skann reads "
            f"version {FORMAT_VERSION} and older. Upgrade skann to load it."
        )
    expected = manifest.get("sha256", {})
    content = {name: data for name, data in members.items() if name != MANIFEST}
    if set(expected) != set(content):
        raise SkannFileError(f"{path} has been modified: its members do not match its manifest.")
    for name, data in content.items():
        if hashlib.sha256(data).hexdigest() != expected[name]:
            raise SkannFileError(f"{path} has been modified or is corrupt: checksum mismatch in {name}.")
    return content


def _json_member(members: dict[str, bytes], name: str, path: Path) -> dict:
    try:
        return json.loads(members[name])
    except (KeyError, ValueError) as exc:
        raise SkannFileError(f"{path} is not a valid skann model file ({name}: {exc}).") from None


def _library_versions(skann_version: str) -> dict[str, str]:
    import keras
    import sklearn

    versions = {"skann": skann_version, "keras": keras.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__}
    try:
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    except ImportError:  # pragma: no cover
        pass
    return versions


def _class_path(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _encode(value, models: dict[str, bytes], where: str) -> Any:
    """JSON-able description of ``value``; Keras models go into ``models``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"__float__": repr(float(value))}  # keeps nan/inf and exact values
    if isinstance(value, np.dtype):
        if value.kind not in _PLAIN_DTYPE_KINDS or value.subdtype is not None:
            raise UnsafeObjectError(f"{where}: dtype {value} cannot be stored.")
        return {"__dtype__": value.str}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            if not all(isinstance(v, str) for v in value.ravel()):
                raise UnsafeObjectError(f"{where}: an object array that is not all strings cannot be stored.")
            return {"__ndarray__": value.tolist(), "dtype": "object", "shape": list(value.shape)}
        if value.dtype.kind not in "biufU":
            raise UnsafeObjectError(f"{where}: arrays of dtype {value.dtype} cannot be stored.")
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, models, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, models, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise UnsafeObjectError(f"{where}: only dicts with string keys can be stored.")
        return {"__dict__": {k: _encode(v, models, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, slice):
        return {"__slice__": [_encode(v, models, where) for v in (value.start, value.stop, value.step)]}
    if _is_keras_model(value):
        name = f"model_{len(models)}.keras"
        models[name] = model_to_bytes(value)
        return {"__keras_model__": name}
    keras_object = _keras_object_config(value)
    if keras_object is not None:
        return {"__keras_object__": keras_object}
    if callable(value) and where.endswith((".model", ".build_fn")):
        # A model-building function is code: the file names it, and the loaded estimator has
        # model=None (it predicts and trains further; give model= again to fit anew).
        return {"__function__": f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"}
    class_path = _class_path(value)
    if class_path in SAFE_CLASSES:
        state = {k: v for k, v in vars(value).items() if k != "_sklearn_version"}
        return {
            "__object__": class_path,
            "state": {k: _encode(v, models, f"{where}.{k}") for k, v in state.items()},
        }
    raise UnsafeObjectError(
        f"{where} is a {class_path}, which skann's safe format cannot store (it stores skann "
        "objects, scikit-learn Pipelines and scalers, and plain values). Use joblib for it, or "
        "remove it (e.g. set callbacks=None) before saving."
    )


# dtypes the safe format stores: booleans, numbers, strings.
_PLAIN_DTYPE_KINDS = frozenset("biufUS")


def _keras_object_config(value) -> dict | None:
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
    try:
        return keras.saving.serialize_keras_object(value)
    except Exception:  # not serializable: the caller reports it
        return None


def _is_keras_model(value) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, keras.Model)


def _decode(spec, members: dict[str, bytes]):
    if isinstance(spec, list):
        return [_decode(v, members) for v in spec]
    if not isinstance(spec, dict):
        return spec
    if "__float__" in spec:
        return float(spec["__float__"])
    if "__dtype__" in spec:
        dtype = np.dtype(str(spec["__dtype__"]))
        if dtype.kind not in _PLAIN_DTYPE_KINDS or dtype.subdtype is not None:
            raise SkannFileError(f"Unsupported dtype in skann model file: {spec['__dtype__']!r}.")
        return dtype
    if "__keras_object__" in spec:
        import keras

        return keras.saving.deserialize_keras_object(spec["__keras_object__"], safe_mode=True)
    if "__function__" in spec:
        return None
    if "__ndarray__" in spec:
        dtype = object if spec["dtype"] == "object" else np.dtype(spec["dtype"])
        return np.array(spec["__ndarray__"], dtype=dtype).reshape(spec["shape"])
    if "__tuple__" in spec:
        return tuple(_decode(v, members) for v in spec["__tuple__"])
    if "__dict__" in spec:
        return {k: _decode(v, members) for k, v in spec["__dict__"].items()}
    if "__slice__" in spec:
        return slice(*(_decode(v, members) for v in spec["__slice__"]))
    if "__keras_model__" in spec:
        return model_from_bytes(members[spec["__keras_model__"]], safe_mode=True)
    if "__object__" in spec:
        class_path = spec["__object__"]
        if class_path not in SAFE_CLASSES:
            raise UnsafeObjectError(
                f"The file asks for {class_path}, which is not on skann's allow-list of safe "
                "classes; refusing to build it. For files you trust, use joblib."
            )
        module_name, _, class_name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        obj = cls.__new__(cls)
        obj.__dict__.update({k: _decode(v, members) for k, v in spec["state"].items()})
        return obj
    raise SkannFileError(f"Unknown entry in skann model file: {sorted(spec)}.")
