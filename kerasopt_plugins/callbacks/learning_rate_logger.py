"""LearningRateLogger: the learning rate each training step applied."""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

from kerasopt_plugins.callbacks import _base, _live
from kerasopt_plugins.callbacks._slots import unwrap
from kerasopt_plugins.optimizers import PluginOptimizer, _keras_compat


class LearningRateLogger(_base.StepLogger):
    """Log the learning rate that each step applied: ``{"iteration": k, "learning_rate": r}``.

    `r` is the rate step `k` used (the schedule evaluated at `k - 1` steps done, with a
    `PluginOptimizer`'s legacy `decay`), not what `optimizer.learning_rate` shows after the
    step (the next step's rate). Changes made by other callbacks (`ReduceLROnPlateau`,
    `LearningRateScheduler`) are seen from the step they take effect. The rate of the epoch's
    last step is merged into the epoch logs as "learning_rate".

    With `steps_per_execution > 1`, Keras calls back once per execution: the record is for its
    last step, with that step's exact iteration.

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
        optimizer = unwrap(self.model.optimizer)
        raw = _keras_compat.raw_learning_rate(optimizer)
        schedule = raw if isinstance(raw, keras.optimizers.schedules.LearningRateSchedule) else None
        if schedule is None and not isinstance(raw, keras.Variable):
            raise ValueError(
                f"{type(self).__name__}: cannot evaluate learning rate {raw!r} of "
                f"{type(optimizer).__name__} per step (a float, Variable or LearningRateSchedule is needed)"
            )
        rate_variable = raw if schedule is None else None
        decayed = optimizer._decayed if isinstance(optimizer, PluginOptimizer) else None

        def capture(iterations, rate):
            step = ops.maximum(ops.subtract(iterations, 1), 0)  # steps done before the last one
            base = schedule(step) if schedule is not None else rate
            if decayed is not None:
                base = decayed(base, step)
            # copy: on torch a cast to the same dtype returns the live variable itself
            return ops.copy(iterations), ops.copy(ops.cast(base, "float32"))

        self._capture_fn = _live.compile_capture(capture)
        watched = [self.model.optimizer.iterations] + ([] if rate_variable is None else [rate_variable])
        self._reader = _live.LiveReader(self.model, watched)
        return ["iteration", "learning_rate"]

    def _capture(self) -> tuple:
        values = self._reader.values()
        rate = values[1] if len(values) > 1 else ops.zeros((), "float32")
        return tuple(self._capture_fn(values[0], rate))

    def _to_records(self, epochs, batches, fields) -> list[dict]:
        iterations, rates = fields
        return [{"iteration": int(k), "learning_rate": float(r)} for k, r in zip(iterations, rates)]

    def _epoch_logs(self) -> dict:
        if not self.epoch_logs:
            return {}
        _, rate = self._capture()
        return {"learning_rate": float(np.asarray(ops.convert_to_numpy(rate)))}
