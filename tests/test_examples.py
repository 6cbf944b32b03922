"""Every example runs (in its fast mode) in a fresh process and prints its results."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import BACKEND, REPO

EXAMPLES = {
    "perceptron_iris_xor.py": ([], ["training accuracy 1.00", "perceptron accuracy", "MLP with one hidden layer accuracy 1.00"]),
    "fashion_classifier.py": (["--fast"], ["trained on 2,750 images of the bundled Fashion-MNIST sample, 2 epochs",
                                           "test accuracy 0.", "probabilities for 3 test images", "predicted: ['"]),
    "housing_regressor.py": (["--fast"], ["trained on 11,610 districts, 2 epochs", "test RMSE 0.", "predictions for 3 new districts"]),
    "wide_deep.py": (["--fast"], ["functional API: test RMSE main output", "inputs: ['input_wide', 'input_deep']",
                                  "outputs: ['output', 'aux_output']", "subclass API: test RMSE main output"]),
    "callbacks.py": (["--fast"], ["epoch   1: val/train loss ratio", "(weights restored)", "reloaded with Keras: max difference",
                                  "TensorBoard run folder: run_", "['train', 'validation']"]),
    "persistence.py": (["--fast"], ["joblib:", "predictions identical after loading: True", "skann.save:",
                                    "fresh process predicts", "refused by skann.save"]),
    "search_fashion.py": (["--fast", "--n-jobs", "1"], ["grid search: 4 combinations x 2 folds", "searched 3 candidates on 1500 images",
                                       "rank 1: CV accuracy", "test accuracy of the refit best model"]),
    "halving_housing.py": (["--fast"], ["budget: 21 epochs per fold", "halving over epochs :   9 candidates", "random search       :   2 candidates", "test RMSE"]),
    "custom_cnn.py": (["--fast"], ["grid search on 600 images of the bundled Fashion-MNIST sample, 1 epoch(s)",
                                   "filters=4: CV accuracy", "best: filters=", "layers: ['conv1', 'pool1', 'conv2'",
                                   "joblib and skann.save reload with identical predictions: True"]),
    "dask_search.py": (["--fast"], ["cluster: 2 workers at tcp://127.0.0.1:", "searched 4 candidates", "best CV R^2"]),
    "cnn_on_image_files.py": (["--fast"], ["wrote 900 PNG files of the bundled Fashion-MNIST sample",
                                           "SliceDataset: shape (600, 28, 28, 1), dtype uint8",
                                           "grid search: 2 candidates x 3 folds on 600 files", "filters=4: CV accuracy",
                                           "test accuracy 0.", "(read from 300 files)", "peak memory of this process"]),
    "ship_pipeline.py": (["--fast"], ["pipeline: ColumnTransformer -> KerasRegressor", "test RMSE 0.", "no pickle",
                                      "'region']; identical predictions: True", "onnxruntime: max difference from predict"]),
    "text_tfidf.py": (["--fast"], [" docstrings (", "classifiers, ", "TF-IDF matrix ", "csr_matrix",
                                   "KerasClassifier on sparse TF-IDF: 5-fold CV accuracy 0.",
                                   "LogisticRegression (baseline): 5-fold CV accuracy", "predicted: ['"]),
}


# The searches' examples take 25-40 s each: opt-in (pytest -m long). What they show is tested
# in the default run too (tests/test_search.py, tests/test_dask.py).
LONG = {"halving_housing.py", "dask_search.py", "search_fashion.py"}

# Every example runs in the JAX run; the TensorFlow run (a fresh process each, ~5 s of
# TensorFlow's import alone, its test time at the budget's edge) runs those whose path differs
# there (TensorBoard and Keras reloads, convolutions and image files, sparse input) and leaves
# the others to the estimators' own tests on TensorFlow.
TENSORFLOW_TOO = {"callbacks.py", "cnn_on_image_files.py", "custom_cnn.py", "text_tfidf.py"}
jax_run_only = pytest.mark.skipif(
    BACKEND != "jax", reason="runs in the JAX run; the estimators it shows are tested on this backend by their own tests"
)


def _marks(name: str) -> list:
    return ([pytest.mark.long] if name in LONG else []) + ([] if name in TENSORFLOW_TOO else [jax_run_only])


@pytest.mark.parametrize("script", [pytest.param(name, marks=_marks(name)) for name in sorted(EXAMPLES)])
def test_example_runs(script, tmp_path):
    args, expected = EXAMPLES[script]
    temp = tmp_path / "temp"  # the example's temporary directory: it must leave nothing there
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout
    assert result.stderr == "", result.stderr
    assert "np.float64(" not in result.stdout and "np.int64(" not in result.stdout  # values, not reprs
    # onnxruntime's import writes a session id, .ses, into TMPDIR (its telemetry; see
    # microsoft/onnxruntime#32476): the only file an example may leave, and not the example's.
    assert sorted(p.name for p in temp.iterdir() if p.name != ".ses") == []


def test_every_example_is_tested():
    assert sorted(p.name for p in (REPO / "examples").glob("*.py")) == sorted(EXAMPLES)


def test_readme_ten_lines_run(capsys):
    import re

    readme = (REPO / "README.md").read_text()
    code = re.search(r"## Ten lines\n\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "fashionmlpclassifier__n_neurons" in printed
