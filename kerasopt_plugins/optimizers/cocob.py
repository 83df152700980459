"""COCOB: tensorflow-addons 0.23's COCOB-Backprop, coin-betting steps without a learning rate."""

from __future__ import annotations

import numbers

import keras
from keras import ops

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers.base import PluginOptimizer, check_number
from kerasopt_plugins.registry import register_optimizer

#: What Keras's base class holds as the learning rate; the rule never reads it.
_UNUSED_RATE = 1.0


@register_optimizer("cocob", example_config={"alpha": 100.0}, legacy_keys=("Addons>COCOB",), sparse="dense")
class COCOB(PluginOptimizer):
    """COCOB-Backprop (continuous coin betting), as tensorflow-addons 0.23 computed it.

    ```
    L <- max(L, |g|)                   # slot `lr`, starts at 1e-8
    G <- G + g                         # slot `gradients_sum`
    A <- A + |g|                       # slot `grad_norm_sum`
    R <- max(R - g * x, 0)             # slot `reward`; x: slot `tilde_w`, the bet so far
    x' <- -G / (L * max(A + L, alpha * L)) * (R + L)
    w <- w - x + x';  x <- x'
    ```

    Every slot is per element and L > 0 from the first step, so nothing divides by zero.
    There is no learning rate: `learning_rate` (and its alias `lr`) is refused, as tfa refused
    `learning_rate` (tfa accepted `lr` and ignored it); Keras's `weight_decay` option, which
    is scaled by the learning rate, is refused too. `decay` is accepted, as in tfa, and has no
    effect. tfa raised NotImplementedError on an `IndexedSlices` gradient; here (TensorFlow)
    the gradient's rows are updated, repeated indices summed, which is the dense update of
    those rows (a row whose gradient is 0 keeps all its state in the dense update too).

    Args:
        alpha: >= 1, limits the bets of the first steps. Default 100.0.
        use_locking: accepted for tfa's signature; no effect (tfa's COCOB ignored it too).
        learning_rate: None (the default); anything else is refused.
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...).

    Keyword Args:
        decay: accepted for tfa's signature; no effect.

    References:
        Orabona & Tommasi (2017), "Training Deep Networks without Learning Rates Through Coin
        Betting".

    Example:
        >>> COCOB(alpha=100.0)
    """

    slot_names = ("lr", "grad_norm_sum", "gradients_sum", "tilde_w", "reward")  # tfa's order
    elementwise = True

    def __init__(
        self,
        alpha: numbers.Real = 100.0,
        use_locking: bool = False,
        *,
        learning_rate: None = None,
        **kwargs,
    ):
        if learning_rate is not None:
            raise TypeError(
                f"COCOB takes no learning rate (it sets its own step per element), got "
                f"learning_rate={learning_rate!r}; tfa refused `learning_rate` and silently "
                "ignored `lr`"
            )
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                f"COCOB has no learning rate, and Keras's weight_decay option is scaled by it; "
                f"got weight_decay={kwargs['weight_decay']!r} (tfa's COCOB had no weight decay)"
            )
        alpha = check_number("alpha", alpha, low=1.0)
        super().__init__(learning_rate=_UNUSED_RATE, **kwargs)
        self.alpha = alpha
        self.use_locking = use_locking

    def slot_initializer(self, name):
        # `lr` starts at 1e-8, as in tfa
        return keras.initializers.Constant(1e-8) if name == "lr" else "zeros"

    def update_step(self, gradient, variable, learning_rate):
        del learning_rate  # COCOB has none
        dtype = variable.dtype
        sparse = _sparse.sparse_rows(gradient)
        grad, indices = (gradient, None) if sparse is None else sparse
        grad = ops.cast(grad, dtype)

        slots = {name: self.get_slot(variable, name) for name in self.slot_names}
        bet = _sparse.take_rows(slots["tilde_w"], indices)
        magnitude = ops.abs(grad)
        scale = ops.maximum(_sparse.take_rows(slots["lr"], indices), magnitude)
        total = ops.add(_sparse.take_rows(slots["gradients_sum"], indices), grad)
        total_abs = ops.add(_sparse.take_rows(slots["grad_norm_sum"], indices), magnitude)
        reward = ops.maximum(ops.subtract(_sparse.take_rows(slots["reward"], indices), ops.multiply(grad, bet)), 0.0)
        bound = ops.maximum(ops.add(total_abs, scale), ops.multiply(ops.cast(self.alpha, dtype), scale))
        new_bet = ops.multiply(
            ops.divide(ops.negative(total), ops.multiply(scale, bound)), ops.add(reward, scale)
        )
        _sparse.assign_rows(self, slots["gradients_sum"], total, indices)
        _sparse.assign_rows(self, slots["grad_norm_sum"], total_abs, indices)
        moved = ops.add(ops.subtract(_sparse.take_rows(variable, indices), bet), new_bet)
        _sparse.assign_rows(self, variable, moved, indices)
        _sparse.assign_rows(self, slots["tilde_w"], new_bet, indices)
        _sparse.assign_rows(self, slots["lr"], scale, indices)
        _sparse.assign_rows(self, slots["reward"], reward, indices)

    def get_config(self):
        config = super().get_config()
        config["learning_rate"] = None  # Keras's base holds one; COCOB has none
        return config
