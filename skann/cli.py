"""The ``skann`` command line: demo, fit, evaluate, predict, search, info.

Exit codes: 0 success, 1 failure (bad file or data, failed training), 2 usage error (unknown
command, option, dataset or parameter). Errors are one line on stderr; ``--debug`` shows the
Python traceback. Progress bars go to stderr, results to stdout.
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from skann import __version__
from skann._text import one_line

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# The names of skann._registry.KINDS and skann.datasets.DATASETS, spelled out so that the
# command line and --help start without importing TensorFlow (a test keeps them equal).
MODEL_KINDS = ("fashion", "housing", "wide-deep", "perceptron")
DATASET_NAMES = ("fashion", "housing")

# Each kind's parameters and the literal types ``-p NAME=VALUE`` may give them, also spelled
# out so that a misspelt name or a value of the wrong type is refused at once, before the
# seconds TensorFlow takes to import (a test keeps them equal to the estimators' parameters).
_INT, _REAL, _BOOL, _STR, _NONE, _TUPLE, _DICT = int, float, bool, str, type(None), tuple, dict
_NETWORK = {
    "activation": (_STR,), "batch_size": (_INT,), "early_stopping": (_BOOL,), "epochs": (_INT,),
    "learning_rate": (_REAL,), "n_hidden": (_INT,), "n_neurons": (_INT, _TUPLE), "optimizer": (_STR,),
    "patience": (_INT,),
}
_COMMON = {
    "log_dir": (_STR, _NONE), "random_state": (_INT, _NONE), "shuffle": (_BOOL,),
    "steps_per_execution": (_INT, _STR), "validation_fraction": (_REAL,), "verbose": (_INT,),
    "warm_start": (_BOOL,),
}
KIND_PARAMS: dict[str, dict[str, tuple[type, ...]]] = {
    "fashion": {**_COMMON, **_NETWORK, "class_weight": (_DICT, _STR, _NONE), "scale_pixels": (_STR, _BOOL)},
    "housing": {**_COMMON, **_NETWORK, "loss": (_STR,), "output_activation": (_STR, _NONE)},
    "wide-deep": {
        **_COMMON, **_NETWORK, "api": (_STR,), "aux_weight": (_REAL,), "deep_features": (_TUPLE,),
        "wide_features": (_TUPLE,),
    },
    "perceptron": {
        **_COMMON, "class_weight": (_DICT, _STR, _NONE), "early_stopping": (_BOOL,), "eta0": (_REAL,),
        "fit_intercept": (_BOOL,), "max_iter": (_INT,), "n_iter_no_change": (_INT,), "tol": (_REAL, _NONE),
    },
}


@dataclass
class Settings:
    quiet: bool = False
    debug: bool = False


def _close_progress_bars() -> bool:
    """Finish progress bars an exception left drawn (see EpochProgress.close_all)."""
    progress = sys.modules.get("skann._progress")  # never imported: no bar was drawn
    return progress is not None and progress.EpochProgress.close_all()


class SkannGroup(click.Group):
    """Turns any unexpected exception into one line on stderr and exit code 1 (unless --debug);
    usage errors are one line too (exit 2), Ctrl-C exits 130."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            try:
                result = super().main(*args, standalone_mode=False, **kwargs)
            except BaseException:
                closed = _close_progress_bars()
                raise
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {one_line(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted." if closed else "\nAborted.", err=True)  # on a line of its own
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BrokenPipeError:
            # The reader of stdout left (`skann info m.skann | head`): stop quietly, as Unix
            # tools do; stdout goes to devnull so that Python's exit flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:
            if isinstance(ctx.obj, Settings) and ctx.obj.debug:
                raise
            raise click.ClickException(f"{one_line(exc)} (run with --debug for the traceback)") from None


def _set_flag(name: str):
    def callback(ctx: click.Context, _param, value: bool):
        if value:
            setattr(ctx.ensure_object(Settings), name, True)

    return callback


def common_options(command):
    """--quiet and --debug after the subcommand too (``skann demo --quiet``)."""
    command = click.option("--debug", is_flag=True, expose_value=False, callback=_set_flag("debug"),
                           help="Show the Python traceback on errors.")(command)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_flag("quiet"),
                        help="No progress bars or notices: results only.")(command)


def _settings() -> Settings:
    return click.get_current_context().ensure_object(Settings)


def note(message: str) -> None:
    """A notice on stderr (hidden by --quiet)."""
    if not _settings().quiet:
        click.echo(message, err=True)


BACKENDS = ("jax", "tensorflow", "torch")


def choose_backend(requested: str | None) -> str | None:
    """Set the Keras backend for this command (``--backend``), before Keras is imported; with
    no ``--backend`` the user's configuration stands (``KERAS_BACKEND``, ``keras.json``, else
    Keras' default, TensorFlow; JAX is the fastest here for ``skann demo``, see
    docs/backends.md). Returns the backend set, or None."""
    import importlib.util

    if requested is None:
        return None
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != requested:
        raise click.UsageError(f"--backend {requested}: Keras is already imported in this process.")
    if importlib.util.find_spec(requested) is None:
        raise click.UsageError(f"--backend {requested}: {requested} is not installed (pip install \"skann[{requested}]\").")
    os.environ["KERAS_BACKEND"] = requested
    return requested


@click.group(cls=SkannGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="skann")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or notices: results only.")
@click.option("--debug", is_flag=True, help="Show the Python traceback on errors.")
@click.option(
    "--backend", type=click.Choice(BACKENDS), default=None,
    help="Keras backend for this command (default: KERAS_BACKEND, else keras.json, else TensorFlow).",
)
@click.pass_context
def main(ctx: click.Context, quiet: bool, debug: bool, backend: str | None) -> None:
    """skann: the chapter's Keras networks as scikit-learn estimators.

    Start with `skann demo`. Every command has --help.
    """
    settings = ctx.ensure_object(Settings)
    settings.quiet |= quiet
    settings.debug |= debug
    choose_backend(backend)


# ---------------------------------------------------------------------- shared pieces
def parse_params(pairs: tuple[str, ...]) -> dict:
    """``name=value`` pairs; values are Python literals (3, 0.01, (300, 100), True, None) or strings."""
    params = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not name=value (e.g. epochs=10).", param_hint="--param")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a plain string such as adam or relu
        params[name.strip()] = value
    return params


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an int", float: "a number", bool: "True or False", str: "a name", type(None): "None",
             tuple: "a tuple such as (300, 100)", dict: "a dict"}
    return " or ".join(names[t] for t in types)


