"""RectifiedAdam (RAdam): tensorflow-addons' Adam with a rectified adaptive learning rate."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers import _rectification, _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer
from kerasopt_plugins.registry import register_optimizer


@register_optimizer(
    "rectified_adam",
    aliases=("radam",),
    example_config={"learning_rate": 0.1, "amsgrad": True},
    legacy_keys=("Addons>RectifiedAdam",),
)
class RectifiedAdam(PluginOptimizer):
    """Adam whose adaptive rate is rectified, as tensorflow-addons 0.23's `RectifiedAdam` computed it.

    At step ``t = iterations + 1`` (slots `m`, `v`, and `vhat` with amsgrad):

    ```
    m <- beta_1 m + (1 - beta_1) g
    v <- beta_2 v + (1 - beta_2) g^2              # amsgrad: vhat <- max(vhat, v), used below
    m_hat = m / (1 - beta_1^t);  v_hat = v / (1 - beta_2^t)
    sma_inf = 2 / (1 - beta_2) - 1;  sma_t = sma_inf - 2 t beta_2^t / (1 - beta_2^t)
    r_t = sqrt((sma_t - 4) (sma_t - 2) sma_inf / ((sma_inf - 4) (sma_inf - 2) sma_t))
    u = r_t m_hat / (sqrt(v_hat) + epsilon) if sma_t >= sma_threshold else m_hat
    w <- w - lr_t (u + weight_decay w)
    ```

    ``lr_t`` is the learning rate (its schedule at `iterations`, legacy `decay` applied) or,
    with ``total_steps > 0``, that rate warmed up linearly from 0 over the first
    ``total_steps * warmup_proportion`` steps, then decayed linearly to `min_lr` at
    `total_steps`. `weight_decay` is tfa's: part of the step, so scaled by ``lr_t`` (Keras's
    own ``weight_decay`` option is this one). ``sma_t`` is computed in tfa's order of
    operations: with beta_2 = 0.999 it is 4.986 at step 5 (4.996 exactly), so steps 1 to 5
    take the momentum step and step 6 is the first rectified one. With an `IndexedSlices` gradient (TensorFlow), repeated indices are
    summed, `m` and `v` decay in every row, and `w` moves in the gradient's rows only.

    Args:
        learning_rate: a number >= 0, a `LearningRateSchedule` or a zero-argument callable.
            Default 0.001.
        beta_1: decay of the first moment, in [0, 1). Default 0.9.
        beta_2: decay of the second moment, in [0, 1). Default 0.999.
        epsilon: added to ``sqrt(v_hat)``, > 0 (tfa silently turned 0 into 1e-7; 0 is an
            error here). Default 1e-7.
        weight_decay: a number >= 0, a schedule (at `iterations`) or a zero-argument callable.
            Default 0.0.
        amsgrad: keep the running maximum of `v` (slot `vhat`) and use it. Default False.
        sma_threshold: rectify from the step whose ``sma_t`` reaches it. Default 5.0.
        total_steps: > 0 turns the warmup and decay of the learning rate on. Default 0.
        warmup_proportion: the warmup's share of `total_steps`, in [0, 1]. Default 0.1.
        min_lr: the rate reached at `total_steps`, >= 0. Default 0.0.
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...).

    Keyword Args:
        decay: legacy time decay of the learning rate, ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Liu et al. (2020), "On the Variance of the Adaptive Learning Rate and Beyond".

    Example:
        >>> RectifiedAdam(learning_rate=1e-3, total_steps=10000, warmup_proportion=0.1, min_lr=1e-5)
    """

    slot_names = ("m", "v", "vhat")  # vhat with amsgrad only (set per instance)
    elementwise = True
    owns_weight_decay = True
    schedule_arguments = ("learning_rate", "weight_decay")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: numbers.Real = 0.9,
        beta_2: numbers.Real = 0.999,
        epsilon: numbers.Real = 1e-7,
        weight_decay: LearningRate = 0.0,
        amsgrad: bool = False,
        sma_threshold: numbers.Real = 5.0,
        total_steps: int = 0,
        warmup_proportion: numbers.Real = 0.1,
        min_lr: numbers.Real = 0.0,
        **kwargs,
    ):
        shared = _rectification.check_arguments(
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay,
            sma_threshold=sma_threshold, total_steps=total_steps,
            warmup_proportion=warmup_proportion, min_lr=min_lr,
        )
        super().__init__(learning_rate=learning_rate, **kwargs)
        for name, value in shared.items():
            setattr(self, name, value)
        self.amsgrad = amsgrad
        if not amsgrad:
            self.slot_names = ("m", "v")  # tfa created vhat only with amsgrad

    def apply(self, grads, trainable_variables=None):
        with _rectification.one_step(self):  # the step's scalars once, not once per variable
            return super().apply(grads, trainable_variables)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        k = _rectification.coefficients(
            self, learning_rate, dtype, _rectification.Order.RECTIFIED_ADAM
        )
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        m, v = self.get_slot(variable, "m"), self.get_slot(variable, "v")
        sparse = _sparse.sparse_rows(gradient)
        gradient, indices = (gradient, None) if sparse is None else sparse
        gradient = ops.cast(gradient, dtype)
        m_t = _rectification.accumulate(
            self, m, ops.multiply(m, beta_1), ops.multiply(gradient, 1.0 - beta_1), indices
        )
        v_t = _rectification.accumulate(
            self, v, ops.multiply(v, beta_2), ops.multiply(ops.square(gradient), 1.0 - beta_2), indices
        )
        _rectification.apply_step(self, variable, m_t, v_t, k, indices)
