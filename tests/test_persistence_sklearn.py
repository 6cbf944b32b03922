"""The safe format holds the scikit-learn steps users put before a network: each class of the
allow-list round-trips (same outputs, same attributes), a ColumnTransformer pipeline fitted on a
DataFrame round-trips in a fresh process, and what the format does not declare is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.decomposition import PCA
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer, LabelEncoder, MaxAbsScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder, PolynomialFeatures,
    PowerTransformer, QuantileTransformer, RobustScaler, SplineTransformer, StandardScaler, TargetEncoder,
)

import skann
from skann import KerasRegressor
from skann._codec import NUMPY_FUNCTIONS
from skann.persistence import SAFE_CLASSES, UnsafeObjectError

from ._tabular import column_pipeline, frame
from .conftest import REPO

RNG = np.random.default_rng(0)
NUMBERS = np.abs(RNG.normal(size=(120, 3))) + 0.1
WITH_GAPS = np.where(NUMBERS > 1.2, np.nan, NUMBERS)
WORDS = pd.DataFrame({"w": RNG.choice(np.array(["a", "b", "c", "rare", None], dtype=object), 120, p=[0.3, 0.3, 0.3, 0.02, 0.08])})
LABELS = RNG.integers(0, 3, 120)
TARGET = NUMBERS @ np.array([1.0, 2.0, 0.5])


def linear_network(meta):
    return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(0))])


def _network():
    return KerasRegressor(linear_network, loss="mse", epochs=2, random_state=0)


# name -> (estimator, X, y): every scikit-learn class of the allow-list, in the settings that
# give it different fitted state.
CASES = {
    "StandardScaler": (StandardScaler(), NUMBERS, None),
    "StandardScaler without mean": (StandardScaler(with_mean=False), NUMBERS, None),
    "MinMaxScaler": (MinMaxScaler(), NUMBERS, None),
    "MaxAbsScaler": (MaxAbsScaler(), NUMBERS, None),
    "RobustScaler": (RobustScaler(), NUMBERS, None),
    "QuantileTransformer": (QuantileTransformer(n_quantiles=50, output_distribution="normal"), NUMBERS, None),
    "PowerTransformer": (PowerTransformer(), NUMBERS, None),
    "PowerTransformer unstandardized": (PowerTransformer(method="box-cox", standardize=False), NUMBERS, None),
    "PolynomialFeatures": (PolynomialFeatures(degree=3, interaction_only=True), NUMBERS, None),
    "SplineTransformer": (SplineTransformer(n_knots=4, degree=2), NUMBERS, None),
    "SplineTransformer periodic": (SplineTransformer(extrapolation="periodic"), NUMBERS, None),
    "PCA": (PCA(n_components=2, whiten=True), NUMBERS, None),
    "SimpleImputer": (SimpleImputer(strategy="mean", add_indicator=True), WITH_GAPS, None),
    "SimpleImputer on strings": (SimpleImputer(strategy="most_frequent"), WORDS, None),
    "KNNImputer": (KNNImputer(n_neighbors=3, add_indicator=True), WITH_GAPS, None),
    "MissingIndicator": (MissingIndicator(features="all"), WITH_GAPS, None),
    "OneHotEncoder infrequent": (OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist"), WORDS, None),
    "OneHotEncoder drop first": (OneHotEncoder(drop="first", sparse_output=False, dtype=np.float32), WORDS.fillna("none"), None),
    "OrdinalEncoder": (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, max_categories=3), WORDS, None),
    "TargetEncoder": (TargetEncoder(random_state=0), WORDS.fillna("none"), TARGET),
    "TargetEncoder multiclass": (TargetEncoder(random_state=0), WORDS.fillna("none"), LABELS),
    "FunctionTransformer": (FunctionTransformer(np.log1p, inverse_func=np.expm1, check_inverse=False), NUMBERS, None),
    "FeatureUnion": (FeatureUnion([("pca", PCA(1)), ("scaled", StandardScaler())]), NUMBERS, None),
    "ColumnTransformer with pandas output": (
        ColumnTransformer(
            [("scaled", StandardScaler(), make_column_selector(dtype_include=np.number)),
             ("words", OneHotEncoder(sparse_output=False), ["w"])],
            remainder="drop",
        ).set_output(transform="pandas"),
        pd.concat([pd.DataFrame(NUMBERS, columns=["x0", "x1", "x2"]), WORDS.fillna("none")], axis=1),
        None,
    ),
    "TransformedTargetRegressor with functions": (
        TransformedTargetRegressor(_network(), func=np.log1p, inverse_func=np.expm1, check_inverse=False), NUMBERS, TARGET
    ),
    "TransformedTargetRegressor with a transformer": (
        TransformedTargetRegressor(make_pipeline(StandardScaler(), _network()), transformer=StandardScaler()), NUMBERS, TARGET
    ),
}


def _outputs(est, X):
    if isinstance(est, LabelEncoder):
        return est.transform(X)
    out = est.predict(X) if hasattr(est, "predict") else est.transform(X)
    return out.toarray() if hasattr(out, "toarray") else out


def _classes_in(obj, found=None) -> set[str]:
    """Public paths of the safe classes inside ``obj`` (parameters and fitted attributes)."""
    found = set() if found is None else found
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _classes_in(item, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _classes_in(item, found)
    elif type(obj).__module__.startswith(("sklearn", "skann")) and not isinstance(obj, type):
        from skann._stored import class_path

        found.add(class_path(obj))
        for item in vars(obj).values():
            _classes_in(item, found)
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_each_scikit_learn_step_round_trips(name, tmp_path):
    est, X, y = CASES[name]
    est.fit(X, y)
    loaded = skann.load(skann.save(est, tmp_path / "step.skann"))
    assert type(loaded) is type(est) and repr(_plain_params(loaded)) == repr(_plain_params(est))  # nan != nan
    assert sorted(vars(loaded)) == sorted(k for k in vars(est) if k != "_sklearn_version")
    expected, got = _outputs(est, X), _outputs(loaded, X)
    assert type(got) is type(expected)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    elif np.asarray(expected).dtype == object:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(np.asarray(got, float), np.asarray(expected, float), rtol=1e-6, atol=1e-7)


def _plain_params(est) -> dict:
    """Every parameter, nested ones included, that is a plain value (a model-building function
    comes back as None by design, and a column selector is a new object)."""
    plain = (type(None), bool, int, float, str, np.ufunc)
    return {k: v for k, v in est.get_params(deep=True).items() if isinstance(v, plain) and not k.endswith("model")}


def test_label_encoder_round_trips(tmp_path):
    encoder = LabelEncoder().fit(np.array(["stay", "churn", "stay"], dtype=object))
    loaded = skann.load(skann.save(encoder, tmp_path / "labels.skann"))
    np.testing.assert_array_equal(loaded.classes_, encoder.classes_)
    np.testing.assert_array_equal(loaded.inverse_transform([1, 0]), ["stay", "churn"])


def test_every_scikit_learn_class_of_the_allow_list_is_tested():
    tested = set().union(*(_classes_in(est) for est, _, _ in CASES.values())) | {
        "sklearn.preprocessing.LabelEncoder", "sklearn.pipeline.Pipeline"
    }
    assert {name for name in SAFE_CLASSES if name.startswith("sklearn.")} <= tested


def test_a_column_transformer_pipeline_round_trips_in_a_fresh_process(tmp_path):
    """Imputers, a one-hot encoder, an ordinal encoder and a scaler over a DataFrame with
    missing values and a categorical column, then a user's network: a new process loads it,
    keeps feature_names_in_, accepts the same DataFrame and predicts exactly the same."""
    X, y = frame()
    pipeline = column_pipeline().fit(X, y)
    path = skann.save(pipeline, tmp_path / "churn.skann")
    script = textwrap.dedent(
        """
        import json, sys
        import skann
        from tests._tabular import frame

        X, _ = frame()
        model = skann.load(sys.argv[1])
        print(json.dumps({
            "proba": model.predict_proba(X).tolist(), "labels": model.predict(X).tolist(),
            "names": model.feature_names_in_.tolist(), "classes": model.classes_.tolist(),
        }))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.asarray(facts["proba"]), pipeline.predict_proba(X))
    assert facts["labels"] == pipeline.predict(X).tolist()
    assert facts["names"] == list(X.columns) == pipeline.feature_names_in_.tolist()
    assert facts["classes"] == ["churn", "stay"]


