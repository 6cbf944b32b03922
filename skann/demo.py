"""The main job (``skann demo``): the chapter's four networks trained, compared, plotted, saved."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Callable

from skann._atomic import write_bytes_atomically
from skann._registry import (
    KINDS,
    fit_on_split,
    headline,
    load_or_sample,
    plural,
    score_metrics,
)
from skann._steps import final_estimator, max_epochs
from skann.datasets import CALIFORNIA_TARGET_CAP, CALIFORNIA_TARGET_UNIT, FASHION_CLASS_NAMES

ORDER = ("fashion", "perceptron", "housing", "wide-deep")


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def run_demo(
    out_dir: Path,
    *,
    quick: bool = False,
    sample: bool = False,
    download: bool = True,
    note: Callable[[str], None] = print,
    callbacks: Callable[[str, int], list] = lambda label, epochs: [],
) -> list[dict]:
    """Train the four networks, write plots, models and results into ``out_dir``.

    Returns one dict per model: ``model``, ``data``, ``setting``, ``result``, ``book``,
    ``metrics``, ``seconds``.
    """
    if importlib.util.find_spec("matplotlib") is None:
        plot = None
        note('matplotlib is not installed: no plots (pip install "skann[plot]").')
    else:
        from skann import plot
    import skann

    out_dir = Path(out_dir)
    (out_dir / "models").mkdir(parents=True, exist_ok=True)
    if plot is not None:
        (out_dir / "plots").mkdir(exist_ok=True)
    splits: dict = {}
    rows = []
    for name in ORDER:
        kind = KINDS[name]
        if kind.dataset not in splits:
            splits[kind.dataset] = load_or_sample(kind.dataset, sample, note, download=download)
        split = splits[kind.dataset]
        settings = kind.quick if quick else kind.book
        model = kind.make(settings)
        start = time.perf_counter()
        fit_on_split(model, split, callbacks(f"{kind.title:<21}", max_epochs(model)))
        seconds = time.perf_counter() - start
        metrics = score_metrics(model, split.X_test, split.y_test)
        est = final_estimator(model)
        skann.save(model, out_dir / "models" / f"{name}.skann")
        if plot is not None:
            _plots(plot, kind, model, est, split, out_dir / "plots")
        rows.append(
            {
                "model": kind.title,
                "data": f"{split.source} ({len(split.y_train):,} train / {len(split.y_test):,} test)",
                "setting": ("quick: " if quick else "book: ") + _settings_text(settings) + f" ({plural(est.n_iter_, 'epoch')} run)",
                "result": headline(metrics),
                "book": kind.book_figure,
                "metrics": metrics,
                "seconds": round(seconds, 1),
            }
        )
    write_bytes_atomically(out_dir / "results.json", (json.dumps(rows, indent=1) + "\n").encode())
    lines = ["| model | data | setting | test result | book |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['data']} | {r['setting']} | {r['result']} | {r['book']} |" for r in rows]
    write_bytes_atomically(out_dir / "results.md", ("\n".join(lines) + "\n").encode())
    return rows


def _plots(plot, kind, model, est, split, folder: Path) -> None:
    name = kind.name
    # A figure made from the bundled subset says so: its figures are not the full data's.
    title = kind.title + (f" ({split.source}, {len(split.y_test):,} test images)" if split.is_sample else "")
    if name != "perceptron":
        plot.plot_learning_curves(est, title=title, path=folder / f"{name}_learning_curves.png")
    y_pred = model.predict(split.X_test)
    if split.name == "fashion":
        plot.plot_confusion_matrix(split.y_test, y_pred, class_names=FASHION_CLASS_NAMES, title=title,
                                   path=folder / f"{name}_confusion_matrix.png")
        if name == "fashion":
            plot.plot_image_grid(split.X_test, split.y_test, y_pred, class_names=FASHION_CLASS_NAMES,
                                 title=f"{title}: the first 30 test images",
                                 path=folder / "fashion_predictions.png")
    else:
        plot.plot_predicted_vs_actual(split.y_test, y_pred, title=title, unit=CALIFORNIA_TARGET_UNIT,
                                      cap=CALIFORNIA_TARGET_CAP, path=folder / f"{name}_predicted_vs_actual.png")
