"""ProximalAdagrad: tensorflow-addons 0.23's ProximalAdagrad (Adagrad, then an l1/l2 prox step)."""

from __future__ import annotations

import numbers

import keras
from keras import ops

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.registry import register_optimizer


@register_optimizer(
    "proximal_adagrad",
    example_config={"learning_rate": 0.5, "l2_regularization_strength": 1e-4},
    legacy_keys=("Addons>ProximalAdagrad",),
    sparse="lazy",
)
class ProximalAdagrad(PluginOptimizer):
    """Proximal Adagrad (FOBOS with Adagrad's rates), as TensorFlow's fused kernels compute it.

    ```
    a <- a + g * g                                   # slot `accumulator`
    r <- lr * rsqrt(a)
    w <- w - g * r
    w <- sign(w) * max(|w| - r * l1, 0) / (1 + l2 * r)    # l1 > 0 (else w / (1 + l2 * r))
    ```

    tfa ran TensorFlow's ``ResourceApplyProximalAdagrad`` kernel; this is the same arithmetic
    in the same order, in keras.ops. With an `IndexedSlices` gradient (TensorFlow) only the
    gradient's rows of `a` and the variable change (``ResourceSparseApplyProximalAdagrad``),
    repeated indices summed first; where l1 or l2 > 0 the dense path also shrinks the rows
    whose gradient is 0. (For a 1-D variable TF's sparse kernel computed ``lr / sqrt(a)`` and
    the l2 division in float64: a few ulps from this form.)

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.001.
        initial_accumulator_value: > 0, the starting value of the accumulator. Default 0.1.
        l1_regularization_strength: >= 0. Default 0.0.
        l2_regularization_strength: >= 0. Default 0.0.
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...).

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Duchi & Singer (2009), "Efficient Learning using Forward-Backward Splitting".

    Example:
        >>> ProximalAdagrad(learning_rate=0.1, l1_regularization_strength=1e-3)
    """

    slot_names = ("accumulator",)
    elementwise = True

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: numbers.Real = 0.1,
        l1_regularization_strength: numbers.Real = 0.0,
        l2_regularization_strength: numbers.Real = 0.0,
        **kwargs,
    ):
        initial = check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)
        if initial == 0.0:
            raise ValueError(
                "initial_accumulator_value must be > 0, got 0.0: an element whose gradient is "
                "exactly 0 while its accumulator is 0 gets rate lr / sqrt(0) = inf and "
                "becomes 0 * inf = NaN (tfa accepted 0 and computed that NaN); pass a small "
                "positive value such as 1e-10"
            )
        l1 = check_number("l1_regularization_strength", l1_regularization_strength, low=0.0)
        l2 = check_number("l2_regularization_strength", l2_regularization_strength, low=0.0)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = initial
        self.l1_regularization_strength = l1
        self.l2_regularization_strength = l2

    def slot_initializer(self, name):
        # the accumulator starts at initial_accumulator_value, as in tfa
        return keras.initializers.Constant(self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        sparse = _sparse.sparse_rows(gradient)
        grad, indices = (gradient, None) if sparse is None else sparse
        grad = ops.cast(grad, dtype)

        accumulator = self.get_slot(variable, "accumulator")
        accumulated = ops.add(_sparse.take_rows(accumulator, indices), ops.square(grad))
        _sparse.assign_rows(self, accumulator, accumulated, indices)
        rate = ops.multiply(ops.cast(learning_rate, dtype), ops.rsqrt(accumulated))
        prox = ops.subtract(_sparse.take_rows(variable, indices), ops.multiply(grad, rate))
        if self.l1_regularization_strength > 0.0:
            l1 = ops.cast(self.l1_regularization_strength, dtype)
            shrunk = ops.maximum(ops.subtract(ops.abs(prox), ops.multiply(rate, l1)), 0.0)
            prox = ops.multiply(ops.sign(prox), shrunk)
        if self.l2_regularization_strength > 0.0:  # the kernel also divides by 1 + 0 * r: x / 1 is x
            l2 = ops.cast(self.l2_regularization_strength, dtype)
            prox = ops.divide(prox, ops.add(ops.multiply(l2, rate), 1.0))
        _sparse.assign_rows(self, variable, prox, indices)
