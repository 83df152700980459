"""MovingAverage: an exponential moving average of the weights, around any optimizer."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers._checks import check_integer, check_number
from kerasopt_plugins.wrappers._averaged import AveragedOptimizer


class MovingAverage(AveragedOptimizer):
    """An exponential moving average of the weights (tensorflow-addons 0.23's semantics).

    The average starts as a copy of the initial weights. After the update of 0-based step t::

        average = average - (average - w) * (1 - decay)

    with ``decay = 0`` while t < start_step (the average follows the weights), else
    `average_decay`, lowered to ``(1 + c) / (10 + c)`` where that is smaller: with
    ``dynamic_decay``, c = t - start_step; with `num_updates` given, c = num_updates (fixed, as
    in tfa, which read it once).

    This differs from Keras's ``use_ema`` (which starts the average from the weights after the
    first step and has no start_step, dynamic_decay or num_updates); see docs/wrappers.md.

    Args:
        optimizer: the inner optimizer: an instance, a name or a config dict.
        average_decay: the decay (in [0, 1]). Default 0.99.
        num_updates: an int >= 0 that lowers the decay as above, or None. Default None.
        start_step: the step from which the average averages (int >= 0). Default 0.
        dynamic_decay: lower the decay early on (bool). Default False.
        name: default "MovingAverage".

    Example:
        ```python
        optimizer = MovingAverage(keras.optimizers.Adam(1e-3), average_decay=0.999)
        ...
        with optimizer.averaged_weights():
            model.evaluate(x_test, y_test)
        ```
    """

    wrapper_name = "moving_average"
    slot_starts_from_variable = True

    def __init__(
        self,
        optimizer,
        average_decay: float = 0.99,
        num_updates: int | None = None,
        start_step: int = 0,
        dynamic_decay: bool = False,
        name=None,
        **kwargs,
    ):
        owner = "MovingAverage"
        average_decay = check_number("average_decay", average_decay, low=0.0, high=1.0, owner=owner)
        num_updates = check_integer("num_updates", num_updates, low=0, allow_none=True, owner=owner)
        start_step = check_integer("start_step", start_step, low=0, owner=owner)
        if not isinstance(dynamic_decay, (bool, numbers.Integral)):  # tfa took 0 and 1 too
            kind = type(dynamic_decay).__name__
            raise TypeError(f"{owner}: dynamic_decay must be a bool, got {dynamic_decay!r} of type {kind}")
        if dynamic_decay not in (0, 1):
            raise ValueError(f"{owner}: dynamic_decay must be a bool, got {dynamic_decay!r}")
        super().__init__(optimizer, name=name, **kwargs)
        self.average_decay = average_decay
        self.num_updates = num_updates
        self.start_step = start_step
        self.dynamic_decay = bool(dynamic_decay)

    def _decay(self, step):
        """The float32 decay at 0-based step `step` (tfa's arithmetic, in float32)."""
        decay = ops.convert_to_tensor(self.average_decay, "float32")
        if self.num_updates is not None:
            n = ops.convert_to_tensor(float(self.num_updates), "float32")
            decay = ops.minimum(decay, ops.divide(ops.add(n, 1.0), ops.add(n, 10.0)))
        step = ops.cast(step, "float32")
        if self.dynamic_decay:
            count = ops.subtract(step, float(self.start_step))
            decay = ops.minimum(decay, ops.divide(ops.add(count, 1.0), ops.add(count, 10.0)))
        return ops.where(ops.less(step, float(self.start_step)), 0.0, decay)

    def _own_step_plan(self, updates):
        decay = self._decay(ops.subtract(updates, 1))
        return None, {"rate": ops.subtract(1.0, decay)}

    @staticmethod
    def _own_rule(k, scalars):
        k.lerp("average", "variable", scalars["rate"])  # average - (average - w) * rate

    def _own_config(self):
        return {
            "average_decay": self.average_decay,
            "num_updates": self.num_updates,
            "start_step": self.start_step,
            "dynamic_decay": self.dynamic_decay,
        }
