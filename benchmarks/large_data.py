"""The book's Fashion MLP per epoch against the floor of its matrix products, on the backend
of this process (``KERAS_BACKEND``).

skann's ``FashionMLPClassifier`` (784-300-100-10, ReLU, softmax, SGD 0.01, batch size 32, no
hold-out) trains on the first N training images; its per-epoch time (median over epochs 2..E,
the first one compiling) is compared with the **floor**: the eight float32 matrix products one
training step of this network needs (three forward, three weight gradients, two input
gradients), for every batch of an epoch, timed with NumPy in the same run. The two alternate,
repeat after repeat.

On JAX two more anchors run in the same rotation, to say where the time above the floor goes:
the same eight products compiled by XLA in a ``jax.lax.scan`` over the batches (what XLA's own
matrix products cost, on the same threads as skann's), and a hand-written JAX training loop
of the same network (``jax.grad`` of the softmax cross-entropy, plain SGD, the batches in a
``jax.lax.scan``, compiled with JAX's defaults): what a JAX user writing the epoch by hand
gets.

    SKANN_DATA=../shared/data KERAS_BACKEND=jax python -m benchmarks.large_data --n-train 20000 --epochs 4 --repeats 3
"""

from __future__ import annotations

import functools
import time

import skann  # noqa: F401  (first: quiet TensorFlow import, on its backend)
import keras
import numpy as np

from benchmarks.harness import alternate, cli, load_fashion, markdown_table
from benchmarks.training import EpochTimer

SIZES = (784, 300, 100, 10)
BATCH = 32


def matmul_floor(n_rows: int) -> float:
    """Seconds for one epoch's matrix products of the 784-300-100-10 network, in NumPy."""
    weights = _floor_weights()
    x = _batches(BATCH, SIZES[0])[0]
    start = time.perf_counter()
    for _ in range(n_rows // BATCH):
        acts = [x]
        for w in weights:  # forward
            acts.append(acts[-1] @ w)
        grad = acts[-1]
        for i in reversed(range(len(weights))):  # backward: weight gradient, input gradient
            _ = acts[i].T @ grad
            if i:
                grad = grad @ weights[i].T
    return time.perf_counter() - start


def _batches(n_rows: int, width: int):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n_rows // BATCH, BATCH, width), dtype=np.float32)


def xla_matmul_epoch():
    """A function timing one epoch of the eight matrix products in XLA (compiled before)."""
    import jax

    weights = [jax.device_put(w) for w in _floor_weights()]

    def products(total, x):
        acts = [x]
        for w in weights:
            acts.append(acts[-1] @ w)
        grad = acts[-1]
        for i in reversed(range(len(weights))):
            total = total + (acts[i].T @ grad).sum()  # (summed, so that XLA keeps every product)
            if i:
                grad = grad @ weights[i].T
        return total, None

    epoch = jax.jit(lambda xs: jax.lax.scan(products, np.float32(0), xs)[0])
    return _timed_epoch(epoch, None)


def jax_loop_epoch():
    """A function timing one epoch of a hand-written JAX training loop of the same network
    (compiled before): ReLU, softmax cross-entropy, SGD 0.01."""
    import jax
    import jax.numpy as jnp

    params = [(jax.device_put(w * np.float32(0.05)), jnp.zeros(w.shape[1], np.float32)) for w in _floor_weights()]

    def loss(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            h = jax.nn.relu(h) if i < len(params) - 1 else h
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1))

    def step(params, batch):
        grads = jax.grad(loss)(params, *batch)
        return jax.tree.map(lambda p, g: p - np.float32(0.01) * g, params, grads), None

    epoch = jax.jit(lambda params, xs, ys: jax.lax.scan(step, params, (xs, ys))[0])
    return _timed_epoch(epoch, params)


def _floor_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])]


def _timed_epoch(epoch, params):
    import jax

    def run(n_rows: int) -> float:
        xs = jax.device_put(_batches(n_rows, SIZES[0]))
        args = (xs,) if params is None else (params, xs, jax.device_put(np.zeros(xs.shape[:2], np.int32)))
        jax.block_until_ready(epoch(*args))  # compiled, and the data in place, before the clock
        start = time.perf_counter()
        jax.block_until_ready(epoch(*args))
        return time.perf_counter() - start

    return run


def run(n_train: int = 20000, epochs: int = 4, repeats: int = 3, seed: int = 42) -> str:
    from skann import FashionMLPClassifier

    X_train, y_train, *_, X_test, y_test = load_fashion(n_train)
    accuracy = {}

    def skann_epoch():
        timer = EpochTimer()
        clf = FashionMLPClassifier(
            n_hidden=2, n_neurons=[300, 100], optimizer="sgd", learning_rate=0.01, batch_size=BATCH,
            epochs=epochs, early_stopping=False, random_state=seed, callbacks=[timer],
        ).fit(X_train, y_train)
        accuracy["skann"] = clf.score(X_test, y_test)
        return timer.per_epoch()

    competitors = {"matmul floor (NumPy)": lambda: matmul_floor(len(X_train)), "skann epoch": skann_epoch}
    anchors = {}
    if keras.backend.backend() == "jax":
        anchors = {"the products in XLA": xla_matmul_epoch(), "hand-written JAX epoch": jax_loop_epoch()}
    competitors.update({name: functools.partial(epoch, len(X_train)) for name, epoch in anchors.items()})
    results = alternate(competitors, repeats)
    floor, ours = results["matmul floor (NumPy)"].median, results["skann epoch"].median
    table = markdown_table(
        ["backend", "images", "floor per epoch", "skann per epoch", "skann / floor", "test accuracy"],
        [[keras.backend.backend(), f"{len(X_train):,}", f"{floor * 1e3:.0f} ms", f"{ours * 1e3:.0f} ms",
          f"{ours / floor:.2f}x", f"{accuracy['skann']:.4f} after {epochs} epochs"]],
    )
    out = f"Fashion MLP per epoch against its matrix-product floor ({repeats} alternating repeats, medians).\n\n{table}"
    if anchors:
        rows = [[name, f"{results[name].median * 1e3:.0f} ms", f"{results[name].median / floor:.2f}x",
                 f"{ours / results[name].median:.2f}x"] for name in anchors]
        out += "\n\n" + markdown_table(["JAX anchor", "per epoch", "anchor / floor", "skann / anchor"], rows)
    return out


if __name__ == "__main__":
    cli(run, __doc__, n_train=20000, epochs=4, repeats=3)
