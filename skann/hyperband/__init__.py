"""Hyperband over epochs inside scikit-learn: :class:`HyperbandSearchCV`.

A package of one job per module: ``schedule`` (the brackets), ``samplers`` (random, Optuna),
``live`` (this process's live estimators), ``trial`` (one trial on a worker), ``checkpoints``
(results and states, resumable), ``hparams`` (TensorBoard) and ``search`` (the class and a
fit's run of waves).


Candidates are scheduled in Hyperband's brackets of successive halving with epochs as the
resource. A surviving candidate *continues* training from its own state (weights, optimizer
state, epoch count, the fitted transformers of a Pipeline) in every fold instead of being
retrained. The search runs in waves: the brackets are laid out so that they all end on the
last wave, and a wave's rungs (candidates x folds) run together on joblib workers, so the
workers stay busy and every wave ends at a synchronisation point where a checkpoint is
written, the sampler learns from the finished rungs and a lost worker costs only that wave.

The schedule and the samplers are deterministic given ``random_state`` and the results, so a
resumed search replays the finished trials from its checkpoint and ends exactly where an
uninterrupted one would.
"""

from __future__ import annotations

from skann.hyperband.schedule import Rung, hyperband_brackets
from skann.hyperband.search import HyperbandSearchCV

__all__ = ["HyperbandSearchCV", "Rung", "hyperband_brackets"]