def check_params(kind_name: str, params: dict) -> None:
    """Refuse unknown names (suggesting the nearest) and values of the wrong literal type."""
    import difflib

    known = KIND_PARAMS[kind_name]
    for name, value in params.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise click.UsageError(
                f"{kind_name} has no parameter {name!r}; {hint}its parameters: {', '.join(sorted(known))}."
            )
        types = known[name]
        if not any(_is_literal_of(value, t) for t in types):
            raise click.UsageError(f"{name} must be {_type_names(types)}; got {value!r}.")


def _is_literal_of(value, kind: type) -> bool:
    """Whether ``value`` passes for ``kind``: an int for a number, but no bool for an int."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, kind) or (kind is float and isinstance(value, int))


def build_model(kind_name: str, params: dict):
    from skann._registry import KINDS

    try:
        return KINDS[kind_name].make(params)
    except (ValueError, TypeError) as exc:  # unknown parameter or invalid value
        raise click.UsageError(one_line(exc)) from None


def load_split(dataset: str, sample: bool, offline: bool):
    from skann._registry import load_or_sample

    return load_or_sample(dataset, sample, note, download=not offline)


def progress_callbacks(label: str, epochs: int) -> list:
    from skann._progress import EpochProgress

    return [] if _settings().quiet else [EpochProgress(label, epochs)]


def check_writable(path: Path | None) -> None:
    """Fail before training, not after it, when the output cannot be written."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"Cannot create the folder for {path} ({one_line(exc)}).") from None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.ClickException(f"Cannot write {path}: permission denied.")


