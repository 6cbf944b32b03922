"""A small tabular problem as data scientists have them (a DataFrame with numeric columns with
missing values, a string column with missing values, a categorical column, an integer code),
and the ColumnTransformer pipeline they put before a network. Deterministic: the fixtures of
tests/fixtures/v3_* were written from it."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from skann import KerasClassifier


def frame(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "income": rng.normal(50, 10, n),
        "age": rng.integers(18, 80, n).astype(float),
        "city": rng.choice(np.array(["Paris", "Lyon", "Nice", None], dtype=object), n),
        "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        "code": rng.integers(0, 4, n),
    })
    X.loc[::9, "income"] = np.nan
    X.loc[::13, "age"] = np.nan
    y = np.where((X["income"].fillna(50) > 50) ^ (X["plan"] == "pro"), "churn", "stay")
    return X, y


def binary_network(meta):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(2)),
    ])


def column_pipeline(epochs: int = 3):
    """Imputers, a one-hot encoder, an ordinal encoder and a scaler before a user's network."""
    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["income", "age"]),
        ("words", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_include=object)),
        ("plan", OrdinalEncoder(), ["plan"]),
    ], remainder="passthrough")
    network = KerasClassifier(binary_network, loss="binary_crossentropy", epochs=epochs, batch_size=32, random_state=0)
    return make_pipeline(columns, network)
