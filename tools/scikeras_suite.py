"""Run SciKeras' own test suite against skann's wrappers, with the imports swapped.

SciKeras' tests are the reference contract of ``skann.KerasClassifier`` / ``KerasRegressor``::

    git clone https://github.com/adriangb/scikeras /tmp/scikeras   # or any checkout of it
    python tools/scikeras_suite.py /tmp/scikeras [pytest arguments...]

The script copies the checkout's ``tests/`` into a temporary folder and rewrites three imports:
``scikeras.wrappers`` and ``scikeras.utils.transformers`` become ``skann.wrappers``, and
``keras.src.backend.common.variables.KerasVariable`` (gone from Keras 3.15, which hides every
test of ``test_compile_kwargs.py`` behind a collection error) becomes ``keras.Variable``.
Offline, ``fetch_california_housing`` (four serialization tests) reads scikit-learn's cache,
which the script writes from the real data in ``$SKANN_DATA/california-housing/cal_housing.data``
(the same file and transformation scikit-learn downloads); the autoencoder test downloads MNIST
and needs the internet.

Two files test SciKeras' own helper functions, not the wrappers, and are left out:
``test_utils.py`` (``scikeras.utils.loss_name``/``metric_name``) and ``test_random_state.py``
(``scikeras.utils.random_state``). The tests that fail by design are listed, with their reason,
in ``docs/migrating.md``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SWAPS = [
    (re.compile(r"from scikeras\.wrappers import"), "from skann.wrappers import"),
    (re.compile(r"from scikeras\.utils\.transformers import"), "from skann.wrappers import"),
    (
        re.compile(r"from keras\.src\.backend\.common\.variables import KerasVariable"),
        "from keras import Variable as KerasVariable",
    ),
]
LEFT_OUT = ("test_utils.py", "test_random_state.py")


def main(argv: list[str]) -> int:
    if not argv or not (Path(argv[0]) / "tests").is_dir():
        print(__doc__)
        return 2
    source = Path(argv[0]) / "tests"
    with tempfile.TemporaryDirectory(prefix="skann-scikeras-suite-") as folder:
        target = Path(folder) / "tests"
        shutil.copytree(source, target)
        for name in LEFT_OUT:
            (target / name).unlink(missing_ok=True)
        for path in target.glob("*.py"):
            text = path.read_text()
            for pattern, replacement in SWAPS:
                text = pattern.sub(replacement, text)
            if "scikeras" in re.sub(r"#.*", "", text).replace('"""', ""):
                leftover = [line for line in text.splitlines() if "import" in line and "scikeras" in line]
                if leftover:
                    raise SystemExit(f"{path.name} still imports SciKeras: {leftover}")
            path.write_text(text)
        env = dict(os.environ)
        statlib = Path(os.environ.get("SKANN_DATA", "")) / "california-housing" / "cal_housing.data"
        if statlib.is_file():
            env["SCIKIT_LEARN_DATA"] = _sklearn_housing_cache(statlib, Path(folder) / "sklearn_data")
        command = [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "-q", *argv[1:]]
        return subprocess.call(command, cwd=folder, env=env)


def _sklearn_housing_cache(statlib: Path, home: Path) -> str:
    """scikit-learn's California housing cache, made as fetch_california_housing makes it."""
    import joblib
    import numpy as np

    home.mkdir(parents=True, exist_ok=True)
    data = np.loadtxt(statlib, delimiter=",")[:, [8, 7, 2, 3, 4, 5, 6, 1, 0]]
    joblib.dump(data, home / "cal_housing_py3.pkz", compress=6)
    return str(home)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
