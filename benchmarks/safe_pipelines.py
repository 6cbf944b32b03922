"""skann's safe format vs skops.io on the scikit-learn part of a real tabular pipeline: the
evidence behind storing scikit-learn steps with skann's own codec (docs/persistence.md).

Both store the fitted ColumnTransformer of ``tests/_tabular.py`` (imputers, a one-hot
encoder, an ordinal encoder, a scaler and a column selector; skops cannot hold the Keras
network behind it, skops#388). Measured: file size, load time (alternating repeats, medians),
what each must be told to trust, and the peak memory of a fresh process loading a hostile
file of each format — 8 MB on disk, declaring an array of 800 MB of zeros.

    pip install skops && python -m benchmarks.safe_pipelines --repeats 20
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile

import numpy as np

from benchmarks.harness import alternate, cli, markdown_table, peak_rss_mb, timed, timing_table

_HOSTILE_LOAD = """
import sys, time
start = time.perf_counter()
try:
    {load}
    outcome = "loaded"
except Exception as exc:
    outcome = type(exc).__name__
print("OUTCOME", outcome, round(time.perf_counter() - start, 1))
"""


def _inflating_member(archive: zipfile.ZipFile, name: str, header: bytes, n_bytes: int) -> None:
    with archive.open(name, "w", force_zip64=True) as member:
        member.write(header)
        chunk = bytes(2**24)
        for start in range(0, n_bytes, len(chunk)):
            member.write(chunk[: n_bytes - start])


def _hostile_files(folder: str, n_values: int) -> dict[str, str]:
    """A skops file and a skann file of a StandardScaler, each with a member that inflates to
    ``n_values`` float64 zeros (skops: an array's .npy; skann: skann.json, where arrays live)."""
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    import skann

    scaler = StandardScaler().fit(np.random.default_rng(0).normal(size=(10, 3)))
    paths = {"skops": os.path.join(folder, "hostile.skops"), "skann": os.path.join(folder, "hostile.skann")}
    with zipfile.ZipFile(io.BytesIO(sio.dumps(scaler))) as source, zipfile.ZipFile(paths["skops"], "w", zipfile.ZIP_DEFLATED) as out:
        arrays = [name for name in source.namelist() if name.endswith(".npy")]
        for name in source.namelist():
            if name == arrays[0]:
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n_values,)})
                _inflating_member(out, name, header.getvalue(), 8 * n_values)
            else:
                out.writestr(name, source.read(name))
    skann.save(scaler, paths["skann"])
    with zipfile.ZipFile(paths["skann"]) as source:
        members = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(paths["skann"], "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            if name == "skann.json":
                _inflating_member(out, name, data, 8 * n_values)
            else:
                out.writestr(name, data)
    return paths


def run(repeats: int = 20, hostile_values: int = 100_000_000) -> str:
    import skops
    import skops.io as sio

    import skann
    from tests._tabular import column_pipeline, frame

    X, y = frame()
    columns = column_pipeline().fit(X, y)[0]
    with tempfile.TemporaryDirectory() as folder:
        paths = {"skann": os.path.join(folder, "columns.skann"), "skops": os.path.join(folder, "columns.skops")}
        skann.save(columns, paths["skann"])
        sio.dump(columns, paths["skops"])
        untrusted = sio.get_untrusted_types(file=paths["skops"])
        for loaded in (skann.load(paths["skann"]), sio.load(paths["skops"], trusted=untrusted)):
            np.testing.assert_array_equal(loaded.transform(X), columns.transform(X))
        results = alternate({
            "skann.load": lambda: timed(lambda: skann.load(paths["skann"])),
            "skops.io.load": lambda: timed(lambda: sio.load(paths["skops"], trusted=untrusted)),
        }, repeats)
        sizes = markdown_table(
            ["", "file size", "must be trusted by the caller"],
            [["skann", f"{os.path.getsize(paths['skann']):,} bytes", "nothing (allow-list built in)"],
             ["skops", f"{os.path.getsize(paths['skops']):,} bytes", ", ".join(untrusted) or "nothing"]],
        )
        hostile = _hostile_files(folder, hostile_values)
        rows = []
        for name, load in (("skann", f"skann.load({hostile['skann']!r})"),
                           ("skops", f"import skops.io as sio; sio.load({hostile['skops']!r}, trusted=sio.get_untrusted_types(file={hostile['skops']!r}))")):
            peak, out = peak_rss_mb("import skann, skops.io\n" + _HOSTILE_LOAD.format(load=load))
            outcome, seconds = out.split("OUTCOME", 1)[1].split()
            rows.append([name, f"{os.path.getsize(hostile[name]) / 2**20:.1f} MB", outcome, f"{seconds} s", f"{peak:,.0f} MB"])
    return "\n\n".join([
        f"The fitted ColumnTransformer of tests/_tabular.py (skops {skops.__version__}):",
        sizes,
        timing_table(results, "skann.load", what="load"),
        f"A hostile file declaring {8 * hostile_values / 1e6:,.0f} MB of zeros, loaded in a fresh process:",
        markdown_table(["", "file", "outcome", "time", "peak memory of the process"], rows),
    ])


if __name__ == "__main__":
    cli(run, __doc__, repeats=20, hostile_values=100_000_000)
