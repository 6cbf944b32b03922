"""skann.SliceDataset: data scikit-learn splits by index, read a batch at a time by skann."""

from __future__ import annotations

import json
import textwrap

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split

import skann
from benchmarks.harness import peak_rss_mb
from skann import FashionMLPClassifier, KerasClassifier, KerasRegressor, KerasTransformer, SliceDataset
from skann.search import HyperbandSearchCV

from ._networks import seeded_mlp as mlp


class Unloadable(SliceDataset):
    """A SliceDataset (and its views) that fails if anything asks for all of it at once."""

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole SliceDataset was loaded")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32).reshape(-1, 8, 8), y


def _clf(**kwargs):
    settings = dict(loss="sparse_categorical_crossentropy", optimizer="adam", epochs=3, random_state=0)
    return KerasClassifier(mlp, **{**settings, **kwargs})


# ---------------------------------------------------------------------- the view itself
def test_views_index_like_arrays_and_read_nothing_until_asked():
    reads = []

    def load(i):
        reads.append(int(i))
        return np.full((2, 3), i, dtype=np.float32)

    data = SliceDataset(np.arange(10), load=load)
    view = data[np.array([9, 2, 4, 7])][1:]  # nested views: rows 2, 4, 7
    assert reads == [] and len(view) == 3
    assert view.shape == (3, 2, 3) and view.dtype == np.float32 and view.ndim == 3
    assert view[-1][0, 0] == 7
    np.testing.assert_array_equal(view.load_rows([2, 0])[:, 0, 0], [7, 2])
    np.testing.assert_array_equal(np.asarray(view[np.array([True, False, True])])[:, 0, 0], [2, 7])
    np.testing.assert_array_equal(view[np.array([0, 1]), ...].load_rows([1])[:, 0, 0], [4])  # scikit-learn's X[key, ...]
    assert "3 samples" in repr(view)
    with pytest.raises(IndexError, match="out of range"):
        view[3]
    with pytest.raises(IndexError, match="rows only"):
        view[0, 1]


