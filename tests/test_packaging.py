"""The build: pyproject.toml as today's setuptools reads it, without deprecations."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # a TOML table is deprecated (builds fail from 2027-02-18)
    assert all((REPO / name).is_file() for name in project["license-files"])
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))  # PEP 639: not both


def test_setuptools_reads_the_project_without_deprecation_warnings(monkeypatch):
    monkeypatch.chdir(REPO)  # license-files are relative to the project
    setuptools = pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(setuptools.Distribution(), REPO / "pyproject.toml")
    assert dist.metadata.name == "skann"
    deprecations = [w for w in caught if "Deprecat" in type(w.message).__name__ or "deprecat" in str(w.message).lower()]
    assert not deprecations, [str(w.message)[:200] for w in deprecations]
