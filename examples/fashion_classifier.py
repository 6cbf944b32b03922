"""The chapter's image classifier: an MLP on Fashion-MNIST, as a scikit-learn estimator.

Book flow: hold out the last 5,000 training images for validation, train 30 epochs of SGD
(learning rate 0.01) on 300-100 ReLU layers, plot the learning curves, evaluate on the test
set, and predict (with probabilities) for the first three test images.

    python examples/fashion_classifier.py          # full data (SKANN_DATA or download)
    python examples/fashion_classifier.py --fast   # bundled sample, 2 epochs
"""

from __future__ import annotations

import argparse

import numpy as np

from skann import FashionMLPClassifier
from skann.datasets import FASHION_CLASS_NAMES, load_book_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="bundled sample, 2 epochs")
    parser.add_argument("--plot", metavar="PNG", help="save the learning curves here")
    args = parser.parse_args()

    split = load_book_split("fashion", sample=args.fast)
    clf = FashionMLPClassifier(epochs=2 if args.fast else 30, random_state=42)  # book defaults
    clf.fit(split.X_train, split.y_train, validation_data=(split.X_valid, split.y_valid))
    print(f"trained on {len(split.X_train):,} images of the {split.source}, {clf.n_iter_} epochs")
    print(f"network: {[layer.name for layer in clf.model_.layers]}, {clf.model_.count_params():,} weights")
    last = {k: round(v[-1], 4) for k, v in clf.history_.items()}
    print(f"last epoch: {last}")
    print(f"test accuracy {clf.score(split.X_test, split.y_test):.4f}   (book: 0.8864)")

    X_new = split.X_test[:3]
    y_proba = clf.predict_proba(X_new)
    print("probabilities for 3 test images:")
    print(np.array2string(y_proba.round(2), separator=", "))
    print("predicted:", [FASHION_CLASS_NAMES[i] for i in clf.predict(X_new)],
          " true:", [FASHION_CLASS_NAMES[i] for i in split.y_test[:3]])
    if args.plot:
        from skann.plot import plot_learning_curves

        plot_learning_curves(clf, path=args.plot)
        print(f"learning curves written to {args.plot}")


if __name__ == "__main__":
    main()