def test_tuple_items_and_refusals():
    pairs = [(np.ones(2) * i, i % 2) for i in range(4)]
    X, y = SliceDataset(pairs, idx=0), SliceDataset(pairs, idx=1)
    np.testing.assert_array_equal(np.asarray(X)[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(np.asarray(y), [0, 1, 0, 1])
    with pytest.raises(TypeError, match="needs a sequence"):
        SliceDataset(iter(range(3)))
    ragged = SliceDataset([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="Sample 1 of the SliceDataset has shape \\(3,\\), but its first sample has shape \\(2,\\)"):
        ragged.load_rows([0, 1])


# ---------------------------------------------------------------------- training on it
@pytest.mark.parametrize("settings", [dict(), dict(early_stopping=True, validation_scoring="accuracy", epochs=4)])
def test_fit_equals_the_in_memory_fit(digits, settings):
    X, y = digits
    lazy = _clf(**settings).fit(Unloadable(X), y)
    in_memory = _clf(**settings).fit(X, y)
    for a, b in zip(lazy.model_.get_weights(), in_memory.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert lazy.history_.keys() == in_memory.history_.keys()
    np.testing.assert_allclose(lazy.history_["loss"], in_memory.history_["loss"], rtol=1e-4)
    np.testing.assert_allclose(lazy.predict_proba(Unloadable(X)), in_memory.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert lazy.score(Unloadable(X), y) == in_memory.score(X, y)
    assert lazy.n_features_in_ == in_memory.n_features_in_ == 8 and lazy.X_shape_ == X.shape


def test_partial_fit_warm_start_and_validation_data(digits):
    X, y = digits
    lazy = _clf(epochs=1)
    lazy.partial_fit(Unloadable(X[:1200]), y[:1200]).partial_fit(Unloadable(X[:1200]), y[:1200])
    memory = _clf(epochs=1).partial_fit(X[:1200], y[:1200]).partial_fit(X[:1200], y[:1200])
    np.testing.assert_allclose(lazy.model_.get_weights()[0], memory.model_.get_weights()[0], rtol=1e-5, atol=1e-6)
    held = _clf().fit(Unloadable(X[:1200]), y[:1200], validation_data=(Unloadable(X[1200:]), y[1200:]))
    assert len(held.history_["val_loss"]) == 3
    reg = KerasRegressor(mlp, loss="mse", optimizer="adam", epochs=2, random_state=0).fit(Unloadable(X), y.astype(float))
    assert reg.predict(Unloadable(X[:5])).shape == (5,)


@pytest.mark.skipif(
    keras.backend.backend() not in ("jax", "tensorflow"),
    reason=f"the engine's step programs run on JAX and TensorFlow; on {keras.backend.backend()} Keras' own loop reads the batches",
)
def test_fits_read_by_batch_share_one_step_program_per_architecture(digits):
    """Data read a batch at a time trains through the engine's cached step programs on JAX and
    TensorFlow (not a Model.fit that traces anew at each fit): a fit of the same architecture on
    other rows traces nothing; on TensorFlow, whose steps take any number of rows, neither does
    one with another number of rows (JAX compiles once per shape of batch)."""
    from skann.engine import compiled_cache

    X, y = digits
    compiled_cache.clear()
    _clf(epochs=2).fit(Unloadable(X[:1000]), y[:1000], validation_data=(Unloadable(X[1000:1300]), y[1000:1300]))
    (programs,) = compiled_cache._entries.values()
    traced = set(programs.seen)
    assert sorted({kind for kind, *_ in traced}) == ["test_step", "train_step"]
    _clf(epochs=2, random_state=1).fit(Unloadable(X[500:1500]), y[500:1500], validation_data=(Unloadable(X[:300]), y[:300]))
    assert programs.seen == traced and len(compiled_cache) == 1
    if keras.backend.backend() == "tensorflow":
        _clf(epochs=2).fit(Unloadable(X[:1001]), y[:1001], validation_data=(Unloadable(X[1000:1299]), y[1000:1299]))
        assert programs.seen == traced and len(programs.seen) == 2


def test_searches_split_it_by_index(digits):
    X, y = digits
    data = Unloadable(X)
    scores = cross_val_score(_clf(epochs=10, optimizer__learning_rate=0.01), data, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8, scores
    grid = GridSearchCV(_clf(epochs=10, optimizer__learning_rate=0.01), {"model__hidden": [8, 16]}, cv=2).fit(data, y)
    assert grid.best_score_ > 0.8 and grid.best_estimator_.predict(data[:3]).shape == (3,)
    hyperband = HyperbandSearchCV(
        _clf(optimizer__learning_rate=0.01), {"model__hidden": [8, 16, 32]}, max_epochs=8, factor=2, n_brackets=1, cv=2, random_state=0,
    ).fit(data, y)
    assert hyperband.best_score_ > 0.8, hyperband.best_score_
    X_train, X_test, y_train, y_test = train_test_split(data, y, test_size=0.25, random_state=0, stratify=y)
    assert isinstance(X_train, Unloadable) and len(X_test) == len(y_test)


def test_transformer_and_safe_file(digits, tmp_path):
    X, y = digits

    def embedding_net(meta):
        inputs = keras.Input(meta["X_shape_"][1:])
        hidden = keras.layers.Dense(4, activation="relu", name="hidden")(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))

    embed = KerasTransformer(embedding_net, layer="hidden", loss="sparse_categorical_crossentropy", random_state=0)
    codes = embed.fit(Unloadable(X), y).transform(Unloadable(X))
    assert codes.shape == (len(X), 4)
    np.testing.assert_allclose(codes, embed.transform(X), rtol=1e-6)
    est = _clf().fit(Unloadable(X), y)
    skann.save(est, tmp_path / "m.skann")
    np.testing.assert_array_equal(skann.load(tmp_path / "m.skann").predict(Unloadable(X)), est.predict(X))


def test_bad_samples_and_estimators_that_need_all_of_x(digits):
    X, y = digits
    with_nan = X.copy()
    with_nan[7, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity: sample\(s\) \[7\] of the SliceDataset"):
        _clf().fit(SliceDataset(with_nan), y)
    with pytest.raises(ValueError, match="must be numeric arrays"):
        _clf().fit(SliceDataset(["a", "b"]), [0, 1])
    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers of samples"):
        _clf().fit(SliceDataset(X), y[:-1])
    with pytest.raises(TypeError, match="takes X in memory"):
        FashionMLPClassifier(epochs=1).fit(SliceDataset(X.reshape(len(X), -1)), y)
    with pytest.raises(ValueError, match="autoencoder=True .* SliceDataset"):
        KerasTransformer(mlp, autoencoder=True, loss="mse").fit(SliceDataset(X))
    fitted = _clf().fit(X, y)
    with pytest.raises(ValueError, match=r"X has 4 features, but KerasClassifier is expecting 8 features as input"):
        fitted.predict(SliceDataset(X[:, :4, :4]))


# ---------------------------------------------------------------------- images on disk
def _write_images(folder, n, size, seed=0):
    """n random RGB images of size x size pixels as PNG files; their paths and labels."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths, labels = [], rng.integers(0, 2, n)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        pixels[..., 0] = np.where(labels[i], pixels[..., 0] | 128, pixels[..., 0] & 127)  # the label, in red
        path = folder / f"{i:05d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return np.array(paths), labels


def read_png(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def cnn(meta):
    return keras.Sequential([
        keras.Input(meta["X_shape_"][1:]),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ])


def test_cnn_on_png_files(tmp_path):
    pytest.importorskip("PIL")
    paths, labels = _write_images(tmp_path, 120, 16)
    images = SliceDataset(paths, load=read_png)
    assert images.shape == (120, 16, 16, 3) and images.dtype == np.uint8
    clf = KerasClassifier(cnn, loss="sparse_categorical_crossentropy", optimizer="adam", epochs=20, batch_size=16,
                          optimizer__learning_rate=0.01, random_state=0)
    search = GridSearchCV(clf, {"batch_size": [16, 32]}, cv=2).fit(images, labels)
    assert search.best_score_ > 0.8, search.cv_results_["mean_test_score"]
    in_memory = clf.fit(np.stack([read_png(p) for p in paths]), labels)
    np.testing.assert_allclose(
        KerasClassifier(**clf.get_params()).fit(images, labels).predict_proba(images[:10]),
        in_memory.predict_proba(np.asarray(images[:10])), rtol=1e-4, atol=1e-5,
    )


def test_memory_stays_bounded_as_the_files_grow(tmp_path):
    """Training and predicting on 6,000 image files (139 MB of pixels, 557 MB as the network's
    float32) peaks at about the memory of doing so on 500 (on PyTorch, 2,000: below): the files
    are read a batch at a time."""
    pytest.importorskip("PIL")
    paths, _ = _write_images(tmp_path, 6000, 88)
    np.save(tmp_path / "paths.npy", paths)
    code = textwrap.dedent(
        """
        import json
        import numpy as np, keras
        from PIL import Image
        from skann import KerasClassifier, SliceDataset

        def read_png(path):
            with Image.open(path) as image:
                return np.asarray(image)

        def cnn(meta):
            return keras.Sequential([
                keras.Input(meta["X_shape_"][1:]), keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(4, 3, strides=2, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(meta["n_classes_"], activation="softmax"),
            ])

        paths = np.load(PATHS)[:N]
        clf = KerasClassifier(cnn, loss="sparse_categorical_crossentropy", epochs=1, batch_size=64, random_state=0)
        clf.fit(SliceDataset(paths, load=read_png), np.arange(N) % 2)
        print(json.dumps({"n": N, "predicted": len(clf.predict(SliceDataset(paths, load=read_png)))}))
        """
    )
    # PyTorch's CPU tensors come from malloc, which keeps the memory of up to three or four
    # freed prediction chunks (361 images, 32 MB as float32, and the network's copies of them)
    # for a while: there the peak rises over the first few chunks, then stays (measured: 6,000
    # files 102-218 MB above 500, 0-96 MB above 2,000), so it is compared from 2,000 files.
    malloc_keeps_chunks = keras.backend.backend() == "torch"
    fewer = 2000 if malloc_keeps_chunks else 500
    peaks = {}
    for n in (fewer, 6000):
        peak, out = peak_rss_mb(f"N = {n}\nPATHS = {str(tmp_path / 'paths.npy')!r}\n" + code, timeout=600)
        assert json.loads(out.strip().splitlines()[-1]) == {"n": n, "predicted": n}
        peaks[n] = peak
    extra_mb = (6000 - fewer) * 88 * 88 * 3 / 2**20  # the extra files' pixels, as uint8: 122 MB from 500
    # JAX and TensorFlow, measured: peaks 0-40 MB apart (allocator noise, the same for 2,000 or 8,000
    # files): half the extra pixels. PyTorch: half of them as the network's float32 (355 MB),
    # what reading them whole would add at least.
    allowed_mb = (4 if malloc_keeps_chunks else 1) * extra_mb / 2
    assert peaks[6000] - peaks[fewer] < allowed_mb, (peaks, extra_mb)
