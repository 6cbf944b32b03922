"""ONNX export: onnxruntime's predictions equal skann's (float32, within 1e-5) for the book's
four estimators, a user's Dense classifier, a user's CNN, a pipeline of encoders and scalers
over a DataFrame and a KerasTransformer's embeddings feeding a scikit-learn model; a graph serves in a process with neither skann nor Keras; what the
export cannot write is refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

import skann  # noqa: E402
from skann import (  # noqa: E402
    FashionMLPClassifier, HousingMLPRegressor, KerasClassifier, KerasRegressor, PerceptronBaseline, WideDeepRegressor,
)

from ._tabular import binary_network, frame  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(150, 8)).astype(np.float32)
Y = X @ np.linspace(-1, 1, 8) + 0.1 * RNG.normal(size=150)
WORDS = np.array(["cat", "dog", "fish"])[np.argmax(X[:, :3], axis=1)]


def run(graph, inputs) -> list[np.ndarray]:
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = inputs if isinstance(inputs, dict) else {session.get_inputs()[0].name: inputs}
    return session.run(None, feeds)


def frame_inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What a service feeds a graph exported from a DataFrame: a (n, 1) column per input."""
    kinds = {"f": np.float32, "i": np.int64}
    return {c: frame[[c]].to_numpy().astype(kinds.get(frame[c].dtype.kind, object)) for c in frame.columns}


def assert_classifier_equal(graph, est, X_in, feeds=None):
    label, proba = run(graph, X_in if feeds is None else feeds)
    np.testing.assert_allclose(proba, est.predict_proba(X_in), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, est.predict(X_in))


def dense_classifier(meta, hidden=16):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.Dropout(0.2),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(hidden, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(2)),
        keras.layers.Dense(meta["n_classes_"], activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(3)),
    ])


def cnn(meta):
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Rescaling(0.5, offset=0.1),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(6, 3, strides=1, activation="elu", kernel_initializer=keras.initializers.GlorotUniform(2)),
        keras.layers.BatchNormalization(),
        keras.layers.AveragePooling2D(2, padding="same"),
        keras.layers.Conv2D(4, 1, activation="selu", kernel_initializer=keras.initializers.GlorotUniform(3)),
        keras.layers.Flatten(),
        keras.layers.Dense(meta["n_classes_"], activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(4)),
    ])


def test_book_regressors_export_with_equal_predictions():
    for est in (HousingMLPRegressor(n_neurons=8, epochs=2, random_state=0), WideDeepRegressor(epochs=2, random_state=0)):
        est.fit(X, Y)
        out, = run(skann.to_onnx(est), X)  # Wide & Deep: its two inputs split from X in the graph
        assert out.shape == (len(X), 1)
        np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=0, atol=1e-5)


def test_fashion_classifier_exports_with_its_pixel_scaling():
    images = RNG.integers(0, 256, size=(120, 28, 28)).astype(np.uint8)
    labels = np.arange(120) % 10
    est = FashionMLPClassifier(n_neurons=(16, 8), epochs=1, random_state=0).fit(images, labels)
    graph = skann.to_onnx(est)  # inputs from the fit: uint8 images, divided by 255 in the graph
    assert [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim][1:] == [28, 28]
    assert_classifier_equal(graph, est, images)


def test_pipelines_of_skanns_image_transformers_export():
    """The demo's perceptron pipeline (ImageFlattener, PixelScaler) from uint8 images, and
    rows reshaped into images (ImageReshaper) for a CNN."""
    from skann import ImageFlattener, ImageReshaper, PixelScaler

    images = RNG.integers(0, 256, size=(90, 12, 12)).astype(np.uint8)
    labels = np.arange(90) % 3
    flat = make_pipeline(ImageFlattener(), PixelScaler(), PerceptronBaseline(max_iter=3, random_state=0)).fit(images, labels)
    label, _ = run(skann.to_onnx(flat, images[:1]), images)
    np.testing.assert_array_equal(label, flat.predict(images))
    rows = images.reshape(90, -1).astype(np.float32)
    reshaped = make_pipeline(ImageReshaper((12, 12, 1)), KerasClassifier(cnn, loss="sparse_categorical_crossentropy", epochs=1, random_state=0)).fit(rows, labels)
    assert_classifier_equal(skann.to_onnx(reshaped, rows[:1]), reshaped, rows)


