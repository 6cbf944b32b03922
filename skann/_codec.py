"""Values of the safe format as JSON, and back.

A value is stored as itself (None, bools, ints, strings) or as a one-key marker entry
(``{"__float__": "0.1"}``, ``{"__ndarray__": ...}``, ``{"__object__": ...}``, ...). Decoding
accepts nothing else: an unknown entry, a dtype that is not plain, an array whose data do not
match its shape, a function or a type off the allow-lists, a class the state protocol
(:mod:`skann._stored`) does not declare. Arrays are bounded before they are allocated.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from skann._keras_archive import check_keras_objects, is_keras_model, keras_object_config, load_keras_file, model_to_bytes, refusal
from skann._safe_reading import SkannFileError, UnsafeFileError, UnsafeObjectError
from skann._stored import SAFE_CLASSES, class_path, rebuilt, state_of
from skann._text import one_line

__all__ = ["Decoder", "encode"]

# Numeric arrays above this size are stored as .npy members, smaller ones inline in skann.json.
ARRAY_MEMBER_BYTES = 1024
# dtypes the safe format stores: booleans, numbers, strings (and, as a dtype value only, object).
_PLAIN_DTYPE_KINDS = frozenset("biufUS")

# NumPy functions a FunctionTransformer or TransformedTargetRegressor may name (elementwise
# maths: nothing that reads files, evaluates text or calls back).
NUMPY_FUNCTIONS = frozenset(
    """abs absolute arccos arccosh arcsin arcsinh arctan arctanh cbrt ceil clip cos cosh deg2rad
    exp exp2 expm1 fabs floor log log10 log1p log2 nan_to_num negative positive rad2deg
    reciprocal rint sign sin sinh sqrt square tan tanh trunc""".split()
)
# Types a parameter may name: an encoder's output dtype, a column selector's dtype_include.
_TYPES = {
    **{f"numpy.{name}": getattr(np, name) for name in (
        "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    )},
    "object": object, "int": int, "float": float, "bool": bool, "str": str,
    "numpy.number": np.number, "numpy.integer": np.integer, "numpy.signedinteger": np.signedinteger,
    "numpy.unsignedinteger": np.unsignedinteger, "numpy.floating": np.floating, "numpy.bool_": np.bool_,
    "numpy.object_": np.object_, "numpy.str_": np.str_, "numpy.datetime64": np.datetime64,
    "numpy.timedelta64": np.timedelta64,
}
_TYPE_NAMES = {id(t): name for name, t in _TYPES.items()}
_FUNCTION_NAMES = {id(getattr(np, name)): name for name in sorted(NUMPY_FUNCTIONS, reverse=True)}


def encode(value, members: dict[str, bytes], where: str) -> Any:
    """JSON-able description of ``value``; Keras models and large numeric arrays go into
    ``members``, the file's other members (name -> .keras or .npy bytes)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"__float__": repr(float(value))}  # keeps nan/inf and exact values
    if isinstance(value, np.dtype):
        if (value.kind not in _PLAIN_DTYPE_KINDS and value != np.dtype(object)) or value.subdtype is not None:
            raise UnsafeObjectError(f"{where}: dtype {value} cannot be stored.")
        return {"__dtype__": value.str}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf" and value.nbytes > ARRAY_MEMBER_BYTES:
            name = f"array_{len(members)}.npy"  # binary: exact, compact, and no JSON size limit
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(value), allow_pickle=False)
            members[name] = buffer.getvalue()
            return {"__array_member__": name}
        return _encoded_array(value, where)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, members, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, members, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: encode(v, members, f"{where}[{k!r}]") for k, v in value.items()}}
        if all(isinstance(k, (str, int, np.integer)) and not isinstance(k, bool) for k in value):
            return {"__items__": [[encode(k, members, where), encode(v, members, f"{where}[{k!r}]")] for k, v in value.items()]}
        raise UnsafeObjectError(f"{where}: only dicts with string or integer keys can be stored.")
    if isinstance(value, slice):
        return {"__slice__": [encode(v, members, where) for v in (value.start, value.stop, value.step)]}
    if isinstance(value, type) and id(value) in _TYPE_NAMES:
        return {"__type__": _TYPE_NAMES[id(value)]}
    if id(value) in _FUNCTION_NAMES:
        return {"__numpy_function__": _FUNCTION_NAMES[id(value)]}
    if type(value).__name__ == "BSpline" and type(value).__module__.startswith("scipy.interpolate"):
        return {"__bspline__": {
            "t": encode(value.t, members, where), "c": encode(value.c, members, where), "k": int(value.k),
            "extrapolate": value.extrapolate if isinstance(value.extrapolate, str) else bool(value.extrapolate),
            "axis": int(value.axis),
        }}
    if is_keras_model(value):
        name = f"model_{len(members)}.keras"  # numbered with the arrays: names stay unique
        members[name] = model_to_bytes(value)
        return {"__keras_model__": name}
    keras_object = keras_object_config(value)
    if keras_object is not None:
        return {"__keras_object__": keras_object}
    if callable(value) and where.endswith((".model", ".build_fn")):
        # A model-building function is code: the file names it, and the loaded estimator has
        # model=None (it predicts and trains further; give model= again to fit anew).
        return {"__function__": f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"}
    path = class_path(value)
    if path in SAFE_CLASSES:
        path, params, fitted = state_of(value, where)
        return {
            "__object__": path,
            "params": {k: encode(v, members, f"{where}.{k}") for k, v in params.items()},
            "fitted": {k: encode(v, members, f"{where}.{k}") for k, v in fitted.items()},
        }
    what = "a function" if callable(value) and not isinstance(value, type) else f"a {path}"
    raise UnsafeObjectError(
        f"{where} is {what}, which skann's safe format cannot store (it stores skann objects, "
        "the scikit-learn steps listed in skann.persistence.SAFE_CLASSES, NumPy functions from "
        "skann._codec.NUMPY_FUNCTIONS, and plain values). Use joblib for it, or remove it "
        "(e.g. set callbacks=None) before saving."
    )


def _encoded_array(value: np.ndarray, where: str) -> dict:
    if value.dtype == object:
        items = value.ravel().tolist()
        if not all(_is_plain_item(v) for v in items):
            raise UnsafeObjectError(
                f"{where}: an object array holding something other than strings, numbers and None cannot be stored."
            )
        data = [{"__float__": repr(v)} if isinstance(v, float) else v for v in items]
        return {"__ndarray__": data, "dtype": "object", "shape": list(value.shape)}
    if value.dtype.kind not in "biufU":
        raise UnsafeObjectError(f"{where}: arrays of dtype {value.dtype} cannot be stored.")
    return {"__ndarray__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}


def _is_plain_item(v) -> bool:
    return v is None or isinstance(v, (str, bool, int, float))


class Decoder:
    """Rebuilds the objects of a .skann file's JSON description, refusing anything outside
    the format: unknown entries, classes off the allow-list, dtypes that are not plain,
    arrays whose data do not match their shape, parameters the estimator's validation refuses."""

    def __init__(self, members: dict, max_bytes: int | None, max_params: int | None):
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
        if spec["__dtype__"] == "|O":
            return np.dtype(object)
        return plain_dtype(spec["__dtype__"])

    def _keras_object(self, spec):
        import keras

        config = spec["__keras_object__"]
        if not isinstance(config, dict):
            raise SkannFileError("a Keras object entry is not a config.")
        check_keras_objects(config, self.max_params)
        try:
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
        except Exception as exc:
            raise refusal(exc, "a Keras object in the file could not be rebuilt") from None

    def _function(self, spec):
        return None  # a model-building function is code: the file only names it

    def _numpy_function(self, spec):
        name = spec["__numpy_function__"]
        if name not in NUMPY_FUNCTIONS:
            raise UnsafeFileError(f"The file names the function {str(name)[:60]!r}, which is not on skann's allow-list of NumPy functions.")
        return getattr(np, name)

    def _type(self, spec):
        name = spec["__type__"]
        if not isinstance(name, str) or name not in _TYPES:
            raise SkannFileError(f"the file names the type {str(name)[:60]!r}, which is not on skann's allow-list of types.")
        return _TYPES[name]

    def _ndarray(self, spec):
        shape = spec.get("shape")
        if not isinstance(shape, list) or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
            raise SkannFileError(f"an array has an invalid shape {str(shape)[:50]}.")
        is_object = spec.get("dtype") == "object"
        dtype = np.dtype(object) if is_object else plain_dtype(spec.get("dtype"))
        size = math.prod(shape)
        if self.max_bytes is not None and size * dtype.itemsize > self.max_bytes:
            raise SkannFileError(f"an array of shape {tuple(shape)} and dtype {dtype} would exceed the limit of {self.max_bytes:,} bytes.")
        data = spec["__ndarray__"]
        if is_object:
            return self._object_array(data, shape)
        array = np.empty(shape, dtype=dtype) if size == 0 else np.array(data, dtype=dtype)
        if array.shape != tuple(shape):
            raise SkannFileError(f"an array's data do not match its declared shape {tuple(shape)}.")
        return array

    def _array_member(self, spec):
        """A numeric array stored as a .npy member: its header (dtype, shape) is checked, and
        must account for the member's exact size, before the data are read."""
        name = spec["__array_member__"]
        if not isinstance(name, str) or not name.endswith(".npy") or name not in self.members:
            raise SkannFileError(f"the array {str(name)[:50]!r} is not in the file.")
        path = self.members[name]
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran_order, dtype = read_header(handle, max_header_size=1024)
            except (ValueError, SyntaxError, TypeError) as exc:
                raise SkannFileError(f"the array {name} has an invalid header ({one_line(exc)}).") from None
            if dtype.kind not in "biuf" or dtype.subdtype is not None or dtype.names is not None or fortran_order or len(shape) > 32:
                raise SkannFileError(f"the array {name} has an unsupported layout or dtype {dtype}.")
            if math.prod(shape) * dtype.itemsize != path.stat().st_size - handle.tell():
                raise SkannFileError(f"the array {name}'s data do not match its declared shape {tuple(shape)} and dtype {dtype}.")
            return np.fromfile(handle, dtype=dtype).reshape(shape)

    def _object_array(self, data, shape: list) -> np.ndarray:
        """An object array of strings, numbers and None: a flat list (format 3) or nested
        lists of strings (formats 1 and 2)."""
        if not isinstance(data, list):
            raise SkannFileError("an object array's data is not a list.")
        flat = data
        if any(isinstance(v, list) for v in data):
            nested = np.array(data, dtype=object)
            flat = nested.ravel().tolist() if nested.shape == tuple(shape) else None
        if flat is None or len(flat) != math.prod(shape):
            raise SkannFileError(f"an array's data do not match its declared shape {tuple(shape)}.")
        items = [self._float(v) if isinstance(v, dict) and set(v) == {"__float__"} else v for v in flat]
        if not all(_is_plain_item(v) for v in items):
            raise SkannFileError("an object array holds something other than strings, numbers and None.")
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)

    def _tuple(self, spec):
        return tuple(self.decode(v) for v in _list(spec["__tuple__"]))

    def _dict(self, spec):
        items = spec["__dict__"]
        if not isinstance(items, dict):
            raise SkannFileError("a dict entry is not a JSON object.")
        return {k: self.decode(v) for k, v in items.items()}

    def _items(self, spec):
        pairs = _list(spec["__items__"])
        if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int)) and not isinstance(p[0], bool) for p in pairs):
            raise SkannFileError("a dict entry's items are not [key, value] pairs with string or integer keys.")
        return {k: self.decode(v) for k, v in pairs}

    def _slice(self, spec):
        parts = _list(spec["__slice__"])
        if len(parts) != 3:
            raise SkannFileError("a slice entry does not have three parts.")
        return slice(*(self.decode(v) for v in parts))

    def _bspline(self, spec):
        from scipy.interpolate import BSpline

        parts = spec["__bspline__"]
        if not isinstance(parts, dict) or set(parts) != {"t", "c", "k", "extrapolate", "axis"}:
            raise SkannFileError("a B-spline entry does not have its five parts.")
        t, c = self.decode(parts["t"]), self.decode(parts["c"])
        k, extrapolate, axis = parts["k"], parts["extrapolate"], parts["axis"]
        if not (isinstance(t, np.ndarray) and isinstance(c, np.ndarray) and t.dtype.kind == "f" and c.dtype.kind == "f"):
            raise SkannFileError("a B-spline's knots or coefficients are not float arrays.")
        if type(k) is not int or not 0 <= k <= 10 or type(axis) is not int or extrapolate not in (True, False, "periodic"):
            raise SkannFileError("a B-spline has an invalid degree, axis or extrapolation.")
        try:
            return BSpline(t, c, k, extrapolate=extrapolate, axis=axis)
        except Exception as exc:
            raise SkannFileError(f"a B-spline in the file is invalid ({type(exc).__name__}: {exc}).") from None

    def _keras_model(self, spec):
        name = spec["__keras_model__"]
        if not isinstance(name, str) or not name.endswith(".keras") or name not in self.members:
            raise SkannFileError(f"the network {str(name)[:50]!r} is not in the file.")
        try:
            return load_keras_file(self.members[name], safe_mode=True, max_bytes=self.max_bytes, max_params=self.max_params)
        except (SkannFileError, UnsafeObjectError):
            raise
        except Exception as exc:
            raise refusal(exc, f"the network {name} could not be loaded") from None

    def _object(self, spec):
        return rebuilt(spec["__object__"], spec.get("params"), spec.get("fitted"), self.decode)

    _HANDLERS = {
        "__float__": _float,
        "__dtype__": _dtype,
        "__keras_object__": _keras_object,
        "__function__": _function,
        "__numpy_function__": _numpy_function,
        "__type__": _type,
        "__ndarray__": _ndarray,
        "__array_member__": _array_member,
        "__tuple__": _tuple,
        "__dict__": _dict,
        "__items__": _items,
        "__slice__": _slice,
        "__bspline__": _bspline,
        "__keras_model__": _keras_model,
        "__object__": _object,
    }


def _list(value) -> list:
    if not isinstance(value, list):
        raise SkannFileError("an entry that should be a list is not.")
    return value


def plain_dtype(text) -> np.dtype:
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
