"""skann.plot: each plot returns a Figure and writes a real PNG."""

from __future__ import annotations

import struct

import matplotlib.image
import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV

from skann import HousingMLPRegressor, PerceptronBaseline
from skann.datasets import FASHION_CLASS_NAMES
from skann.plot import (
    plot_confusion_matrix,
    plot_hyperband,
    plot_image_grid,
    plot_learning_curves,
    plot_predicted_vs_actual,
    plot_search_results,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_width=300, min_height=250):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= min_width and height >= min_height, (width, height)
    assert len(data) > 5_000, "suspiciously small: an empty figure?"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05, "the image is (nearly) blank"


@pytest.fixture(scope="module")
def fitted_regressor(housing_sample):
    X, y = housing_sample[0][:2000], housing_sample[1][:2000]
    reg = HousingMLPRegressor(n_neurons=16, epochs=3, early_stopping=True, patience=5, random_state=0)
    return reg.fit(X[:1500], y[:1500]), X[1500:], y[1500:]


def test_learning_curves(fitted_regressor, tmp_path):
    reg, _, _ = fitted_regressor
    fig = plot_learning_curves(reg, title="housing", path=tmp_path / "curves.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "RMSE"]  # Keras' metric names as a reader says them
    for ax in fig.axes:  # training and validation, one point per epoch, whole-epoch ticks
        assert [len(line.get_xdata()) for line in ax.get_lines()] == [reg.n_iter_, reg.n_iter_]
        assert all(float(t).is_integer() for t in ax.get_xticks())
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["training", "validation"]
    assert_png(tmp_path / "curves.png")
    # Wide & Deep's five panels wrap three to a row, named for people.
    history = {f"{p}{k}": [1.0, 0.5] for p in ("", "val_") for k in (
        "loss", "main_output_loss", "aux_output_loss", "main_output_root_mean_squared_error",
        "aux_output_root_mean_squared_error")}
    fig = plot_learning_curves(history, path=tmp_path / "wide.png")
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == [  # total, main output, auxiliary output
        "loss", "main output loss", "main output RMSE", "aux output loss", "aux output RMSE"]
    width, height = fig.get_size_inches()
    assert width / height < 2.5  # two rows, not one strip
    assert_png(tmp_path / "wide.png")
    with pytest.raises(ValueError, match="accuracy"):
        plot_learning_curves(reg, metrics=["accuracy"])
    with pytest.raises(ValueError, match="no per-epoch history"):
        plot_learning_curves({})


def test_confusion_matrix_and_image_grid(fashion_sample, tmp_path):
    (X, y), (X_test, y_test) = fashion_sample
    clf = PerceptronBaseline(max_iter=1, random_state=0).fit(X.reshape(len(X), -1) / 255, y)
    y_pred = clf.predict(X_test.reshape(len(X_test), -1) / 255)
    fig = plot_confusion_matrix(y_test, y_pred, class_names=FASHION_CLASS_NAMES, path=tmp_path / "cm.png")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == list(FASHION_CLASS_NAMES)
    assert_png(tmp_path / "cm.png")
    with pytest.raises(ValueError, match="3 class names"):
        plot_confusion_matrix(y_test, y_pred, class_names=["a", "b", "c"])

    fig = plot_image_grid(X_test, y_test, y_pred, class_names=FASHION_CLASS_NAMES, n_images=20,
                          title="perceptron", path=tmp_path / "grid.png")
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 20
    wrong = [ax for ax in titled if ax.title.get_color() == "red"]
    assert len(wrong) == int(np.sum(y_pred[:20] != y_test[:20]))
    assert fig.get_suptitle() == "perceptron"
    assert fig.get_supxlabel() == f"each image: predicted class (true class); red: wrong ({len(wrong)} of 20)"
    assert_png(tmp_path / "grid.png")
    with pytest.raises(ValueError, match="not square"):
        plot_image_grid(np.zeros((3, 10)))


def test_predicted_vs_actual(fitted_regressor, tmp_path):
    reg, X, y = fitted_regressor
    fig = plot_predicted_vs_actual(y, reg.predict(X), title="MLP", unit="$100,000", cap=5.0,
                                   path=tmp_path / "pva.png")
    ax = fig.axes[0]
    assert ax.get_title().startswith("MLP: RMSE ")
    assert ax.get_xlabel() == "predicted ($100,000)" and ax.get_ylabel() == "actual ($100,000)"
    assert all(float(t).is_integer() for t in ax.get_yticks())  # round ticks
    assert any("capped at 5" in text.get_text() for text in ax.texts)
    assert_png(tmp_path / "pva.png")


@pytest.mark.parametrize("search_cls", [GridSearchCV, HalvingGridSearchCV])
def test_search_results(search_cls, housing_sample, tmp_path):
    X, y = housing_sample[0][:600], housing_sample[1][:600]
    grid = {"alpha": [0.01, 1.0, 100.0, 1e4], "solver": ["svd", "cholesky"]}
    search = search_cls(Ridge(), grid, cv=3).fit(X, y)
    fig = plot_search_results(search, path=tmp_path / "search.png")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["alpha", "solver"]
    assert visible[0].get_xscale() == "log"
    assert visible[0].get_ylabel() == "mean CV R²"  # the regressor's score, named
    assert_png(tmp_path / "search.png")


def test_search_results_integer_ticks_and_named_scoring(housing_sample, tmp_path):
    from sklearn.tree import DecisionTreeRegressor

    X, y = housing_sample[0][:400], housing_sample[1][:400]
    search = GridSearchCV(DecisionTreeRegressor(random_state=0), {"max_depth": [2, 3, 4]}, cv=2,
                          scoring="neg_root_mean_squared_error").fit(X, y)
    ax = plot_search_results(search, title="trees", path=tmp_path / "trees.png").axes[0]
    assert all(float(t).is_integer() for t in ax.get_xticks())
    assert ax.get_ylabel() == "mean CV RMSE (negated)"
    assert_png(tmp_path / "trees.png")


def test_hyperband_rungs(tmp_path):
    """Each candidate a line through its rungs, coloured by bracket; dropped ones crossed; the
    best among the full trainings starred (not the better-looking 1-epoch score)."""
    results = {
        "candidate": np.array([0, 1, 2, 3, 0, 1, 0, 4, 5]),
        "bracket": np.array([0, 0, 0, 0, 0, 0, 0, 1, 1]),
        "n_epochs": np.array([1, 1, 1, 1, 2, 2, 8, 8, 8]),
        "mean_test_score": np.array([0.5, 0.6, 0.4, 0.95, 0.7, 0.65, 0.8, 0.75, 0.85]),
        "params": [{}] * 9,
    }
    fig = plot_hyperband(results, score_name="accuracy", path=tmp_path / "rungs.png")
    ax = fig.axes[0]
    lines = ax.get_lines()
    crosses = [line for line in lines if line.get_marker() == "x"]
    assert len(crosses) == 3  # 2 and 3 dropped after 1 epoch, 1 after 2
    (star,) = [line for line in lines if line.get_marker() == "*"]
    assert tuple(star.get_xydata()[0]) == (8.0, 0.85)
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "8"]
    assert ax.get_ylabel() == "mean CV accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bracket 0", "bracket 1", "best"]
    assert_png(tmp_path / "rungs.png")
    with pytest.raises(ValueError, match="HyperbandSearchCV"):
        plot_hyperband({"params": []})