def test_export_command_takes_sample_rows_for_a_pipeline(tmp_path):
    from click.testing import CliRunner

    from skann import ImageFlattener, PixelScaler
    from skann.cli import main

    images = RNG.integers(0, 256, size=(60, 8, 8)).astype(np.uint8)
    model = make_pipeline(ImageFlattener(), PixelScaler(), PerceptronBaseline(max_iter=2, random_state=0)).fit(images, np.arange(60) % 2)
    skann.save(model, tmp_path / "images.skann")
    np.save(tmp_path / "rows.npy", images[:2])
    export = ["export", str(tmp_path / "images.skann"), str(tmp_path / "images.onnx")]
    refused = CliRunner().invoke(main, export)
    assert refused.exit_code == 1 and "skann export --rows FILE.csv" in refused.output
    done = CliRunner().invoke(main, [*export, "--rows", str(tmp_path / "rows.npy")])
    assert done.exit_code == 0, done.output
    session = ort.InferenceSession(str(tmp_path / "images.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"X": images})[0], model.predict(images))


def test_perceptron_exports_labels_and_scores():
    for y in (WORDS == "cat", WORDS):  # two classes (one score, Heaviside) and three (argmax)
        est = PerceptronBaseline(max_iter=5, random_state=0).fit(X, y)
        label, scores = run(skann.to_onnx(est), X)
        np.testing.assert_array_equal(label, est.predict(X))
        np.testing.assert_allclose(scores.reshape(est.decision_function(X).shape), est.decision_function(X), rtol=1e-5, atol=1e-5)


def test_user_classifiers_export_with_string_and_integer_labels():
    words = KerasClassifier(dense_classifier, loss="sparse_categorical_crossentropy", epochs=2, random_state=0).fit(X, WORDS)
    assert_classifier_equal(skann.to_onnx(words), words, X)
    binary = KerasClassifier(binary_network, loss="binary_crossentropy", epochs=2, random_state=0).fit(X, (Y > 0).astype(int))
    assert_classifier_equal(skann.to_onnx(binary), binary, X)  # one sigmoid unit: (1 - p, p)


def test_user_cnn_exports_with_equal_predictions():
    images = RNG.normal(size=(80, 12, 12, 1)).astype(np.float32)
    est = KerasClassifier(cnn, loss="sparse_categorical_crossentropy", epochs=2, random_state=0).fit(images, np.arange(80) % 3)
    assert_classifier_equal(skann.to_onnx(est), est, images)


def test_a_pipeline_of_encoders_and_scalers_exports_as_one_graph():
    Xf, y = frame()
    Xf = Xf.assign(city=Xf["city"].fillna("unknown").astype(str), plan=Xf["plan"].astype(str))
    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["income", "age"]),
        ("words", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ("plan", OrdinalEncoder(), ["plan"]),
    ], remainder="passthrough")
    model = make_pipeline(columns, KerasClassifier(binary_network, loss="binary_crossentropy", epochs=2, random_state=0)).fit(Xf, y)
    graph = skann.to_onnx(model, Xf[:5])
    assert [i.name for i in graph.graph.input] == list(Xf.columns)
    label, proba = run(graph, frame_inputs(Xf))
    np.testing.assert_allclose(proba, model.predict_proba(Xf), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(Xf))


def test_a_keras_transformer_exports_its_layer_inside_a_pipeline():
    """Embeddings from a named layer of a user's network feed a scikit-learn model: one graph."""
    from sklearn.linear_model import LogisticRegression

    from skann import KerasTransformer

    def coder(meta):
        inputs = keras.Input((meta["n_features_in_"],))
        code = keras.layers.Dense(3, activation="tanh", name="code", kernel_initializer=keras.initializers.GlorotUniform(1))(inputs)
        return keras.Model(inputs, keras.layers.Dense(meta["n_features_in_"], name="decoded")(code))

    embed = KerasTransformer(coder, loss="mse", layer="code", autoencoder=True, epochs=2, random_state=0)
    model = make_pipeline(StandardScaler(), embed, LogisticRegression()).fit(X, WORDS)
    np.testing.assert_allclose(run(skann.to_onnx(embed.fit(X)), X)[0], embed.transform(X), rtol=0, atol=1e-5)
    label, proba = run(skann.to_onnx(model, X[:2]), X)
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)


def test_exported_file_serves_without_skann_keras_or_tensorflow(tmp_path):
    """`skann export` writes the graph; a new process runs it with onnxruntime alone."""
    from click.testing import CliRunner

    from skann.cli import main

    est = KerasRegressor(lambda meta: keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]),
                         loss="mse", epochs=2, random_state=0).fit(X, np.column_stack([Y, -Y]))
    skann.save(est, tmp_path / "model.skann")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "model.skann"), str(tmp_path / "model.onnx")])
    assert result.exit_code == 0, result.output
    assert "inputs X; outputs variable" in result.output
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np, onnxruntime as ort
        session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        out = session.run(None, {"X": np.load(sys.argv[2])})[0]
        loaded = sorted(m for m in ("skann", "keras", "tensorflow", "jax", "torch", "sklearn") if m in sys.modules)
        print(json.dumps({"out": out.tolist(), "loaded": loaded}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.onnx"), str(tmp_path / "X.npy")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["loaded"] == []
    np.testing.assert_allclose(np.asarray(facts["out"]), est.predict(X), rtol=0, atol=1e-5)


def test_what_the_export_cannot_write_is_refused_by_name(tmp_path):
    def recurrent(meta):
        return keras.Sequential([keras.Input((8, 1)), keras.layers.LSTM(2, name="memory"), keras.layers.Dense(1)])

    def gelu(meta):
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="gelu", name="smooth"), keras.layers.Dense(1)])

    sequences = KerasRegressor(recurrent, loss="mse", epochs=1).fit(X[:, :, None], Y)
    with pytest.raises(ValueError, match=r"cannot write the layer 'memory' \(LSTM\); it writes Dense, "):
        skann.to_onnx(sequences)
    with pytest.raises(ValueError, match="cannot write the activation 'gelu' of layer 'smooth'"):
        skann.to_onnx(KerasRegressor(gelu, loss="mse", epochs=1).fit(X, Y))

    class Doubled(KerasRegressor):
        def encode_features(self, X):
            return 2 * super().encode_features(X)

    with pytest.raises(ValueError, match="cannot write Doubled.encode_features"):
        skann.to_onnx(Doubled(gelu, loss="mse", epochs=1).fit(X, Y))
    with pytest.raises(ValueError, match="cannot tell the inputs of a Pipeline.*X_sample"):
        skann.to_onnx(make_pipeline(StandardScaler(), HousingMLPRegressor(epochs=1)).fit(X, Y))
    strings = make_pipeline(
        ColumnTransformer([("w", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["w"])]),
        KerasClassifier(binary_network, loss="binary_crossentropy", epochs=1),
    ).fit(pd.DataFrame({"w": ["a", None, "b"] * 10}), [0, 1, 1] * 10)
    with pytest.raises(ValueError, match="skl2onnx cannot convert a step.*missing values"):
        skann.to_onnx(strings, pd.DataFrame({"w": ["a", None, "b"]}))
