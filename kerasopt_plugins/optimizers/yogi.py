"""Yogi: tensorflow-addons 0.23's Yogi, Adam with an additive, sign-controlled second moment."""

from __future__ import annotations

import numbers

import keras
from keras import ops

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.registry import register_optimizer

_ACTIVATIONS = ("sign", "tanh")


@register_optimizer(
    "yogi",
    example_config={"learning_rate": 0.1, "l1_regularization_strength": 1e-4},
    legacy_keys=("Addons>Yogi",),
)
class Yogi(PluginOptimizer):
    """Yogi, as tensorflow-addons 0.23 computed it (tfa's argument names `beta1`, `beta2`).

    ```
    m <- beta1 * m + (1 - beta1) * g                      # slot `m` (none when beta1 == 0: m = g)
    v <- v + (1 - beta2) * s(g*g - v) * g*g               # slot `v`, starts at initial_accumulator_value
    r <- lr * sqrt(1 - beta2^t) / (1 - beta1^t) / (sqrt(v) + epsilon)      # t = iterations + 1
    w <- w - r * m
    w <- sign(w) * max(|w| - l1 * r, 0) / (1 + l2 * r)     # l1 > 0 (l2 only: w / (1 + l2 * r))
    ```

    `s` is `sign`, or ``tanh(10 * x)`` with ``activation="tanh"``. With an `IndexedSlices`
    gradient (TensorFlow) tfa's sparse path is followed: `m` decays in every row, while `v` and
    the variable change in the gradient's rows only (repeated indices summed first), so a row
    the batch did not touch keeps its weight where the dense path would move it along `m`.

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.01.
        beta1: first-moment decay in [0, 1). Default 0.9; 0 keeps no slot `m`.
        beta2: second-moment rate in [0, 1). Default 0.999.
        epsilon: >= 0, added to sqrt(v). Default 1e-3.
        l1_regularization_strength: >= 0. Default 0.0.
        l2_regularization_strength: >= 0. Default 0.0.
        initial_accumulator_value: >= 0, the starting value of `v` (not 0 together with
            epsilon 0). Default 1e-6.
        activation: "sign" or "tanh". Default "sign".
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...).

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Zaheer et al. (2018), "Adaptive Methods for Nonconvex Optimization", Algorithm 2.

    Example:
        >>> Yogi(learning_rate=0.01, beta1=0.9, l1_regularization_strength=1e-4)
    """

    slot_names = ("v", "m")  # tfa's creation order
    elementwise = True

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        beta1: numbers.Real = 0.9,
        beta2: numbers.Real = 0.999,
        epsilon: numbers.Real = 1e-3,
        l1_regularization_strength: numbers.Real = 0.0,
        l2_regularization_strength: numbers.Real = 0.0,
        initial_accumulator_value: numbers.Real = 1e-6,
        activation: str = "sign",
        **kwargs,
    ):
        beta1 = check_number("beta1", beta1, low=0.0, high=1.0, high_open=True)
        beta2 = check_number("beta2", beta2, low=0.0, high=1.0, high_open=True)
        epsilon = check_number("epsilon", epsilon, low=0.0)
        l1 = check_number("l1_regularization_strength", l1_regularization_strength, low=0.0)
        l2 = check_number("l2_regularization_strength", l2_regularization_strength, low=0.0)
        initial = check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)
        if initial == 0.0 and epsilon == 0.0:
            raise ValueError(
                "initial_accumulator_value and epsilon are both 0: an element whose gradient is "
                "exactly 0 before any other would divide by sqrt(v) + epsilon = 0 and become NaN "
                "(tfa computed that NaN); make one of them > 0"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.l1_regularization_strength = l1
        self.l2_regularization_strength = l2
        self.initial_accumulator_value = initial
        self.activation = activation
        if beta1 == 0.0:
            self.slot_names = ("v",)  # tfa keeps no first moment then

    def slot_initializer(self, name):
        # `v` starts at initial_accumulator_value, as in tfa
        if name == "v":
            return keras.initializers.Constant(self.initial_accumulator_value)
        return "zeros"

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        sparse = _sparse.sparse_rows(gradient)
        grad, indices = (gradient, None) if sparse is None else sparse
        grad = ops.cast(grad, dtype)

        beta1 = ops.cast(self.beta1, dtype)
        beta2 = ops.cast(self.beta2, dtype)
        step = ops.cast(ops.add(self.iterations, 1), dtype)
        # tfa: lr * sqrt(1 - beta2^t) / (1 - beta1^t), in float32 throughout
        lr = ops.multiply(ops.cast(learning_rate, dtype), ops.sqrt(ops.subtract(1.0, ops.power(beta2, step))))
        lr = ops.divide(lr, ops.subtract(1.0, ops.power(beta1, step)))

        if self.beta1 > 0.0:
            m = self.get_slot(variable, "m")
            decayed = ops.multiply(m, beta1)
            scaled = ops.multiply(grad, ops.subtract(1.0, beta1))
            if indices is not None:  # tfa decays every row of m, then adds into the touched ones
                self.assign(m, decayed)
            m_t = ops.add(_sparse.take_rows(decayed, indices), scaled)
            _sparse.assign_rows(self, m, m_t, indices)
        else:
            m_t = grad

        v = self.get_slot(variable, "v")
        v_rows = _sparse.take_rows(v, indices)
        grad2 = ops.multiply(grad, grad)
        diff = ops.subtract(grad2, v_rows)
        sign = ops.sign(diff) if self.activation == "sign" else ops.tanh(ops.multiply(diff, 10.0))
        v_t = ops.add(v_rows, ops.multiply(ops.multiply(ops.subtract(1.0, beta2), sign), grad2))
        _sparse.assign_rows(self, v, v_t, indices)

        rate = ops.divide(lr, ops.add(ops.sqrt(v_t), ops.cast(self.epsilon, dtype)))
        new = ops.subtract(_sparse.take_rows(variable, indices), ops.multiply(rate, m_t))
        l1, l2 = self.l1_regularization_strength, self.l2_regularization_strength
        if l1 > 0.0:
            # argmin_w 1/2 a w^2 + b w + c |w|: (c sign(b) - b) / a where |b| > c, else 0
            a = ops.add(ops.multiply(ops.cast(l2, dtype), rate), 1.0)
            b = ops.negative(new)
            c = ops.multiply(ops.cast(l1, dtype), rate)
            solved = ops.divide(ops.subtract(ops.multiply(c, ops.sign(b)), b), a)
            new = ops.multiply(ops.cast(ops.greater(ops.abs(b), c), dtype), solved)
        elif l2 > 0.0:
            new = ops.divide(new, ops.add(ops.multiply(ops.cast(l2, dtype), rate), 1.0))
        _sparse.assign_rows(self, variable, new, indices)