def test_large_arrays_are_stored_as_binary_members(tmp_path):
    """A KNNImputer keeps its whole training set: 100,000 x 10 floats (8 MB) with gaps. Its
    arrays go into .npy members (as JSON they would pass the 16 MiB limit on skann.json, and a
    file could be saved that does not load); they come back bit for bit."""
    import zipfile

    X = np.random.default_rng(1).normal(size=(100_000, 10))
    X[::7, 3] = np.nan
    imputer = KNNImputer(n_neighbors=2).fit(X)
    path = skann.save(imputer, tmp_path / "knn.skann")
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("skann.json").file_size < 20_000
        assert sorted(n for n in archive.namelist() if n.endswith(".npy")) == ["array_0.npy", "array_1.npy"]  # _fit_X, its mask
    loaded = skann.load(path)
    np.testing.assert_array_equal(loaded._fit_X, imputer._fit_X)
    np.testing.assert_array_equal(loaded._mask_fit_X, imputer._mask_fit_X)
    np.testing.assert_array_equal(loaded.transform(X[:50]), imputer.transform(X[:50]))


def test_an_attribute_the_format_does_not_declare_is_refused_not_lost(tmp_path):
    scaler = StandardScaler().fit(NUMBERS)
    scaler.calibration_ = 3  # a user's own addition: not part of what a StandardScaler stores
    with pytest.raises(UnsafeObjectError, match=r"StandardScaler with attributes \['calibration_'\].*joblib"):
        skann.save(make_pipeline(scaler), tmp_path / "x.skann")
    assert not (tmp_path / "x.skann").exists()


