"""The state protocol of the safe format: which classes a .skann file may hold, and what it
stores of each — its parameters (``get_params(deep=False)``, rebuilt through ``__init__``) and
its declared fitted attributes, each under a stable name and with a kind checked on loading.

Nothing else of an object is stored: saving an object with an attribute its class does not
declare is refused (it would be lost), and a file naming an undeclared attribute is refused.
The stored names are the attributes' public names; a private attribute (scikit-learn's
``_fit_dtype``, skann's ``_compiled_steps``) is stored under a name without its underscore, so
renaming it in code changes one line here and no file. Files of earlier format versions
(each object's ``vars()``) are migrated on loading (:func:`migrated`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from skann._safe_reading import SkannFileError, UnsafeFileError, UnsafeObjectError
from skann._text import one_line

__all__ = ["SAFE_CLASSES", "class_path", "migrated", "rebuilt", "state_of"]


# ---------------------------------------------------------------- kinds of stored values
@dataclass(frozen=True)
class Kind:
    """What a stored attribute must be once decoded (a decoded file can only hold plain
    values, arrays, networks and safe objects; the kind says which of them fits where)."""

    name: str
    test: Callable[[object], bool]


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return _is_int(v) or isinstance(v, (float, np.floating))


def _is_estimator(v) -> bool:
    return type(v) in _public_names()


def _is_keras_model(v) -> bool:
    from skann._keras_archive import is_keras_model

    return is_keras_model(v)


def _is_plain(v) -> bool:
    """Values, arrays and containers of them: no object, network or function."""
    stack = [v]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif not (node is None or isinstance(node, (bool, str, slice, np.ndarray, np.dtype)) or _is_number(node)):
            return False
    return True


def optional(kind: Kind) -> Kind:
    return Kind(f"{kind.name} or None", lambda v: v is None or kind.test(v))


def list_of(kind: Kind) -> Kind:
    return Kind(f"a list of ({kind.name})", lambda v: isinstance(v, list) and all(kind.test(x) for x in v))


def one_of(*kinds: Kind) -> Kind:
    return Kind(" or ".join(k.name for k in kinds), lambda v: any(k.test(v) for k in kinds))


INT = Kind("an int", _is_int)
NUMBER = Kind("a number", _is_number)
BOOL = Kind("a bool", lambda v: isinstance(v, (bool, np.bool_)))
STR = Kind("a string", lambda v: isinstance(v, str))
DTYPE = Kind("a dtype", lambda v: isinstance(v, np.dtype))
ARRAY = Kind("an array", lambda v: isinstance(v, np.ndarray))
SHAPE = Kind("a shape", lambda v: isinstance(v, tuple) and all(x is None or _is_int(x) for x in v))
PLAIN = Kind("plain values", _is_plain)
ESTIMATOR = Kind("an estimator", _is_estimator)
KERAS_MODEL = Kind("a Keras model", _is_keras_model)
BSPLINE = Kind("a B-spline", lambda v: type(v).__name__ == "BSpline")
NUMBERS = one_of(NUMBER, ARRAY)


def _is_column_step(v) -> bool:
    """A ColumnTransformer's (name, transformer or "drop"/"passthrough", columns)."""
    return (
        isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], str)
        and (isinstance(v[1], str) or _is_estimator(v[1])) and _is_plain(v[2])
    )


COLUMN_STEP = Kind("a (name, transformer, columns) step", _is_column_step)


# ---------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Field:
    attribute: str  # the attribute's name in code
    kind: Kind


@dataclass(frozen=True)
class StoredClass:
    """What the format stores of one class: ``fields`` (stored name -> attribute and kind) for
    its fitted state; its parameters are ``get_params(deep=False)``, or ``params`` for a class
    that is not a scikit-learn estimator."""

    fields: Mapping[str, Field]
    params: tuple[str, ...] | None = None
    attributes: Mapping[str, str] = field(init=False)  # attribute -> stored name

    def __post_init__(self):
        object.__setattr__(self, "attributes", {f.attribute: name for name, f in self.fields.items()})


# Every estimator may have these: scikit-learn's input checks and set_output set them.
_COMMON = {"n_features_in_": INT, "feature_names_in_": ARRAY}
_COMMON_PRIVATE = {"output_config": ("_sklearn_output_config", PLAIN)}


def _declared(*, params=None, private=None, **public) -> StoredClass:
    fields = {name: Field(name, kind) for name, kind in {**_COMMON, **public}.items()}
    for name, (attribute, kind) in {**_COMMON_PRIVATE, **(private or {})}.items():
        fields[name] = Field(attribute, kind)
    return StoredClass(fields, params)


