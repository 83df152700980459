"""MomentumSGD: gradient descent along an exponential moving average of the gradient."""

from __future__ import annotations

import numbers

from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.registry import register_optimizer


@register_optimizer("momentum_sgd", example_config={"learning_rate": 0.1, "momentum": 0.9}, sparse="dense")
class MomentumSGD(PluginOptimizer):
    """Momentum as an exponential moving average of the gradient, slot `m`.

    ```
    m <- momentum * m + (1 - momentum) * g
    w <- w - lr * m
    ```

    Because `m` averages rather than sums, ``MomentumSGD(lr, momentum=b)`` takes the same steps
    as ``keras.optimizers.SGD(lr * (1 - b), momentum=b)``.

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.01.
        momentum: averaging factor in [0, 1). Default 0.0 (plain gradient descent).
        **kwargs: Keras's base optimizer options.

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Polyak (1964), "Some methods of speeding up the convergence of iteration methods".

    Example:
        >>> MomentumSGD(learning_rate=0.01, momentum=0.9)
    """

    slot_names = ("m",)
    elementwise = True

    def __init__(
        self, learning_rate: LearningRate = 0.01, momentum: numbers.Real = 0.0, **kwargs
    ):
        momentum = check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum

    def update_step(self, gradient, variable, learning_rate):
        # m <- b m + (1 - b) g; w <- w - lr m: one fused kernel on TensorFlow (PluginOptimizer)
        m = self.get_slot(variable, "m")
        self.ema_momentum_step(variable, m, gradient, self.momentum, learning_rate)
