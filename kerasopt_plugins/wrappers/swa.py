"""SWA: stochastic weight averaging around any optimizer."""

from __future__ import annotations

from keras import ops

from kerasopt_plugins.optimizers._checks import check_integer
from kerasopt_plugins.wrappers._averaged import AveragedOptimizer


class SWA(AveragedOptimizer):
    """Stochastic weight averaging around any Keras optimizer (tensorflow-addons 0.23's semantics).

    The inner optimizer trains the weights as usual. The average starts at zero; after the
    update of 0-based step t = start_averaging + n * average_period (n = 0, 1, ...), the
    weights are averaged in as snapshot n + 1::

        average = average + (w - average) / (n + 1)     # (average * n + w) / (n + 1)

    (computed as a step of 1 / (n + 1) towards w, as torch's ``swa_utils`` does; tfa divided
    the sum, which rounds differently in the last bit), so after the first snapshot the
    average equals the weights. Evaluate or export with it: `assign_average_vars`,
    `averaged_weights()`, `swap_weights`, and recompute batch-norm statistics for the averaged
    weights with `recompute_batch_norm`.

    Args:
        optimizer: the inner optimizer: an instance, a name or a config dict.
        start_averaging: the step of the first snapshot (int >= 0). Default 0.
        average_period: steps between snapshots (int >= 1). Default 10.
        name: default "SWA".

    Example:
        ```python
        optimizer = SWA(keras.optimizers.SGD(0.1), start_averaging=100, average_period=10)
        ```

    References:
        Izmailov, Podoprikhin, Garipov, Vetrov and Wilson, "Averaging Weights Leads to Wider
        Optima and Better Generalization", UAI 2018. https://arxiv.org/abs/1803.05407
    """

    wrapper_name = "swa"

    def __init__(self, optimizer, start_averaging: int = 0, average_period: int = 10, name=None, **kwargs):
        start_averaging = check_integer("start_averaging", start_averaging, low=0, owner="SWA")
        average_period = check_integer("average_period", average_period, low=1, owner="SWA")
        super().__init__(optimizer, name=name, **kwargs)
        self.start_averaging = start_averaging
        self.average_period = average_period

    def _own_step_plan(self, updates):
        since = ops.subtract(ops.subtract(updates, 1), self.start_averaging)  # t - start
        snapshot = ops.logical_and(
            ops.greater_equal(since, 0), ops.equal(ops.mod(since, self.average_period), 0)
        )
        count = ops.cast(ops.floor_divide(ops.maximum(since, 0), self.average_period), "float32")
        return snapshot, {"weight": ops.divide(1.0, ops.add(count, 1.0))}

    @staticmethod
    def _own_rule(k, scalars):
        k.lerp("average", "variable", scalars["weight"])  # average - (average - w) / (n + 1)

    def _own_config(self):
        return {"start_averaging": self.start_averaging, "average_period": self.average_period}