_WRAPPER = dict(
    target_type_=STR, y_dtype_=DTYPE, y_ndim_=INT, X_dtype_=DTYPE, X_shape_=SHAPE, target_encoder_=ESTIMATOR,
    classes_=optional(ARRAY), n_classes_=optional(INT), n_outputs_=INT, n_outputs_expected_=INT,
    feature_encoder_=ESTIMATOR, model_=KERAS_MODEL, history_=PLAIN, n_iter_=INT, log_run_dir_=STR,
)
_WRAPPER_PRIVATE = {"compiled_steps": ("_compiled_steps", INT)}
_ENCODER_PRIVATE = {  # scikit-learn's categorical encoders
    "infrequent_enabled": ("_infrequent_enabled", BOOL),
    "infrequent_indices": ("_infrequent_indices", list_of(optional(ARRAY))),
    "default_to_infrequent_mappings": ("_default_to_infrequent_mappings", list_of(optional(ARRAY))),
}

# Classes by their public import paths.
DECLARED: dict[str, StoredClass] = {
    # skann
    "skann.wrappers.KerasClassifier": _declared(private=_WRAPPER_PRIVATE, **_WRAPPER),
    "skann.wrappers.KerasRegressor": _declared(private=_WRAPPER_PRIVATE, **_WRAPPER),
    "skann.keras_transformer.KerasTransformer": _declared(private=_WRAPPER_PRIVATE, **_WRAPPER),
    "skann.estimators.FashionMLPClassifier": _declared(private=_WRAPPER_PRIVATE, sample_shape_=optional(SHAPE), **_WRAPPER),
    "skann.estimators.HousingMLPRegressor": _declared(private=_WRAPPER_PRIVATE, **_WRAPPER),
    "skann.wide_deep.WideDeepRegressor": _declared(private=_WRAPPER_PRIVATE, has_aux_output_=BOOL, **_WRAPPER),
    "skann.perceptron.PerceptronBaseline": _declared(private=_WRAPPER_PRIVATE, **_WRAPPER),
    "skann.wrappers.ClassifierLabelEncoder": _declared(
        target_type_=STR, classes_=optional(ARRAY), n_classes_=optional(INT), n_outputs_=INT, n_outputs_expected_=INT,
        private={"y_shape": ("_y_shape", SHAPE), "y_dtype": ("_y_dtype", DTYPE)},
    ),
    "skann.wrappers.RegressorTargetEncoder": _declared(
        n_outputs_=INT, n_outputs_expected_=INT, private={"y_shape": ("_y_shape", SHAPE)}
    ),
    "skann.wrappers.TargetReshaper": _declared(ndim_=INT),
    "skann.transformers.ImageFlattener": _declared(image_shape_=SHAPE, n_features_out_=INT),
    "skann.transformers.ImageReshaper": _declared(),
    "skann.transformers.PixelScaler": _declared(image_shape_=SHAPE),
    "skann.transformers.FeatureSplitter": _declared(wide_indices_=ARRAY, deep_indices_=ARRAY),
    # scikit-learn: composition
    "sklearn.pipeline.Pipeline": _declared(),
    "sklearn.pipeline.FeatureUnion": _declared(),
    "sklearn.compose.ColumnTransformer": _declared(
        transformers_=list_of(COLUMN_STEP), sparse_output_=BOOL, output_indices_=PLAIN,
        private={
            "columns": ("_columns", PLAIN),
            "transformer_to_input_indices": ("_transformer_to_input_indices", PLAIN),
            "remainder": ("_remainder", COLUMN_STEP),
            "name_to_fitted_passthrough": (
                "_name_to_fitted_passthrough",
                Kind("estimators by name", lambda v: isinstance(v, dict) and all(_is_estimator(e) for e in v.values())),
            ),
            "transformers_feature_names_out": ("_transformers_feature_names_out", ARRAY),  # pandas output
        },
    ),
    "sklearn.compose.make_column_selector": _declared(params=("pattern", "dtype_include", "dtype_exclude")),
    "sklearn.compose.TransformedTargetRegressor": _declared(
        regressor_=ESTIMATOR, transformer_=ESTIMATOR, private={"training_dim": ("_training_dim", INT)}
    ),
    # only ever rebuilt with plain values or NumPy functions from the allow-list (skann._codec)
    "sklearn.preprocessing.FunctionTransformer": _declared(),
    # scikit-learn: scaling and transforming numbers
    "sklearn.preprocessing.StandardScaler": _declared(
        n_samples_seen_=NUMBERS, mean_=optional(ARRAY), var_=optional(ARRAY), scale_=optional(ARRAY)
    ),
    "sklearn.preprocessing.MinMaxScaler": _declared(
        n_samples_seen_=NUMBERS, scale_=ARRAY, min_=ARRAY, data_min_=ARRAY, data_max_=ARRAY, data_range_=ARRAY
    ),
    "sklearn.preprocessing.MaxAbsScaler": _declared(n_samples_seen_=NUMBERS, max_abs_=ARRAY, scale_=ARRAY),
    "sklearn.preprocessing.RobustScaler": _declared(center_=optional(ARRAY), scale_=optional(ARRAY)),
    "sklearn.preprocessing.QuantileTransformer": _declared(n_quantiles_=INT, references_=ARRAY, quantiles_=ARRAY),
    "sklearn.preprocessing.PowerTransformer": _declared(lambdas_=ARRAY, private={"scaler": ("_scaler", ESTIMATOR)}),
    "sklearn.preprocessing.PolynomialFeatures": _declared(
        n_output_features_=INT,
        private={"min_degree": ("_min_degree", INT), "max_degree": ("_max_degree", INT), "n_out_full": ("_n_out_full", INT)},
    ),
    "sklearn.preprocessing.SplineTransformer": _declared(bsplines_=list_of(BSPLINE), n_features_out_=INT),
    "sklearn.decomposition.PCA": _declared(
        mean_=ARRAY, noise_variance_=NUMBER, n_samples_=INT, n_components_=INT, components_=ARRAY,
        explained_variance_=ARRAY, explained_variance_ratio_=ARRAY, singular_values_=ARRAY,
        private={"fit_svd_solver": ("_fit_svd_solver", STR)},
    ),
    # scikit-learn: categories and missing values
    "sklearn.preprocessing.OneHotEncoder": _declared(
        categories_=list_of(ARRAY), drop_idx_=optional(ARRAY),
        private={
            **_ENCODER_PRIVATE,
            "drop_idx_after_grouping": ("_drop_idx_after_grouping", optional(ARRAY)),
            "n_features_outs": ("_n_features_outs", list_of(INT)),
        },
    ),
    "sklearn.preprocessing.OrdinalEncoder": _declared(
        categories_=list_of(ARRAY), private={**_ENCODER_PRIVATE, "missing_indices": ("_missing_indices", PLAIN)}
    ),
    "sklearn.preprocessing.TargetEncoder": _declared(
        categories_=list_of(ARRAY), target_type_=STR, classes_=optional(ARRAY), target_mean_=NUMBERS,
        encodings_=list_of(ARRAY), private=_ENCODER_PRIVATE,
    ),
    "sklearn.preprocessing.LabelEncoder": _declared(classes_=ARRAY),
    "sklearn.impute.SimpleImputer": _declared(
        statistics_=ARRAY, indicator_=optional(ESTIMATOR),
        private={"fit_dtype": ("_fit_dtype", DTYPE), "fill_dtype": ("_fill_dtype", DTYPE)},
    ),
    "sklearn.impute.KNNImputer": _declared(
        indicator_=optional(ESTIMATOR),
        private={"fit_X": ("_fit_X", ARRAY), "mask_fit_X": ("_mask_fit_X", ARRAY), "valid_mask": ("_valid_mask", ARRAY)},
    ),
    "sklearn.impute.MissingIndicator": _declared(
        features_=ARRAY, private={"n_features": ("_n_features", INT), "precomputed": ("_precomputed", BOOL)}
    ),
}
SAFE_CLASSES = frozenset(DECLARED)

