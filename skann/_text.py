"""Error text for people: one line, bounded."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (its type's name when empty), cut to ``limit``
    characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
