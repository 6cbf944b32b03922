"""Saving and loading skann objects.

Two ways, for two levels of trust:

* ``joblib.dump`` / ``joblib.load`` (pickle): any skann estimator, transformer, Pipeline or
  fitted search. The Keras model inside an estimator is stored in Keras' native ``.keras``
  format (weights, architecture, optimizer state). Loading a pickle runs code chosen by whoever
  wrote the file: only load files you trust.
* :func:`save` / :func:`load`: a pickle-free zip holding each Keras model as ``.keras`` and
  everything else as JSON. Loading never unpickles, loads Keras models with
  ``safe_mode=True``, rebuilds only classes on an allow-list (:data:`SAFE_CLASSES`), checks a
  SHA-256 of every member, and is bounded: sizes, JSON nesting, array dtypes and shapes and a
  network's parameter count are checked before anything is allocated (:data:`MAX_BYTES`,
  :data:`MAX_PARAMS`), so a file received from a stranger can be opened without running their
  code or exhausting memory. Every way a file can be wrong raises :class:`SkannFileError`.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import hashlib
import importlib
import inspect
import json
import math
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from skann._atomic import write_atomically
from skann._text import one_line

FORMAT_NAME = "skann-safe"
# 2: classes named by their public import paths (1 named the modules defining them).
FORMAT_VERSION = 2
MANIFEST = "skann-manifest.json"

# Loading limits (keywords of load() override the first two, for the rare huge model).
MAX_BYTES = 512 * 2**20  # uncompressed content of a file, and of each network inside it
MAX_PARAMS = 30_000_000  # weights of one network (a ResNet-50 has 25.6 million)
MAX_JSON_BYTES = 16 * 2**20  # one JSON member: parsed JSON takes several times its size
MAX_JSON_DEPTH = 100  # nesting of JSON (skann's own files nest < 15 deep)
# Integers in the configs of losses, metrics and optimizers: some size Python lists built in
# their constructors (a metric's thresholds); seeds are exempt.
MAX_CONFIG_INT = 1_000_000

# Member names: a .skann file holds the manifest, skann.json and model_<n>.keras; a .keras
# archive (Keras' format) its config, metadata, weights and assets.
_SKANN_MEMBER = re.compile(r"skann\.json|model_\d{1,6}\.keras")
_KERAS_MEMBERS = frozenset({"config.json", "metadata.json", "model.weights.h5"})
_ASSET_MEMBER = re.compile(r"assets/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+/?")

# Classes the safe format may rebuild, by their public import paths: skann's own, and
# scikit-learn steps whose fitted state is plain arrays and numbers.
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
        "skann.keras_transformer.KerasTransformer",
        "skann.wrappers.ClassifierLabelEncoder",
        "skann.wrappers.RegressorTargetEncoder",
        "skann.wrappers.TargetReshaper",
        # only ever rebuilt with plain values: a function cannot be stored, so none comes back
        "sklearn.preprocessing.FunctionTransformer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing.StandardScaler",
        "sklearn.preprocessing.MinMaxScaler",
        "sklearn.preprocessing.MaxAbsScaler",
        "sklearn.preprocessing.RobustScaler",
    }
)

# Format 1 named classes by the modules defining them; what those names are now.
_FORMAT_1_NAMES = {
    "skann._targets.ClassifierLabelEncoder": "skann.wrappers.ClassifierLabelEncoder",
    "skann._targets.RegressorTargetEncoder": "skann.wrappers.RegressorTargetEncoder",
    "skann._targets.TargetReshaper": "skann.wrappers.TargetReshaper",
    "sklearn.preprocessing._function_transformer.FunctionTransformer": "sklearn.preprocessing.FunctionTransformer",
    "sklearn.preprocessing._data.StandardScaler": "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler": "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing._data.MaxAbsScaler": "sklearn.preprocessing.MaxAbsScaler",
    "sklearn.preprocessing._data.RobustScaler": "sklearn.preprocessing.RobustScaler",
}

# dtypes the safe format stores: booleans, numbers, strings.
_PLAIN_DTYPE_KINDS = frozenset("biufUS")


class UnsafeObjectError(TypeError):
    """The safe format cannot store or rebuild this object."""


class SkannFileError(ValueError):
    """The file is not a valid skann model file (corrupt, modified, foreign, too new, too big,
    or asking for something the safe format refuses to build)."""


class UnsafeFileError(SkannFileError, UnsafeObjectError):
    """A file asks for a class or function outside what the safe format rebuilds."""


# ---------------------------------------------------------------- Keras models <-> bytes
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
        return _load_keras_file(path, safe_mode=safe_mode, max_bytes=MAX_BYTES, max_params=MAX_PARAMS)


def _load_keras_file(path: Path, *, safe_mode: bool, max_bytes: int | None, max_params: int | None):
    import keras

    try:
        if safe_mode:
            _check_keras_archive(path, max_bytes, max_params)
        custom = {} if safe_mode else _importable_classes(path)
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
        infos = _checked_members(archive, _is_keras_member, max_bytes, "the network")
        names = {info.filename for info in infos}
        if not {"config.json", "model.weights.h5"} <= names:
            raise SkannFileError("The network in the file lacks its config.json or model.weights.h5.")
        config = _parse_json(_read_member(archive, "config.json", MAX_JSON_BYTES), "the network's config.json")
        if not isinstance(config, dict):
            raise SkannFileError("The network's config.json is not a Keras model config.")
        if max_params is not None:
            try:
                n_params = _count_weights(config)
            except Exception as exc:
                raise _refusal(exc, "The size of the network in the file could not be checked "
                               "before building it; if you trust the file, load it with max_params=None") from None
            if n_params > max_params:
                raise SkannFileError(
                    f"The network in the file declares {n_params:,} weights, more than the limit "
                    f"of {max_params:,}. If you trust the file, load it with max_params=None "
                    "(or a larger limit)."
                )
        _check_keras_objects(config.get("compile_config"), max_params)  # its metrics, optimizer
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


def _check_keras_objects(config, max_params: int | None) -> None:
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
            raise _refusal(exc, "a Keras metric in the file could not be rebuilt") from None
        if n_params > max_params:
            raise SkannFileError(
                f"a Keras metric in the file declares {n_params:,} weights, more than the limit of {max_params:,}."
            )


def _build_model(model, config: dict):
    build = config.get("build_config")
    if build and not model.built:
        model.build_from_config(build)
    return model


def _refusal(exc: Exception, context: str) -> SkannFileError:
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



# ---------------------------------------------------------------- the safe format
def save(obj, path: str | os.PathLike) -> Path:
    """Save a skann estimator, transformer or Pipeline without pickle.

    Parameters
    ----------
    obj : estimator, transformer or sklearn Pipeline
        Fitted or not. Its class and every object inside it must be in :data:`SAFE_CLASSES`,
        and its parameters plain values (numbers, strings, tuples, lists, dicts, None).
    path : str or path-like
        The file to write (conventionally ``*.skann``). Written atomically: readers see the
        old file or the new one, never a part; a save killed midway leaves a hidden
        ``.*.skann-part`` file beside it, which the next save to that path removes.

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

    def write(handle: BinaryIO) -> None:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for name, data in members.items():
                archive.writestr(name, data)

    path = Path(path)
    write_atomically(path, write)
    return path


