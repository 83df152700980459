"""Lookahead: k fast steps of any optimizer, then one step of the slow weights towards them."""

from __future__ import annotations

from keras import ops

from kerasopt_plugins.optimizers._checks import check_integer, check_number
from kerasopt_plugins.wrappers._wrapper import OptimizerWrapper


class Lookahead(OptimizerWrapper):
    """Lookahead around any Keras optimizer (tensorflow-addons 0.23's semantics).

    The inner optimizer updates the (fast) weights every step. After every `sync_period`-th
    update (when the number of updates, this one included, is a multiple of it) the slow
    weights, which start as a copy of the weights, step towards the fast ones and the fast
    weights restart from there::

        slow = slow + slow_step_size * (w - slow)
        w = slow

    Args:
        optimizer: the inner optimizer: an instance, a name (``"adam"``, ``"radam"``) or a
            config dict (Keras 3's form, or Keras 2's as tfa saved it).
        sync_period: k, the number of fast steps per slow step (int >= 1). Default 6.
        slow_step_size: alpha, the slow weights' step towards the fast ones (in [0, 1]).
            Default 0.5.
        name: default "Lookahead".

    Example: Lookahead around RectifiedAdam is "Ranger"::

        model.compile(optimizer=Lookahead(RectifiedAdam(1e-3)), loss="mse")

    References:
        Zhang, Lucas, Hinton and Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019. https://arxiv.org/abs/1907.08610
    """

    wrapper_name = "lookahead"
    slot_names = ("slow",)
    slot_starts_from_variable = True
    own_step_writes = ("slow", "variable")

    def __init__(self, optimizer, sync_period: int = 6, slow_step_size: float = 0.5, name=None, **kwargs):
        sync_period = check_integer("sync_period", sync_period, low=1, owner="Lookahead")
        slow_step_size = check_number("slow_step_size", slow_step_size, low=0.0, high=1.0, owner="Lookahead")
        super().__init__(optimizer, name=name, **kwargs)
        self.sync_period = sync_period
        self.slow_step_size = slow_step_size

    def _own_step_plan(self, updates):
        sync = ops.equal(ops.mod(updates, self.sync_period), 0)
        return sync, {"alpha": ops.convert_to_tensor(self.slow_step_size, "float32")}

    @staticmethod
    def _own_rule(k, scalars):
        k.lerp("slow", "variable", scalars["alpha"])  # slow - (slow - w) * alpha
        k.copy("variable", "slow")

    def _own_config(self):
        return {"sync_period": self.sync_period, "slow_step_size": self.slow_step_size}
