"""Hostile .skann files: each kind is refused with SkannFileError, in bounded memory (measured in
a fresh process), and no payload runs. The files are built here from a real saved estimator."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
import zlib
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import skann
from skann import HousingMLPRegressor
from skann.persistence import MANIFEST, SkannFileError, UnsafeFileError, UnsafeObjectError

from ._tabular import column_pipeline, frame
from .conftest import REPO

GiB = 2**30


# ---------------------------------------------------------------- building files
def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path: Path, members: dict[str, bytes], *, resign: bool = True) -> Path:
    """A zip of ``members`` (in order), the manifest's checksums recomputed unless told not to:
    what an attacker who edits a member does to get past the checksums."""
    members = dict(members)
    if resign and MANIFEST in members:
        manifest = json.loads(members[MANIFEST])
        manifest["sha256"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != MANIFEST}
        members[MANIFEST] = json.dumps(manifest).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name.split("\0")[0], data)  # "name\0n": a duplicate name
    return path


def edit_json(members: dict[str, bytes], edit, name: str = "skann.json") -> dict[str, bytes]:
    data = json.loads(members[name])
    edit(data)
    return {**members, name: json.dumps(data).encode()}


def edit_state(members: dict[str, bytes], **entries) -> dict[str, bytes]:
    """Set entries of the object's fitted state (names starting or ending with _) or parameters."""

    def edit(meta):
        for name, value in entries.items():
            meta["object"]["fitted" if name.startswith("_") or name.endswith("_") else "params"][name] = value

    return edit_json(members, edit)


def keras_members(members: dict[str, bytes]) -> dict[str, bytes]:
    return read_members(io.BytesIO(members["model_0.keras"]))


def with_keras(members: dict[str, bytes], inner: dict[str, bytes]) -> dict[str, bytes]:
    buffer = io.BytesIO()
    write_members(buffer, inner, resign=False)
    return {**members, "model_0.keras": buffer.getvalue()}


def edit_keras_config(members: dict[str, bytes], edit) -> dict[str, bytes]:
    return with_keras(members, edit_json(keras_members(members), edit, "config.json"))


def zip_bomb(path: Path, members: dict[str, bytes], name: str, size: int) -> Path:
    """``members`` plus ``name``: a valid deflated member of ``size`` zero bytes, about size/1000
    bytes in the file (made from one compressed block repeated: deflate forgets its history at
    a full flush, so every block compresses to the same bytes)."""
    block_size = 2**24
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(block_size)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * (size // block_size) + compressor.flush()
    crc = 0
    for _ in range(size // block_size):
        crc = zlib.crc32(bytes(block_size), crc)
    write_members(path, members)
    with open(path, "rb") as handle:
        content = handle.read()
    # Rewrite the archive by hand: the existing members' records, then the bomb's.
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        end = archive.start_dir
    out = bytearray(content[:end])
    encoded = name.encode()
    offset = len(out)
    out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0) + encoded + data
    central = bytearray()
    for info in infos:
        central += _central_record(info.filename.encode(), info.compress_type, info.CRC, info.compress_size, info.file_size, info.header_offset)
    central += _central_record(encoded, 8, crc, len(data), size, offset)
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(infos) + 1, len(infos) + 1, len(central), start, 0)
    path.write_bytes(bytes(out))
    return path


def _central_record(name: bytes, method: int, crc: int, csize: int, size: int, offset: int) -> bytes:
    return struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, csize, size, len(name), 0, 0, 0, 0, 0, offset
    ) + name


def patch_local_header(path: Path, member: str, *, flags: int | None = None, method: int | None = None) -> Path:
    """Set the general-purpose flags or the compression method of ``member`` in both its local
    and its central directory record."""
    content = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        central = archive.start_dir
    local = info.header_offset
    where = [local + 6]  # local header: flags at +6, method at +8
    position = content.find(b"PK\x01\x02", central)
    while position != -1:
        name_length = struct.unpack_from("<H", content, position + 28)[0]
        if content[position + 46 : position + 46 + name_length] == member.encode():
            where.append(position + 8)  # central record: flags at +8, method at +10
        position = content.find(b"PK\x01\x02", position + 46)
    for at in where:
        if flags is not None:
            struct.pack_into("<H", content, at, flags)
        if method is not None:
            struct.pack_into("<H", content, at + 2, method)
    path.write_bytes(bytes(content))
    return path


