"""AdamW as tensorflow-addons wrote it: decoupled decay not scaled by the learning rate."""

from __future__ import annotations

import numbers
from typing import Optional

from keras import ops

from kerasopt_plugins.optimizers import _decoupled_decay, _sparse
from kerasopt_plugins.optimizers._checks import check_epsilon
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.optimizers.sgdw import WeightDecay
from kerasopt_plugins.registry import register_optimizer


@register_optimizer(
    "addons_adamw",
    aliases=("tfa_adamw",),
    example_config={"weight_decay": 1e-6, "learning_rate": 0.05, "amsgrad": True},
    legacy_keys=("Addons>AdamW",),
    sparse="dense",
)
class AdamW(PluginOptimizer):
    """Adam with decoupled weight decay, as tensorflow-addons 0.23's `AdamW` computed it.

    Not Keras's own `keras.optimizers.AdamW` (registered as ``"adamw"``), which scales the
    decay by the learning rate (``w -= lr * wd * w``); this one is registered as
    ``"addons_adamw"`` and as tfa's key ``Addons>AdamW``.

    ```
    w <- w - wd * w                                  # not scaled by the learning rate
    m <- m + (g - m) * (1 - beta_1)
    v <- v + (g^2 - v) * (1 - beta_2)
    vhat <- max(vhat, v)                             # amsgrad only (slot `vhat`)
    w <- w - m * lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) / (sqrt(v or vhat) + epsilon)
    ```

    `t` counts this step (1 at the first). With an `IndexedSlices` gradient (TensorFlow), as
    Keras 2's Adam did: repeated indices are summed, `m` and `v` decay everywhere and gain the
    gradient on its rows, every row of the variable moves, and only the gradient's rows decay.

    Args:
        weight_decay: a number >= 0, a `LearningRateSchedule` (evaluated at `iterations`) or a
            zero-argument callable. Default 0.0 (tfa required it; a default lets
            ``compile(optimizer="addons_adamw")`` work, as for every registered optimizer).
        learning_rate: a number >= 0, a schedule or a zero-argument callable. Default 0.001.
        beta_1: in [0, 1). Default 0.9.
        beta_2: in [0, 1). Default 0.999.
        epsilon: > 0. Default 1e-7. (tfa silently replaced 0 with 1e-7; here 0 is an error.)
        amsgrad: keep the running maximum `vhat` of `v`. Default False.
        exclude_from_weight_decay: regular expressions; a variable whose path
            (``"dense/bias"``) one of them matches is not decayed. Default None.
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...).

    Keyword Args:
        decay: legacy time decay of the learning rate, ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization".

    Example:
        >>> AdamW(weight_decay=1e-4, learning_rate=1e-3)
    """

    slot_names = ("m", "v", "vhat")
    owns_weight_decay = True
    schedule_arguments = ("learning_rate", "weight_decay")

    def __init__(
        self,
        weight_decay: WeightDecay = 0.0,
        learning_rate: LearningRate = 0.001,
        beta_1: numbers.Real = 0.9,
        beta_2: numbers.Real = 0.999,
        epsilon: numbers.Real = 1e-7,
        amsgrad: bool = False,
        exclude_from_weight_decay: Optional[list[str]] = None,
        **kwargs,
    ):
        weight_decay = _decoupled_decay.check_weight_decay(weight_decay)
        beta_1 = check_number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        beta_2 = check_number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        epsilon = check_epsilon(epsilon)
        exclude_from_weight_decay = _decoupled_decay.check_patterns(exclude_from_weight_decay)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.weight_decay = weight_decay
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.exclude_from_weight_decay = exclude_from_weight_decay
        if not amsgrad:
            self.slot_names = ("m", "v")  # Keras 2's Adam kept vhat only with amsgrad
        self.elementwise = not exclude_from_weight_decay  # patterns read variable paths

    def update_step(self, gradient, variable, learning_rate):
        sparse = _sparse.sparse_rows(gradient)
        _decoupled_decay.decay_before_update(self, variable, None if sparse is None else sparse[1])
        dtype = variable.dtype
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        # 1 - beta in float32, as Keras 2 computed it (1 - 0.999 is 0.0010000467 there)
        one_minus_1, one_minus_2 = ops.subtract(1.0, beta_1), ops.subtract(1.0, beta_2)
        lr = ops.cast(learning_rate, dtype)
        bias = ops.divide(
            ops.sqrt(ops.subtract(1.0, ops.power(beta_2, t))),
            ops.subtract(1.0, ops.power(beta_1, t)),
        )
        m, v = self.get_slot(variable, "m"), self.get_slot(variable, "v")
        if sparse is None:  # Keras 2's fused Adam kernel, in its order of operations
            self.assign_add(m, ops.multiply(ops.subtract(gradient, m), one_minus_1))
            self.assign_add(
                v, ops.multiply(ops.subtract(ops.square(gradient), v), one_minus_2)
            )
        else:  # Keras 2's Adam on IndexedSlices: decay everywhere, add on the rows
            values, indices = sparse
            self.assign(m, ops.multiply(m, beta_1))
            self.assign_add(m, _sparse.rows(ops.multiply(values, one_minus_1), indices))
            self.assign(v, ops.multiply(v, beta_2))
            squares = ops.multiply(ops.multiply(values, values), one_minus_2)
            self.assign_add(v, _sparse.rows(squares, indices))
        if self.amsgrad:
            vhat = self.get_slot(variable, "vhat")
            self.assign(vhat, ops.maximum(vhat, v))
            v = vhat
        denominator = ops.add(ops.sqrt(v), self.epsilon)
        step_size = ops.multiply(lr, bias)
        self.assign_sub(variable, ops.divide(ops.multiply(m, step_size), denominator))
