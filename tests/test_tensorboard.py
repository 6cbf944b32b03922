"""TensorBoard logs through ``log_dir``: read back from the event files TensorFlow wrote."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from skann import FashionMLPClassifier, HousingMLPRegressor, PerceptronBaseline, WideDeepRegressor

RUN_NAME = re.compile(r"run_\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}(_\d+)?$")


def epoch_scalars(run_dir: str, subfolder: str, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(os.path.join(run_dir, subfolder))
    events.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]


def test_training_and_validation_curves_read_back(housing_sample, tmp_path):
    X, y = housing_sample[0][:1000], housing_sample[1][:1000]
    reg = HousingMLPRegressor(epochs=4, early_stopping=True, patience=10, log_dir=tmp_path, random_state=0)
    reg.fit(X, y)
    assert RUN_NAME.search(os.path.basename(reg.log_run_dir_))
    assert os.path.dirname(reg.log_run_dir_) == str(tmp_path)
    train = epoch_scalars(reg.log_run_dir_, "train", "epoch_loss")
    valid = epoch_scalars(reg.log_run_dir_, "validation", "epoch_loss")
    assert [step for step, _ in train] == [0, 1, 2, 3]
    np.testing.assert_allclose([v for _, v in train], reg.history_["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in valid], reg.history_["val_loss"], rtol=1e-6)
    rmse = epoch_scalars(reg.log_run_dir_, "validation", "epoch_root_mean_squared_error")
    np.testing.assert_allclose([v for _, v in rmse], reg.history_["val_root_mean_squared_error"], rtol=1e-6)


def test_each_fit_gets_its_own_run_and_warm_start_continues_it(housing_sample, tmp_path):
    X, y = housing_sample[0][:1000], housing_sample[1][:1000]
    reg = HousingMLPRegressor(epochs=2, early_stopping=False, log_dir=str(tmp_path), random_state=0)
    first = reg.fit(X, y).log_run_dir_
    second = reg.fit(X, y).log_run_dir_  # same second: a suffixed folder, not a shared one
    assert first != second and sorted(os.listdir(tmp_path)) == sorted(map(os.path.basename, [first, second]))
    reg.set_params(warm_start=True).fit(X, y)
    assert reg.log_run_dir_ == second
    steps = [step for step, _ in epoch_scalars(second, "train", "epoch_loss")]
    assert steps == [0, 1, 2, 3]  # the continued fit logs epochs 2 and 3 into the same run


@pytest.mark.parametrize(
    "make",
    [
        lambda d: FashionMLPClassifier(n_neurons=(8, 8), epochs=1, log_dir=d),
        lambda d: WideDeepRegressor(n_neurons=8, epochs=1, log_dir=d),
        lambda d: PerceptronBaseline(max_iter=1, log_dir=d),
    ],
    ids=["fashion", "wide-deep", "perceptron"],
)
def test_every_estimator_logs(make, fashion_sample, housing_sample, tmp_path):
    est = make(tmp_path)
    if isinstance(est, WideDeepRegressor):
        X, y = housing_sample[0][:1000], housing_sample[1][:1000]
    else:
        (X, y), _ = fashion_sample
        X = X.reshape(len(X), -1)[:300] / 255.0
        y = y[:300]
    est.fit(X, y)
    assert epoch_scalars(est.log_run_dir_, "train", "epoch_loss")


def test_missing_tensorboard_is_a_clear_error_and_nothing_is_fitted(housing_sample, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    reg = HousingMLPRegressor(epochs=1, log_dir=tmp_path)
    with pytest.raises(ImportError, match=r"pip install \"skann\[tensorboard\]\""):
        reg.fit(housing_sample[0][:100], housing_sample[1][:100])
    assert not hasattr(reg, "model_") and not os.listdir(tmp_path)
