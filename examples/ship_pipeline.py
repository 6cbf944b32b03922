"""Ship a tabular pipeline: a DataFrame, a ColumnTransformer and a network, saved without
pickle and exported as one ONNX graph that onnxruntime serves alone.

California housing (the bundled complete table) as a DataFrame, with one categorical column
derived from the data as tabular problems have them: ``region``, "north" for districts at
latitude 36 and above, else "south". The pipeline imputes and scales the numbers, one-hot
encodes the region, and trains a user's Keras network. Then:

1. ``skann.save`` / ``skann.load``: the pipeline back, with its column names, predicting the same;
2. ``skann.to_onnx``: the whole pipeline as one graph (needs ``pip install "skann[onnx]"``),
   predicting the same through onnxruntime, one input per column.

    python examples/ship_pipeline.py          # 20 epochs
    python examples/ship_pipeline.py --fast   # 2 epochs on 5,000 districts
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import skann  # first: quiet TensorFlow import
import keras
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skann.datasets import load_california_housing


def network(meta):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="2 epochs on 5,000 districts")
    args = parser.parse_args()

    housing = load_california_housing(as_frame=True, sample=True)
    X = housing.data.assign(region=np.where(housing.data["Latitude"] >= 36, "north", "south"))
    y = housing.target.to_numpy()
    if args.fast:
        X, y = X[:5000], y[:5000]
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
    numbers = [c for c in X.columns if c != "region"]
    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ("region", OneHotEncoder(handle_unknown="ignore"), ["region"]),
    ])
    model = make_pipeline(columns, skann.KerasRegressor(network, loss="mse", optimizer="adam",
                                                        epochs=2 if args.fast else 20, random_state=42))
    model.fit(X_train, y_train)
    predicted = model.predict(X_test)
    print("pipeline: " + " -> ".join(type(step).__name__ for _, step in model.steps))
    print(f"test RMSE {root_mean_squared_error(y_test, predicted):.4f} on {len(X_test):,} districts")

    with tempfile.TemporaryDirectory() as folder:
        path = skann.save(model, Path(folder) / "housing.skann")
        print(f"skann.save: {path.stat().st_size:,} bytes, no pickle")
        loaded = skann.load(path)
    same = np.array_equal(loaded.predict(X_test), predicted)
    print(f"skann.load: columns {loaded.feature_names_in_.tolist()}; identical predictions: {same}")

    try:
        import onnxruntime as ort
    except ImportError:
        print('ONNX: skipped (pip install "skann[onnx]" to export the pipeline as one graph)')
        return
    graph = skann.to_onnx(model, X_train[:5])
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {c: X_test[[c]].to_numpy().astype(np.float32 if c in numbers else object) for c in X_test.columns}
    onnx_predicted = session.run(None, feeds)[0].ravel()
    print(f"ONNX graph inputs: {[i.name for i in session.get_inputs()]}")
    print(f"onnxruntime: max difference from predict {np.abs(onnx_predicted - predicted).max():.1e}")


if __name__ == "__main__":
    main()