def test_functions_are_stored_only_from_the_numpy_allow_list(tmp_path):
    assert all(isinstance(getattr(np, name), np.ufunc) or name in ("clip", "nan_to_num") for name in NUMPY_FUNCTIONS)
    clip = FunctionTransformer(np.clip, kw_args={"a_min": 0.5, "a_max": 1.0}).fit(NUMBERS)
    np.testing.assert_array_equal(skann.load(skann.save(clip, tmp_path / "clip.skann")).transform(NUMBERS), clip.transform(NUMBERS))
    for func in (np.load, np.vectorize(float), print):
        with pytest.raises(UnsafeObjectError, match="safe format cannot store"):
            skann.save(FunctionTransformer(func), tmp_path / "f.skann")


def test_column_selectors_keep_their_settings(tmp_path):
    selector = make_column_selector(pattern="^x", dtype_include=[np.number, "category"], dtype_exclude=bool)
    columns = ColumnTransformer([("x", StandardScaler(), selector)])
    loaded = skann.load(skann.save(columns, tmp_path / "c.skann")).transformers[0][2]
    assert (loaded.pattern, loaded.dtype_include, loaded.dtype_exclude) == ("^x", [np.number, "category"], bool)


def test_pipeline_step_of_every_class_is_a_base_estimator():
    # The state protocol rebuilds estimators through __init__ from get_params(): every
    # scikit-learn class of the allow-list but the column selector is one.
    for name in SAFE_CLASSES:
        module, _, cls = name.rpartition(".")
        klass = getattr(__import__(module, fromlist=[cls]), cls)
        assert issubclass(klass, BaseEstimator) or name == "sklearn.compose.make_column_selector", name
    assert Pipeline in {type(column_pipeline())}
