"""The chapter's regression MLP on California housing.

Book flow: split with ``train_test_split(random_state=42)`` twice, a Normalization layer adapted
to the training set, three hidden layers of 50 ReLU units, Adam at 1e-3, MSE loss with RMSE as
metric; 20 epochs. Then the test RMSE and predictions for three new districts. skann's
defaults add early stopping on the validation set (see docs/estimators/housing.md).

    python examples/housing_regressor.py          # book settings, 20 epochs
    python examples/housing_regressor.py --fast   # 2 epochs
"""

from __future__ import annotations

import argparse

from sklearn.metrics import root_mean_squared_error

from skann import HousingMLPRegressor
from skann.datasets import load_book_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="2 epochs")
    args = parser.parse_args()

    split = load_book_split("housing", sample=True)  # the bundled copy is the complete table
    reg = HousingMLPRegressor(epochs=2 if args.fast else 20, early_stopping=False, random_state=42)
    reg.fit(split.X_train, split.y_train, validation_data=(split.X_valid, split.y_valid))
    rmse = root_mean_squared_error(split.y_test, reg.predict(split.X_test))
    print(f"trained on {len(split.X_train):,} districts, {reg.n_iter_} epochs")
    print(f"validation RMSE per epoch: {[round(v, 3) for v in reg.history_['val_root_mean_squared_error']]}")
    print(f"test RMSE {rmse:.4f}   (book: about 0.53)")
    X_new = split.X_test[:3]
    print(f"predictions for 3 new districts (in $100,000): {reg.predict(X_new).round(2)}"
          f"  true: {split.y_test[:3].round(2)}")


if __name__ == "__main__":
    main()
