"""IterationLogger: the optimizer's step count, epoch and batch at every training step."""

from __future__ import annotations

import numpy as np
from keras import ops

from kerasopt_plugins.callbacks import _base


class IterationLogger(_base.StepLogger):
    """Log ``{"iteration": k, "epoch": e, "batch": b}`` every `every` steps.

    `iteration` is the optimizer's own count of `apply` calls (what Keras evaluates schedules
    at), exact: counted on the host and checked against the optimizer at every epoch end, or
    read on the device behind a `LossScaleOptimizer`, whose skipped steps do not count. Behind
    Lookahead, SWA or MovingAverage it is the inner optimizer's count (as `wrapper.iterations`). It
    continues across `fit` calls and after a saved model is reloaded. `batch` is Keras's index
    of the step in the epoch (with `steps_per_execution > 1`, of the execution's last step).
    The count at epoch end is merged into the epoch logs as "iterations". With
    `tensorboard_dir`, each logged step writes the scalars "iteration", "epoch" and "batch" at
    step = the iteration (TensorBoard's relative and wall-time axes then show steps per second).

    Args:
        every: log every this many training steps (default 1).
        path: stream records to this `.csv` or `.jsonl` file.
        if_exists: when `path` exists, as for `SlotLogger` (default "replace_log").
        tensorboard_dir: write the scalars here.
        max_records: keep at most this many records in memory (oldest dropped; None: all).
        epoch_logs: merge the count at epoch end into the epoch logs (default True).
    """

    _tensorboard_skip = ()  # its only fields: all of them are the per-step scalars

    def _start(self) -> list[str]:
        return ["iteration", "epoch", "batch"]

    def _capture(self) -> tuple:
        return ()  # the iteration is all there is, and the base class keeps it

    def _to_records(self, epochs, batches, iterations, fields) -> list[dict]:
        return [
            {"iteration": int(k), "epoch": e, "batch": b} for k, e, b in zip(iterations, epochs, batches)
        ]

    def _epoch_logs(self) -> dict:
        if not self.epoch_logs:
            return {}
        return {"iterations": int(np.asarray(ops.convert_to_numpy(self._counter)))}
