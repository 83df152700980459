"""IterationLogger: the optimizer's step count, epoch and batch at every training step."""

from __future__ import annotations

import os

import numpy as np
from keras import ops

from kerasopt_plugins.callbacks import _base


class IterationLogger(_base.StepLogger):
    """Log ``{"iteration": k, "epoch": e, "batch": b}`` every `every` steps.

    `iteration` is the optimizer's own count of applied steps (`optimizer.iterations`), read on
    the device: it continues across `fit` calls and after a saved model is reloaded, and it does
    not count steps a `LossScaleOptimizer` skipped. `batch` is Keras's index of the step in the
    epoch (with `steps_per_execution > 1`, of the execution's last step). The count at epoch end
    is merged into the epoch logs as "iterations".

    Args: `every`, `path`, `if_exists`, `tensorboard_dir`, `max_records`, `epoch_logs`,
    as for `SlotLogger`.
    """

    def __init__(
        self,
        every: int = 1,
        path: str | os.PathLike | None = None,
        if_exists: str = "error",
        tensorboard_dir: str | os.PathLike | None = None,
        max_records: int | None = 100_000,
        epoch_logs: bool = True,
    ):
        super().__init__(every, path, if_exists, tensorboard_dir, max_records)
        self.epoch_logs = bool(epoch_logs)

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
