"""Plots for the chapter's workflows: learning curves, confusion matrix, image grids,
predicted vs actual, search results and the learning-rate finder.

Every function returns a :class:`matplotlib.figure.Figure` and saves it as PNG when given
``path``. Figures are created without pyplot, so a script that writes many plots holds no
open windows or global state; in Jupyter a returned Figure displays as usual. Pass ``ax``
to draw into an axes of your own figure instead.

Needs matplotlib: ``pip install "skann[plot]"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skann._atomic import write_atomically

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_confusion_matrix",
    "plot_hyperband",
    "plot_image_grid",
    "plot_learning_curves",
    "plot_learning_rate_finder",
    "plot_predicted_vs_actual",
    "plot_search_results",
]

_PNG_DPI = 100


def _new_figure(ax: Axes | None, figsize: tuple[float, float], nrows: int = 1, ncols: int = 1):
    """``(figure, axes array)``: a fresh pyplot-free figure, or the figure of a given ``ax``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'Plotting needs matplotlib: pip install "skann[plot]" (or pip install matplotlib).'
        ) from exc
    if ax is not None:
        if nrows * ncols != 1:
            raise ValueError(
                f"This plot needs {nrows * ncols} axes; leave ax=None to get a new figure."
            )
        return ax.figure, np.array([[ax]])
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        write_atomically(Path(path), lambda handle: fig.savefig(handle, dpi=_PNG_DPI, format="png"))
    return fig


# Keras' metric names, as a reader of the plot would say them.
_METRIC_WORDS = (
    ("root_mean_squared_error", "RMSE"),
    ("mean_squared_error", "MSE"),
    ("mean_absolute_error", "MAE"),
    ("sparse_categorical_accuracy", "accuracy"),
    ("categorical_accuracy", "accuracy"),
    ("binary_accuracy", "accuracy"),
)


def readable_metric(name: str) -> str:
    """``"aux_output_root_mean_squared_error"`` -> ``"aux output RMSE"``."""
    for keras_name, short in _METRIC_WORDS:
        name = name.replace(keras_name, short)
    return name.replace("_", " ")


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _history(source) -> dict[str, list[float]]:
    history = getattr(source, "history_", source)
    history = getattr(history, "history", history)  # a keras History object
    if not isinstance(history, Mapping) or not history:
        raise ValueError(
            "Expected a fitted skann estimator, its history_ dict or a Keras History; "
            f"got {type(source).__name__} with no per-epoch history."
        )
    return {k: list(v) for k, v in history.items()}


