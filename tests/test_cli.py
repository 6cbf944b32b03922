"""The ``skann`` command line: real fits on the bundled data, real files, real exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import skann
from skann.cli import main
from skann.datasets import CALIFORNIA_FEATURE_NAMES, FASHION_CLASS_NAMES, load_book_split

from .conftest import BACKEND, REPO, backend_independent
from .test_plot import assert_png

COMMANDS = ["demo", "fit", "evaluate", "predict", "search", "info"]


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


def skann_process(*args, env=None, timeout=600):
    """The installed console script in a fresh process."""
    return subprocess.run(["skann", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(command):
    result = run(*([command] if command else []), "--help")
    assert "Usage: " in result.output and "--help" in result.output
    if command not in (None, "info"):
        assert "--quiet" in result.output


def test_the_cli_names_match_the_registry():
    from skann._registry import KINDS
    from skann.cli import DATASET_NAMES, MODEL_KINDS
    from skann.datasets import DATASETS

    assert sorted(MODEL_KINDS) == sorted(KINDS) and sorted(DATASET_NAMES) == sorted(DATASETS)


@pytest.fixture(scope="module")
def housing_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "housing.skann"
    result = run("--quiet", "fit", "housing", "-p", "epochs=2", "-p", "n_neurons=16", "--out", path, "--sample")
    assert result.stderr == ""  # --quiet: no progress bar, no notices
    return path, result.output


def test_fit_evaluate_info(housing_model):
    path, fit_output = housing_model
    model = skann.load(path)
    assert model.n_iter_ == 2 and model.n_neurons == 16
    split = load_book_split("housing", sample=True)
    rmse = float(np.sqrt(np.mean((model.predict(split.X_test) - split.y_test) ** 2)))
    assert f"test RMSE {rmse:.4f}" in fit_output

    scores = json.loads(run("evaluate", path, "--sample", "--json").output)
    assert scores["rmse"] == pytest.approx(rmse, rel=1e-6) and scores["n_test"] == 5160
    assert run("evaluate", path, "housing", "--sample").output.count("rmse") == 1

    info = run("info", path).output
    for text in ("HousingMLPRegressor", "epochs=2, n_neurons=16", "fitted:      2 epochs on 8 features",
                 "hidden3", f"skann pickle-free v{skann.persistence.FORMAT_VERSION}", "keras 3."):
        assert text in info, info


def test_predict_npy_and_csv_columns_by_name(housing_model, tmp_path):
    path, _ = housing_model
    model = skann.load(path)
    X = load_book_split("housing", sample=True).X_test[:5]
    expected = model.predict(X)
    np.save(tmp_path / "x.npy", X)
    # Columns in another order plus the target column: taken by name.
    names = list(CALIFORNIA_FEATURE_NAMES)[::-1] + ["MedHouseVal"]
    with open(tmp_path / "x.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows([list(row[::-1]) + [1.0] for row in X])
    for source in ("x.npy", "x.csv"):
        rows = list(csv.reader(io.StringIO(run("predict", path, tmp_path / source).output)))
        assert rows[0] == ["prediction"]
        np.testing.assert_allclose([float(r[0]) for r in rows[1:]], expected, rtol=1e-5)
    # No header: the number of columns must match.
    np.savetxt(tmp_path / "plain.csv", X[:, :5], delimiter=",")
    result = run("predict", path, tmp_path / "plain.csv", ok=False)
    assert result.exit_code == 1 and "has 5 columns; the model takes 8" in result.stderr
    with open(tmp_path / "wrong.csv", "w") as handle:
        handle.write("MedInc,HouseAge\n1,2\n")
    result = run("predict", path, tmp_path / "wrong.csv", ok=False)
    assert result.exit_code == 1 and "lacks the column(s) AveRooms" in result.stderr
    # Ragged rows (was a bare IndexError), an empty cell without a header (was "lacks the
    # column(s)"), text in a cell: the line and the column.
    header = ",".join(CALIFORNIA_FEATURE_NAMES)
    broken = {
        "ragged.csv": (header + "\n1,2,3,4,5,6,7,8\n1,2,3\n", "ragged.csv, line 3: 3 cells, but the header has 8"),
        "empty.csv": ("1,2,3,4,5,6,7,8\n1,,3,4,5,6,7,8\n", "empty.csv, line 2, column 2 is empty; every cell needs a number"),
        "blank.csv": (header + "\n1,2,3,4,5,6,7, \n", "blank.csv, line 2, column 8 (Longitude) is empty"),
        "text.csv": (header + "\n1,2,x,4,5,6,7,8\n", "text.csv, line 2, column 3 (AveRooms): 'x' is not a number"),
    }
    for name, (content, message) in broken.items():
        (tmp_path / name).write_text(content)
        result = run("predict", path, tmp_path / name, ok=False)
        assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    # .npy files that hold no rows of numbers (a 0-d array was "len() of unsized object", a
    # structured one NumPy's cast error): what the file holds and what the model takes.
    takes = "shape (n_samples, 8)"
    arrays = {
        "scalar.npy": (np.array(3.0), "holds a single number (a 0-d array); the model takes rows of features, " + takes),
        "vector.npy": (np.zeros(8), "holds a 1-d array of 8 values; the model takes rows of features, " + takes),
        "record.npy": (np.zeros(3, dtype=[("a", "<f8"), ("b", "<f8")]), "holds a structured array (fields a, b)"),
        "complex.npy": (np.zeros((2, 8), dtype=complex), "holds complex numbers (complex128); the model takes numbers"),
        "text.npy": (np.array([["1"] * 8]), "holds text (<U1); the model takes numbers"),
    }
    for name, (array, message) in arrays.items():
        np.save(tmp_path / name, array)
        result = run("predict", path, tmp_path / name, ok=False)
        assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_info_on_a_trusted_joblib_file(tmp_path):
    """A joblib file holding a network contains a zip (the network's), which once made `info`
    read it as a .skann file."""
    path = tmp_path / "housing.joblib"
    run("--quiet", "fit", "housing", "-p", "epochs=1", "--out", path, "--sample")
    result = run("info", path, "--trust-pickle")
    assert "format:      joblib (pickle)" in result.output and "HousingMLPRegressor" in result.output
    assert run("info", path, ok=False).exit_code == 1  # and without --trust-pickle: refused


def test_ctrl_c_in_a_terminal_restores_the_cursor_and_exits_130(tmp_path):
    """A real SIGINT to `skann fit` on a pseudo-terminal, during the progress bar: the bar's
    line ends, the cursor (hidden while the bar is drawn) shows again, "Aborted." stands on a
    line of its own, exit code 130, no file written."""
    import pty
    import select
    import signal
    import time

    out = tmp_path / "m.skann"
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(["skann", "fit", "fashion", "-p", "epochs=200", "-p", "early_stopping=False", "--sample",
                             "--out", str(out)], stdin=secondary, stdout=secondary, stderr=secondary, cwd=tmp_path)
    os.close(secondary)
    output = b""

    def read(seconds: float) -> None:
        nonlocal output
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([primary], [], [], 0.2)[0]:
                try:
                    output += os.read(primary, 65536)
                except OSError:  # the child closed the terminal
                    return

    try:
        deadline = time.monotonic() + 120
        while b"\x1b[?25l" not in output and time.monotonic() < deadline:
            read(0.5)
        assert b"\x1b[?25l" in output, output[-2000:]  # the bar is drawn, the cursor hidden
        read(1.0)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        read(1.0)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    assert proc.returncode == 130, output[-2000:]
    tail = output[output.rindex(b"\x1b[?25l"):]
    assert b"\x1b[?25h" in tail, tail  # shown again
    assert tail.replace(b"\r\n", b"\n").endswith(b"\nAborted.\n"), tail[-300:]
    assert b"Aborted!" not in output and not out.exists()


def test_fashion_images_and_probabilities(tmp_path):
    model_path = tmp_path / "fashion.skann"
    run("-q", "fit", "fashion", "-p", "epochs=1", "-p", "n_neurons=(32, 16)", "--out", model_path, "--sample")
    model = skann.load(model_path)
    split = load_book_split("fashion", sample=True)
    images = []
    for i in range(4):
        images.append(tmp_path / f"item{i}.png")
        Image.fromarray(split.X_test[i]).save(images[-1])
    result = run("predict", model_path, *images)
    rows = list(csv.reader(io.StringIO(result.output)))
    expected = model.predict(split.X_test[:4])
    assert rows[0] == ["file", "prediction", "class_name"]
    assert [(r[0], int(r[1]), r[2]) for r in rows[1:]] == [
        (f"item{i}.png", int(p), FASHION_CLASS_NAMES[p]) for i, p in enumerate(expected)
    ]
    assert "light border" not in result.stderr

    rows = list(csv.reader(io.StringIO(run("predict", model_path, images[0], "--proba").output)))
    assert rows[0] == ["file", *FASHION_CLASS_NAMES]
    np.testing.assert_allclose([float(v) for v in rows[1][1:]], model.predict_proba(split.X_test[:1])[0], atol=1e-6)

    # A dark garment on a light background: warned about, and --invert reads it as Fashion-MNIST does.
    Image.fromarray(255 - split.X_test[0]).save(tmp_path / "inverted.png")
    result = run("predict", model_path, tmp_path / "inverted.png")
    assert "inverted.png has a light border" in result.stderr and "add --invert" in result.stderr
    rows = list(csv.reader(io.StringIO(run("predict", model_path, tmp_path / "inverted.png", "--invert").output)))
    assert int(rows[1][1]) == expected[0]

    Image.fromarray(split.X_test[0]).resize((32, 32)).save(tmp_path / "big.png")
    result = run("predict", model_path, tmp_path / "big.png", ok=False)
    assert result.exit_code == 1 and "is 32x32 pixels; this model takes 28x28" in result.stderr
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = run("predict", model_path, tmp_path / "broken.png", ok=False)
    assert result.exit_code == 1 and "is not a readable image" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "mnist", "--out", "m.skann"], "'mnist' is not one of"),
        (["fit", "housing", "-p", "epochz=3", "--out", "m.skann"], "no parameter 'epochz'; did you mean 'epochs'?"),
        (["fit", "housing", "-p", "epochs=ten", "--out", "m.skann"], "epochs must be an int; got 'ten'"),
        (["fit", "housing", "-p", "epochs=0", "--out", "m.skann"], "'epochs' parameter"),
        (["fit", "housing", "-p", "activation=foo", "--out", "m.skann"], "'foo' is not a Keras activation"),
        (["fit", "housing", "-p", "n_neurons=(300, 100)", "--out", "m.skann"], "but n_hidden=3"),
        (["fit", "housing", "-p", "optimizer=adamm", "--out", "m.skann"], "Could not interpret optimizer 'adamm'"),
        (["fit", "housing", "-p", "epochs", "--out", "m.skann"], "is not name=value"),
        (["fit", "housing"], "Missing option '--out'"),
        (["evaluate", "no-such-file.skann"], "does not exist"),
        (["search", "housing", "--dask", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["search", "fashion", "--model", "housing"], "is for the housing data"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args, ok=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--help" in result.stderr  # one line, with where to look
    assert not list(tmp_path.iterdir())  # nothing written


def test_parameter_names_and_types_are_checked_before_tensorflow_loads(tmp_path):
    # The console script, with Python listing every module it imports on stderr.
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    for param, message in (("n_neuron=10", "housing has no parameter 'n_neuron'; did you mean 'n_neurons'?"),
                           ("epochs=ten", "epochs must be an int; got 'ten'")):
        result = skann_process("fit", "housing", "-p", param, "--out", tmp_path / "m.skann", env=env)
        assert result.returncode == 2
        errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
        assert len(errors) == 1 and errors[0].startswith(f"Error: {message}"), errors
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
        assert "click" in imported and "tensorflow" not in imported and "keras" not in imported


def test_import_skann_is_light_and_the_first_estimator_imports_the_backend_quietly():
    # In a fresh process: `import skann` imports no Keras (the command line starts at once,
    # whatever the program is called), and the first estimator brings in the backend without
    # TensorFlow's start-up notices on stderr.
    code = (
        "import sys, skann; assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "from skann import KerasClassifier; import keras; print(keras.backend.backend())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == BACKEND, result.stderr
    assert result.stderr == "", result.stderr


def test_the_cli_parameter_table_matches_the_estimators():
    from skann._registry import KINDS
    from skann._steps import final_estimator
    from skann.cli import KIND_PARAMS

    for name, kind in KINDS.items():
        est = final_estimator(kind.make())
        params = est.get_params(deep=False)
        assert set(KIND_PARAMS[name]) == set(params) - {"callbacks"}, name
        for param, types in KIND_PARAMS[name].items():  # the defaults are of the declared types
            assert isinstance(params[param], types) or (float in types and isinstance(params[param], int)), (name, param)


def test_wrong_dataset_and_unknown_input_type(housing_model, tmp_path):
    path, _ = housing_model
    result = run("evaluate", path, "fashion", "--sample", ok=False)
    assert result.exit_code == 2 and "made for the housing data" in result.stderr
    (tmp_path / "x.txt").write_text("1,2\n")
    result = run("predict", path, tmp_path / "x.txt", ok=False)
    assert result.exit_code == 2 and "unknown input type '.txt'" in result.stderr


def test_pickles_need_trust(tmp_path):
    model = skann.HousingMLPRegressor()
    joblib.dump(model, tmp_path / "m.joblib")
    result = run("info", tmp_path / "m.joblib", ok=False)
    assert result.exit_code == 1 and "--trust-pickle" in result.stderr
    assert "fitted:      no" in run("info", tmp_path / "m.joblib", "--trust-pickle").output


def test_errors_are_one_line_without_traceback_unless_debug(housing_model, tmp_path):
    """In a fresh process, through the installed console script."""
    path, _ = housing_model
    np.save(tmp_path / "three.npy", np.zeros((2, 3)))
    result = skann_process("predict", path, tmp_path / "three.npy")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: X has 3 features, but HousingMLPRegressor is expecting 8 features as input. "
        "(run with --debug for the traceback)"
    ]
    assert result.stdout == ""
    result = run("--debug", "predict", path, tmp_path / "three.npy", ok=False)
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)  # raised, with its traceback


def test_search_random_with_plot_and_best_model(tmp_path):
    out, png = tmp_path / "best.skann", tmp_path / "search.png"
    result = run("search", "housing", "--n-iter", "2", "--cv", "2", "--epochs", "1", "--sample",
                 "--out", out, "--plot", png)
    assert "2 candidates, 2-fold CV" in result.output and "CV R²" in result.output
    assert "best model: test RMSE" in result.output
    best = skann.load(out)
    assert best.epochs == 1 and best.callbacks is None  # the progress counter is not saved
    assert_png(png)


def test_demo_main_job(tmp_path, no_data_env):
    """`skann demo --quick --offline` with no data set up: the bundled sample, said in one line."""
    out = tmp_path / "demo"
    env = dict(os.environ)
    result = skann_process("demo", "--quick", "--offline", "--out", out, env=env)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "not found" in line]
    assert notices == [
        "Full Fashion-MNIST not found (point SKANN_DATA at it, see docs/installation.md): "
        "using the bundled 3,000 + 1,000 image sample."
    ]
    assert "Traceback" not in result.stderr and "WARNING" not in result.stderr
    for name in ("FashionMLPClassifier", "PerceptronBaseline", "HousingMLPRegressor", "WideDeepRegressor"):
        assert name in result.stdout
    rows = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in rows] == ["FashionMLPClassifier", "PerceptronBaseline",
                                          "HousingMLPRegressor", "WideDeepRegressor"]
    assert rows[0]["metrics"]["accuracy"] > 0.6 and rows[2]["metrics"]["rmse"] < 0.8
    for name in ("fashion", "perceptron", "housing", "wide-deep"):
        assert skann.load(out / "models" / f"{name}.skann").n_features_in_ if name != "perceptron" else True
    pngs = sorted(p.name for p in (out / "plots").iterdir())
    assert "fashion_confusion_matrix.png" in pngs and "housing_predicted_vs_actual.png" in pngs
    for png in (out / "plots").iterdir():
        assert_png(png)
    assert (out / "results.md").read_text().startswith("| model | data |")


def test_an_unwritable_output_fails_before_training(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = run("fit", "housing", "--out", tmp_path / "a-file" / "m.skann", "--sample", ok=False)
    assert result.exit_code == 1 and "Cannot create the folder" in result.stderr
    assert "test RMSE" not in result.output  # nothing was trained


def test_perceptron_probabilities_refused_naming_the_model(tmp_path):
    model_path = tmp_path / "perceptron.skann"
    run("-q", "fit", "perceptron", "-p", "max_iter=1", "--out", model_path, "--sample")
    image = tmp_path / "item.png"
    Image.fromarray(load_book_split("fashion", sample=True).X_test[0]).save(image)
    result = run("predict", model_path, image, "--proba", ok=False)
    assert result.exit_code == 2
    assert "PerceptronBaseline gives no probabilities" in result.stderr and "Pipeline" not in result.stderr
    info = run("info", model_path).output
    assert "fitted:      1 epoch on 784 features" in info
    header = next(line for line in info.splitlines() if "output shape" in line)
    assert header.split() == ["layer", "type", "output", "shape", "weights"]


def test_search_hyperband_resumes_from_its_folder(tmp_path):
    """`skann search --hyperband --resume DIR`: progress per rung, the rungs plotted; run again
    with the same folder, the finished trainings are replayed, not rerun: same table."""
    folder, png = tmp_path / "progress", tmp_path / "rungs.png"
    args = ["search", "housing", "--hyperband", "--epochs", "3", "--cv", "2", "--sample", "--resume", folder]
    first = run(*args, "--plot", png)
    assert "[HyperbandSearchCV] bracket 0 rung 0 (1 epoch): best score" in first.output
    assert "5 candidates in 2 bracket(s) (6 rung results, 22 epochs trained), 2-fold CV" in first.output
    assert_png(png)
    trainings = (folder / "results.jsonl").read_text().count("\n")
    again = run(*args)
    assert (folder / "results.jsonl").read_text().count("\n") == trainings  # nothing trained again
    table = lambda out: out[out.index("rank"):out.index("best model")]  # noqa: E731
    assert table(again.output) == table(first.output)


def test_search_epoch_options_need_an_epoch_search():
    result = run("search", "housing", "--resume", "somewhere", "--sample", ok=False)
    assert result.exit_code == 2 and "--sampler and --resume go with --hyperband or --halving" in result.output
    result = run("search", "housing", "--hyperband", "--halving", "--sample", ok=False)
    assert result.exit_code == 2 and "not both" in result.output


@backend_independent
def test_backend_option_chooses_keras_backend_for_the_command(tmp_path):
    pytest.importorskip("jax")
    path = tmp_path / "housing.skann"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    fit = skann_process("--quiet", "--backend", "jax", "fit", "housing", "-p", "epochs=1", "--out", path, "--sample", env=env)
    assert fit.returncode == 0, fit.stderr
    info = skann_process("--backend", "tensorflow", "info", path, env=env)
    assert info.returncode == 0, info.stderr
    assert "keras_backend jax" in info.stdout  # saved on JAX, read on TensorFlow
    bad = skann_process("--backend", "theano", "info", path, env=env)
    assert bad.returncode == 2 and "'theano' is not one of" in bad.stderr