def load(path: str | os.PathLike, *, max_bytes: int | None = MAX_BYTES, max_params: int | None = MAX_PARAMS):
    """Load an object written by :func:`save`, without unpickling anything.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int or None, default=MAX_BYTES (512 MiB)
        Largest uncompressed content accepted, for the file and for each network in it.
        None for no limit (files you trust).
    max_params : int or None, default=MAX_PARAMS (30 million)
        Largest number of weights of a network in the file, counted from its architecture
        before anything is allocated. None for no limit (files you trust).

    Raises
    ------
    SkannFileError
        The file is not a skann model file, is truncated, corrupt or modified (checksum
        mismatch), was written by an unsupported format version, exceeds a limit, or holds a
        value the estimator's parameter validation refuses. :class:`UnsafeFileError` (a
        SkannFileError and an :class:`UnsafeObjectError`) when it names a class outside
        :data:`SAFE_CLASSES` or Keras' safe mode (for trusted files, use joblib).
    FileNotFoundError, PermissionError, IsADirectoryError
        ``path`` cannot be opened.
    """
    path = Path(path)
    with open(path, "rb") as handle, tempfile.TemporaryDirectory() as folder, _file_errors(path):
        members, meta = _verified_members_and_meta(handle, Path(folder), max_bytes)
        if "object" not in meta:
            raise SkannFileError("skann.json does not describe an object.")
        version = meta.get("format_version")
        _check_version(version)
        return _Decoder(members, max_bytes, max_params).decode(_migrated(meta["object"], version))


