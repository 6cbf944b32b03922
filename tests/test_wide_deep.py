"""WideDeepRegressor: both APIs, auxiliary output, feature selection, pipelines, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import WideDeepRegressor
from skann.builders import WideAndDeepModel
from skann.datasets import CALIFORNIA_FEATURE_NAMES

FAST = dict(epochs=5, learning_rate=0.01, early_stopping=False, random_state=0)
MAIN_AND_AUX_KEYS = {
    "loss",
    "output_loss",
    "aux_output_loss",
    "output_root_mean_squared_error",
    "aux_output_root_mean_squared_error",
}


@pytest.fixture(scope="module")
def housing(housing_sample):
    X, y = housing_sample
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:2000]  # the table is ordered by region
    return X[idx[:1500]], y[idx[:1500]], X[idx[1500:]], y[idx[1500:]]


@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_both_apis_fit_predict_with_aux_output(api, housing):
    X, y, Xt, yt = housing
    reg = WideDeepRegressor(api=api, aux_weight=0.1, **FAST).fit(X, y, validation_data=(Xt, yt))
    assert set(reg.history_) == MAIN_AND_AUX_KEYS | {f"val_{k}" for k in MAIN_AND_AUX_KEYS}
    assert all(len(v) == 5 for v in reg.history_.values())
    # loss = 0.9 * main + 0.1 * aux
    h = reg.history_
    assert h["loss"][-1] == pytest.approx(0.9 * h["output_loss"][-1] + 0.1 * h["aux_output_loss"][-1], rel=5e-3)
    pred, aux = reg.predict(Xt), reg.predict_aux(Xt)
    assert pred.shape == aux.shape == (len(Xt),) and pred.dtype == np.float64
    assert np.abs(pred - aux).max() > 1e-4
    assert reg.score(Xt, yt) > 0.3
    if api == "subclass":
        assert isinstance(reg.model_, WideAndDeepModel)
    else:
        assert [t.name for t in reg.model_.inputs] == ["input_wide", "input_deep"]


def test_functional_model_is_the_books(housing):
    X, y, _, _ = housing
    reg = WideDeepRegressor(aux_weight=None, **FAST).fit(X, y)
    model = reg.model_
    assert not reg.has_aux_output_ and len(model.outputs) == 1
    assert model.get_layer("hidden1").units == 30 and model.get_layer("hidden2").units == 30
    assert model.get_layer("normalization_wide").input.shape == (None, 5)
    assert model.get_layer("normalization_deep").input.shape == (None, 6)
    assert model.get_layer("output").input.shape == (None, 5 + 30)  # concat(normalized wide, deep)
    assert set(reg.history_) == {"loss", "root_mean_squared_error"}
    with pytest.raises(AttributeError, match="no auxiliary output"):
        reg.predict_aux(X[:2])
    # Each path's Normalization was adapted to its own columns.
    mean_wide = np.asarray(model.get_layer("normalization_wide").mean).ravel()
    np.testing.assert_allclose(mean_wide, X[:, :5].mean(axis=0), rtol=1e-3)


def test_same_seed_same_network_in_both_apis(housing):
    X, y, Xt, _ = housing
    a = WideDeepRegressor(api="functional", **FAST).fit(X, y).predict(Xt)
    b = WideDeepRegressor(api="functional", **FAST).fit(X, y).predict(Xt)
    np.testing.assert_array_equal(a, b)


def test_column_names_masks_and_multioutput(housing):
    pd = pytest.importorskip("pandas")
    X, y, Xt, _ = housing
    df = pd.DataFrame(X, columns=CALIFORNIA_FEATURE_NAMES)
    reg = WideDeepRegressor(
        wide_features=["MedInc", "Latitude", "Longitude"],
        deep_features=np.arange(8) >= 1,
        **FAST,
    ).fit(df, np.column_stack([y, y / 2]))
    assert reg.feature_encoder_.wide_indices_.tolist() == [0, 6, 7]
    assert reg.feature_encoder_.deep_indices_.tolist() == list(range(1, 8))
    pred = reg.predict(pd.DataFrame(Xt, columns=CALIFORNIA_FEATURE_NAMES))
    assert pred.shape == (len(Xt), 2) and reg.predict_aux(pd.DataFrame(Xt, columns=CALIFORNIA_FEATURE_NAMES)).shape == (len(Xt), 2)


def test_pipeline_and_cross_val_score(housing):
    X, y, _, _ = housing
    pipe = make_pipeline(StandardScaler(), WideDeepRegressor(**FAST))
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"wide_features": ["nope"]}, "need X as a DataFrame"),
        ({"wide_features": [9]}, r"wide_features: column index \[9\] out of range"),
        ({"deep_features": []}, "deep_features selects no features"),
        ({"wide_features": slice(8, None)}, "wide_features selects no features"),
        ({"aux_weight": 1.0}, "'aux_weight' parameter"),
        ({"api": "sequential"}, "'api' parameter"),
    ],
)
def test_bad_feature_selection_and_params(params, match, housing):
    X, y, _, _ = housing
    reg = WideDeepRegressor(**{**FAST, **params})
    with pytest.raises(ValueError, match=match):
        reg.fit(X, y)
    assert not hasattr(reg, "model_")


def test_unknown_column_name_and_fewer_features_at_predict(housing):
    pd = pytest.importorskip("pandas")
    X, y, Xt, _ = housing
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['Rooms'\]"):
        WideDeepRegressor(wide_features=["Rooms"], **FAST).fit(pd.DataFrame(X, columns=CALIFORNIA_FEATURE_NAMES), y)
    reg = WideDeepRegressor(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="8 features"):
        reg.predict(Xt[:, :6])


def test_subclass_model_saves_and_loads_with_keras(tmp_path, housing):
    X, y, Xt, _ = housing
    reg = WideDeepRegressor(api="subclass", **FAST).fit(X, y)
    path = tmp_path / "wd.keras"
    reg.model_.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)  # registered: no custom_objects needed
    inputs = reg.feature_encoder_.transform(Xt.astype(np.float32))
    np.testing.assert_allclose(loaded.predict_on_batch(inputs)[0], reg.model_.predict_on_batch(inputs)[0], atol=1e-6)
