"""TensorBoard's HParams view of a search."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["HParamsLog"]


class HParamsLog:
    """TensorBoard's HParams summary: one run per candidate, with its parameters and score."""

    def __init__(self, log_dir: str, names: list[str], metric: str):
        try:
            from skann._backend import tensorflow

            tf = tensorflow()
            from tensorboard.plugins.hparams import api as hp
        except ImportError as exc:
            raise ImportError("log_dir needs TensorBoard: pip install 'skann[tensorboard]'.") from exc
        self.tf, self.hp, self.log_dir, self.metric = tf, hp, log_dir, metric
        with tf.summary.create_file_writer(log_dir).as_default():
            hp.hparams_config(hparams=[hp.HParam(name) for name in names], metrics=[hp.Metric(f"hparams/{metric}", display_name=metric),
                                       hp.Metric("hparams/epochs", display_name="epochs")])

    def write(self, candidate: int, params: dict, score: float, epochs: int) -> None:
        values = {}
        for name, value in params.items():
            if isinstance(value, np.generic):
                value = value.item()
            values[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
        run = os.path.join(self.log_dir, f"candidate_{candidate:04d}")
        with self.tf.summary.create_file_writer(run).as_default():
            self.hp.hparams(values, trial_id=f"candidate_{candidate:04d}")
            self.tf.summary.scalar(f"hparams/{self.metric}", score, step=epochs)
            self.tf.summary.scalar("hparams/epochs", epochs, step=epochs)