def plot_learning_curves(
    history,
    *,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Training and validation curves per epoch, one panel per loss/metric (three per row).

    Parameters
    ----------
    history : fitted estimator, dict or keras.callbacks.History
        Anything with per-epoch values: ``est.history_``, the estimator itself, or a Keras
        ``History``. ``val_<name>`` entries are drawn with ``<name>`` in the same panel.
    metrics : list of str, default=None
        Which panels to draw (``"loss"``, ``"accuracy"`` ...); default all.
    title : str, default=None
    path : str or path-like, default=None
        Save the figure as PNG there.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from skann.plot import plot_learning_curves
    >>> fig = plot_learning_curves({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss']
    """
    from matplotlib.lines import Line2D

    values = _history(history)
    names = [k for k in values if not k.startswith("val_") and k != "learning_rate"]
    names += [k[4:] for k in values if k.startswith("val_") and k[4:] not in values]
    # The total loss first, then the main output's panels, then an auxiliary output's.
    names.sort(key=lambda name: (name != "loss", name.startswith("aux"), not name.endswith("loss")))
    if metrics is not None:
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise ValueError(f"No per-epoch values for {unknown}; the history has {names}.")
        names = list(metrics)
    n_cols = min(3, len(names))
    n_rows = -(-len(names) // n_cols)
    fig, axes = _new_figure(None, (4.5 * n_cols, 3.3 * n_rows), n_rows, n_cols)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), names):
        for key, style in ((name, "-"), ("val_" + name, "--")):
            if key in values:
                epochs = np.arange(1, len(values[key]) + 1)
                ax.plot(epochs, values[key], style, color="C0" if style == "-" else "C1",
                        marker="." if len(epochs) < 30 else None)
        ax.set_title(readable_metric(name))
        ax.set_xlabel("epoch")
        _integer_ticks(ax.xaxis)
        ax.grid(True, alpha=0.3)
    key = [Line2D([], [], color="C0", linestyle="-", label="training")]
    if any(k.startswith("val_") for k in values):
        key.append(Line2D([], [], color="C1", linestyle="--", label="validation"))
    axes.ravel()[0].legend(handles=key, fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_confusion_matrix(
    y_true,
    y_pred,
    *,
    class_names: Sequence[str] | None = None,
    normalize: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Confusion matrix with class names (scikit-learn's ``ConfusionMatrixDisplay``).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    class_names : list of str, default=None
        Display names of the sorted class labels (e.g. ``FASHION_CLASS_NAMES``).
    normalize : {"true", "pred", "all"} or None, default=None
        As in :func:`sklearn.metrics.confusion_matrix`.
    title : str, default=None
        Shown with the accuracy.
    ax : matplotlib Axes, default=None
    path : str or path-like, default=None

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = np.unique(np.concatenate([np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()]))
    display = None
    if class_names is not None:
        if np.issubdtype(labels.dtype, np.integer) and labels.min() >= 0 and labels.max() < len(class_names):
            display = [str(class_names[int(i)]) for i in labels]  # names indexed by label
        elif len(class_names) == len(labels):
            display = [str(n) for n in class_names]  # one name per sorted label
        else:
            raise ValueError(f"{len(class_names)} class names for the {len(labels)} labels {labels.tolist()}.")
    fig, axes = _new_figure(ax, (8, 7))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        display_labels=display,
        normalize=normalize,
        ax=axes[0, 0],
        colorbar=False,
        xticks_rotation=45,
        values_format=".2f" if normalize else "d",
    )
    accuracy = float(np.mean(np.asarray(y_true).ravel() == np.asarray(y_pred).ravel()))
    axes[0, 0].set_title(f"{title + ': ' if title else ''}accuracy {accuracy:.4f}")
    return _finish(fig, path)


def plot_image_grid(
    images,
    y_true=None,
    y_pred=None,
    *,
    class_names: Sequence[str] | None = None,
    n_images: int = 30,
    n_cols: int = 10,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """A grid of images titled with their labels; wrong predictions in red, with a key.

    Parameters
    ----------
    images : array-like of shape (n, height, width) or (n, height * width) for square images
    y_true : array-like of shape (n,), default=None
    y_pred : array-like of shape (n,), default=None
        When given, titles read "predicted (true)" and mistakes are red.
    class_names : list of str, default=None
        Names of the integer labels (e.g. ``FASHION_CLASS_NAMES``).
    n_images : int, default=30
        Draw the first ``n_images``.
    n_cols : int, default=10
    title : str, default=None
    path : str or path-like, default=None

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images)
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(
                f"Rows of {images.shape[1]} pixels are not square images; pass (n, height, width)."
            )
        images = images.reshape(len(images), side, side)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"Expected images of shape (n, height, width); got {images.shape}.")
    images = images[:n_images]
    n_cols = min(n_cols, len(images))
    n_rows = -(-len(images) // n_cols)

    def name(label) -> str:
        return str(class_names[int(label)]) if class_names is not None else str(label)

    fig, axes = _new_figure(None, (1.3 * n_cols, 1.5 * n_rows), n_rows, n_cols)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(images):
            continue
        ax.imshow(images[i], cmap="binary", interpolation="nearest")
        if y_pred is not None:
            wrong = y_true is not None and y_pred[i] != y_true[i]
            text = name(y_pred[i]) + (f"\n({name(y_true[i])})" if y_true is not None else "")
            ax.set_title(text, fontsize=7, color="red" if wrong else "black")
        elif y_true is not None:
            ax.set_title(name(y_true[i]), fontsize=7)
    if y_pred is not None and y_true is not None:
        wrong = int(np.sum(np.asarray(y_pred[: len(images)]) != np.asarray(y_true[: len(images)])))
        fig.supxlabel(f"each image: predicted class (true class); red: wrong ({wrong} of {len(images)})", fontsize=9)
    elif y_pred is not None:
        fig.supxlabel("each image: predicted class", fontsize=9)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_predicted_vs_actual(
    y_true,
    y_pred,
    *,
    title: str | None = None,
    unit: str | None = None,
    cap: float | None = None,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Predicted against actual values for a regressor, with the diagonal and the RMSE.

    Uses scikit-learn's ``PredictionErrorDisplay`` (``kind="actual_vs_predicted"``).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    title : str, default=None
    unit : str, default=None
        The target's unit, for the axis labels (e.g. ``"$100,000"`` for California housing).
    cap : float, default=None
        A ceiling the target was clipped at (California housing: 5.0), drawn and noted.
    ax : matplotlib Axes, default=None
    path : str or path-like, default=None

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import PredictionErrorDisplay, root_mean_squared_error

    fig, axes = _new_figure(ax, (5.5, 5))
    PredictionErrorDisplay.from_predictions(
        y_true,
        y_pred,
        kind="actual_vs_predicted",
        subsample=2000,
        random_state=0,
        ax=axes[0, 0],
        scatter_kwargs={"alpha": 0.3, "s": 6},
    )
    rmse = root_mean_squared_error(y_true, y_pred)
    ax = axes[0, 0]
    ax.set_title(f"{title + ': ' if title else ''}RMSE {rmse:.4f}")
    unit_text = f" ({unit})" if unit else ""
    ax.set_xlabel(f"predicted{unit_text}")
    ax.set_ylabel(f"actual{unit_text}")
    # The whole target range, and the predictions but for a few outliers (which would leave
    # most of the square empty).
    actual, predicted = np.ravel(y_true), np.ravel(y_pred)
    low = np.floor(min(actual.min(), np.percentile(predicted, 0.5)))
    high = np.ceil(max(actual.max(), np.percentile(predicted, 99.5)))
    ax.set_aspect("equal", adjustable="box")  # square, with the limits below kept
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    if cap is not None:
        ax.axhline(cap, color="0.4", linewidth=0.8, linestyle=":")
        ax.annotate(f"target capped at {cap:g}", (low, cap), xytext=(4, -12), textcoords="offset points",
                    fontsize=8, color="0.3")
    return _finish(fig, path)


def plot_search_results(
    search, *, score_name: str | None = None, title: str | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """Mean cross-validated score against each searched hyperparameter.

    One panel per hyperparameter that took more than one value; error bars are the standard
    deviation over folds, the best candidate is marked. Numeric ranges spanning more than
    two decades get a log axis; integer ones integer ticks; other values (strings, tuples)
    are placed side by side.

    Parameters
    ----------
    search : fitted GridSearchCV, RandomizedSearchCV, Halving*SearchCV, or its ``cv_results_``
    score_name : str, default=None
        The score's name for the axis; default: the search's ``scoring`` when it is a name,
        else accuracy for a classifier and R² for a regressor.
    title : str, default=None
    path : str or path-like, default=None

    Returns
    -------
    matplotlib.figure.Figure
    """
    results = _cv_results(search, ("params",), "a fitted search (with cv_results_) or its cv_results_ dict")
    if score_name is None:
        score_name = _score_name(search)
    scores = np.asarray(results["mean_test_score"], dtype=float)
    stds = np.asarray(results.get("std_test_score", np.zeros_like(scores)), dtype=float)
    if "iter" in results:  # successive halving: the scores of the last round are comparable
        last = np.asarray(results["iter"]) == np.max(results["iter"])
    elif "n_epochs" in results:  # HyperbandSearchCV: the candidates trained max_epochs
        last = np.asarray(results["n_epochs"]) == np.max(results["n_epochs"])
    else:
        last = np.ones(len(scores), bool)
    params = sorted({k for p in results["params"] for k in p})
    varied = [k for k in params if len({repr(p.get(k)) for p in results["params"]}) > 1] or params
    if not varied:
        raise ValueError("The search has no hyperparameters to plot.")
    best = int(np.nanargmax(np.where(last, scores, -np.inf)))
    n_cols = min(3, len(varied))
    n_rows = -(-len(varied) // n_cols)
    fig, axes = _new_figure(None, (4.5 * n_cols, 3.5 * n_rows), n_rows, n_cols)
    for ax in axes.ravel()[len(varied):]:
        ax.set_visible(False)
    for ax, key in zip(axes.ravel(), varied):
        raw = [p.get(key) for p in results["params"]]
        numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in raw)
        if numeric:
            x = np.asarray(raw, dtype=float)
            positive = x[x > 0]
            if positive.size == x.size and positive.max() / positive.min() > 100:
                ax.set_xscale("log")
            elif all(isinstance(v, (int, np.integer)) for v in raw):
                _integer_ticks(ax.xaxis)
        else:
            labels = sorted({v if isinstance(v, str) else repr(v) for v in raw})
            x = np.array([labels.index(v if isinstance(v, str) else repr(v)) for v in raw], dtype=float)
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.errorbar(x[last], scores[last], yerr=stds[last], fmt="o", alpha=0.7, label="candidates")
        if (~last).any():
            ax.plot(x[~last], scores[~last], "o", color="0.75", label="earlier rounds")
        ax.plot(x[best], scores[best], "*", markersize=14, color="C3", label="best")
        ax.set_xlabel(key.split("__")[-1] if key.count("__") == 1 else key)
        ax.set_ylabel(f"mean CV {score_name}")
        ax.grid(True, alpha=0.3)
    axes.ravel()[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_hyperband(
    search, *, score_name: str | None = None, ax: Axes | None = None, title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """The rungs of a fitted :class:`skann.search.HyperbandSearchCV`: each candidate's mean CV
    score against the epochs it had trained, one line per candidate through the rungs it
    reached, coloured by bracket; candidates dropped at a rung end in a cross, the best is
    starred.

    Parameters
    ----------
    search : fitted HyperbandSearchCV (or its ``cv_results_``)
    score_name : str, default=None
        As for :func:`plot_search_results`.
    ax : matplotlib Axes, default=None
    title : str, default=None
    path : str or path-like, default=None

    Returns
    -------
    matplotlib.figure.Figure
    """
    results = _cv_results(search, ("n_epochs", "candidate"), "a fitted HyperbandSearchCV (or its cv_results_)")
    if score_name is None:
        score_name = _score_name(search)
    fig, axes = _new_figure(ax, (7.0, 4.5))
    ax = axes.ravel()[0]
    candidates = np.asarray(results["candidate"])
    brackets = np.asarray(results["bracket"])
    epochs = np.asarray(results["n_epochs"], dtype=float)
    scores = np.asarray(results["mean_test_score"], dtype=float)
    top = epochs.max()
    for bracket in np.unique(brackets):
        color = f"C{int(bracket) % 10}"
        for c in np.unique(candidates[brackets == bracket]):
            rows = np.flatnonzero(candidates == c)
            ax.plot(epochs[rows], scores[rows], "-o", color=color, alpha=0.6, markersize=3, linewidth=1)
            if epochs[rows[-1]] < top:
                ax.plot(epochs[rows[-1]], scores[rows[-1]], "x", color=color, markersize=6)
        ax.plot([], [], "-o", color=color, label=f"bracket {int(bracket)}")
    full = epochs == top
    if np.isfinite(scores[full]).any():
        best = np.flatnonzero(full)[np.nanargmax(scores[full])]
        ax.plot(epochs[best], scores[best], "*", markersize=15, color="C3", zorder=5, label="best")
    if top / epochs.min() > 4:
        ax.set_xscale("log")
    ticks = np.unique(epochs)
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("epochs trained")
    ax.set_ylabel(f"mean CV {score_name}")
    finite = scores[np.isfinite(scores)]
    if finite.size > 3:  # a few hopeless candidates should not squash the rest
        low = np.percentile(finite, 10)
        ax.set_ylim(low - 0.05 * (finite.max() - low), finite.max() + 0.05 * (finite.max() - low))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Hyperband rungs (x: dropped)")
    return _finish(fig, path)


def _cv_results(search, keys: tuple[str, ...], expected: str) -> Mapping[str, Any]:
    results = getattr(search, "cv_results_", search)
    if not isinstance(results, Mapping) or any(key not in results for key in keys):
        raise ValueError(f"Expected {expected}.")
    return results


def _score_name(search) -> str:
    scoring = getattr(search, "scoring", None)
    if isinstance(scoring, str):
        return readable_metric(scoring.removeprefix("neg_")) + (" (negated)" if scoring.startswith("neg_") else "")
    estimator = getattr(search, "estimator", None)
    if scoring is None and estimator is not None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(estimator):
            return "accuracy"
        if is_regressor(estimator):
            return "R²"
    return "score"


def plot_learning_rate_finder(result, *, ax: Axes | None = None, path: str | os.PathLike | None = None) -> Figure:
    """Loss against learning rate (log scale) from :func:`skann.search.find_learning_rate`.

    Parameters
    ----------
    result : LearningRateFinderResult
    ax : matplotlib Axes, default=None
    path : str or path-like, default=None

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _new_figure(ax, (6, 4))
    ax = axes[0, 0]
    ax.plot(result.learning_rates, result.losses, alpha=0.35, label="loss per batch")
    ax.plot(result.learning_rates, result.smoothed_losses, label="smoothed")
    ax.axvline(
        result.suggested_learning_rate,
        color="k",
        linestyle="--",
        label=f"suggested {result.suggested_learning_rate:.2g}",
    )
    ax.set_xscale("log")
    finite = result.smoothed_losses[np.isfinite(result.smoothed_losses)]
    if finite.size:
        low, start = finite.min(), finite[0]
        ax.set_ylim(low - 0.1 * abs(start - low) - 1e-12, start + 0.5 * abs(start - low) + 1e-12)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _finish(fig, path)