def read_metadata(path: str | os.PathLike, *, max_bytes: int | None = MAX_BYTES) -> dict:
    """The file format and library versions recorded in a :func:`save` file, without loading it.

    Returns
    -------
    dict
        ``{"format": ..., "format_version": ..., "versions": {"skann": ..., "keras": ...}}``;
        the file's checksums are verified first.
    """
    path = Path(path)
    with open(path, "rb") as handle, tempfile.TemporaryDirectory() as folder, _file_errors(path):
        _, meta = _verified_members_and_meta(handle, Path(folder), max_bytes)
        return {key: meta.get(key) for key in ("format", "format_version", "versions")}


def _verified_members_and_meta(handle: BinaryIO, folder: Path, max_bytes: int | None) -> tuple[dict[str, Path], dict]:
    """The verified members of a .skann file (see _extract_verified) and its skann.json."""
    members = _extract_verified(handle, folder, max_bytes)
    meta = _parse_json(members["skann.json"].read_bytes(), "skann.json")
    if not isinstance(meta, dict):
        raise SkannFileError("skann.json does not describe an object.")
    return members, meta


def is_skann_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a :func:`save` file: a zip with the skann manifest (a joblib
    file holding a network contains a zip too, the network's, so ``zipfile.is_zipfile`` says
    yes to it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return MANIFEST in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """Every failure while reading ``path`` as a SkannFileError naming the file."""
    try:
        yield
    except UnsafeFileError as exc:
        raise UnsafeFileError(f"{path}: {exc}") from None
    except SkannFileError as exc:
        raise SkannFileError(f"{path}: {exc}") from None
    except UnsafeObjectError as exc:
        raise UnsafeFileError(f"{path}: {exc}") from None
    except RecursionError:
        raise SkannFileError(f"{path} is not a valid skann model file (nested too deep).") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SkannFileError(f"{path} is not a skann model file, or it is truncated or corrupt ({one_line(exc)}).") from None
    except MemoryError:
        raise SkannFileError(f"{path} could not be loaded: out of memory.") from None
    except Exception as exc:  # zlib.error, NotImplementedError (compression), RuntimeError ...
        raise SkannFileError(f"{path} is not a valid skann model file ({type(exc).__name__}: {one_line(exc)}).") from None


def _checked_members(archive: zipfile.ZipFile, allowed: Callable[[str], bool], max_bytes: int | None, what: str) -> list:
    """The members of ``archive`` once their names, compression and declared sizes pass."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise SkannFileError(f"{what} has duplicate member names.")
    for info in infos:
        if not allowed(info.filename):
            raise SkannFileError(f"{what} has an unexpected member {info.filename[:100]!r}.")
        if info.flag_bits & 0x1:
            raise SkannFileError(f"{what} has an encrypted member {info.filename!r}.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SkannFileError(f"{what} uses an unsupported compression method in {info.filename!r}.")
    declared = sum(info.file_size for info in infos)
    if max_bytes is not None and declared > max_bytes:
        raise SkannFileError(
            f"{what} holds {declared:,} bytes uncompressed, more than the limit of {max_bytes:,}. "
            "If you trust the file, load it with max_bytes=None (or a larger limit)."
        )
    return infos


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise SkannFileError(f"{name} is {info.file_size:,} bytes, more than the {limit:,} bytes allowed.")
    with archive.open(info) as member:
        return member.read(limit + 1)  # a member cannot yield more than it declares (zipfile)


def _extract_verified(handle: BinaryIO, folder: Path, max_bytes: int | None) -> dict[str, Path]:
    """Members of a .skann file written into ``folder`` as they are checked against the
    manifest: name -> file. Nothing is read before its name is in the manifest; nothing is
    decompressed past its declared size."""
    with zipfile.ZipFile(handle) as archive:
        names = archive.namelist()
        if MANIFEST not in names:
            raise SkannFileError(f"not a skann model file (no {MANIFEST}).")
        infos = _checked_members(
            archive, lambda n: n == MANIFEST or _SKANN_MEMBER.fullmatch(n) is not None, max_bytes, "the file"
        )
        manifest = _parse_json(_read_member(archive, MANIFEST, MAX_JSON_BYTES), MANIFEST)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise SkannFileError(f"not a skann model file (format {_get(manifest, 'format')!r}).")
        _check_version(manifest.get("format_version"))
        expected = manifest.get("sha256")
        if not isinstance(expected, dict) or not all(isinstance(v, str) for v in expected.values()):
            raise SkannFileError(f"{MANIFEST} has no valid checksums.")
        listed = set(expected) | {MANIFEST}
        if set(names) != listed or "skann.json" not in expected:
            raise SkannFileError("has been modified: its members do not match its manifest.")
        files = {}
        for index, info in enumerate(i for i in infos if i.filename != MANIFEST):
            limit = MAX_JSON_BYTES if info.filename.endswith(".json") else info.file_size
            if info.file_size > limit:
                raise SkannFileError(f"{info.filename} is {info.file_size:,} bytes, more than the {limit:,} bytes allowed.")
            target = folder / f"member-{index}{Path(info.filename).suffix}"  # Keras wants .keras
            digest = hashlib.sha256()
            copied = 0
            with archive.open(info) as source, open(target, "wb") as out:
                while chunk := source.read(2**20):
                    copied += len(chunk)
                    digest.update(chunk)
                    out.write(chunk)
            if copied != info.file_size or digest.hexdigest() != expected[info.filename]:
                raise SkannFileError(f"has been modified or is corrupt: checksum mismatch in {info.filename}.")
            files[info.filename] = target
    return files


def _get(value, key):
    return value.get(key) if isinstance(value, dict) else None


def _check_version(version) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise SkannFileError(f"names format version {version!r}, which is not a format version.")
    if version > FORMAT_VERSION:
        raise SkannFileError(
            f"was written in skann file format version {version}; this skann reads "
            f"version {FORMAT_VERSION} and older. Upgrade skann to load it."
        )
    if version < 1:
        raise SkannFileError(f"names format version {version}, which no skann ever wrote.")


def _parse_json(data: bytes, what: str):
    """JSON with its nesting bounded (checked without recursion)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise SkannFileError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise SkannFileError(f"{what} is not valid JSON ({one_line(exc)}).") from None
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise SkannFileError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def _library_versions(skann_version: str) -> dict[str, str]:
    import keras
    import sklearn

    versions = {"skann": skann_version, "keras": keras.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__}
    backend = keras.backend.backend()
    versions["keras_backend"] = backend
    framework = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    module = sys.modules.get(framework) if framework else None
    if module is not None:  # the backend's own version (never an import just for this)
        versions[framework] = module.__version__
    return versions


def _class_path(obj) -> str:
    """The name a file gives ``obj``'s class: its public import path when it is a safe class."""
    cls = type(obj)
    return _public_names().get(cls, f"{cls.__module__}.{cls.__qualname__}")


_PUBLIC_NAMES: dict = {}


def _public_names() -> dict:
    """Each safe class -> its public import path (imported on first use: the classes' modules
    import this one)."""
    if not _PUBLIC_NAMES:
        for name in SAFE_CLASSES:
            _PUBLIC_NAMES[_class_named(name)] = name
    return _PUBLIC_NAMES


def _class_named(name: str) -> type:
    module_name, _, class_name = name.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def _migrated(spec, version: int):
    """A file's object description, from its format ``version`` to the current one."""
    if version < 2:
        spec = _renamed_classes(spec, _FORMAT_1_NAMES)
    return spec


def _renamed_classes(spec, names: dict):
    if isinstance(spec, list):
        return [_renamed_classes(v, names) for v in spec]
    if not isinstance(spec, dict):
        return spec
    renamed = {k: _renamed_classes(v, names) for k, v in spec.items()}
    if isinstance(renamed.get("__object__"), str):
        renamed["__object__"] = names.get(renamed["__object__"], renamed["__object__"])
    return renamed


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
    from skann._keras_compat import tensorflow_unseen

    try:
        with tensorflow_unseen():
            return keras.saving.serialize_keras_object(value)
    except Exception:  # not serializable: the caller reports it
        return None


def _is_keras_model(value) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, keras.Model)


