"""Loaders: real files through SKANN_DATA, checksums, downloads over real HTTP, the samples."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest

from skann.datasets import (
    CALIFORNIA_FEATURE_NAMES,
    FASHION_CLASS_NAMES,
    FASHION_MNIST_FILES,
    ChecksumError,
    load_california_housing,
    load_fashion_mnist,
)
from skann.datasets import _fashion_mnist

from .conftest import requires_real_data


# ---------------------------------------------------------------- bundled samples
def test_fashion_sample_is_stratified_real_subset():
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist(sample=True)
    assert X_train.shape == (3000, 28, 28) and X_test.shape == (1000, 28, 28)
    assert X_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [300] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    assert X_train.flags.writeable
    assert len(FASHION_CLASS_NAMES) == 10 and FASHION_CLASS_NAMES[9] == "Ankle boot"


@requires_real_data
def test_fashion_sample_matches_the_real_images(real_data_dir, monkeypatch):
    monkeypatch.setenv("SKANN_DATA", str(real_data_dir))
    (X_full, y_full), (Xt_full, yt_full) = load_fashion_mnist(download=False)
    from skann.datasets._sample import load_sample

    sample = load_sample("fashion_mnist")
    np.testing.assert_array_equal(sample["X_train"], X_full[sample["train_index"]])
    np.testing.assert_array_equal(sample["y_train"], y_full[sample["train_index"]])
    np.testing.assert_array_equal(sample["X_test"], Xt_full[sample["test_index"]])


def test_california_sample_is_the_whole_table():
    bunch = load_california_housing(sample=True)
    assert bunch.data.shape == (20640, 8) and bunch.target.shape == (20640,)
    assert bunch.feature_names == list(CALIFORNIA_FEATURE_NAMES)
    assert bunch.target_names == ["MedHouseVal"]
    assert bunch.frame is None
    # Figures from the dataset's README.
    np.testing.assert_allclose(bunch.data[0], [8.3252, 41, 6.984127, 1.023810, 322, 2.555556, 37.88, -122.23], rtol=1e-6)
    assert bunch.target[0] == pytest.approx(4.526)
    assert bunch.target.mean() == pytest.approx(2.068558, abs=1e-6)


def test_california_as_frame_and_return_X_y():
    pd = pytest.importorskip("pandas")
    bunch = load_california_housing(sample=True, as_frame=True)
    assert isinstance(bunch.frame, pd.DataFrame)
    assert list(bunch.frame.columns) == [*CALIFORNIA_FEATURE_NAMES, "MedHouseVal"]
    X, y = load_california_housing(sample=True, as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series) and y.name == "MedHouseVal"


# ---------------------------------------------------------------- real files
@requires_real_data
def test_fashion_from_skann_data(real_data_dir, monkeypatch):
    monkeypatch.setenv("SKANN_DATA", str(real_data_dir))
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist(download=False)
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    assert X_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert X_train.mean() == pytest.approx(72.9404, abs=1e-4)
    assert X_test.mean() == pytest.approx(73.1466, abs=1e-4)


@requires_real_data
def test_data_home_comes_before_skann_data(real_data_dir, monkeypatch, tmp_path):
    # data_home holds a corrupted copy; it must be the one used (and refused).
    bad = tmp_path / "fashion-mnist"
    shutil.copytree(real_data_dir / "fashion-mnist", bad)
    label_file = bad / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(label_file.read_bytes())
    data[-1] ^= 0xFF
    label_file.write_bytes(bytes(data))
    monkeypatch.setenv("SKANN_DATA", str(real_data_dir))
    with pytest.raises(ChecksumError) as err:
        load_fashion_mnist(data_home=tmp_path, download=False)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert FASHION_MNIST_FILES["t10k-labels-idx1-ubyte.gz"] in message  # expected md5
    assert "md5" in message


@requires_real_data
def test_california_from_skann_data_matches_statlib_original(real_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SKANN_DATA", str(real_data_dir))
    X_csv, y_csv = load_california_housing(download=False, return_X_y=True)
    # Only the original StatLib file in data_home: derived the way scikit-learn does.
    only_statlib = tmp_path / "california-housing"
    only_statlib.mkdir()
    shutil.copy(real_data_dir / "california-housing" / "cal_housing.data", only_statlib)
    X_raw, y_raw = load_california_housing(data_home=tmp_path, download=False, return_X_y=True)
    np.testing.assert_allclose(X_raw, X_csv, rtol=1e-12)
    np.testing.assert_allclose(y_raw, y_csv, rtol=1e-12)
    sample_X, _ = load_california_housing(sample=True, return_X_y=True)
    np.testing.assert_array_equal(sample_X, X_csv)


@requires_real_data
def test_corrupted_california_copy_refused(real_data_dir, tmp_path, no_data_env):
    folder = tmp_path / "california-housing"
    folder.mkdir()
    text = (real_data_dir / "california-housing" / "california_housing.csv").read_text()
    (folder / "california_housing.csv").write_text(text.replace("4.526", "9.999", 1))
    with pytest.raises(ChecksumError, match="california_housing.csv"):
        load_california_housing(data_home=tmp_path, download=False)


def test_missing_and_offline_errors_say_where_to_put_files(no_data_env, tmp_path):
    with pytest.raises(FileNotFoundError, match="SKANN_DATA") as err:
        load_fashion_mnist(data_home=tmp_path / "nothing", download=False)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert "sample=True" in str(err.value)
    with pytest.raises(FileNotFoundError, match="SKANN_DATA"):
        load_california_housing(data_home=tmp_path / "nothing", download=False)


def test_book_split_finds_data_by_the_command_lines_rule(no_data_env, tmp_path):
    """Offline with nothing found: the bundled copy, silently for the complete housing
    table, with a SampleDataWarning for the Fashion-MNIST subset; sample=False refuses."""
    import warnings

    from skann.datasets import SampleDataWarning, load_book_split

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        housing = load_book_split("housing", data_home=tmp_path / "nothing")
    assert housing.source == "California housing (bundled copy)" and not housing.is_sample
    assert housing.X_train.shape == (11610, 8)
    with pytest.warns(SampleDataWarning, match="using the bundled 3,000 \\+ 1,000 image sample"):
        fashion = load_book_split("fashion", data_home=tmp_path / "nothing", download=False)
    assert fashion.is_sample and fashion.source == "bundled Fashion-MNIST sample"
    with pytest.raises(FileNotFoundError, match="SKANN_DATA"):
        load_book_split("fashion", data_home=tmp_path / "nothing", sample=False, download=False)
    with pytest.raises(ValueError, match="sample must be True, False or 'auto'"):
        load_book_split("housing", sample="yes")


def test_failed_download_says_where_to_put_files(no_data_env, tmp_path, monkeypatch):
    # Port 9 (discard) on loopback refuses connections: a real, immediate network failure.
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_MIRRORS", ["http://127.0.0.1:9/"])
    with pytest.raises(FileNotFoundError, match="could not be downloaded") as err:
        load_fashion_mnist(data_home=tmp_path / "empty", download=True)
    assert "SKANN_DATA" in str(err.value) and "127.0.0.1:9" in str(err.value)
    assert not any((tmp_path / "empty").rglob("*.part"))


def test_truncated_idx_file_is_reported(tmp_path):
    import gzip

    path = tmp_path / "x.gz"
    header = (2051).to_bytes(4, "big") + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(path, "wb") as handle:
        handle.write(header + bytes(100))
    with pytest.raises(ValueError, match="truncated"):
        _fashion_mnist._read_idx(path, 3)


# ---------------------------------------------------------------- downloads over real HTTP
@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on loopback serving the folder it returns."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@requires_real_data
def test_download_verifies_and_writes_atomically(real_data_dir, http_server, monkeypatch, no_data_env, capsys):
    served, url = http_server
    for name in FASHION_MNIST_FILES:
        shutil.copy(real_data_dir / "fashion-mnist" / name, served / name)
    target = no_data_env / "downloaded"
    # An unreachable mirror first: the loader must fall through to the next one.
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_MIRRORS", ["http://127.0.0.1:9/", url])
    (X_train, y_train), (X_test, _) = load_fashion_mnist(data_home=target, download=True)
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    files = sorted(p.name for p in (target / "fashion-mnist").iterdir())
    assert files == sorted(FASHION_MNIST_FILES)  # no leftover .part files
    assert "Downloading" in capsys.readouterr().out


@requires_real_data
def test_download_of_a_bad_file_is_refused_and_not_kept(real_data_dir, http_server, monkeypatch, no_data_env):
    served, url = http_server
    for name in FASHION_MNIST_FILES:
        shutil.copy(real_data_dir / "fashion-mnist" / name, served / name)
    (served / "train-labels-idx1-ubyte.gz").write_bytes(b"not the real file")
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_MIRRORS", [url])
    target = no_data_env / "downloaded"
    with pytest.raises(OSError, match="train-labels-idx1-ubyte.gz") as err:
        load_fashion_mnist(data_home=target, download=True)
    assert FASHION_MNIST_FILES["train-labels-idx1-ubyte.gz"] in str(err.value)
    kept = {p.name for p in (target / "fashion-mnist").iterdir()}
    assert "train-labels-idx1-ubyte.gz" not in kept
    assert not any(name.endswith(".part") for name in kept)
