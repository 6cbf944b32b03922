"""Wide & Deep with two inputs and an auxiliary output (the chapter's functional-API section).

Features 0-4 take the wide path straight to the output; features 2-7 go through the deep
stack; an auxiliary output on the deep stack (loss weight 0.1) regularizes it. You pass one
X (here a DataFrame, so the paths can be named by column); ``predict`` returns the main output
and ``predict_aux`` the auxiliary one. The subclassing-API version gives the same network.

    python examples/wide_deep.py          # book settings, 20 epochs
    python examples/wide_deep.py --fast   # 2 epochs
"""

from __future__ import annotations

import argparse

import pandas as pd
from sklearn.metrics import root_mean_squared_error

from skann import WideDeepRegressor
from skann.datasets import CALIFORNIA_FEATURE_NAMES, load_book_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="2 epochs")
    args = parser.parse_args()

    split = load_book_split("housing", sample=True)
    frame = lambda X: pd.DataFrame(X, columns=CALIFORNIA_FEATURE_NAMES)  # noqa: E731
    names = list(CALIFORNIA_FEATURE_NAMES)
    for api in ("functional", "subclass"):
        reg = WideDeepRegressor(
            wide_features=names[:5],  # MedInc ... Population
            deep_features=names[2:],  # AveRooms ... Longitude
            aux_weight=0.1,
            api=api,
            epochs=2 if args.fast else 20,
            early_stopping=False,
            random_state=42,
        )
        reg.fit(frame(split.X_train), split.y_train, validation_data=(frame(split.X_valid), split.y_valid))
        X_test = frame(split.X_test)
        main_rmse = root_mean_squared_error(split.y_test, reg.predict(X_test))
        aux_rmse = root_mean_squared_error(split.y_test, reg.predict_aux(X_test))
        print(f"{api} API: test RMSE main output {main_rmse:.4f}, auxiliary output {aux_rmse:.4f}")
        if api == "functional":
            print(f"  inputs: {[t.name for t in reg.model_.inputs]}, outputs: {reg.model_.output_names}")
            print(f"  history keys: {sorted(reg.history_)}")


if __name__ == "__main__":
    main()
