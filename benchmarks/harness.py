"""Shared benchmark machinery: alternating repeats, medians, ratios, peak memory, markdown.

Every benchmark runs its competitors side by side in one process run, alternating them
repeat after repeat, so that machine noise (other jobs on a shared box) hits all of them
alike; results are medians, and the comparison is a ratio measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    """Timings (seconds) of one competitor over the repeats, plus anything else it reports."""

    name: str
    times: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def alternate(competitors: dict[str, Callable[[], float | tuple[float, dict]]], repeats: int) -> dict[str, Result]:
    """Call each competitor once per repeat, in turn; each returns its time (and extras)."""
    results = {name: Result(name) for name in competitors}
    for repeat in range(repeats):
        for name, run in competitors.items():
            out = run()
            seconds, extra = out if isinstance(out, tuple) else (out, {})
            results[name].times.append(seconds)
            results[name].extra.update(extra)
            print(f"  [{repeat + 1}/{repeats}] {name}: {_fmt_time(seconds)}", file=sys.stderr, flush=True)
    return results


def timed(fn: Callable[[], object], number: int = 1) -> float:
    """Mean seconds per call over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def timing_table(results: dict[str, Result], reference: str, *, what: str, extra_columns=()) -> str:
    """One row per competitor: median time, its ratio to ``reference`` and extras."""
    ref = results[reference].median
    rows = []
    for res in results.values():
        ratio = ref / res.median
        row = [res.name, _fmt_time(res.median), f"{ratio:.2f}x" if res.name != reference else "1.00x (reference)"]
        row += [res.extra.get(col, "") for col in extra_columns]
        rows.append(row)
    headers = ["", f"median {what}", f"speed vs {reference}", *extra_columns]
    return markdown_table(headers, rows)


def peak_rss_mb(code: str, env: dict | None = None, timeout: float = 3600) -> tuple[float, str]:
    """Run ``code`` in a fresh Python process; return its peak resident memory (MB) and stdout."""
    # VmHWM belongs to this process image; ru_maxrss would also count the memory of the
    # (possibly large) parent the child was forked from, which Linux carries across exec.
    wrapper = code + textwrap.dedent(
        """
        def _peak_kb():
            try:
                with open("/proc/self/status") as f:
                    return int(next(l for l in f if l.startswith("VmHWM")).split()[1])
            except (OSError, StopIteration):
                import resource
                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("PEAK_RSS_KB", _peak_kb())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.splitlines()
    kb = int(next(line for line in lines if line.startswith("PEAK_RSS_KB")).split()[1])
    return kb / 1024, "\n".join(line for line in lines if not line.startswith("PEAK_RSS_KB"))


def cli(run: Callable[..., str], doc: str, **defaults: int | None) -> None:
    """Command line of a benchmark script: one integer option per ``run`` argument given here."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    args = parser.parse_args()
    print(machine_description() + "\n")
    print(run(**vars(args)))


def clear_compiled() -> None:
    """Drop skann's compiled programs (and JAX's own caches): the next fit compiles as in a new
    process without SKANN_COMPILATION_CACHE."""
    import keras

    from skann.engine import compiled_cache

    compiled_cache.clear()
    if keras.backend.backend() == "jax":
        import jax

        jax.clear_caches()


def backend_workers(module: str, backends: list[str], args: list[str], json_path: str | None = None) -> list[dict]:
    """Run ``python -m <module> --worker <args>`` once per Keras backend (a process has one
    backend), each without a compilation cache on disk: the JSON each prints last (also
    written to ``json_path``, when given)."""
    results = []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for backend in backends:
        env = {**os.environ, "KERAS_BACKEND": backend}
        env.pop("SKANN_COMPILATION_CACHE", None)  # cold means nothing compiled before, on disk either
        proc = subprocess.run(
            [sys.executable, "-m", module, "--worker", *args], capture_output=True, text=True, env=env, cwd=root,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{backend} worker failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
    return results


def machine_description() -> str:
    import skann  # noqa: F401  (first: TensorFlow's quiet import, on its backend)
    import keras
    import numpy
    import sklearn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, Keras {keras.__version__} on {keras.backend.backend()} "
        f"({_framework_version(keras.backend.backend())}), scikit-learn {sklearn.__version__}, NumPy {numpy.__version__}"
    )


def _framework_version(backend: str) -> str:
    import importlib

    module = importlib.import_module({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend))
    return f"{backend} {module.__version__}"


def load_fashion(n_train: int | None = None):
    """Fashion-MNIST as the book splits it: 55,000 train, 5,000 validation, 10,000 test."""
    from skann.datasets import load_book_split

    s = load_book_split("fashion", download=False)
    return s.X_train[:n_train], s.y_train[:n_train], s.X_valid, s.y_valid, s.X_test, s.y_test
