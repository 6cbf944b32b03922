"""A search's results and states: in memory, and in ``checkpoint_dir`` to resume."""

from __future__ import annotations

import json
import os

from skann._atomic import write_bytes_atomically

__all__ = ["States"]


class States:
    """Where the trials' results and the live candidates' states are kept.

    In memory by default; with a folder, on disk as well, so that an interrupted search can
    resume: ``search.json`` (what search this is), ``results.jsonl`` (one line per finished
    trial, appended as they come) and ``states/`` (the latest state of each live candidate and
    fold; a pruned candidate's are deleted at once).
    """

    def __init__(self, folder: str | None):
        self.folder = folder
        self.results: dict[tuple[int, int, int], dict] = {}
        self.memory: dict[tuple[int, int], tuple[int, bytes]] = {}
        if folder is not None:
            os.makedirs(os.path.join(folder, "states"), exist_ok=True)

    def open(self, fingerprint: str, seed: int) -> int:
        """Check the folder holds this search (or nothing); load its results; return its seed."""
        header = os.path.join(self.folder, "search.json")
        if os.path.exists(header):
            with open(header) as f:
                saved = json.load(f)
            if saved.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"checkpoint_dir {self.folder!r} holds a different search (other parameters or data). "
                    "Use a new folder, or delete this one to start over."
                )
            seed = saved["seed"]
            self._load_results()
        else:
            write_bytes_atomically(header, json.dumps({"fingerprint": fingerprint, "seed": seed}).encode(), sync=True)
        return seed

    def _load_results(self) -> None:
        path = os.path.join(self.folder, "results.jsonl")
        if not os.path.exists(path):
            return
        with open(path) as f:
            for line in f:
                try:
                    result = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                self.results[(result["candidate"], result["fold"], result["epochs"])] = result

    def _state_path(self, candidate: int, fold: int, epochs: int) -> str:
        return os.path.join(self.folder, "states", f"c{candidate}_f{fold}_e{epochs}.pkl")

    def state(self, candidate: int, fold: int, epochs: int) -> bytes | None:
        if epochs == 0:
            return None
        kept = self.memory.get((candidate, fold))
        if kept is not None and kept[0] == epochs:
            return kept[1]
        if self.folder is not None and os.path.exists(path := self._state_path(candidate, fold, epochs)):
            with open(path, "rb") as f:
                return f.read()
        raise RuntimeError(f"The state of candidate {candidate} (fold {fold}) at {epochs} epochs is missing.")

    def record(self, result: dict, state: bytes | None, previous_epochs: int) -> None:
        """Keep a finished trial: its state first, then its result line, then drop the old state
        (a kill between any two steps leaves a consistent folder)."""
        candidate, fold, epochs = result["candidate"], result["fold"], result["epochs"]
        if state is not None:
            self.memory[(candidate, fold)] = (epochs, state)
        if self.folder is not None:
            if state is not None:
                write_bytes_atomically(self._state_path(candidate, fold, epochs), state, sync=True)
            with open(os.path.join(self.folder, "results.jsonl"), "a") as f:
                f.write(json.dumps(result) + "\n")
                f.flush()
                os.fsync(f.fileno())
            old = self._state_path(candidate, fold, previous_epochs)
            if state is not None and previous_epochs and os.path.exists(old):
                os.remove(old)
        self.results[(candidate, fold, epochs)] = result

    def drop(self, candidate: int) -> None:
        """Forget a candidate's states (pruned, or its bracket is over)."""
        for key in [k for k in self.memory if k[0] == candidate]:
            del self.memory[key]
        if self.folder is not None:
            prefix = f"c{candidate}_"
            for name in os.listdir(os.path.join(self.folder, "states")):
                if name.startswith(prefix):
                    os.remove(os.path.join(self.folder, "states", name))

