"""The .skann file: a zip of ``skann.json`` (the object, as JSON), ``model_<n>.keras``
members (its networks) and ``array_<n>.npy`` members (its large numeric arrays), listed with
their SHA-256 in a manifest. Written atomically; read
member by member, each checked against the manifest before it is used, nothing decompressed
past its declared size."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from skann._atomic import write_atomically
from skann._safe_reading import (
    MAX_JSON_BYTES, SkannFileError, UnsafeFileError, UnsafeObjectError, checked_members, parse_json, read_member,
)
from skann._text import one_line

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "file_errors", "is_skann_file", "read_container", "write_container"]

FORMAT_NAME = "skann-safe"
# 1: each object's vars(), classes named by the modules defining them.
# 2: classes named by their public import paths.
# 3: each object's declared state: its parameters and named fitted attributes (skann._stored).
FORMAT_VERSION = 3
MANIFEST = "skann-manifest.json"
_MEMBER = re.compile(r"skann\.json|model_\d{1,6}\.keras|array_\d{1,6}\.npy")


def write_container(path: Path, meta: dict, binaries: dict[str, bytes]) -> None:
    """Write ``meta`` as skann.json and the networks' and arrays' bytes, with their checksums."""
    members = {"skann.json": json.dumps(meta, indent=1).encode(), **binaries}
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }

    def write(handle: BinaryIO) -> None:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for name, data in members.items():
                archive.writestr(name, data)

    write_atomically(path, write)


def read_container(handle: BinaryIO, folder: Path, max_bytes: int | None) -> tuple[dict[str, Path], dict]:
    """The verified members of a .skann file, written into ``folder`` (name -> file), and its
    skann.json with a valid format version."""
    members = _extract_verified(handle, folder, max_bytes)
    meta = parse_json(members["skann.json"].read_bytes(), "skann.json")
    if not isinstance(meta, dict):
        raise SkannFileError("skann.json does not describe an object.")
    return members, meta


def is_skann_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a :func:`skann.save` file: a zip with the skann manifest (a
    joblib file holding a network contains a zip too, the network's, so
    ``zipfile.is_zipfile`` says yes to it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return MANIFEST in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def check_version(version) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise SkannFileError(f"names format version {version!r}, which is not a format version.")
    if version > FORMAT_VERSION:
        raise SkannFileError(
            f"was written in skann file format version {version}; this skann reads "
            f"version {FORMAT_VERSION} and older. Upgrade skann to load it."
        )
    if version < 1:
        raise SkannFileError(f"names format version {version}, which no skann ever wrote.")


@contextmanager
def file_errors(path: Path) -> Iterator[None]:
    """Every failure while reading ``path`` as a SkannFileError naming the file."""
    try:
        yield
    except UnsafeFileError as exc:
        raise UnsafeFileError(f"{path}: {exc}") from None
    except SkannFileError as exc:
        raise SkannFileError(f"{path}: {exc}") from None
    except UnsafeObjectError as exc:
        raise UnsafeFileError(f"{path}: {exc}") from None
    except RecursionError:
        raise SkannFileError(f"{path} is not a valid skann model file (nested too deep).") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SkannFileError(f"{path} is not a skann model file, or it is truncated or corrupt ({one_line(exc)}).") from None
    except MemoryError:
        raise SkannFileError(f"{path} could not be loaded: out of memory.") from None
    except Exception as exc:  # zlib.error, NotImplementedError (compression), RuntimeError ...
        raise SkannFileError(f"{path} is not a valid skann model file ({type(exc).__name__}: {one_line(exc)}).") from None


def _extract_verified(handle: BinaryIO, folder: Path, max_bytes: int | None) -> dict[str, Path]:
    """Members of a .skann file written into ``folder`` as they are checked against the
    manifest: name -> file. Nothing is read before its name is in the manifest; nothing is
    decompressed past its declared size."""
    with zipfile.ZipFile(handle) as archive:
        names = archive.namelist()
        if MANIFEST not in names:
            raise SkannFileError(f"not a skann model file (no {MANIFEST}).")
        infos = checked_members(archive, lambda n: n == MANIFEST or _MEMBER.fullmatch(n) is not None, max_bytes, "the file")
        manifest = parse_json(read_member(archive, MANIFEST, MAX_JSON_BYTES), MANIFEST)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise SkannFileError(f"not a skann model file (format {_get(manifest, 'format')!r}).")
        check_version(manifest.get("format_version"))
        expected = manifest.get("sha256")
        if not isinstance(expected, dict) or not all(isinstance(v, str) for v in expected.values()):
            raise SkannFileError(f"{MANIFEST} has no valid checksums.")
        listed = set(expected) | {MANIFEST}
        if set(names) != listed or "skann.json" not in expected:
            raise SkannFileError("has been modified: its members do not match its manifest.")
        files = {}
        for index, info in enumerate(i for i in infos if i.filename != MANIFEST):
            limit = MAX_JSON_BYTES if info.filename.endswith(".json") else info.file_size
            if info.file_size > limit:
                raise SkannFileError(f"{info.filename} is {info.file_size:,} bytes, more than the {limit:,} bytes allowed.")
            target = folder / f"member-{index}{Path(info.filename).suffix}"  # Keras wants .keras
            digest = hashlib.sha256()
            copied = 0
            with archive.open(info) as source, open(target, "wb") as out:
                while chunk := source.read(2**20):
                    copied += len(chunk)
                    digest.update(chunk)
                    out.write(chunk)
            if copied != info.file_size or digest.hexdigest() != expected[info.filename]:
                raise SkannFileError(f"has been modified or is corrupt: checksum mismatch in {info.filename}.")
            files[info.filename] = target
    return files


def _get(value, key):
    return value.get(key) if isinstance(value, dict) else None