class _Decoder:
    """Rebuilds the objects of a .skann file's JSON description, refusing anything outside
    the format: unknown entries, classes off the allow-list, dtypes that are not plain,
    arrays whose data do not match their shape, parameters the estimator's validation refuses."""

    def __init__(self, members: dict[str, Path], max_bytes: int | None, max_params: int | None):
        self.members, self.max_bytes, self.max_params = members, max_bytes, max_params

    def decode(self, spec):
        if isinstance(spec, list):
            return [self.decode(v) for v in spec]
        if not isinstance(spec, dict):
            return spec
        kind = next((key for key in spec if key.startswith("__") and key.endswith("__")), None)
        handler = self._HANDLERS.get(kind)
        if handler is None:
            raise SkannFileError(f"unknown entry in skann.json: {sorted(spec)[:5]}.")
        return handler(self, spec)

    def _float(self, spec):
        if not isinstance(spec["__float__"], str):
            raise SkannFileError("a float is not stored as text.")
        return float(spec["__float__"])

    def _dtype(self, spec):
        return _plain_dtype(spec["__dtype__"])

    def _keras_object(self, spec):
        import keras

        config = spec["__keras_object__"]
        if not isinstance(config, dict):
            raise SkannFileError("a Keras object entry is not a config.")
        _check_keras_objects(config, self.max_params)
        try:
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
        except Exception as exc:
            raise _refusal(exc, "a Keras object in the file could not be rebuilt") from None

    def _function(self, spec):
        return None  # a model-building function is code: the file only names it

    def _ndarray(self, spec):
        shape = spec["shape"]
        if not isinstance(shape, list) or len(shape) > 32 or not all(
            type(n) is int and n >= 0 for n in shape
        ):
            raise SkannFileError(f"an array has an invalid shape {str(shape)[:50]}.")
        dtype = np.dtype(object) if spec["dtype"] == "object" else _plain_dtype(spec["dtype"])
        size = math.prod(shape)
        if self.max_bytes is not None and size * dtype.itemsize > self.max_bytes:
            raise SkannFileError(f"an array of shape {tuple(shape)} and dtype {dtype} would exceed the limit of {self.max_bytes:,} bytes.")
        data = spec["__ndarray__"]
        if size == 0:
            array = np.empty(shape, dtype=dtype)
        else:
            array = np.array(data, dtype=dtype)
        if array.shape != tuple(shape):
            raise SkannFileError(f"an array's data do not match its declared shape {tuple(shape)}.")
        if dtype == object and not all(isinstance(v, str) for v in array.ravel()):
            raise SkannFileError("an object array holds something other than strings.")
        return array

    def _tuple(self, spec):
        return tuple(self.decode(v) for v in _list(spec["__tuple__"]))

    def _dict(self, spec):
        items = spec["__dict__"]
        if not isinstance(items, dict):
            raise SkannFileError("a dict entry is not a JSON object.")
        return {k: self.decode(v) for k, v in items.items()}

    def _slice(self, spec):
        parts = _list(spec["__slice__"])
        if len(parts) != 3:
            raise SkannFileError("a slice entry does not have three parts.")
        return slice(*(self.decode(v) for v in parts))

    def _keras_model(self, spec):
        name = spec["__keras_model__"]
        if not isinstance(name, str) or not name.endswith(".keras") or name not in self.members:
            raise SkannFileError(f"the network {str(name)[:50]!r} is not in the file.")
        try:
            return _load_keras_file(self.members[name], safe_mode=True, max_bytes=self.max_bytes, max_params=self.max_params)
        except (SkannFileError, UnsafeObjectError):
            raise
        except Exception as exc:
            raise _refusal(exc, f"the network {name} could not be loaded") from None

    def _object(self, spec):
        class_path = spec["__object__"]
        if class_path not in SAFE_CLASSES:
            raise UnsafeFileError(
                f"The file asks for {str(class_path)[:100]}, which is not on skann's allow-list "
                "of safe classes; refusing to build it. For files you trust, use joblib."
            )
        state = spec["state"]
        if not isinstance(state, dict):
            raise SkannFileError(f"the state of a {class_path} is not a JSON object.")
        cls = _class_named(class_path)
        class_name = cls.__name__
        shadowing = sorted(key for key in state if hasattr(cls, key))
        if shadowing:  # an attribute may not hide a method or a class setting
            raise SkannFileError(f"the state of a {class_name} names class attributes {shadowing[:5]}.")
        obj = cls.__new__(cls)
        obj.__dict__.update({k: self.decode(v) for k, v in state.items()})
        if hasattr(obj, "_fill_added_parameters"):
            obj._fill_added_parameters()  # a file older than some of its parameters
        _check_loaded_params(obj)
        return obj

    _HANDLERS = {
        "__float__": _float,
        "__dtype__": _dtype,
        "__keras_object__": _keras_object,
        "__function__": _function,
        "__ndarray__": _ndarray,
        "__tuple__": _tuple,
        "__dict__": _dict,
        "__slice__": _slice,
        "__keras_model__": _keras_model,
        "__object__": _object,
    }


