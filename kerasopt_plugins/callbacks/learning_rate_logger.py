"""LearningRateLogger: the learning rate each training step applied."""

from __future__ import annotations

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
    last step is merged into the epoch logs as "learning_rate". Behind wrappers (Lookahead,
    SWA, MovingAverage, `LossScaleOptimizer`) it is the innermost optimizer's rate, schedule
    and decay: the rate its steps applied.

    With `steps_per_execution > 1`, Keras calls back once per execution: the record is for its
    last step, with that step's exact iteration.

    Args: `every`, `path`, `if_exists`, `tensorboard_dir`, `max_records`, `epoch_logs`,
    as for `SlotLogger`.
    """

    def _start(self) -> list[str]:
        optimizer = unwrap(self.model.optimizer)
        raw = _keras_compat.raw_learning_rate(optimizer)
        schedule = raw if isinstance(raw, keras.optimizers.schedules.LearningRateSchedule) else None
        if schedule is None and not isinstance(raw, keras.Variable):
            raise ValueError(
                f"{type(self).__name__}: cannot evaluate learning rate {raw!r} of "
                f"{type(optimizer).__name__} per step (a float, Variable or LearningRateSchedule is needed)"
            )
        decayed = optimizer._decayed if isinstance(optimizer, PluginOptimizer) else None

        def make():
            def rates(steps, bases):  # vectorised over the logged steps
                base = schedule(steps) if schedule is not None else bases
                if decayed is not None:
                    base = decayed(base, steps)
                return ops.cast(ops.broadcast_to(base, ops.shape(steps)), "float32")

            return rates

        self._rates_fn = self.compiled((id(optimizer), id(schedule), decayed is not None), make)
        # A rate held in a variable can be changed between any two steps by other callbacks,
        # so it is captured at each logged step; a schedule's rate is computed at flush time.
        self._reader = None if schedule is not None else _live.LiveReader(self.model, [raw])
        return ["iteration", "learning_rate"]

    def _capture(self) -> tuple:
        if self._reader is None:
            return ()
        # copy: torch updates in place, and a callback may assign a new rate before the flush
        return (_live.snapshot(self._reader.values()[0]),)

    def _to_records(self, epochs, batches, iterations, fields) -> list[dict]:
        steps = np.maximum(np.asarray(iterations, dtype=np.int64) - 1, 0)  # steps done before it
        bases = fields[0] if fields else np.zeros(len(steps), dtype=np.float32)
        rates = np.asarray(ops.convert_to_numpy(self._rates_fn(ops.convert_to_tensor(steps), ops.convert_to_tensor(bases))))
        return [{"iteration": int(k), "learning_rate": float(r)} for k, r in zip(iterations, rates)]

    def _epoch_logs(self) -> dict:
        if not self.epoch_logs:
            return {}
        iteration = int(ops.convert_to_numpy(self._counter))
        fields = [np.asarray(ops.convert_to_numpy(c))[None] for c in self._capture()]
        return {"learning_rate": self._to_records([], [], [iteration], fields)[0]["learning_rate"]}