# Attributes no file stores: scikit-learn's pickle stamp.
_NOT_STORED = frozenset({"_sklearn_version"})


# ---------------------------------------------------------------- names
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


def class_path(obj) -> str:
    """The name a file gives ``obj``'s class: its public import path when it is a safe class."""
    cls = type(obj)
    return _public_names().get(cls, f"{cls.__module__}.{cls.__qualname__}")


# ---------------------------------------------------------------- saving and rebuilding
def state_of(obj, where: str) -> tuple[str, dict, dict]:
    """``(class path, parameters, fitted state by stored name)`` of a safe object; an
    attribute its class does not declare is refused rather than lost."""
    path = class_path(obj)
    declared = DECLARED[path]
    params = _params_of(obj, declared)
    fitted, unknown = {}, []
    for attribute, value in vars(obj).items():
        if attribute in declared.attributes:
            fitted[declared.attributes[attribute]] = value
        elif attribute not in params and attribute not in _NOT_STORED:
            unknown.append(attribute)
    if unknown:
        raise UnsafeObjectError(
            f"{where} is a {type(obj).__name__} with attributes {sorted(unknown)[:5]}, which skann's safe "
            "format does not store (they would be lost). Use joblib for it."
        )
    return path, params, fitted


def _params_of(obj, declared: StoredClass) -> dict:
    if declared.params is not None:
        return {name: getattr(obj, name) for name in declared.params}
    return obj.get_params(deep=False)


