"""Every file skann writes whole (model files, search checkpoints, downloads, plots, the
demo's results) is written atomically:
readers see the old file or the new one, never a part."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["write_atomically", "write_bytes_atomically"]


def write_atomically(path: Path, write: Callable[[BinaryIO], None], *, sync: bool = False) -> None:
    """``write`` into a hidden file beside ``path``, then rename it over ``path``.

    The temporary name has a fixed length (any name ``open()`` accepts still works) and
    carries a tag of the target and the writer's process id: a save killed midway leaves one
    such file, removed by the next save to the same path once its writer is gone. With
    ``sync``, the data is on disk before the rename (a checkpoint survives a power cut).
    """
    folder = path.parent
    tag = hashlib.sha256(path.name.encode()).hexdigest()[:12]
    _remove_abandoned_parts(folder, tag)
    fd, tmp = tempfile.mkstemp(prefix=f".{tag}.{os.getpid()}.", suffix=".skann-part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; use the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomically(path, data: bytes, *, sync: bool = False) -> None:
    """``data`` as the whole content of ``path``, written atomically (see write_atomically)."""
    write_atomically(Path(path), lambda handle: handle.write(data), sync=sync)


def _remove_abandoned_parts(folder: Path, tag: str) -> None:
    """Remove the part files of earlier saves to the same path whose process is gone."""
    if os.name != "posix":  # checking a process id is POSIX-only (os.kill(pid, 0))
        return
    for part in folder.glob(f".{tag}.*.skann-part"):
        try:
            pid = int(part.name.split(".")[2])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid():
            continue  # another thread of this process may be writing it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except OSError:  # alive, someone else's
            pass