def _list(value) -> list:
    if not isinstance(value, list):
        raise SkannFileError("an entry that should be a list is not.")
    return value


def _plain_dtype(text) -> np.dtype:
    """The dtype named by ``text`` if it is plain (bool, number, string), else a refusal: a
    subarray dtype such as ``(16000,16000)f8`` would make every element a huge array."""
    if not isinstance(text, str) or len(text) > 20:
        raise SkannFileError(f"unsupported dtype in skann model file: {str(text)[:30]!r}.")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise SkannFileError(f"unsupported dtype in skann model file: {text!r}.") from None
    if dtype.kind not in _PLAIN_DTYPE_KINDS or dtype.subdtype is not None or dtype.names is not None:
        raise SkannFileError(f"unsupported dtype in skann model file: {text!r}.")
    return dtype


def _check_loaded_params(obj) -> None:
    """A loaded estimator's parameters pass the checks ``fit`` makes, so that a file cannot
    smuggle in a value ``fit`` (or ``set_params``) would refuse."""
    from sklearn.base import BaseEstimator

    if not isinstance(obj, BaseEstimator):
        return
    name = type(obj).__name__
    signature = inspect.signature(type(obj).__init__).parameters.values()
    missing = [p.name for p in signature if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in vars(obj)]
    if missing:
        raise SkannFileError(f"the {name} in the file lacks parameters {missing[:5]}.")
    try:
        obj.get_params(deep=False)
        if hasattr(obj, "_check_params"):
            obj._check_params()
        elif hasattr(obj, "_parameter_constraints"):
            obj._validate_params()
    except Exception as exc:
        raise SkannFileError(f"the {name} in the file has invalid parameters: {one_line(exc)}") from None
