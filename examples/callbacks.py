"""Early stopping, checkpoints, a custom callback and TensorBoard (the chapter's callbacks section).

* ``early_stopping=True`` stops when the validation loss stalls for ``patience`` epochs and
  restores the best weights (Keras' ``EarlyStopping(restore_best_weights=True)``).
* ``keras.callbacks.ModelCheckpoint`` in ``callbacks`` saves the best model as the fit goes;
  the checkpoint is a plain ``.keras`` file that Keras loads on its own.
* A custom callback prints the validation/training loss ratio each epoch (the book's
  ``PrintValTrainRatioCallback``), to spot overfitting.
* ``log_dir`` writes TensorBoard logs into a new ``run_YYYY_MM_DD_HH_MM_SS`` folder per fit:
  ``tensorboard --logdir <log_dir>``.

    python examples/callbacks.py          # up to 100 epochs, patience 10
    python examples/callbacks.py --fast   # up to 4 epochs
"""

from __future__ import annotations

import argparse
import os
import tempfile

import skann  # noqa: F401  (before keras: skann imports TensorFlow without its start-up log spam)
import keras
from sklearn.metrics import root_mean_squared_error

from skann import HousingMLPRegressor
from skann.datasets import load_book_split


class PrintValTrainRatio(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print(f"  epoch {epoch + 1:3d}: val/train loss ratio {logs['val_loss'] / logs['loss']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="at most 4 epochs")
    parser.add_argument("--out", default=None, help="folder for the checkpoint and logs (default: a temporary one)")
    args = parser.parse_args()
    if args.out:
        run(args.out, args.fast)
        return
    with tempfile.TemporaryDirectory(prefix="skann-callbacks-") as out:  # removed at the end
        run(out, args.fast)
        print("(the checkpoint and logs were in a temporary folder, now removed: --out FOLDER keeps them)")


def run(out: str, fast: bool) -> None:
    split = load_book_split("housing", sample=True)

    checkpoint = os.path.join(out, "best_housing.keras")
    reg = HousingMLPRegressor(
        epochs=4 if fast else 100,
        early_stopping=True,
        patience=2 if fast else 10,
        callbacks=[
            keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True),
            PrintValTrainRatio(),
        ],
        log_dir=os.path.join(out, "logs"),
        random_state=42,
    )
    reg.fit(split.X_train, split.y_train, validation_data=(split.X_valid, split.y_valid))
    best_epoch = min(range(reg.n_iter_), key=reg.history_["val_loss"].__getitem__) + 1
    print(f"trained {reg.n_iter_} epochs; best validation loss at epoch {best_epoch} (weights restored)")
    print(f"test RMSE {root_mean_squared_error(split.y_test, reg.predict(split.X_test)):.4f}")

    saved = keras.models.load_model(checkpoint)
    same = (saved.predict(split.X_test[:5], verbose=0).ravel() - reg.predict(split.X_test[:5])).max()
    print(f"checkpoint {os.path.basename(checkpoint)} reloaded with Keras: max difference {abs(same):.1e}")
    runs = sorted(os.listdir(os.path.join(out, "logs")))
    print(f"TensorBoard run folder: {runs[-1]} with {sorted(os.listdir(reg.log_run_dir_))}")
    print(f"view with: tensorboard --logdir {os.path.join(out, 'logs')}")


if __name__ == "__main__":
    main()
