"""Every example runs (in its fast mode) in a fresh process and prints its results."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO

EXAMPLES = {
    "quickstart.py": (
        ["--fast"],
        ["FashionMLPClassifier on", "PerceptronBaseline", "HousingMLPRegressor on", "WideDeepRegressor", "test RMSE"],
    ),
    "perceptron_xor.py": ([], ["training accuracy 1.00", "perceptron accuracy", "MLP with one hidden layer accuracy 1.00"]),
    "search_fashion.py": (["--fast"], ["searched 3 candidates on 1500 images", "rank 1: CV accuracy", "test accuracy of the refit best model"]),
    "halving_housing.py": (["--fast"], ["budget: 27 epochs per fold", "halving over epochs :   9 candidates", "random search       :   3 candidates", "test RMSE"]),
    "dask_search.py": (["--fast"], ["cluster: 2 workers at tcp://127.0.0.1:", "searched 4 candidates", "best CV R^2"]),
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs(script):
    args, expected = EXAMPLES[script]
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout
    assert result.stderr == "", result.stderr


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
