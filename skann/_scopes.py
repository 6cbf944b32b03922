"""Scopes that switch a process-wide wrapper on for the calling thread only."""

from __future__ import annotations

import threading


class ThreadScope(threading.local):
    """A context manager that can nest: :attr:`active` inside it, in the entering thread only
    (skann's fits turn its wrappers of other libraries' functions on for their own calls)."""

    depth = 0

    def __enter__(self) -> ThreadScope:
        self.depth += 1
        return self

    def __exit__(self, *exc_info) -> None:
        self.depth -= 1

    @property
    def active(self) -> bool:
        return self.depth > 0
