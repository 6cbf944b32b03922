"""Transformers: shapes, dtypes, round trips, pipelines, clone, feature names, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skann import FeatureSplitter, ImageFlattener, ImageReshaper, PixelScaler


@parametrize_with_checks([PixelScaler()])
def test_pixel_scaler_passes_sklearn_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- ImageFlattener / ImageReshaper
def test_flattener_keeps_dtype_and_round_trips(fashion_sample):
    (X, _), _ = fashion_sample
    flat = ImageFlattener().fit(X)
    rows = flat.transform(X)
    assert rows.shape == (3000, 784) and rows.dtype == np.uint8
    assert np.shares_memory(rows, X)  # a view, no copy
    assert flat.image_shape_ == (28, 28)
    np.testing.assert_array_equal(flat.inverse_transform(rows), X)
    back = ImageReshaper().fit_transform(rows)
    np.testing.assert_array_equal(back, X)
    np.testing.assert_array_equal(ImageReshaper().fit(rows).inverse_transform(back), rows)
    assert flat.get_feature_names_out()[:2].tolist() == ["pixel0", "pixel1"]


def test_flattener_with_channels():
    X = np.arange(2 * 4 * 3 * 2).reshape(2, 4, 3, 2)
    out = ImageFlattener().fit_transform(X)
    assert out.shape == (2, 24)


def test_flattener_errors():
    flat = ImageFlattener()
    with pytest.raises(ValueError, match=r"images of shape \(n_samples, height, width\)"):
        flat.fit(np.zeros((5, 784)))
    flat.fit(np.zeros((5, 28, 28)))
    with pytest.raises(ValueError, match=r"fitted on images of shape \(28, 28\)"):
        flat.transform(np.zeros((5, 27, 28)))
    with pytest.raises(ValueError, match="NaN"):
        ImageFlattener().fit(np.full((2, 3, 3), np.nan))
    with pytest.raises(ValueError, match="numeric"):
        ImageFlattener().fit(np.full((2, 3, 3), "a"))


def test_reshaper_errors():
    with pytest.raises(ValueError, match=r"cannot be reshaped into images of shape \(28, 28\)"):
        ImageReshaper().fit(np.zeros((3, 100)))
    with pytest.raises(ValueError, match="positive ints"):
        ImageReshaper(shape=(28, -1)).fit(np.zeros((3, 100)))
    reshaper = ImageReshaper(shape=(10, 10)).fit(np.zeros((3, 100)))
    with pytest.raises(ValueError, match="100 features"):
        reshaper.transform(np.zeros((3, 99)))


# ---------------------------------------------------------------- PixelScaler
def test_pixel_scaler_divides_by_255_in_float32(fashion_sample):
    (X, _), _ = fashion_sample
    scaled = PixelScaler().fit_transform(X)
    assert scaled.dtype == np.float32 and scaled.shape == X.shape
    np.testing.assert_allclose(scaled, X / 255.0, rtol=1e-6)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    # Not a fitted min-max: a dark image is scaled by 255 whatever the training set.
    scaler = PixelScaler().fit(np.array([[0, 10]], dtype=np.uint8))
    np.testing.assert_allclose(scaler.transform(np.array([[255, 51]], dtype=np.uint8)), [[1.0, 0.2]])


def test_pixel_scaler_refuses_out_of_range_and_warns_on_double_scaling():
    with pytest.raises(ValueError, match=r"Negative values .* expects pixel intensities in \[0, 255\]"):
        PixelScaler().fit(np.array([[-1.0, 3.0]]))
    with pytest.raises(ValueError, match=r"Values above 255 .*\[0, 255\]"):
        PixelScaler().fit(np.array([[0, 256]]))
    with pytest.warns(UserWarning, match="already scaled"):
        PixelScaler().fit(np.array([[0.0, 0.5, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        PixelScaler().fit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="could not convert"):
        PixelScaler().fit(np.array([["a", "b"]], dtype=object))
    scaler = PixelScaler().fit(np.full((2, 4), 7, dtype=np.uint8))
    with pytest.raises(ValueError, match="4 features"):
        scaler.transform(np.zeros((2, 5)))


def test_pixel_scaler_pandas_output():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [0, 255], "b": [51, 102]})
    out = PixelScaler().set_output(transform="pandas").fit_transform(df)
    assert list(out.columns) == ["a", "b"]
    np.testing.assert_allclose(out.to_numpy(), [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)


def test_image_pipeline_and_clone(fashion_sample):
    (X, _), _ = fashion_sample
    pipe = make_pipeline(ImageFlattener(), PixelScaler())
    out = pipe.fit_transform(X[:10])
    assert out.shape == (10, 784) and out.dtype == np.float32
    cloned = clone(pipe)
    assert cloned[-1] is not pipe[-1] and not hasattr(cloned[0], "image_shape_")
    np.testing.assert_array_equal(cloned.fit_transform(X[:10]), out)


# ---------------------------------------------------------------- FeatureSplitter
def test_feature_splitter_book_defaults():
    X = np.arange(24, dtype=float).reshape(3, 8)
    wide, deep = FeatureSplitter().fit_transform(X)
    np.testing.assert_array_equal(wide, X[:, 0:5])
    np.testing.assert_array_equal(deep, X[:, 2:8])


@pytest.mark.parametrize(
    "wide, deep",
    [
        (slice(0, 5), slice(2, None)),
        ([0, 1, 2, 3, 4], [2, 3, 4, 5, 6, 7]),
        (np.arange(8) < 5, np.arange(8) >= 2),
        ([0, 1, 2, 3, -4], [2, 3, 4, 5, 6, -1]),
    ],
)
def test_feature_splitter_selection_forms(wide, deep):
    X = np.random.RandomState(0).normal(size=(4, 8))
    X_wide, X_deep = FeatureSplitter(wide=wide, deep=deep).fit_transform(X)
    np.testing.assert_array_equal(X_wide, X[:, :5])
    np.testing.assert_array_equal(X_deep, X[:, 2:])


def test_feature_splitter_column_names(housing_sample):
    pd = pytest.importorskip("pandas")
    from skann.datasets import CALIFORNIA_FEATURE_NAMES

    X, _ = housing_sample
    df = pd.DataFrame(X[:20], columns=CALIFORNIA_FEATURE_NAMES)
    splitter = FeatureSplitter(wide=["MedInc", "HouseAge"], deep=["Latitude", "Longitude", "MedInc"]).fit(df)
    X_wide, X_deep = splitter.transform(df)
    np.testing.assert_array_equal(X_wide, X[:20, [0, 1]])
    np.testing.assert_array_equal(X_deep, X[:20, [6, 7, 0]])
    wide_names, deep_names = splitter.get_feature_names_out()
    assert wide_names.tolist() == ["MedInc", "HouseAge"]
    assert deep_names.tolist() == ["Latitude", "Longitude", "MedInc"]
    with pytest.raises(ValueError, match="feature names"):
        splitter.transform(df[list(reversed(df.columns))])


def test_feature_splitter_errors():
    pd = pytest.importorskip("pandas")
    X = np.zeros((3, 8))
    with pytest.raises(ValueError, match=r"wide: unknown column\(s\) \['nope'\]"):
        FeatureSplitter(wide=["nope"], deep=[0]).fit(pd.DataFrame(X, columns=list("abcdefgh")))
    with pytest.raises(ValueError, match="need X as a DataFrame"):
        FeatureSplitter(wide=["a"], deep=[0]).fit(X)
    with pytest.raises(ValueError, match=r"deep: column index \[8\] out of range"):
        FeatureSplitter(wide=[0], deep=[8]).fit(X)
    with pytest.raises(ValueError, match="wide selects no features"):
        FeatureSplitter(wide=[], deep=[0]).fit(X)
    with pytest.raises(ValueError, match="deep selects no features"):
        FeatureSplitter(wide=[0], deep=slice(8, None)).fit(X)
    with pytest.raises(ValueError, match="boolean mask must have one entry per feature"):
        FeatureSplitter(wide=[True, False], deep=[0]).fit(X)
    splitter = FeatureSplitter().fit(X)
    with pytest.raises(ValueError, match="8 features"):
        splitter.transform(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="NaN"):
        FeatureSplitter().fit(np.full((3, 8), np.nan))
    assert clone(splitter).get_params() == splitter.get_params()