def save_model(model, path: Path) -> str:
    """``.joblib``/``.pkl`` → joblib; anything else → skann's pickle-free format."""
    if path.suffix in (".joblib", ".pkl", ".pickle"):
        import joblib

        joblib.dump(model, path)
        return "joblib"
    import skann

    skann.save(model, path)
    return "skann"


def load_model(path: Path, trust_pickle: bool):
    import skann
    from skann.persistence import is_skann_file

    if is_skann_file(path):
        return skann.load(path)
    if not trust_pickle:
        raise click.ClickException(
            f"{path} is not a skann model file (.skann). If it is a joblib/pickle file you "
            "trust, add --trust-pickle: loading a pickle runs code chosen by whoever wrote it."
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:
        raise click.ClickException(f"{path} could not be loaded with joblib ({one_line(exc)}).") from None


def model_dataset(model, given: str | None) -> str:
    from skann._registry import kind_of

    kind = kind_of(model)
    if given is not None:
        if kind is not None and kind.dataset != given:
            raise click.UsageError(f"This {kind.name} model was made for the {kind.dataset} data, not {given}.")
        return given
    if kind is None:
        raise click.UsageError("Cannot tell which dataset this model is for: name it (fashion or housing).")
    return kind.dataset


def print_table(rows: list[list[str]], header: list[str], indent: str = "") -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        click.echo(indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


model_file = click.argument("model_file", metavar="FILE",
                            type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
trust_option = click.option("--trust-pickle", is_flag=True,
                            help="Allow loading joblib/pickle files (runs code from the file: trusted files only).")


def data_options(command):
    """--sample and --offline: which data a command trains or scores on."""
    command = click.option("--offline", is_flag=True,
                           help="Never download: use the bundled sample when the full data is not found.")(command)
    return click.option("--sample", is_flag=True,
                        help="Use the bundled data even when the full data is found.")(command)


# ---------------------------------------------------------------------- demo
@main.command()
@click.option("--quick", is_flag=True, help="Fewer epochs: a few minutes on 2 cores.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("skann-demo"), show_default=True, help="Folder for plots, models and results.")
@data_options
@common_options
def demo(quick: bool, out_dir: Path, sample: bool, offline: bool) -> None:
    """Train the chapter's four networks and compare them with the book.

    Uses the full Fashion-MNIST when found (SKANN_DATA, Keras cache, or download) and
    otherwise the bundled sample, saying so. Writes learning curves, a confusion matrix,
    predictions and the fitted models (pickle-free .skann files) into --out.
    """
    from skann.demo import run_demo

    rows = run_demo(out_dir, quick=quick, sample=sample, download=not offline, note=note,
                    callbacks=progress_callbacks)
    click.echo()
    print_table([[r["model"], r["data"], r["setting"], r["result"], r["book"]] for r in rows],
                ["model", "data", "setting", "test result", "book"])
    click.echo(f"\nPlots, models and results in {out_dir}/")


# ---------------------------------------------------------------------- fit
@main.command()
@click.argument("kind", type=click.Choice(MODEL_KINDS))
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Estimator parameter, repeatable: -p epochs=10 -p n_neurons=(300,100).")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Model file: .skann (pickle-free) or .joblib.")
@click.option("--log-dir", type=click.Path(file_okay=False), help="Write TensorBoard logs under this folder.")
@data_options
@common_options
def fit(kind: str, params: tuple[str, ...], out_file: Path, log_dir: str | None, sample: bool, offline: bool) -> None:
    """Train a KIND model on its dataset's training split and save it.

    The model validates on the book's validation split; the test score is printed.
    """
    settings = parse_params(params)
    if log_dir is not None:
        settings["log_dir"] = log_dir
    check_params(kind, settings)  # before TensorFlow loads (with the registry)

    from skann._registry import KINDS, fit_on_split, headline, score_metrics
    from skann._steps import max_epochs

    model = build_model(kind, settings)
    check_writable(out_file)
    split = load_split(KINDS[kind].dataset, sample, offline)
    fit_on_split(model, split, progress_callbacks(f"{kind} ({split.source})", max_epochs(model)))
    metrics = score_metrics(model, split.X_test, split.y_test)
    fmt = save_model(model, out_file)
    click.echo(f"{kind}: test {headline(metrics)} on {split.source}; saved to {out_file} ({fmt})")


# ---------------------------------------------------------------------- evaluate
@main.command()
@model_file
@click.argument("dataset", type=click.Choice(DATASET_NAMES), required=False)
@data_options
@trust_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@common_options
def evaluate(model_file: Path, dataset: str | None, sample: bool, offline: bool, trust_pickle: bool, as_json: bool) -> None:
    """Score a saved model on the test split of DATASET (default: the model's own)."""
    from skann._registry import score_metrics

    model = load_model(model_file, trust_pickle)
    split = load_split(model_dataset(model, dataset), sample, offline)
    metrics = score_metrics(model, split.X_test, split.y_test)
    if as_json:
        click.echo(json.dumps({"data": split.source, "n_test": len(split.y_test), **metrics}))
        return
    click.echo(f"{model_file.name} on the {split.source} test set ({len(split.y_test)} samples):")
    for name, value in metrics.items():
        click.echo(f"  {name:<9} {value:.4f}")


# ---------------------------------------------------------------------- predict
def _read_images(paths: list[Path], shape: tuple[int, ...], invert: bool = False) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise click.ClickException('Reading images needs Pillow: pip install "skann[plot]".') from None
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:  # reads the header only: the size is checked first
                width, height = image.size
                if (height, width) != tuple(shape):
                    raise click.ClickException(
                        f"{path} is {width}x{height} pixels; this model takes "
                        f"{shape[1]}x{shape[0]} grayscale images (resize it first)."
                    )
                gray = np.asarray(image.convert("L"))
        except click.ClickException:
            raise
        except Exception as exc:
            raise click.ClickException(f"{path} is not a readable image ({one_line(exc)}).") from None
        if invert:
            gray = 255 - gray
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        if border.mean() > 127:
            note(
                f"Warning: {path.name} has a light border; Fashion-MNIST images are light garments on "
                "a black background, so a dark garment on a light background is misread"
                + (" (it was inverted by --invert: drop it?)." if invert else ": add --invert.")
            )
        images.append(gray)
    return np.stack(images)


def _expected_columns(model, dataset: str | None) -> list[str] | None:
    from skann._steps import final_estimator
    from skann.datasets import CALIFORNIA_FEATURE_NAMES

    names = getattr(final_estimator(model), "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if dataset == "housing":
        return list(CALIFORNIA_FEATURE_NAMES)
    if dataset == "fashion":
        return [f"pixel{i}" for i in range(1, 785)]  # the common CSV export of Fashion-MNIST
    return None


def _read_csv(path: Path, expected: list[str] | None, n_features: int | None) -> np.ndarray:
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"{path} could not be read as CSV ({one_line(exc)}).") from None
    if not rows:
        raise click.ClickException(f"{path} holds no rows.")

    def number(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return False

    # A header is a first row without a single number (a data row may have an empty cell).
    header = None if any(number(c) for c in rows[0][1]) else [c.strip() for c in rows[0][1]]
    numbered = rows[1:] if header is not None else rows
    if not numbered:
        raise click.ClickException(f"{path} holds no data rows.")
    width = len(rows[0][1])
    for line, row in numbered:
        if len(row) != width:
            raise click.ClickException(
                f"{path}, line {line}: {len(row)} cells, but the {'header' if header else 'first row'} "
                f"has {width}. Every row needs one cell per column."
            )
        for column, cell in enumerate(row):
            if not number(cell):
                name = f" ({header[column]})" if header else ""
                where = f"{path}, line {line}, column {column + 1}{name}"
                if not cell.strip():
                    raise click.ClickException(
                        f"{where} is empty; every cell needs a number (fill in or drop missing values first)."
                    )
                raise click.ClickException(f"{where}: {cell!r} is not a number.")
    body = [row for _, row in numbered]
    if header is not None and expected is not None:
        missing = [name for name in expected if name not in header]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise click.ClickException(
                f"{path} lacks the column(s) {shown}; the model takes {len(expected)} columns "
                f"({', '.join(expected[:8])}{' ...' if len(expected) > 8 else ''})."
            )
        order = [header.index(name) for name in expected]
        body = [[row[i] for i in order] for row in body]
    elif n_features is not None and body and len(body[0]) != n_features:
        raise click.ClickException(
            f"{path} has {len(body[0])} columns; the model takes {n_features}"
            + (f" ({', '.join(expected[:8])}{' ...' if len(expected) > 8 else ''})." if expected else ".")
        )
    return np.array(body, dtype=float)


def _checked_rows(path: Path, X: np.ndarray, n_features: int | None) -> np.ndarray:
    """The array of a .npy file, if it holds rows of numbers; else an error saying what it holds."""
    shape = f"(n_samples, {n_features})" if n_features else "(n_samples, n_features)"
    if X.dtype.names:
        raise click.ClickException(
            f"{path} holds a structured array (fields {', '.join(X.dtype.names[:8])}); save the features as one "
            f"plain numeric array of shape {shape} (numpy.lib.recfunctions.structured_to_unstructured)."
        )
    if X.dtype.kind not in "biuf":
        what = {"c": "complex numbers", "U": "text", "S": "bytes", "M": "dates", "m": "time spans"}.get(X.dtype.kind, str(X.dtype))
        raise click.ClickException(f"{path} holds {what} ({X.dtype}); the model takes numbers, shape {shape}.")
    if X.ndim == 0:
        raise click.ClickException(f"{path} holds a single number (a 0-d array); the model takes rows of features, shape {shape}.")
    if X.ndim == 1:
        raise click.ClickException(
            f"{path} holds a 1-d array of {len(X)} values; the model takes rows of features, shape {shape} "
            "(for one sample, save x.reshape(1, -1))."
        )
    return X


def is_images(inputs: list[Path]) -> bool:
    return {p.suffix.lower() for p in inputs} <= IMAGE_SUFFIXES


def read_inputs(model, dataset: str | None, inputs: list[Path], invert: bool = False) -> np.ndarray:
    from skann._steps import final_estimator

    est = final_estimator(model)
    if is_images(inputs):
        shape = getattr(est, "sample_shape_", None) or (28, 28)
        if dataset != "fashion":
            raise click.ClickException("Image input is for Fashion-MNIST models; give this model a .csv or .npy file.")
        return _read_images(inputs, tuple(shape), invert)
    if invert:
        raise click.UsageError("--invert is for image input.")
    if len(inputs) > 1:
        raise click.UsageError("Give one .npy or .csv file, or one or more image files.")
    path = inputs[0]
    if path.suffix.lower() == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise click.ClickException(f"{path} is not a readable .npy array ({one_line(exc)}).") from None
        return _checked_rows(path, X, getattr(est, "n_features_in_", None))
    if path.suffix.lower() == ".csv":
        return _read_csv(path, _expected_columns(model, dataset), getattr(est, "n_features_in_", None))
    raise click.UsageError(f"{path}: unknown input type {path.suffix!r}; use .npy, .csv or image files.")


@main.command()
@model_file
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--proba", is_flag=True, help="Print class probabilities (classifiers with predict_proba).")
@click.option("--invert", is_flag=True, help="Invert images first (for dark garments on a light background).")
@trust_option
@common_options
def predict(model_file: Path, inputs: tuple[Path, ...], proba: bool, invert: bool, trust_pickle: bool) -> None:
    """Predict for the rows of a .npy or .csv file, or for image files (Fashion models).

    Prints CSV to stdout: one row per sample (with a file column for images). Fashion
    predictions carry the class name.
    """
    from skann._registry import kind_of
    from skann._steps import final_estimator
    from skann.datasets import FASHION_CLASS_NAMES

    model = load_model(model_file, trust_pickle)
    kind = kind_of(model)
    dataset = kind.dataset if kind else None
    X = read_inputs(model, dataset, list(inputs), invert)
    images = is_images(list(inputs))
    files = [[p.name] for p in inputs] if images else [[] for _ in range(len(X))]
    file_column = ["file"] if images else []
    names = FASHION_CLASS_NAMES if dataset == "fashion" else None
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if proba:
        if not hasattr(model, "predict_proba"):
            raise click.UsageError(
                f"{type(final_estimator(model)).__name__} gives no probabilities (it scores, it does not "
                "estimate probabilities); drop --proba."
            )
        probabilities = model.predict_proba(X)
        classes = model.classes_
        writer.writerow(file_column + [names[int(c)] if names else str(c) for c in classes])
        writer.writerows([f + [f"{p:.6f}" for p in row] for f, row in zip(files, probabilities)])
        return
    predictions = model.predict(X)
    if names is not None:
        writer.writerow(file_column + ["prediction", "class_name"])
        writer.writerows([f + [int(p), names[int(p)]] for f, p in zip(files, predictions)])
    else:
        writer.writerow(["prediction"])
        writer.writerows([[f"{float(p):.6f}"] if np.ndim(p) == 0 else list(p) for p in predictions])


# ---------------------------------------------------------------------- search
@main.command()
@click.argument("dataset", type=click.Choice(DATASET_NAMES))
@click.option("--model", "kind", type=click.Choice(MODEL_KINDS), help="Model to tune (default: the dataset's MLP).")
@click.option("--n-iter", type=click.IntRange(1), default=10, show_default=True, help="Candidates (random search).")
@click.option("--cv", type=click.IntRange(2), default=3, show_default=True, help="Cross-validation folds.")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True,
              help="Epochs per fit (with --hyperband or --halving: the most any candidate gets).")
@click.option("--n-jobs", type=int, default=1, show_default=True, help="Parallel fits (-1: all cores).")
@click.option("--hyperband", is_flag=True,
              help="Hyperband over epochs (survivors continue training) instead of random search.")
@click.option("--halving", is_flag=True, help="One bracket of successive halving over epochs (as --hyperband).")
@click.option("--sampler", type=click.Choice(["random", "tpe"]), default="random", show_default=True,
              help="How --hyperband/--halving draw candidates (tpe needs skann[optuna]).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the --hyperband/--halving search's progress in DIR; run again to resume it.")
@click.option("--dask", "use_dask", is_flag=True, help="Run the fits on a local Dask cluster (--n-jobs workers).")
@click.option("--scheduler", metavar="ADDRESS", help="Run the fits on this Dask scheduler (tcp://host:8786).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the best model here.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Save a PNG of score against each hyperparameter (the rungs with --hyperband/--halving).")
@click.option("--random-state", type=int, default=42, show_default=True)
@data_options
@common_options
def search(dataset, kind, n_iter, cv, epochs, n_jobs, hyperband, halving, sampler, resume_dir, use_dask, scheduler,
           out_file, plot_file, random_state, sample, offline) -> None:
    """Tune a model on DATASET's training split with the book's search space.

    Random search, Hyperband over epochs (--hyperband: many candidates for a few epochs, the
    best continue training), or one bracket of it (--halving), with cross-validation; prints
    the best candidates and the best model's test score.
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import RandomizedSearchCV

    from skann._progress import count_fits
    from skann._registry import KINDS, headline, score_metrics
    from skann._steps import epochs_parameter, final_estimator
    from skann.search import HyperbandSearchCV, format_params, search_space

    if use_dask and scheduler:
        raise click.UsageError("Use --dask or --scheduler ADDRESS, not both.")
    if hyperband and halving:
        raise click.UsageError("Use --hyperband or --halving, not both.")
    epoch_search = hyperband or halving
    if not epoch_search and (resume_dir is not None or sampler != "random"):
        raise click.UsageError("--sampler and --resume go with --hyperband or --halving.")
    kind = kind or ("fashion" if dataset == "fashion" else "housing")
    if KINDS[kind].dataset != dataset:
        raise click.UsageError(f"--model {kind} is for the {KINDS[kind].dataset} data, not {dataset}.")
    model = build_model(kind, {})
    check_writable(out_file)
    check_writable(plot_file)
    resource = epochs_parameter(model)
    model.set_params(**{resource: epochs})
    split = load_split(dataset, sample, offline)
    if epoch_search:
        # --halving: the most exploratory bracket alone, three rungs (max_epochs / 9, / 3, max_epochs).
        searcher = HyperbandSearchCV(
            model, search_space(model), max_epochs=epochs, min_epochs=max(1, epochs // 9) if halving else 1,
            n_brackets=1 if halving else None, sampler=sampler, cv=cv, n_jobs=n_jobs, random_state=random_state,
            checkpoint_dir=resume_dir, verbose=0 if _settings().quiet else 1,
        )
        if use_dask or scheduler:
            _search_on_dask(searcher, split, scheduler, n_jobs)
        else:
            searcher.fit(split.X_train, split.y_train)
    else:
        searcher = RandomizedSearchCV(model, search_space(model), n_iter=n_iter, cv=cv, n_jobs=n_jobs,
                                      random_state=random_state)
        with count_fits("fits", n_iter * cv + 1, enabled=not _settings().quiet) as counter:
            if counter is not None:
                final_estimator(model).set_params(callbacks=[counter])  # cloned into every fit
            if use_dask or scheduler:
                _search_on_dask(searcher, split, scheduler, n_jobs)
            else:
                searcher.fit(split.X_train, split.y_train)
    best = searcher.best_estimator_
    final_estimator(best).set_params(callbacks=None)
    results = searcher.cv_results_
    score_name = "accuracy" if is_classifier(best) else "R²"
    if epoch_search:  # cv_results_ holds a row per candidate and rung: rank those trained fully
        full = np.flatnonzero(np.asarray(results["n_epochs"]) == epochs)
        order = full[np.argsort(results["rank_test_score"][full])][:5]
        click.echo(f"{searcher.n_candidates_} candidates in {len(searcher.brackets_)} bracket(s) "
                   f"({len(results['params'])} rung results, {searcher.total_epochs_} epochs trained), "
                   f"{cv}-fold CV on {split.source}; the best trained {epochs} epochs:")
    else:
        order = np.argsort(results["rank_test_score"])[:5]
        click.echo(f"{len(results['params'])} candidates, {cv}-fold CV on {split.source}:")
    print_table(
        [[str(results["rank_test_score"][i]), f"{results['mean_test_score'][i]:.4f}",
          format_params({k.split("__")[-1]: v for k, v in results["params"][i].items()})]
         for i in order],
        ["rank", f"CV {score_name}", "parameters"],
    )
    metrics = score_metrics(best, split.X_test, split.y_test)
    click.echo(f"best model: test {headline(metrics)}")
    if out_file is not None:
        fmt = save_model(best, out_file)
        click.echo(f"saved to {out_file} ({fmt})")
    if plot_file is not None:
        from skann.plot import plot_hyperband, plot_search_results

        plot = plot_hyperband if epoch_search else plot_search_results
        plot(searcher, title=f"{kind} search on {split.source}", path=plot_file)
        click.echo(f"plot written to {plot_file}")


def _search_on_dask(searcher, split, scheduler: str | None, n_jobs: int) -> None:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise click.ClickException('Dask is not installed: pip install "skann[dask]".') from None
    from skann.search import HyperbandSearchCV, fit_with_dask

    def fit(client):
        if isinstance(searcher, HyperbandSearchCV):  # reruns only a lost worker's wave itself
            import joblib

            with joblib.parallel_config(backend="dask", client=client):
                searcher.fit(split.X_train, split.y_train)
        else:
            fit_with_dask(searcher, split.X_train, split.y_train, client=client)

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise click.ClickException(f"Cannot reach the Dask scheduler at {scheduler} ({one_line(exc)}).") from None
        with client:
            fit(client)
        return
    workers = max(1, n_jobs if n_jobs > 0 else 2)
    import tempfile

    import dask

    with tempfile.TemporaryDirectory(prefix="skann-dask-") as scratch, dask.config.set(
        {"temporary-directory": scratch}  # Dask's own files go with the folder
    ), LocalCluster(
        n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR,
        local_directory=scratch,  # the workers' files go with the folder, not into /tmp for good
    ) as cluster, Client(cluster) as client:
        fit(client)


# ---------------------------------------------------------------------- export
@main.command()
@model_file
@click.argument("onnx_file", metavar="OUT.onnx", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rows", "rows_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A few input rows, which fix the graph's inputs (needed for a pipeline): a CSV "
                   "with a header (one input per column) or a .npy array (one input, e.g. images).")
@trust_option
@common_options
def export(model_file: Path, onnx_file: Path, rows_file: Path | None, trust_pickle: bool) -> None:
    """Write a saved model, or a whole pipeline ending in one, as one ONNX graph.

    onnxruntime then serves it without skann, Keras or TensorFlow (needs the onnx extra:
    pip install "skann[onnx]").
    """
    import skann
    from skann._atomic import write_bytes_atomically

    model = load_model(model_file, trust_pickle)
    check_writable(onnx_file)
    rows = None
    if rows_file is not None and rows_file.suffix == ".npy":
        try:
            rows = np.load(rows_file, allow_pickle=False)
        except ValueError as exc:
            raise click.ClickException(f"{rows_file} is not a NumPy array file ({one_line(exc)}).") from None
    elif rows_file is not None:
        import pandas as pd

        rows = pd.read_csv(rows_file)
    try:
        graph = skann.to_onnx(model, rows)
    except (ImportError, ValueError) as exc:
        raise click.ClickException(one_line(exc)) from None
    write_bytes_atomically(onnx_file, graph.SerializeToString())
    described = lambda values: ", ".join(v.name for v in values)  # noqa: E731
    click.echo(f"wrote {onnx_file}: inputs {described(graph.graph.input)}; outputs {described(graph.graph.output)}")


# ---------------------------------------------------------------------- info
@main.command()
@model_file
@trust_option
@common_options
def info(model_file: Path, trust_pickle: bool) -> None:
    """Describe a saved model: class, versions, parameters, training, network."""
    from sklearn.pipeline import Pipeline

    from skann._registry import plural
    from skann._steps import final_estimator
    from skann.persistence import is_skann_file, read_metadata

    model = load_model(model_file, trust_pickle)
    est = final_estimator(model)
    click.echo(f"file:        {model_file} ({model_file.stat().st_size / 1e6:.2f} MB)")
    if is_skann_file(model_file):
        meta = read_metadata(model_file)
        versions = ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())
        click.echo(f"format:      skann pickle-free v{meta.get('format_version')} ({versions})")
    else:
        click.echo("format:      joblib (pickle)")
    if isinstance(model, Pipeline):
        click.echo("pipeline:    " + " -> ".join(type(step).__name__ for _, step in model.steps))
    click.echo(f"estimator:   {type(est).__name__}")
    defaults = type(est)().get_params(deep=False)
    changed = {k: v for k, v in est.get_params(deep=False).items() if defaults.get(k, object()) != v}
    click.echo("parameters:  " + (", ".join(f"{k}={v!r}" for k, v in sorted(changed.items())) or "defaults"))
    if not hasattr(est, "model_"):
        click.echo("fitted:      no")
        return
    click.echo(f"fitted:      {plural(est.n_iter_, 'epoch')} on {est.n_features_in_} features"
               + (f", classes {np.asarray(est.classes_).tolist()}" if hasattr(est, "classes_") else ""))
    last = {k: v[-1] for k, v in est.history_.items() if v}
    click.echo("last epoch:  " + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "learning_rate"))
    network = est.model_
    click.echo(f"network:     {network.name}, {network.count_params():,} weights")
    rows = []
    for layer in network.layers:
        shape = getattr(getattr(layer, "output", None), "shape", None)
        rows.append([layer.name, type(layer).__name__, "" if shape is None else str(tuple(shape)), f"{layer.count_params():,}"])
    print_table(rows, ["layer", "type", "output shape", "weights"], indent="  ")


if __name__ == "__main__":  # pragma: no cover
    main()
