"""Peak resident memory of a full Fashion-MNIST fit: skann vs the book's Keras code and SciKeras.

Each competitor runs in a fresh Python process (imports, loading the 60,000 images, a
2-epoch fit on 55,000 of them with validation on the other 5,000); the figure is the process'
peak resident set size (``ru_maxrss``). "imports only" is the floor every process pays.

    SKANN_DATA=../shared/data python -m benchmarks.memory
"""

from __future__ import annotations


from benchmarks.harness import cli, markdown_table, peak_rss_mb

_LOAD = """
import skann
from benchmarks.harness import load_fashion
X_train, y_train, X_valid, y_valid, X_test, y_test = load_fashion()
"""

PROGRAMS = {
    "imports only": "import skann, keras, scikeras.wrappers\n",
    "skann FashionMLPClassifier": _LOAD + """
from skann import FashionMLPClassifier
FashionMLPClassifier(epochs={epochs}, random_state=0).fit(X_train, y_train, validation_data=(X_valid, y_valid))
""",
    "book raw Keras": _LOAD + """
from benchmarks.book_keras import book_fashion_fit, book_fashion_model
book_fashion_fit(book_fashion_model(0), X_train, y_train, X_valid, y_valid, epochs={epochs})
""",
    "SciKeras KerasClassifier": _LOAD + """
from scikeras.wrappers import KerasClassifier
from benchmarks.book_keras import book_fashion_model
KerasClassifier(model=book_fashion_model, model__seed=0, epochs={epochs}, verbose=0,
                fit__validation_data=(X_valid / 255.0, y_valid)).fit(X_train / 255.0, y_train)
""",
}


def run(epochs: int = 2) -> str:
    rows = []
    for name, code in PROGRAMS.items():
        mb, _ = peak_rss_mb(code.format(epochs=epochs))
        rows.append([name, f"{mb:,.0f} MB"])
        print(f"  {name}: {mb:,.0f} MB", flush=True)
    return (
        f"Peak resident memory of a fresh process fitting the full Fashion-MNIST training set "
        f"({epochs} epochs, validation on 5,000 images).\n\n" + markdown_table(["", "peak RSS"], rows)
    )


if __name__ == "__main__":
    cli(run, __doc__, epochs=2)
