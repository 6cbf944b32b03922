"""Saving and loading skann objects.

Two ways, for two levels of trust:

* ``joblib.dump`` / ``joblib.load`` (pickle): any skann estimator, transformer, Pipeline or
  fitted search. The Keras model inside an estimator is stored in Keras' native ``.keras``
  format (weights, architecture, optimizer state). Loading a pickle runs code chosen by whoever
  wrote the file: only load files you trust.
* :func:`save` / :func:`load`: a pickle-free zip holding each Keras model as ``.keras`` and
  everything else as JSON. Loading never unpickles, loads Keras models with
  ``safe_mode=True``, rebuilds only classes on an allow-list (:data:`SAFE_CLASSES`: skann's
  own, and the scikit-learn steps of tabular pipelines), each from its declared state
  (``skann._stored``), checks a SHA-256 of every member, and is bounded: sizes, JSON nesting, array dtypes and shapes and a
  network's parameter count are checked before anything is allocated (:data:`MAX_BYTES`,
  :data:`MAX_PARAMS`), so a file received from a stranger can be opened without running their
  code or exhausting memory. Every way a file can be wrong raises :class:`SkannFileError`.

The parts: ``skann._container`` (the zip, its manifest and checksums), ``skann._codec`` (values
as JSON), ``skann._stored`` (what each class stores), ``skann._keras_archive`` (networks as
.keras archives, checked before Keras opens them), ``skann._safe_reading`` (errors, limits).
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from skann._codec import Decoder, encode
from skann._container import FORMAT_NAME, FORMAT_VERSION, MANIFEST, check_version, file_errors, is_skann_file, read_container, write_container
from skann._keras_archive import model_from_bytes, model_to_bytes
from skann._safe_reading import MAX_BYTES, MAX_PARAMS, SkannFileError, UnsafeFileError, UnsafeObjectError
from skann._stored import SAFE_CLASSES, migrated

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "MAX_BYTES", "MAX_PARAMS", "SAFE_CLASSES", "SkannFileError",
    "UnsafeFileError", "UnsafeObjectError", "is_skann_file", "load", "model_from_bytes", "model_to_bytes",
    "read_metadata", "save",
]


def save(obj, path: str | os.PathLike) -> Path:
    """Save a skann estimator, transformer or scikit-learn pipeline without pickle.

    Parameters
    ----------
    obj : estimator, transformer, Pipeline, ColumnTransformer, ...
        Fitted or not. Its class and every object inside it must be in :data:`SAFE_CLASSES`,
        with no attribute beyond what its class declares, and its parameters plain values
        (numbers, strings, tuples, lists, dicts, None), Keras losses, metrics and optimizers,
        or NumPy functions and types from skann's allow-lists.
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
    members: dict[str, bytes] = {}  # networks (.keras) and large arrays (.npy)
    spec = encode(obj, members, where="object")
    from skann import __version__

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _library_versions(__version__),
        "object": spec,
    }
    path = Path(path)
    write_container(path, meta, members)
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
    with open(path, "rb") as handle, tempfile.TemporaryDirectory() as folder, file_errors(path):
        members, meta = read_container(handle, Path(folder), max_bytes)
        if "object" not in meta:
            raise SkannFileError("skann.json does not describe an object.")
        version = meta.get("format_version")
        check_version(version)
        return Decoder(members, max_bytes, max_params).decode(migrated(meta["object"], version))


def read_metadata(path: str | os.PathLike, *, max_bytes: int | None = MAX_BYTES) -> dict:
    """The file format and library versions recorded in a :func:`save` file, without loading it.

    Returns
    -------
    dict
        ``{"format": ..., "format_version": ..., "versions": {"skann": ..., "keras": ...}}``;
        the file's checksums are verified first.
    """
    path = Path(path)
    with open(path, "rb") as handle, tempfile.TemporaryDirectory() as folder, file_errors(path):
        _, meta = read_container(handle, Path(folder), max_bytes)
        return {key: meta.get(key) for key in ("format", "format_version", "versions")}


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
