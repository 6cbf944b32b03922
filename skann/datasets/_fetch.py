"""Finding, downloading and verifying dataset files.

Search order for every dataset: ``data_home``, then ``$SKANN_DATA/<dataset>/``, then the
cache folder the reference library uses. Downloads go to a temporary file next to the target,
are verified, then renamed into place, so an interrupted download never leaves a file that
looks complete.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

DATA_ENV_VAR = "SKANN_DATA"


class ChecksumError(ValueError):
    """A data file does not have the checksum of the published dataset."""


def md5sum(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str) -> None:
    _check_md5(md5sum(path), expected, str(path))


def _check_md5(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise ChecksumError(
            f"{what} is corrupt or not the published file: its md5 is {actual}, "
            f"expected {expected}. Delete it (or point SKANN_DATA at a good copy) and retry."
        )


def candidate_dirs(subdir: str, data_home: str | os.PathLike | None, cache_dir: Path | None) -> list[Path]:
    """Folders that may hold the dataset, in the order they are searched."""
    dirs: list[Path] = []
    if data_home is not None:
        home = Path(data_home).expanduser()
        dirs += [home / subdir, home]
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser() / subdir)
    if cache_dir is not None:
        dirs.append(cache_dir)
    return dirs


def download_dir(subdir: str, data_home: str | os.PathLike | None, cache_dir: Path) -> Path:
    """Where a download is written: the first place the user told us about, else the cache."""
    if data_home is not None:
        return Path(data_home).expanduser() / subdir
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser() / subdir
    return cache_dir


def download(urls: list[str], target: Path, md5: str, *, verbose: bool = True) -> Path:
    """Download the first reachable URL to ``target`` atomically and verify its md5."""
    from keras.utils import Progbar  # Keras' own progress bar, no extra dependency

    from skann._atomic import write_atomically

    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:

        def write(out, url=url):
            digest = hashlib.md5()
            with urllib.request.urlopen(url, timeout=30) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = Progbar(total, unit_name="B") if verbose else None
                if verbose:
                    print(f"Downloading {url}")
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if bar is not None:
                        bar.update(done)
            _check_md5(digest.hexdigest(), md5, f"{url} (downloaded)")

        try:  # renamed into place only once verified
            write_atomically(target, write)
            return target
        except (urllib.error.URLError, OSError, ChecksumError) as exc:
            errors.append(f"{url}: {exc}")
    raise OSError(f"Could not download {target.name}:\n  " + "\n  ".join(errors))
