"""Loading a fitted Fashion-MNIST classifier in a fresh process: skann (joblib and safe format)
vs SciKeras (joblib).

The classifiers are the book's network (784-300-100-10) trained for one epoch on 5,000
images. Every measurement is a new Python process that first imports the libraries (not
timed) and then times the load and one prediction; repeats alternate between competitors.

    SKANN_DATA=../shared/data python -m benchmarks.loading --repeats 3
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from benchmarks.harness import Result, cli, markdown_table

_TIMED_LOAD = """
import time, numpy as np, joblib, skann, scikeras.wrappers
start = time.perf_counter()
est = {load}
loaded = time.perf_counter() - start
est.predict(np.zeros((1, 28, 28), dtype=np.uint8) if {images} else np.zeros((1, 784)))
print("LOAD_SECONDS", loaded, time.perf_counter() - start)
"""


def _make_files(folder: str) -> dict[str, tuple[str, bool]]:
    import joblib
    from scikeras.wrappers import KerasClassifier

    import skann
    from benchmarks.book_keras import book_fashion_model
    from benchmarks.harness import load_fashion
    from skann import FashionMLPClassifier

    X, y = load_fashion()[:2]
    X, y = X[:5000], y[:5000]
    clf = FashionMLPClassifier(epochs=1, random_state=0).fit(X, y)
    joblib.dump(clf, os.path.join(folder, "skann.joblib"))
    skann.save(clf, os.path.join(folder, "skann.skann"))
    other = KerasClassifier(model=book_fashion_model, model__seed=0, epochs=1, verbose=0).fit(X / 255.0, y)
    joblib.dump(other, os.path.join(folder, "scikeras.joblib"))
    return {
        "skann, joblib.load": (f"joblib.load({os.path.join(folder, 'skann.joblib')!r})", True),
        "skann, skann.load (safe format)": (f"skann.load({os.path.join(folder, 'skann.skann')!r})", True),
        "SciKeras, joblib.load": (f"joblib.load({os.path.join(folder, 'scikeras.joblib')!r})", True),
    }


def run(repeats: int = 3) -> str:
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as folder:
        loads = _make_files(folder)
        for repeat in range(repeats):
            for name, (load, images) in loads.items():
                code = _TIMED_LOAD.format(load=load, images=images)
                proc = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True,
                    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                )
                line = next(l for l in proc.stdout.splitlines() if l.startswith("LOAD_SECONDS"))
                load_s, with_predict = map(float, line.split()[1:])
                res = results.setdefault(name, Result(name))
                res.times.append(load_s)
                res.extra.setdefault("with first predict", []).append(with_predict)
                print(f"  [{repeat + 1}/{repeats}] {name}: {load_s:.3f} s", file=sys.stderr, flush=True)
    import statistics

    rows = [
        [r.name, f"{r.median:.3f} s", f"{statistics.median(r.extra['with first predict']):.3f} s"]
        for r in results.values()
    ]
    return (
        f"Loading a fitted classifier in a fresh process, after imports ({repeats} alternating "
        "repeats, medians).\n\n" + markdown_table(["", "load", "load + first predict"], rows)
    )


if __name__ == "__main__":
    cli(run, __doc__, repeats=3)
