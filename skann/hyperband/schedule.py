"""Hyperband's schedule: brackets of successive halving over epochs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Bracket", "Rung", "hyperband_brackets"]


@dataclass(frozen=True)
class Rung:
    """One rung of a bracket: how many candidates train to how many epochs."""

    n_candidates: int
    epochs: int


def hyperband_brackets(max_epochs: int, factor: int = 3, min_epochs: int = 1) -> list[list[Rung]]:
    """Hyperband's brackets (Li et al., 2018), the most exploratory first.

    With ``s_max = floor(log_factor(max_epochs / min_epochs))``, bracket ``s`` (from ``s_max``
    down to 0) starts ``ceil((s_max + 1) / (s + 1) * factor**s)`` candidates at
    ``max_epochs / factor**s`` epochs and keeps the best ``1/factor`` at each of its ``s``
    further rungs, whose epochs grow by ``factor`` up to ``max_epochs``.

    Examples
    --------
    >>> [[(r.n_candidates, r.epochs) for r in b] for b in hyperband_brackets(9, factor=3)]
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    """
    s_max = int(math.floor(math.log(max_epochs / min_epochs, factor) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * factor**s)
        rungs, previous = [], 0
        for i in range(s + 1):
            epochs = max(min_epochs, round(max_epochs * factor ** (i - s)), previous + 1)
            rungs.append(Rung(max(1, math.floor(n * factor**-i)), min(epochs, max_epochs)))
            previous = rungs[-1].epochs
        brackets.append(rungs)
    return brackets


@dataclass
class Bracket:
    """One bracket being run: its rungs, the wave it starts on and its live candidates."""

    index: int
    rungs: list[Rung]
    first_wave: int
    live: list[int] = field(default_factory=list)  # candidate ids, best first after a rung
