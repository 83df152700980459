"""LearningRateLogger: the learning rate each training step applied, with momentum and weight decay."""

from __future__ import annotations

import numbers
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
    last step is merged into the epoch logs as "learning_rate". Behind wrappers (Lookahead,
    SWA, MovingAverage, `LossScaleOptimizer`) it is the innermost optimizer's rate, schedule
    and decay: the rate its steps applied.

    With `steps_per_execution > 1`, Keras calls back once per execution: the record is for its
    last step, with that step's exact iteration.

    As Lightning's `LearningRateMonitor` does, the record also holds the optimizer's momentum
    (``"momentum"``: SGD, RMSprop, MomentumSGD, ...; or ``"beta_1"``: the Adam family) and its
    ``"weight_decay"``, where it has them (the innermost optimizer's): a float attribute is
    what the compiled step uses, read when training starts; one held in a variable is read at
    every logged step.

    Args:
        every: log every this many training steps (default 1).
        path: stream records to this `.csv` or `.jsonl` file.
        if_exists: when `path` exists, as for `SlotLogger` (default "replace_log").
        tensorboard_dir: write each value as a per-step TensorBoard scalar here.
        max_records: keep at most this many records in memory (oldest dropped; None: all).
        epoch_logs: merge the epoch's last rate into the epoch logs (default True).
        log_momentum: add "momentum" / "beta_1" where the optimizer has them (default True).
        log_weight_decay: add "weight_decay" where the optimizer has one (default True).
    """

    def __init__(
        self,
        every: int = 1,
        path: str | os.PathLike | None = None,
        if_exists: str = "replace_log",
        tensorboard_dir: str | os.PathLike | None = None,
        max_records: int | None = 100_000,
        epoch_logs: bool = True,
        log_momentum: bool = True,
        log_weight_decay: bool = True,
    ):
        super().__init__(every, path, if_exists, tensorboard_dir, max_records, epoch_logs)
        self.log_momentum = bool(log_momentum)
        self.log_weight_decay = bool(log_weight_decay)

    def _hyperparameters(self, optimizer) -> dict:
        """name -> a float (fixed while training) or a Variable (read at each logged step)."""
        names = (("momentum", "beta_1") if self.log_momentum else ()) + (("weight_decay",) if self.log_weight_decay else ())
        found = {}
        for name in names:
            value = getattr(optimizer, name, None)
            if isinstance(value, keras.Variable):
                found[name] = value
            elif isinstance(value, numbers.Real) and not isinstance(value, bool):
                found[name] = float(value)
        return found

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
        self._hyper = self._hyperparameters(optimizer)
        live = ([] if schedule is not None else [raw]) + [v for v in self._hyper.values() if isinstance(v, keras.Variable)]
        self._rate_is_live = schedule is None
        self._reader = _live.LiveReader(self.model, live) if live else None
        return ["iteration", "learning_rate", *self._hyper]

    def _capture(self) -> tuple:
        if self._reader is None:
            return ()
        # copied: torch updates in place, and a callback may assign a new rate before the flush
        return _live.snapshot(*self._reader.values())

    def _to_records(self, epochs, batches, iterations, fields) -> list[dict]:
        steps = np.maximum(np.asarray(iterations, dtype=np.int64) - 1, 0)  # steps done before it
        fields = list(fields)
        bases = fields.pop(0) if self._rate_is_live else np.zeros(len(steps), dtype=np.float32)
        rates = np.asarray(ops.convert_to_numpy(self._rates_fn(ops.convert_to_tensor(steps), ops.convert_to_tensor(bases))))
        columns = {}
        for name, value in self._hyper.items():
            columns[name] = fields.pop(0).astype(np.float64).tolist() if isinstance(value, keras.Variable) else [value] * len(steps)
        return [
            {"iteration": int(k), "learning_rate": float(r), **{name: float(v[i]) for name, v in columns.items()}}
            for i, (k, r) in enumerate(zip(iterations, rates))
        ]

    def _epoch_logs(self) -> dict:
        if not self.epoch_logs:
            return {}
        iteration = int(ops.convert_to_numpy(self._counter))
        fields = [np.asarray(ops.convert_to_numpy(c))[None] for c in self._capture()]
        return {"learning_rate": self._to_records([], [], [iteration], fields)[0]["learning_rate"]}
