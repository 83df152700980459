"""SGDW: tensorflow-addons' SGD with decoupled weight decay."""

from __future__ import annotations

import numbers
from typing import Any, Callable, Optional, Union

from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.optimizers import _decoupled_decay, _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.registry import register_optimizer

WeightDecay = Union[numbers.Real, LearningRateSchedule, Callable[[], Any]]


@register_optimizer(
    "sgdw",
    example_config={"weight_decay": 1e-5, "learning_rate": 0.1, "momentum": 0.9},
    legacy_keys=("Addons>SGDW",),
    sparse="lazy",
)
class SGDW(PluginOptimizer):
    """SGD with decoupled weight decay, as tensorflow-addons 0.23's `SGDW` computed it.

    ```
    w <- w - wd * w                  # not scaled by the learning rate
    a <- momentum * a - lr * g       # with momentum > 0 (slot `momentum`)
    w <- w + a                       # nesterov: w <- w + momentum * a - lr * g
    w <- w - lr * g                  # with momentum == 0
    ```

    With an `IndexedSlices` gradient (TensorFlow) only the gradient's rows decay, and with
    momentum only those rows of `a` and `w` change (tfa's sparse kernel); repeated indices
    are summed first. tfa skipped the decay altogether on sparse gradients when momentum was
    0; this port decays them (docs/tfa.md).

    Args:
        weight_decay: a number >= 0, a `LearningRateSchedule` (evaluated at `iterations`) or a
            zero-argument callable. Default 0.0 (tfa required it; a default lets
            ``compile(optimizer="sgdw")`` work, as for every registered optimizer).
        learning_rate: a number >= 0, a schedule or a zero-argument callable. Default 0.001.
        momentum: in [0, 1]. Default 0.0 (no slot).
        nesterov: Nesterov momentum. Default False.
        exclude_from_weight_decay: regular expressions; a variable whose path
            (``"dense/bias"``) one of them matches is not decayed. Default None.
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...); Keras's own
            `weight_decay` option is this optimizer's `weight_decay`.

    Keyword Args:
        decay: legacy time decay of the learning rate, ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization".

    Example:
        >>> SGDW(weight_decay=1e-4, learning_rate=0.1, momentum=0.9)
    """

    slot_names = ("momentum",)
    owns_weight_decay = True
    schedule_arguments = ("learning_rate", "weight_decay")

    def __init__(
        self,
        weight_decay: WeightDecay = 0.0,
        learning_rate: LearningRate = 0.001,
        momentum: numbers.Real = 0.0,
        nesterov: bool = False,
        exclude_from_weight_decay: Optional[list[str]] = None,
        **kwargs,
    ):
        weight_decay = _decoupled_decay.check_weight_decay(weight_decay)
        momentum = check_number("momentum", momentum, low=0.0, high=1.0)
        exclude_from_weight_decay = _decoupled_decay.check_patterns(exclude_from_weight_decay)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.nesterov = nesterov
        self.exclude_from_weight_decay = exclude_from_weight_decay
        if momentum == 0.0:
            self.slot_names = ()  # tfa's SGD kept no slot without momentum
        # the patterns read each variable's path: not a rule packed execution can run
        self.elementwise = not exclude_from_weight_decay

    def update_step(self, gradient, variable, learning_rate):
        sparse = _sparse.sparse_rows(gradient)
        _decoupled_decay.decay_before_update(self, variable, None if sparse is None else sparse[1])
        lr = ops.cast(learning_rate, variable.dtype)
        if not self.slot_names:
            if sparse is None:
                self.assign_sub(variable, ops.multiply(lr, gradient))
            else:
                values, indices = sparse
                self.assign_sub(variable, _sparse.rows(ops.multiply(lr, values), indices))
            return
        a = self.get_slot(variable, "momentum")
        if sparse is None:
            rows_a, grad = a, gradient
        else:
            grad, indices = sparse
            rows_a = _sparse.gather_rows(a, indices)
        new_a = ops.subtract(ops.multiply(rows_a, self.momentum), ops.multiply(grad, lr))
        step = new_a
        if self.nesterov:
            step = ops.subtract(ops.multiply(new_a, self.momentum), ops.multiply(grad, lr))
        if sparse is None:
            self.assign(a, new_a)
            self.assign_add(variable, step)
        else:
            self.assign(a, _sparse.rows(new_a, indices))
            self.assign_add(variable, _sparse.rows(step, indices))
