"""Property-based fuzzing of skann.load, run in its own process by test_hostile_files.py (which
reads the peak memory it reports).

    python -m tests._fuzz_skann_files FOLDER EXAMPLES

FOLDER holds valid ``*.skann`` files and, for each, ``<name>.npy`` (or ``<name>.json``, a
DataFrame): input rows to predict. Each
example mutates one of them, as a damaged download or an attacker would: raw byte flips and
truncations (checksums left as they are), or edits of skann.json or of the network's
config.json with the checksums recomputed. ``load`` must either raise SkannFileError or, for raw
damage it did not notice, return a model that predicts exactly as the original; any other
exception, or a load taking more than 30 s, fails. The last line printed is a JSON report.
"""

from __future__ import annotations

import hashlib
import io
import json
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skann
from skann.persistence import MANIFEST, SkannFileError

MARKERS = ["__object__", "__ndarray__", "__keras_model__", "__keras_object__", "__float__", "__dtype__",
           "__tuple__", "__dict__", "__items__", "__array_member__", "__slice__", "__type__", "__numpy_function__", "__bspline__", "params",
           "fitted", "dtype", "shape", "class_name", "config", "units"]
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(max_size=12) | st.sampled_from(MARKERS),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(MARKERS) | st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
raw = st.tuples(st.sampled_from(["flip", "truncate"]), st.floats(0, 1, exclude_max=True), st.integers(1, 255))
edit = st.tuples(st.sampled_from(["skann.json", "config.json"]), st.integers(0, 10**6), st.sampled_from(["replace", "delete-text"]), values)


def nodes(tree, out=None):
    """(container, key) of every value in a JSON tree, in a fixed order."""
    out = [] if out is None else out
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        out.append((tree, key))
        nodes(value, out)
    return out


def resigned_zip(members: dict[str, bytes]) -> bytes:
    if MANIFEST in members:
        manifest = json.loads(members[MANIFEST])
        manifest["sha256"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != MANIFEST}
        members = {**members, MANIFEST: json.dumps(manifest).encode()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def edited_json(text: bytes, index: int, how: str, value) -> bytes:
    if how == "delete-text":
        start = index % len(text)
        return text[:start] + text[start + 1 + index % 7 :]
    tree = json.loads(text)
    places = nodes(tree)
    container, key = places[index % len(places)]
    container[key] = value
    return json.dumps(tree).encode()


def _rows(path: Path):
    """The rows to predict with the model in ``path``: ``<name>.npy``, or a DataFrame in
    ``<name>.json`` (pandas' split orientation) for a pipeline over named columns."""
    if path.with_suffix(".npy").exists():
        return np.load(path.with_suffix(".npy"))
    import pandas as pd

    return pd.read_json(path.with_suffix(".json"), orient="split")


def main(folder: Path, examples: int) -> None:
    files = sorted(folder.glob("*.skann"))
    originals = {f: (f.read_bytes(), _rows(f)) for f in files}
    expected = {f: skann.load(f).predict(X) for f, (_, X) in originals.items()}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {"loaded-unchanged": 0, "loaded-edited": 0, "refused": 0}
    slowest = 0.0
    scratch = Path(tempfile.mkdtemp())

    def check(source: Path, content: bytes, edited: bool) -> None:
        nonlocal slowest
        target = scratch / "mutated.skann"
        target.write_bytes(content)
        start = time.perf_counter()
        try:
            loaded = skann.load(target)
        except SkannFileError:
            outcomes["refused"] += 1
            return
        finally:
            slowest = max(slowest, time.perf_counter() - start)
            assert time.perf_counter() - start < 30, "a load took more than 30 s"
        if edited:
            outcomes["loaded-edited"] += 1  # a valid edit (another value) may load: any model
        else:
            np.testing.assert_array_equal(loaded.predict(originals[source][1]), expected[source])
            outcomes["loaded-unchanged"] += 1

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(files), raw | edit)
    def fuzz(source, mutation):
        content = originals[source][0]
        if mutation[0] in ("flip", "truncate"):
            kind, where, byte = mutation
            at = int(where * len(content))
            if kind == "flip":
                content = content[:at] + bytes([content[at] ^ byte]) + content[at + 1 :]
            else:
                content = content[:at]
            check(source, content, edited=False)
            return
        member, index, how, value = mutation
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        if member == "skann.json":
            members["skann.json"] = edited_json(members["skann.json"], index, how, value)
        else:
            with zipfile.ZipFile(io.BytesIO(members["model_0.keras"])) as archive:
                inner = {name: archive.read(name) for name in archive.namelist()}
            inner["config.json"] = edited_json(inner["config.json"], index, how, value)
            members["model_0.keras"] = resigned_zip(inner)
        check(source, resigned_zip(members), edited=True)

    fuzz()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({**outcomes, "slowest_s": round(slowest, 2), "grown_mib": round(grown, 1)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
