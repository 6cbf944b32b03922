"""Training speed per epoch on Fashion-MNIST: skann vs the book's Keras code, SciKeras, sklearn.

All train the book's network (784-300-100-10, ReLU, softmax) with plain SGD (learning rate
0.01), batch size 32, on the 55,000 training images, validating on the 5,000 others after
each epoch, as the book does. Per-epoch time is the median over epochs 2..E of each fit (the
first epoch includes graph tracing); the test accuracy after E epochs shows all learn alike.

    SKANN_DATA=../shared/data python -m benchmarks.training --epochs 3 --repeats 3
"""

from __future__ import annotations

import statistics
import time

import skann  # noqa: F401  (quiet TensorFlow import)
import keras
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from benchmarks.book_keras import book_fashion_fit, book_fashion_model
from benchmarks.harness import alternate, cli, load_fashion, timing_table


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def per_epoch(self) -> float:
        return statistics.median(self.times[1:] or self.times)


def competitors(data, *, epochs: int, seed: int) -> dict:
    X_train, y_train, X_valid, y_valid, X_test, y_test = data

    def book(steps_per_execution=1):
        def run():
            timer = EpochTimer()
            model = book_fashion_model(seed)
            if steps_per_execution != 1:
                model.compile(
                    loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"],
                    steps_per_execution=steps_per_execution,
                )
            book_fashion_fit(model, X_train, y_train, X_valid, y_valid, epochs=epochs, callbacks=[timer])
            accuracy = model.evaluate(X_test / 255.0, y_test, verbose=0)[1]
            return timer.per_epoch(), {"test accuracy": f"{accuracy:.4f}"}

        return run

    def skann_fit():
        from skann import FashionMLPClassifier

        timer = EpochTimer()
        clf = FashionMLPClassifier(epochs=epochs, random_state=seed, callbacks=[timer])
        clf.fit(X_train, y_train, validation_data=(X_valid, y_valid))
        return timer.per_epoch(), {"test accuracy": f"{clf.score(X_test, y_test):.4f}"}

    def scikeras_fit():
        from scikeras.wrappers import KerasClassifier

        timer = EpochTimer()
        clf = KerasClassifier(
            model=book_fashion_model,
            model__seed=seed,
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=[timer],
            fit__validation_data=(X_valid / 255.0, y_valid),
        )
        clf.fit(X_train / 255.0, y_train)
        return timer.per_epoch(), {"test accuracy": f"{clf.score(X_test / 255.0, y_test):.4f}"}

    def sklearn_fit():
        import warnings

        clf = MLPClassifier(
            hidden_layer_sizes=(300, 100), solver="sgd", learning_rate_init=0.01, momentum=0.0,
            batch_size=32, max_iter=epochs, random_state=seed,
        )
        X = X_train.reshape(len(X_train), -1) / 255.0
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y_train)
        per_epoch = (time.perf_counter() - start) / epochs
        accuracy = clf.score(X_test.reshape(len(X_test), -1) / 255.0, y_test)
        return per_epoch, {"test accuracy": f"{accuracy:.4f}"}

    return {
        "book raw Keras": book(),
        "skann FashionMLPClassifier": skann_fit,
        "SciKeras KerasClassifier": scikeras_fit,
        "scikit-learn MLPClassifier": sklearn_fit,
        "raw Keras, steps_per_execution=64": book(64),
    }


def run(epochs: int = 3, repeats: int = 3, n_train: int | None = None, seed: int = 42) -> str:
    data = load_fashion(n_train)
    comps = competitors(data, epochs=epochs, seed=seed)
    results = alternate(comps, repeats)
    return (
        f"Training time per epoch, Fashion-MNIST ({len(data[0]):,} images, batch 32, SGD 0.01, "
        f"{epochs} epochs per fit, {repeats} alternating repeats; accuracy on the 10,000 test "
        f"images after {epochs} epochs, seed {seed}).\n\n"
        + timing_table(results, "book raw Keras", what="time per epoch", extra_columns=["test accuracy"])
    )


if __name__ == "__main__":
    cli(run, __doc__, epochs=3, repeats=3, n_train=None)
