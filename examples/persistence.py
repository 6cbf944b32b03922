"""Saving and loading fitted models: joblib (pickle) and skann's pickle-free format.

* ``joblib.dump`` / ``joblib.load`` saves anything (a whole Pipeline, a fitted search), but
  loading a pickle runs code chosen by whoever wrote the file: trusted files only.
* ``skann.save`` / ``skann.load`` writes a zip of ``.keras`` models and JSON: loading never
  unpickles, rebuilds only allow-listed classes and verifies checksums, so a model received
  from someone else can be opened safely. It refuses objects it cannot store safely.
* A loaded model predicts exactly as before, in a fresh process too.

    python examples/persistence.py          # 10 epochs
    python examples/persistence.py --fast   # 1 epoch
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import skann  # noqa: F401  (before keras: skann imports TensorFlow without its start-up log spam)
import keras
import joblib
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import HousingMLPRegressor
from skann.datasets import load_book_split
from skann.persistence import UnsafeObjectError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="1 epoch")
    args = parser.parse_args()
    split = load_book_split("housing", sample=True)
    pipe = make_pipeline(StandardScaler(), HousingMLPRegressor(epochs=1 if args.fast else 10, random_state=42))
    pipe.fit(split.X_train, split.y_train)
    expected = pipe.predict(split.X_test)
    with tempfile.TemporaryDirectory(prefix="skann-persistence-") as folder:  # removed at the end
        save_and_load(pipe, expected, split, folder)


def save_and_load(pipe, expected, split, folder: str) -> None:
    pickle_path = os.path.join(folder, "pipeline.joblib")
    joblib.dump(pipe, pickle_path)
    same = np.array_equal(joblib.load(pickle_path).predict(split.X_test), expected)
    print(f"joblib: {os.path.getsize(pickle_path) / 1e3:.0f} kB, predictions identical after loading: {same}")

    safe_path = os.path.join(folder, "pipeline.skann")
    skann.save(pipe, safe_path)
    same = np.array_equal(skann.load(safe_path).predict(split.X_test), expected)
    print(f"skann.save: {os.path.getsize(safe_path) / 1e3:.0f} kB, predictions identical after loading: {same}")

    # A fresh process (nothing shared with this one) loads the safe file and predicts.
    code = ("import sys, numpy as np, skann; from skann.datasets import load_book_split; "
            "p = skann.load(sys.argv[1]); print(p.predict(load_book_split('housing', sample=True).X_test[:3]).tolist())")
    fresh = subprocess.run([sys.executable, "-c", code, safe_path], capture_output=True, text=True, check=True)
    print(f"fresh process predicts {np.round(eval(fresh.stdout), 6).tolist()}; here {np.round(expected[:3], 6).tolist()}")

    # What the safe format refuses: arbitrary Python objects (here a Keras callback parameter).
    with_callback = HousingMLPRegressor(callbacks=[keras.callbacks.TerminateOnNaN()])
    try:
        skann.save(with_callback, os.path.join(folder, "refused.skann"))
    except UnsafeObjectError as exc:
        print(f"refused by skann.save: {str(exc).splitlines()[0][:100]}...")


if __name__ == "__main__":
    main()
