"""California housing (StatLib; Pace & Barry, 1997), in scikit-learn's version."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from skann.datasets._fetch import DATA_ENV_VAR, candidate_dirs, verify_md5
from skann.datasets._sample import load_sample

CALIFORNIA_FEATURE_NAMES = (
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
)
CALIFORNIA_TARGET_NAME = "MedHouseVal"
# The target is in units of $100,000 and was capped at 5.0 when the data was collected.
CALIFORNIA_TARGET_UNIT = "$100,000"
CALIFORNIA_TARGET_CAP = 5.0

# md5 of the files as distributed (the original StatLib file, and scikit-learn's version
# written out as CSV with exact float64 round trips).
CALIFORNIA_FILES = {
    "california_housing.csv": "ca5b757f0729c68d74d05bf9d9ca8486",
    "cal_housing.data": "2c9da11498c5aa9ed02cf8b7f6e77ea7",
}

_SUBDIR = "california-housing"

DESCR = """California housing dataset (StatLib, 1990 U.S. census)
-----------------------------------------------------------
20,640 block groups, 8 numeric features (MedInc, HouseAge, AveRooms, AveBedrms, Population,
AveOccup, Latitude, Longitude); target MedHouseVal, the median house value in $100,000.
Source: Pace, R. Kelley and Ronald Barry, "Sparse Spatial Autoregressions",
Statistics and Probability Letters 33 (1997) 291-297. Same table as
sklearn.datasets.fetch_california_housing.
"""


def _from_statlib(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's transformation of the original StatLib columns."""
    raw = np.loadtxt(path, delimiter=",")
    # longitude, latitude, housingMedianAge, totalRooms, totalBedrooms, population,
    # households, medianIncome, medianHouseValue
    households = raw[:, 6]
    X = np.column_stack(
        [
            raw[:, 7],
            raw[:, 2],
            raw[:, 3] / households,
            raw[:, 4] / households,
            raw[:, 5],
            raw[:, 5] / households,
            raw[:, 1],
            raw[:, 0],
        ]
    )
    return X, raw[:, 8] / 100000.0


def _from_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, :8], table[:, 8]


def _read_local(data_home) -> tuple[np.ndarray, np.ndarray] | None:
    for folder in candidate_dirs(_SUBDIR, data_home, None):
        csv = folder / "california_housing.csv"
        statlib = folder / "cal_housing.data"
        if csv.is_file():
            verify_md5(csv, CALIFORNIA_FILES[csv.name])
            return _from_csv(csv)
        if statlib.is_file():
            verify_md5(statlib, CALIFORNIA_FILES[statlib.name])
            return _from_statlib(statlib)
    return None


def _read_sklearn_cache(data_home, download: bool) -> tuple[np.ndarray, np.ndarray] | None:
    # scikit-learn's fetcher owns its cache: it verifies the archive's sha256 and writes
    # atomically, so we delegate rather than re-implement it.
    from sklearn.datasets import fetch_california_housing

    sk_home = None if data_home is None else Path(data_home).expanduser()
    try:
        bunch = fetch_california_housing(data_home=sk_home, download_if_missing=download)
    except OSError:
        if download:
            raise
        return None
    return bunch.data, bunch.target


def load_california_housing(
    *,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    return_X_y: bool = False,
    as_frame: bool = False,
    sample: bool = False,
):
    """Load the California housing data as ``sklearn.datasets.fetch_california_housing``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``california_housing.csv`` or the original ``cal_housing.data``
        (directly or in ``california-housing/``). Searched first; then
        ``$SKANN_DATA/california-housing/``; then scikit-learn's data home.
    download : bool, default=True
        Download through scikit-learn's fetcher when nothing is found.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Return pandas objects (needs pandas): ``data`` a DataFrame, ``target`` a Series,
        and ``frame`` with both.
    sample : bool, default=False
        Use the copy bundled with skann (the complete table: it is small), so no files or
        network are needed.

    Returns
    -------
    Bunch or tuple
        ``data`` (20640, 8) float64, ``target`` (20640,) float64 (MedHouseVal in $100,000),
        ``feature_names``, ``target_names``, ``frame`` (None unless ``as_frame``), ``DESCR``.

    Examples
    --------
    >>> from skann.datasets import load_california_housing
    >>> X, y = load_california_housing(sample=True, return_X_y=True)
    >>> X.shape, y.shape
    ((20640, 8), (20640,))
    """
    if sample:
        bundled = load_sample("california_housing")
        data, target = bundled["data"], bundled["target"]
    else:
        where_to_put = (
            "Put california_housing.csv or the original cal_housing.data into a folder "
            f"'california-housing' under the folder named by the environment variable "
            f"{DATA_ENV_VAR} (or pass data_home=...), or use sample=True for the bundled copy."
        )
        found = _read_local(data_home)
        if found is None:
            found = _read_sklearn_cache(data_home, download=False)
        if found is None and download:
            try:
                found = _read_sklearn_cache(data_home, download=True)
            except OSError as exc:
                raise FileNotFoundError(
                    f"The California housing data was not found and could not be downloaded "
                    f"({exc}). {where_to_put}"
                ) from None
        if found is None:
            raise FileNotFoundError(f"The California housing data was not found. {where_to_put}")
        data, target = found

    feature_names = list(CALIFORNIA_FEATURE_NAMES)
    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("as_frame=True needs pandas: pip install pandas") from exc
        data = pd.DataFrame(data, columns=feature_names)
        target = pd.Series(target, name=CALIFORNIA_TARGET_NAME)
        frame = pd.concat([data, target], axis=1)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=[CALIFORNIA_TARGET_NAME],
        DESCR=DESCR,
    )