def rebuilt(path: str, params: dict, fitted: dict, decode: Callable) -> object:
    """The object a file describes: its class (on the allow-list) built from its parameters
    through ``__init__``, then given its declared fitted attributes, each of its kind.
    ``params`` and ``fitted`` are the file's entries, decoded here once their names pass."""
    if path not in SAFE_CLASSES:
        raise UnsafeFileError(
            f"The file asks for {str(path)[:100]}, which is not on skann's allow-list "
            "of safe classes; refusing to build it. For files you trust, use joblib."
        )
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise SkannFileError(f"the parameters or state of a {path} are not JSON objects.")
    declared, cls = DECLARED[path], _class_named(path)
    name = cls.__name__
    unknown = sorted(set(fitted) - set(declared.fields))
    if unknown:
        raise SkannFileError(f"the {name} in the file has attributes {unknown[:5]} that a {name} does not store.")
    accepted = _init_names(cls, declared)
    refused = sorted(
        k for k in params
        if (k not in accepted if accepted is not None else (k.startswith("_") or k.endswith("_") or hasattr(cls, k)))
    )
    if refused:  # nor may a parameter of a class taking **kwargs hide a method or a setting
        raise SkannFileError(f"the {name} in the file has parameters {refused[:5]} that a {name} does not take.")
    params = {k: decode(v) for k, v in params.items()}
    fitted = {k: decode(v) for k, v in fitted.items()}
    # A file older than some of its parameters: skann's values keeping its behaviour, or defaults.
    added = cls._added_parameter_values() if hasattr(cls, "_added_parameter_values") else {}
    try:
        obj = cls(**{**added, **params})
    except Exception as exc:
        raise SkannFileError(f"the {name} in the file has invalid parameters: {one_line(exc)}") from None
    for stored_name, value in fitted.items():
        entry = declared.fields[stored_name]
        if not entry.kind.test(value):
            raise SkannFileError(f"the {name} in the file has {stored_name} that is not {entry.kind.name}.")
        setattr(obj, entry.attribute, value)
    _check_loaded_params(obj)
    return obj


def _init_names(cls, declared: StoredClass) -> set[str] | None:
    """The parameter names ``cls`` takes (None: any, for a class taking ``**kwargs``, whose own
    checks then judge them)."""
    if declared.params is not None:
        return set(declared.params)
    parameters = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.name != "self"}


def _check_loaded_params(obj) -> None:
    """A loaded estimator's parameters pass the checks ``fit`` makes, so that a file cannot
    smuggle in a value ``fit`` (or ``set_params``) would refuse."""
    from sklearn.base import BaseEstimator

    from skann._sklearn_compat import validate_params

    if not isinstance(obj, BaseEstimator):
        return
    try:
        obj.get_params(deep=False)
        if hasattr(obj, "_check_params"):
            obj._check_params()  # skann's wrappers: constraints, and routed parameters
        else:
            validate_params(obj)
    except Exception as exc:
        raise SkannFileError(f"the {type(obj).__name__} in the file has invalid parameters: {one_line(exc)}") from None


# ---------------------------------------------------------------- earlier format versions
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


def migrated(spec, version: int):
    """A file's description of its object, from format ``version`` to the current one."""
    if version < 3:
        spec = _walk_objects(spec, lambda obj: _from_vars(obj, version))
    return spec


def _walk_objects(spec, change: Callable[[dict], dict]):
    if isinstance(spec, list):
        return [_walk_objects(v, change) for v in spec]
    if not isinstance(spec, dict):
        return spec
    walked = {k: _walk_objects(v, change) for k, v in spec.items()}
    return change(walked) if "__object__" in walked else walked


def _from_vars(obj: dict, version: int) -> dict:
    """A format 1 or 2 object (``{"__object__": name, "state": vars()}``) in format 3: its
    public attributes without a trailing underscore are its parameters (scikit-learn's
    convention, which skann's classes keep), the declared ones its fitted state; the rest was
    transient and is dropped."""
    path, state = obj.get("__object__"), obj.get("state")
    if isinstance(path, str) and version < 2:
        path = _FORMAT_1_NAMES.get(path, path)
    if path not in SAFE_CLASSES or not isinstance(state, dict):
        return {"__object__": path, "params": state, "fitted": {}}  # refused when rebuilt
    attributes = DECLARED[path].attributes
    params = {k: v for k, v in state.items() if not k.startswith("_") and not k.endswith("_")}
    fitted = {attributes[k]: v for k, v in state.items() if k in attributes}
    return {"__object__": path, "params": params, "fitted": fitted}
