"""What a skann file may be, and reading it within bounds: the errors every refusal raises,
the loading limits, and size-checked reading of zip members and depth-checked JSON. The
.skann container and the Keras archives inside it are both read through these."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable

from skann._text import one_line

__all__ = [
    "MAX_BYTES", "MAX_CONFIG_INT", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_PARAMS",
    "SkannFileError", "UnsafeFileError", "UnsafeObjectError", "checked_members", "parse_json", "read_member",
]

# Loading limits (keywords of load() override the first two, for the rare huge model).
MAX_BYTES = 512 * 2**20  # uncompressed content of a file, and of each network inside it
MAX_PARAMS = 30_000_000  # weights of one network (a ResNet-50 has 25.6 million)
MAX_JSON_BYTES = 16 * 2**20  # one JSON member: parsed JSON takes several times its size
MAX_JSON_DEPTH = 100  # nesting of JSON (a Pipeline of a ColumnTransformer of Pipelines: 21 levels)
# Integers in the configs of losses, metrics and optimizers: some size Python lists built in
# their constructors (a metric's thresholds); seeds are exempt.
MAX_CONFIG_INT = 1_000_000


class UnsafeObjectError(TypeError):
    """The safe format cannot store or rebuild this object."""


class SkannFileError(ValueError):
    """The file is not a valid skann model file (corrupt, modified, foreign, too new, too big,
    or asking for something the safe format refuses to build)."""


class UnsafeFileError(SkannFileError, UnsafeObjectError):
    """A file asks for a class or function outside what the safe format rebuilds."""


def checked_members(archive: zipfile.ZipFile, allowed: Callable[[str], bool], max_bytes: int | None, what: str) -> list:
    """The members of ``archive`` once their names, compression and declared sizes pass."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise SkannFileError(f"{what} has duplicate member names.")
    for info in infos:
        if not allowed(info.filename):
            raise SkannFileError(f"{what} has an unexpected member {info.filename[:100]!r}.")
        if info.flag_bits & 0x1:
            raise SkannFileError(f"{what} has an encrypted member {info.filename!r}.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SkannFileError(f"{what} uses an unsupported compression method in {info.filename!r}.")
    declared = sum(info.file_size for info in infos)
    if max_bytes is not None and declared > max_bytes:
        raise SkannFileError(
            f"{what} holds {declared:,} bytes uncompressed, more than the limit of {max_bytes:,}. "
            "If you trust the file, load it with max_bytes=None (or a larger limit)."
        )
    return infos


def read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise SkannFileError(f"{name} is {info.file_size:,} bytes, more than the {limit:,} bytes allowed.")
    with archive.open(info) as member:
        return member.read(limit + 1)  # a member cannot yield more than it declares (zipfile)


def parse_json(data: bytes, what: str):
    """JSON with its nesting bounded (checked without recursion)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise SkannFileError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise SkannFileError(f"{what} is not valid JSON ({one_line(exc)}).") from None
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise SkannFileError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value
