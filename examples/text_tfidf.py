"""A text classifier on sparse TF-IDF features: what kind of estimator does a docstring describe?

The texts are real and need no download: the docstrings of scikit-learn's own estimators,
labelled by the kind of estimator they document (classifier, regressor, transformer or
clustering; estimators of two kinds are left out). ``TfidfVectorizer`` turns them into a
sparse matrix of thousands of columns, and ``KerasClassifier`` trains on it as it is: skann
densifies one batch of rows at a time, never the whole matrix. A logistic regression on the
same features is the baseline, both cross-validated with the same folds.

    python examples/text_tfidf.py
    python examples/text_tfidf.py --fast    # fewer epochs (the test suite's mode)
"""

from __future__ import annotations

import argparse

import skann  # first: quiet TensorFlow import
import keras
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import all_estimators

from skann import KerasClassifier

KINDS = ("classifier", "regressor", "transformer", "cluster")


def estimator_docstrings() -> tuple[list[str], np.ndarray]:
    """Each scikit-learn estimator's docstring and its kind (estimators of one kind only)."""
    kinds: dict[str, list[str]] = {}
    docs: dict[str, str] = {}
    for kind in KINDS:
        for name, cls in all_estimators(type_filter=kind):
            kinds.setdefault(name, []).append(kind)
            docs[name] = cls.__doc__ or ""
    names = sorted(n for n, k in kinds.items() if len(k) == 1 and docs[n].strip())
    return [docs[n] for n in names], np.array([kinds[n][0] for n in names])


def build(meta, hidden=32):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    texts, kinds = estimator_docstrings()
    features = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)
    counts = ", ".join(f"{(kinds == k).sum()} {k}s" for k in KINDS)
    print(f"{len(texts)} docstrings ({counts}): TF-IDF matrix {features.shape[0]} x {features.shape[1]:,}, "
          f"{features.nnz / np.prod(features.shape):.1%} non-zero, {type(features).__name__}")

    network = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2),
        KerasClassifier(build, loss="sparse_categorical_crossentropy", optimizer="adam",
                        optimizer__learning_rate=0.01, epochs=10 if args.fast else 30, batch_size=16, random_state=0),
    )
    baseline = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2), LogisticRegression(C=10, max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for name, model in (("KerasClassifier on sparse TF-IDF", network), ("LogisticRegression (baseline)", baseline)):
        scores = cross_val_score(model, texts, kinds, cv=folds)
        print(f"{name}: 5-fold CV accuracy {scores.mean():.3f} ± {scores.std():.3f}")

    fitted = network.fit(texts, kinds)
    print("predicted:", fitted.predict([
        "Gaussian process regression: predicts a continuous target with uncertainty.",
        "Cluster the samples with k-means and assign each to its nearest centroid.",
    ]).tolist())


if __name__ == "__main__":
    main()
