"""The book's own Keras code, the reference skann is measured against (benchmarks and slow tests)."""

from __future__ import annotations

import numpy as np

import skann  # noqa: F401  (quiet TensorFlow import)
import keras
from sklearn.metrics import root_mean_squared_error


def book_fashion_model(seed: int) -> keras.Sequential:
    """The book's Fashion-MNIST MLP (784-300-100-10), compiled as in the book (SGD 0.01)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.layers.Input(shape=[28, 28]),
            keras.layers.Flatten(),
            keras.layers.Dense(300, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return model


def book_fashion_fit(model, X_train, y_train, X_valid, y_valid, *, epochs: int, callbacks=()):
    """The book's training call: pixels scaled by 255.0 (float64 arrays), batch 32."""
    return model.fit(
        X_train / 255.0, y_train, epochs=epochs, validation_data=(X_valid / 255.0, y_valid),
        verbose=0, callbacks=list(callbacks),
    )


def fashion_mlp_accuracy(X_train, y_train, X_valid, y_valid, X_test, y_test, *, seed: int, epochs: int = 30) -> float:
    """Test accuracy of the book's Fashion-MNIST MLP (784-300-100-10, SGD 0.01, batch 32)."""
    model = book_fashion_model(seed)
    book_fashion_fit(model, X_train, y_train, X_valid, y_valid, epochs=epochs)
    return float(model.evaluate(X_test / 255.0, y_test, verbose=0)[1])


def wide_deep_rmse(X_train, X_valid, X_test, y_train, y_valid, y_test, *, seed: int, epochs: int = 20) -> float:
    """Test RMSE of the book's Wide & Deep network with an auxiliary output (weights 0.9/0.1)."""
    keras.utils.set_random_seed(seed)
    input_wide = keras.layers.Input(shape=[5])
    input_deep = keras.layers.Input(shape=[6])
    norm_layer_wide = keras.layers.Normalization()
    norm_layer_deep = keras.layers.Normalization()
    norm_wide = norm_layer_wide(input_wide)
    norm_deep = norm_layer_deep(input_deep)
    hidden1 = keras.layers.Dense(30, activation="relu")(norm_deep)
    hidden2 = keras.layers.Dense(30, activation="relu")(hidden1)
    concat = keras.layers.concatenate([norm_wide, hidden2])
    output = keras.layers.Dense(1)(concat)
    aux_output = keras.layers.Dense(1)(hidden2)
    model = keras.Model(inputs=[input_wide, input_deep], outputs=[output, aux_output])
    model.compile(
        loss=("mse", "mse"),
        loss_weights=(0.9, 0.1),
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        metrics=["RootMeanSquaredError", "RootMeanSquaredError"],
    )

    def split(X):
        return X[:, :5].astype(np.float32), X[:, 2:].astype(np.float32)

    norm_layer_wide.adapt(split(X_train)[0])
    norm_layer_deep.adapt(split(X_train)[1])
    model.fit(split(X_train), (y_train, y_train), epochs=epochs, validation_data=(split(X_valid), (y_valid, y_valid)), verbose=0)
    main = model.predict(split(X_test), verbose=0)[0].ravel()
    return float(root_mean_squared_error(y_test, main))
