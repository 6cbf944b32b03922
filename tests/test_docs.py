"""The documentation site builds with warnings as errors, and covers what it must."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import REPO, backend_independent


@backend_independent
def test_mkdocs_builds_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr
    cli = (site / "cli" / "index.html").read_text()
    for command in ("demo", "fit", "evaluate", "predict", "search", "info"):
        assert f"skann {command}" in cli, command  # the reference generated from the click app
    for page, anchor in [
        ("estimators/fashion", "skann.estimators.FashionMLPClassifier.fit"),
        ("estimators/wide-deep", "skann.wide_deep.WideDeepRegressor.predict_aux"),
        ("estimators/perceptron", "skann.perceptron.PerceptronBaseline.decision_function"),
        ("plotting", "skann.plot.plot_search_results"),
        ("api", "skann.search.fit_with_dask"),
    ]:
        html = (site / page / "index.html").read_text()
        assert f'id="{anchor}"' in html, anchor
    # Parameter tables come from the docstrings, so a new parameter shows up by itself.
    assert "log_dir" in (site / "estimators" / "housing" / "index.html").read_text()


def test_readme_links_resolve():
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert links
    for link in links:
        if not link.startswith("http"):
            assert (REPO / link).exists(), link