def h5_fill_bomb(shape: tuple[int, ...]) -> bytes:
    """An HDF5 file of a few KB holding a compressed dataset of ``shape`` float32 that was never
    written: reading it yields the fill value at full size."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset("layers/dense/vars/0", shape=shape, dtype="f4", chunks=(1000, 1000), compression="gzip")
    return buffer.getvalue()


# ---------------------------------------------------------------- the hostile files
@pytest.fixture(scope="module")
def good(tmp_path_factory, housing_sample) -> Path:
    X, y = housing_sample
    reg = HousingMLPRegressor(n_hidden=1, n_neurons=4, epochs=1, early_stopping=False, random_state=0).fit(X[:200], y[:200])
    return skann.save(reg, tmp_path_factory.mktemp("good") / "good.skann")


def _huge_dense(config):
    layers = config["config"]["layers"]
    layers[0]["config"]["batch_shape"] = [None, 30000]
    for layer in layers[1:]:
        layer.pop("build_config", None)
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = 30000


def _os_system_layer(config):
    config["config"]["layers"].append(
        {"module": "os", "class_name": "system", "config": {"command": "touch /tmp/skann-pwned"}, "registered_name": None}
    )


def _config_with(obj, **changes) -> dict:
    config = keras.saving.serialize_keras_object(obj)
    config["config"].update(changes)
    return config


def _nested(depth: int) -> dict:
    node: object = 1
    for _ in range(depth):
        node = [node]
    return node


# name -> (members -> (members, resign), expected error pattern). Heavy ones are also loaded
# in a fresh process, measuring its peak memory.
HOSTILE = {
    # sizes
    "zip bomb (2 GiB member)": (None, "more than the limit"),
    "json bomb (64 MiB skann.json)": (lambda m: {**m, "skann.json": b" " * (64 * 2**20) + m["skann.json"]}, "more than the 16,777,216 bytes"),
    "subarray dtype in an array": (lambda m: edit_state(m, history_={"__ndarray__": [1], "dtype": "(16000,16000)f8", "shape": [1]}), "unsupported dtype"),
    "subarray dtype entry": (lambda m: edit_state(m, history_={"__dtype__": "(16000,16000)f8"}), "unsupported dtype"),
    "object dtype named for numbers": (lambda m: edit_state(m, history_={"__ndarray__": [1], "dtype": "O", "shape": [1]}), "unsupported dtype"),
    "2 GB string dtype": (lambda m: edit_state(m, history_={"__ndarray__": ["a"], "dtype": "<U500000000", "shape": [1]}), "would exceed the limit"),
    "shape larger than the data": (lambda m: edit_state(m, history_={"__ndarray__": [1.0], "dtype": "<f8", "shape": [100000, 100000]}), "would exceed the limit"),
    "shape not matching the data": (lambda m: edit_state(m, history_={"__ndarray__": [1.0, 2.0, 3.0], "dtype": "<f8", "shape": [2, 2]}), "do not match its declared shape"),
    "negative shape": (lambda m: edit_state(m, history_={"__ndarray__": [], "dtype": "<f8", "shape": [-1]}), "invalid shape"),
    "30000x30000 Dense in the network's config": (lambda m: edit_keras_config(m, _huge_dense), "declares 1,800,120,001 weights, more than the limit of 30,000,000"),
    "weights that inflate to 3.6 GB": (
        lambda m: with_keras(m, {**keras_members(m), "model.weights.h5": h5_fill_bomb((30000, 30000))}),
        "weights take 3,600,000,000 bytes once decompressed",
    ),
    "metric with a 1e12-weight state": (
        lambda m: edit_state(m, history_={"__keras_object__": _config_with(keras.metrics.MeanIoU(num_classes=2), num_classes=1_000_000)}),
        "declares 1,000,000,000,000 weights",
    ),
    "metric building a 2e9-element list": (
        lambda m: edit_state(m, history_={"__keras_object__": _config_with(keras.metrics.AUC(), num_thresholds=2_000_000_000)}),
        "num_thresholds=2000000000, over the limit",
    ),
    "deep JSON (100,000 levels)": (lambda m: {**m, "skann.json": b"[" * 100_000 + b"]" * 100_000}, "nested more than 100 levels"),
    "deep JSON (150 levels)": (lambda m: edit_state(m, history_=_nested(150)), "nested more than 100 levels"),
    "deep JSON in the network's config": (lambda m: edit_keras_config(m, lambda c: c.update(x=_nested(150))), "nested more than 100 levels"),
    # structure
    "member not in the manifest": (lambda m: ({**m, "model_7.keras": m["model_0.keras"]}, False), "do not match its manifest"),
    "pickle member": (lambda m: {**m, "payload.pkl": pickle.dumps(print)}, "unexpected member 'payload.pkl'"),
    "duplicate member": (lambda m: {**m, "skann.json\0dup": m["skann.json"]}, "duplicate member names"),
    "parent-directory member name": (lambda m: {**m, "../evil.json": b"{}"}, "unexpected member '../evil.json'"),
    "absolute member name": (lambda m: {**m, "/etc/evil.json": b"{}"}, "unexpected member '/etc/evil.json'"),
    "network: pickle member": (lambda m: with_keras(m, {**keras_members(m), "payload.pkl": pickle.dumps(print)}), "unexpected member 'payload.pkl'"),
    "network: npz weights": (lambda m: with_keras(m, {**keras_members(m), "model.weights.npz": b"PK"}), "unexpected member 'model.weights.npz'"),
    "network: parent-directory member": (lambda m: with_keras(m, {**keras_members(m), "assets/../../x": b"x"}), "unexpected member"),
    "network: duplicate config": (lambda m: with_keras(m, {**keras_members(m), "config.json\0dup": b"{}"}), "duplicate member names"),
    "network: no weights": (lambda m: with_keras(m, {k: v for k, v in keras_members(m).items() if k != "model.weights.h5"}), "lacks its config.json or model.weights.h5"),
    "network missing from the file": (lambda m: edit_state(m, model_={"__keras_model__": "model_3.keras"}), "is not in the file"),
    # versions and contents
    "format version -1": (lambda m: edit_json(m, lambda d: d.update(format_version=-1), MANIFEST), "version -1, which no skann ever wrote"),
    "format version 0": (lambda m: edit_json(m, lambda d: d.update(format_version=0), MANIFEST), "version 0, which no skann ever wrote"),
    "format version true": (lambda m: edit_json(m, lambda d: d.update(format_version=True), MANIFEST), "version True, which is not a format"),
    "format version as text": (lambda m: edit_json(m, lambda d: d.update(format_version="1"), MANIFEST), "version '1', which is not a format"),
    "manifest not an object": (lambda m: ({**m, MANIFEST: b"[1]"}, False), "not a skann model file"),
    "skann.json not JSON": (lambda m: {**m, "skann.json": b"\xff\xfe{"}, "skann.json is not valid JSON"),
    "unknown entry": (lambda m: edit_state(m, history_={"__lambda__": "x"}), "unknown entry"),
    "float that is not text": (lambda m: edit_state(m, history_={"__float__": [1]}), "not stored as text"),
    "refused parameter (epochs=-5)": (lambda m: edit_state(m, epochs=-5), "invalid parameters.*epochs"),
    "refused parameter (learning_rate=nan)": (lambda m: edit_state(m, learning_rate={"__float__": "nan"}), "invalid parameters.*learning_rate"),
    "refused parameter (activation)": (lambda m: edit_state(m, activation="os.system"), "invalid parameters.*activation"),
    "unknown parameter": (lambda m: edit_state(m, hidden_layer_sizes=3), r"invalid parameters.*hidden_layer_sizes"),
    "undeclared attribute": (lambda m: edit_state(m, x_=1), r"attributes \['x_'\] that a HousingMLPRegressor does not store"),
    "attribute of the wrong kind": (lambda m: edit_state(m, model_="x"), "has model_ that is not a Keras model"),
    "parameter hiding a method": (lambda m: edit_state(m, predict="x"), r"parameters \['predict'\] that a HousingMLPRegressor does not take"),
    "state hiding a class setting": (lambda m: edit_state(m, _allow_nd=True), r"attributes \['_allow_nd'\]"),
    "parameters not an object": (lambda m: edit_json(m, lambda d: d["object"].update(params=[1])), "are not JSON objects"),
    "function off the allow-list": (lambda m: edit_state(m, history_={"__numpy_function__": "load"}), "not on skann's allow-list of NumPy functions"),
    "type off the allow-list": (lambda m: edit_state(m, history_={"__type__": "os.system"}), "not on skann's allow-list of types"),
    "object array of dicts": (lambda m: edit_state(m, history_={"__ndarray__": [{"a": 1}], "dtype": "object", "shape": [1]}), "something other than strings"),
    "B-spline with a huge degree": (
        lambda m: edit_state(m, history_={"__bspline__": {"t": {"__ndarray__": [0.0, 1.0], "dtype": "<f8", "shape": [2]}, "c": {"__ndarray__": [0.0], "dtype": "<f8", "shape": [1]}, "k": 10**9, "extrapolate": True, "axis": 0}}),
        "invalid degree",
    ),
}
HEAVY = [
    "zip bomb (2 GiB member)",
    "json bomb (64 MiB skann.json)",
    "subarray dtype in an array",
    "2 GB string dtype",
    "shape larger than the data",
    "30000x30000 Dense in the network's config",
    "weights that inflate to 3.6 GB",
    "metric with a 1e12-weight state",
    "metric building a 2e9-element list",
    "deep JSON (100,000 levels)",
]


def build_hostile(name: str, good: Path, folder: Path) -> Path:
    members = read_members(good)
    path = folder / (hashlib.sha256(name.encode()).hexdigest()[:10] + ".skann")
    if name == "zip bomb (2 GiB member)":
        return zip_bomb(path, {k: v for k, v in members.items() if k != "skann.json"}, "skann.json", 2 * GiB)
    made = HOSTILE[name][0](members)
    members, resign = made if isinstance(made, tuple) else (made, True)
    return write_members(path, members, resign=resign)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_refused(name, good, tmp_path):
    path = build_hostile(name, good, tmp_path)
    with pytest.raises(SkannFileError, match=HOSTILE[name][1]) as caught:
        skann.load(path)
    assert str(path) in str(caught.value)  # the error names the file


def test_hostile_files_are_refused_in_bounded_memory(good, tmp_path):
    """A fresh process loads a good file (warm-up), then every heavy hostile file: each is
    refused, and the process's peak memory grows by less than 100 MiB (each would take 1-4 GB)."""
    paths = [str(build_hostile(name, good, tmp_path)) for name in HEAVY]
    script = textwrap.dedent(
        """
        import json, resource, sys
        import skann
        from skann.persistence import SkannFileError

        skann.load(sys.argv[1]).predict([[1.0] * 8])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        outcomes = []
        for path in sys.argv[2:]:
            try:
                skann.load(path)
                outcomes.append("loaded")
            except SkannFileError:
                outcomes.append("refused")
            except BaseException as exc:
                outcomes.append(type(exc).__name__)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({"outcomes": outcomes, "grown_mib": grown / 1024}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(good), *paths], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == ["refused"] * len(HEAVY), dict(zip(HEAVY, report["outcomes"]))
    print(report)
    assert report["grown_mib"] < 100, report


@pytest.fixture(scope="module")
def good_pipeline(tmp_path_factory) -> Path:
    X, y = frame(60)
    return skann.save(column_pipeline(epochs=1).fit(X, y), tmp_path_factory.mktemp("good") / "pipeline.skann")


def edit_object(members: dict[str, bytes], path: str, edit) -> dict[str, bytes]:
    """Apply ``edit`` to the description of the first object of class ``path`` in skann.json."""

    def find(node):
        if isinstance(node, dict):
            if node.get("__object__") == path:
                return node
            node = list(node.values())
        if isinstance(node, list):
            return next((found for found in map(find, node) if found is not None), None)
        return None

    return edit_json(members, lambda meta: edit(find(meta["object"])))


# Hostile edits of a ColumnTransformer pipeline's file: its scikit-learn steps are held to the
# same rules as skann's own objects.
HOSTILE_PIPELINE = {
    "a class named by its private module": (
        lambda m: edit_object(m, "sklearn.impute.SimpleImputer", lambda o: o.update({"__object__": "sklearn.impute._base.SimpleImputer"})),
        "not on skann's allow-list of safe classes",
    ),
    "categories that are not arrays": (
        lambda m: edit_object(m, "sklearn.preprocessing.OneHotEncoder", lambda o: o["fitted"].update(categories_=["x"])),
        "has categories_ that is not a list of",
    ),
    "an imputer's statistics holding a dict": (
        lambda m: edit_object(m, "sklearn.impute.SimpleImputer", lambda o: o["fitted"].update(
            statistics_={"__ndarray__": [{"__float__": "1"}, {"module": "os"}], "dtype": "object", "shape": [2]})),
        "something other than strings",
    ),
    "an encoder's private state renamed": (
        lambda m: edit_object(m, "sklearn.preprocessing.OneHotEncoder", lambda o: o["fitted"].update(_n_features_outs=[1])),
        r"attributes \['_n_features_outs'\] that a OneHotEncoder does not store",
    ),
    "a column transformer with an invalid parameter": (
        lambda m: edit_object(m, "sklearn.compose.ColumnTransformer", lambda o: o["params"].update(remainder="os.system")),
        "invalid parameters",
    ),
    "a scaler with a parameter of another class": (
        lambda m: edit_object(m, "sklearn.preprocessing.StandardScaler", lambda o: o["params"].update(func={"__numpy_function__": "log"})),
        r"parameters \['func'\] that a StandardScaler does not take",
    ),
    "a column selector's type off the allow-list": (
        lambda m: edit_object(m, "sklearn.compose.make_column_selector", lambda o: o["params"].update(dtype_include={"__type__": "builtins.eval"})),
        "not on skann's allow-list of types",
    ),
    "an array member not in the file": (
        lambda m: edit_object(m, "sklearn.preprocessing.StandardScaler", lambda o: o["fitted"].update(mean_={"__array_member__": "array_99.npy"})),
        "the array 'array_99.npy' is not in the file",
    ),
    "an array member holding a pickle": (
        lambda m: with_array(m, np.array([print, 1], dtype=object)),
        "unsupported layout or dtype object",
    ),
    "an array member shorter than its header says": (
        lambda m: with_array(m, np.zeros(300), cut=8),
        "data do not match its declared shape",
    ),
    "an array member declaring a huge shape": (
        lambda m: with_array(m, np.zeros(300), header_shape=(10**6, 10**6)),
        "data do not match its declared shape",
    ),
    "a huge one-hot category array": (
        lambda m: edit_object(m, "sklearn.preprocessing.OneHotEncoder", lambda o: o["fitted"].update(
            categories_=[{"__ndarray__": ["a"], "dtype": "object", "shape": [10**10]}])),
        "would exceed the limit",
    ),
}


def with_array(members: dict[str, bytes], array: np.ndarray, *, cut: int = 0, header_shape=None) -> dict[str, bytes]:
    """The pipeline's first StandardScaler's mean_ as an .npy member holding ``array`` (its
    header declaring ``header_shape`` if given, its data ``cut`` bytes short)."""
    buffer = io.BytesIO()
    if array.dtype == object:
        np.save(buffer, array, allow_pickle=True)
    else:
        np.lib.format.write_array_header_1_0(buffer, {"descr": array.dtype.str, "fortran_order": False, "shape": header_shape or array.shape})
        buffer.write(array.tobytes())
    data = buffer.getvalue()
    members = edit_object(members, "sklearn.preprocessing.StandardScaler", lambda o: o["fitted"].update(mean_={"__array_member__": "array_98.npy"}))
    return {**members, "array_98.npy": data[: len(data) - cut]}


@pytest.mark.parametrize("name", list(HOSTILE_PIPELINE))
def test_hostile_pipeline_file_is_refused(name, good_pipeline, tmp_path):
    edit, message = HOSTILE_PIPELINE[name]
    path = write_members(tmp_path / "hostile.skann", edit(read_members(good_pipeline)))
    with pytest.raises(SkannFileError, match=message):
        skann.load(path)


@pytest.mark.parametrize("case", ["ColumnTransformer with pandas output", "OneHotEncoder infrequent", "TargetEncoder multiclass",
                                  "SimpleImputer", "KNNImputer", "SplineTransformer", "PCA", "PowerTransformer",
                                  "QuantileTransformer", "PolynomialFeatures", "OrdinalEncoder", "MissingIndicator",
                                  "TransformedTargetRegressor with a transformer", "FunctionTransformer",
                                  "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "StandardScaler"])
def test_every_fitted_attribute_of_the_wrong_kind_is_refused(case, tmp_path):
    """Each scikit-learn class of the allow-list with fitted state of its own (FeatureUnion and
    Pipeline have none: theirs is their steps'): every fitted attribute its file stores,
    replaced by a value of another kind (a string, or where a string fits, an estimator), is
    refused on loading, naming the attribute."""
    from .test_persistence_sklearn import CASES

    est, X, y = CASES[case]
    path = skann.save(est.fit(X, y), tmp_path / "good.skann")
    members = read_members(path)
    fitted = json.loads(members["skann.json"])["object"]["fitted"]
    assert fitted, case
    scaler = {"__object__": "sklearn.preprocessing.StandardScaler", "params": {}, "fitted": {}}
    from skann._stored import DECLARED, class_path

    declared = DECLARED[class_path(est)].fields
    for name in fitted:
        wrong = scaler if declared[name].kind.test("x") else "x"
        hostile = edit_json(members, lambda meta: meta["object"]["fitted"].update({name: wrong}))
        with pytest.raises(SkannFileError, match=f"has {name} that is not"):
            skann.load(write_members(tmp_path / "hostile.skann", hostile))


def test_limits_are_keywords_for_trusted_big_files(good, tmp_path):
    """The limits refuse a file above them and accept it once raised (or lifted)."""
    original = skann.load(good)
    X = np.ones((3, 8))
    assert original.model_.count_params() == 58
    with pytest.raises(SkannFileError, match="declares 58 weights, more than the limit of 57.*max_params=None"):
        skann.load(good, max_params=57)
    with pytest.raises(SkannFileError, match="more than the limit of 10,000.*max_bytes=None"):
        skann.load(good, max_bytes=10_000)
    for loaded in (skann.load(good, max_params=None, max_bytes=None), skann.load(good, max_params=58, max_bytes=10**8)):
        np.testing.assert_array_equal(loaded.predict(X), original.predict(X))


def test_broken_zip_records_are_refused(good, tmp_path):
    """Corrupt deflate data, an unsupported compression method and an "encrypted" flag: each
    was an escaping zlib.error, NotImplementedError or RuntimeError."""
    content = good.read_bytes()
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("model_0.keras")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    corrupt = bytearray(content)
    corrupt[start + 100 : start + 400] = bytes(300)
    (tmp_path / "corrupt.skann").write_bytes(bytes(corrupt))
    with pytest.raises(SkannFileError, match="corrupt.skann"):
        skann.load(tmp_path / "corrupt.skann")
    for flags, method, message in ((None, 99, "unsupported compression method"), (0x1, None, "encrypted member")):
        path = tmp_path / f"patched-{method}.skann"
        path.write_bytes(content)
        patch_local_header(path, "skann.json", flags=flags, method=method)
        with pytest.raises(SkannFileError, match=message):
            skann.load(path)


def test_no_payload_runs(good, tmp_path):
    """A Lambda layer's bytecode, a layer naming os.system, a class off the allow-list, a pickle
    member: all refused, as unsafe (UnsafeFileError is both SkannFileError and
    UnsafeObjectError), and the payload never ran."""
    marker = tmp_path / "pwned"
    target = str(marker)
    members = read_members(good)
    lambda_network = json.loads(json.dumps(keras.saving.serialize_keras_object(
        keras.Sequential([keras.Input((8,)), keras.layers.Lambda(lambda x: (open(target, "w").close(), x)[1])])
    )))
    marker.unlink()  # building the network here ran the Lambda once, on a symbolic input
    cases = {
        "lambda": edit_keras_config(members, lambda c: c["config"].update(layers=c["config"]["layers"][:1] + lambda_network["config"]["layers"][1:])),
        "os-system": edit_keras_config(members, _os_system_layer),
        "popen": edit_json(members, lambda d: d.update(object={"__object__": "subprocess.Popen", "params": {"args": ["touch", str(marker)]}, "fitted": {}})),
        "keras-object": edit_state(members, loss={"__keras_object__": {"module": "os", "class_name": "system", "config": {"command": f"touch {marker}"}, "registered_name": None}}),
    }
    for name, hostile in cases.items():
        path = write_members(tmp_path / f"{name}.skann", hostile)
        with pytest.raises(UnsafeFileError) as caught:
            skann.load(path)
        assert isinstance(caught.value, SkannFileError) and isinstance(caught.value, UnsafeObjectError)
        assert not marker.exists(), name


def test_mutated_files_load_equal_or_raise_skann_file_error(good, fashion_sample, tmp_path):
    """Hypothesis mutates valid files (byte flips, truncations, edits of skann.json and of the
    network's config with checksums recomputed) in a fresh process: every load returns a model
    predicting as the original (raw damage) or any model (a valid edit), or raises
    SkannFileError, within 30 s each and 300 MiB of peak memory for the whole run."""
    pytest.importorskip("hypothesis")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skann import FashionMLPClassifier, PerceptronBaseline

    (Xf, yf), _ = fashion_sample
    folder = tmp_path / "files"
    folder.mkdir()
    rows = np.ones((3, 8))
    (folder / "housing.skann").write_bytes(good.read_bytes())
    np.save(folder / "housing.npy", rows)
    fashion = FashionMLPClassifier(n_hidden=1, n_neurons=8, epochs=1, early_stopping=False, random_state=0).fit(Xf[:200], yf[:200])
    skann.save(fashion, folder / "fashion.skann")
    np.save(folder / "fashion.npy", Xf[:5])
    Xh = np.random.RandomState(0).normal(size=(60, 8))
    pipeline = make_pipeline(StandardScaler(), PerceptronBaseline(max_iter=3, random_state=0)).fit(Xh, Xh[:, 0] > 0)
    skann.save(pipeline, folder / "perceptron.skann")
    np.save(folder / "perceptron.npy", Xh[:5])
    Xt, yt = frame(60)  # a ColumnTransformer pipeline: imputers, encoders, a scaler, a network
    skann.save(column_pipeline(epochs=1).fit(Xt, yt), folder / "columns.skann")
    Xt[:5].to_json(folder / "columns.json", orient="split")
    done = subprocess.run(
        [sys.executable, "-m", "tests._fuzz_skann_files", str(folder), "120"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["refused"] > 0 and report["loaded-edited"] + report["loaded-unchanged"] > 0, report
    print(report)
    assert report["grown_mib"] < 300, report
