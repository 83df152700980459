"""CMomentumSGD: MomentumSGD with its zero-start bias corrected, as Adam corrects its first moment."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers.base import LearningRate
from kerasopt_plugins.optimizers.momentum_sgd import MomentumSGD
from kerasopt_plugins.registry import register_optimizer


@register_optimizer("cmomentum_sgd", example_config={"learning_rate": 0.1, "momentum": 0.9}, sparse="dense")
class CMomentumSGD(MomentumSGD):
    """Bias-corrected ("centered") momentum: MomentumSGD without the slow start.

    ```
    m <- momentum * m + (1 - momentum) * g
    w <- w - lr * m / (1 - momentum ** (t + 1))     # t: steps already applied
    ```

    Under a constant gradient the corrected average equals the gradient, so the weight follows
    VanillaSGD until the gradient changes. With ``momentum == 0`` the correction is a no-op and
    `centered` is stored as False, as in the tutorial.

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.01.
        momentum: averaging factor in [0, 1). Default 0.0.
        centered: apply the bias correction. Default True.
        **kwargs: Keras's base optimizer options.

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", section 3.

    Example:
        >>> model.compile(optimizer=CMomentumSGD(0.1, momentum=0.9), loss="mse")
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: numbers.Real = 0.0,
        centered: bool = True,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, momentum=momentum, **kwargs)
        self.centered = centered and self.momentum != 0.0

    def _corrected_rate(self, learning_rate, dtype):
        # the bias correction divides the rate: w <- w - (lr / (1 - b^(t+1))) m
        step = ops.cast(ops.add(self.iterations, 1), dtype)
        correction = ops.subtract(1.0, ops.power(ops.cast(self.momentum, dtype), step))
        return ops.divide(ops.cast(learning_rate, dtype), correction)

    def update_step(self, gradient, variable, learning_rate):
        if not self.centered:
            return super().update_step(gradient, variable, learning_rate)
        lr = self._corrected_rate(learning_rate, variable.dtype)
        self.ema_momentum_step(variable, self.get_slot(variable, "m"), gradient, self.momentum, lr)
