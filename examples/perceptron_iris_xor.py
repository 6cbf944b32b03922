"""The perceptron on iris (the book's example) and on XOR, next to a one-hidden-layer MLP.

    python examples/perceptron_iris_xor.py
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import Perceptron

from skann import FashionMLPClassifier, PerceptronBaseline


def iris_setosa() -> None:
    iris = load_iris(as_frame=True)
    X = iris.data[["petal length (cm)", "petal width (cm)"]].values
    y = iris.target == 0  # Iris setosa
    # The book's call: the same random_state gives scikit-learn's sample order, so the same weights.
    per_clf = PerceptronBaseline(random_state=42).fit(X, y)
    sk_clf = Perceptron(random_state=42).fit(X, y)
    print("Iris setosa vs the rest (petal length, width):")
    print(f"  skann   training accuracy {per_clf.score(X, y):.2f}, weights {per_clf.coef_.ravel()}, bias {per_clf.intercept_}")
    print(f"  sklearn training accuracy {sk_clf.score(X, y):.2f}, weights {sk_clf.coef_.ravel()}, bias {sk_clf.intercept_}")
    print(f"  predict([[2, 0.5], [3, 1]]) -> {per_clf.predict([[2, 0.5], [3, 1]])}")


def xor() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    perceptron = PerceptronBaseline(random_state=42).fit(X, y)
    mlp = FashionMLPClassifier(
        n_hidden=1,
        n_neurons=8,
        activation="tanh",
        optimizer="adam",
        learning_rate=0.1,
        epochs=100,
        batch_size=4,
        scale_pixels=False,  # XOR inputs are not pixels
        random_state=42,
    ).fit(X, y)
    print("XOR:")
    print(f"  perceptron accuracy {perceptron.score(X, y):.2f} (a line cannot separate XOR)")
    print(f"  MLP with one hidden layer accuracy {mlp.score(X, y):.2f}")


if __name__ == "__main__":
    iris_setosa()
    xor()
