"""VanillaSGD: the tutorial's first optimizer."""

from __future__ import annotations


from kerasopt_plugins.optimizers.base import PluginOptimizer
from kerasopt_plugins.registry import register_optimizer


@register_optimizer("vanilla_sgd", example_config={"learning_rate": 0.1}, sparse="dense")
class VanillaSGD(PluginOptimizer):
    """Plain gradient descent: every weight moves against its gradient.

    ```
    w <- w - lr * g
    ```

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.01.
        **kwargs: Keras's base optimizer options (`clipnorm`, `weight_decay`, `name`, ...).

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Robbins & Monro (1951), "A Stochastic Approximation Method".

    Example:
        >>> model.compile(optimizer="vanilla_sgd", loss="mse")
    """

    elementwise = True

    def update_step(self, gradient, variable, learning_rate):
        # w <- w - g*lr: one fused kernel on TensorFlow, in place on torch (PluginOptimizer)
        self.sgd_step(variable, gradient, learning_rate)
