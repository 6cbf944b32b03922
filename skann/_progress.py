"""Progress bars on stderr for the command line: epochs of a fit, fits of a search."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import contextlib
import os
import sys
import tempfile
import threading

import click
import keras


class EpochProgress(keras.callbacks.Callback):
    """A click progress bar over the epochs of one fit, showing the latest losses.

    Keras does not end a fit that raises (Ctrl-C, an error) with ``on_train_end``: a bar
    still drawn then is finished by :meth:`close_all`, so that the line ends and the cursor,
    hidden while a bar is drawn in a terminal, shows again.
    """

    _drawn: set[EpochProgress] = set()

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self.label = label
        self.epochs = epochs
        self._bar = None
        self._logs: dict = {}

    def _latest_metrics_text(self, _item) -> str | None:
        shown = [k for k in ("loss", "val_loss", "accuracy", "val_accuracy") if k in self._logs]
        return "  ".join(f"{k} {self._logs[k]:.4f}" for k in shown) or None

    def on_train_begin(self, logs=None):
        self._bar = click.progressbar(
            length=self.epochs, label=self.label, file=sys.stderr, item_show_func=self._latest_metrics_text,
            show_eta=True, width=24,
        )
        self._bar.__enter__()
        EpochProgress._drawn.add(self)

    def on_epoch_end(self, epoch, logs=None):
        self._logs = dict(logs or {})
        self._bar.update(1, epoch)

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        EpochProgress._drawn.discard(self)

    @classmethod
    def close_all(cls) -> bool:
        """Finish the bars of fits that ended by an exception; whether there were any."""
        drawn = list(cls._drawn)
        for progress in drawn:
            progress.close()
        return bool(drawn)


class FitCounter(keras.callbacks.Callback):
    """Appends one byte to ``path`` at the end of every fit it takes part in.

    A search clones the estimator (and this callback) into every fit, in this process or in
    joblib / Dask workers on the same machine; appends to one file are atomic, so the file's
    size counts finished fits wherever they ran.
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        with open(self.path, "ab") as handle:
            handle.write(b".")


@contextlib.contextmanager
def count_fits(label: str, total: int, enabled: bool = True):
    """Yield a :class:`FitCounter` (or None when disabled) and show its count as a bar."""
    if not enabled:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="skann-fits-")
    os.close(fd)
    done = threading.Event()
    bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, width=24)

    def watch():
        shown = 0
        while not done.wait(0.25):
            count = os.path.getsize(path)
            if count > shown:
                bar.update(count - shown)
                shown = count

    with bar:
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield FitCounter(path)
        finally:
            done.set()
            watcher.join()
            bar.update(max(0, os.path.getsize(path) - bar.pos))
            os.unlink(path)
