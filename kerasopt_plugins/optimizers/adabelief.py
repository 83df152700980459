"""AdaBelief: tensorflow-addons' Adam variant that scales steps by the belief in the gradient."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers import _rectification, _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer
from kerasopt_plugins.registry import register_optimizer


@register_optimizer(
    "adabelief",
    aliases=("ada_belief",),
    example_config={"learning_rate": 0.1, "amsgrad": True},
    legacy_keys=("Addons>AdaBelief",),
)
class AdaBelief(PluginOptimizer):
    """Adam with the second moment taken around the first, as tensorflow-addons 0.23's `AdaBelief`.

    At step ``t = iterations + 1`` (slots `m`, `v`, and `vhat` with amsgrad):

    ```
    m <- beta_1 m + (1 - beta_1) g
    v <- beta_2 v + ((1 - beta_2) (g - m)^2 + epsilon)   # amsgrad: vhat <- max(vhat, v)
    m_hat = m / (1 - beta_1^t);  v_hat = v / (1 - beta_2^t)
    u = m_hat / (sqrt(v_hat) + epsilon)                  # rectify=False
    u = r_t m_hat / (sqrt(v_hat) + epsilon) if sma_t >= sma_threshold else m_hat
    w <- w - lr_t (u + weight_decay w)
    ```

    with RAdam's ``sma_t`` and ``r_t`` (`RectifiedAdam`; computed in this tfa file's own order
    of operations) and its ``lr_t``: the learning rate, warmed up and decayed to `min_lr` when
    ``total_steps > 0``. `weight_decay` is tfa's, scaled by ``lr_t`` (Keras's own
    ``weight_decay`` option is this one). With an `IndexedSlices` gradient (TensorFlow),
    repeated indices are summed, `m` and `v` decay in every row, the gradient's rows get the
    new terms (epsilon included: as in tfa, only there) and `w` moves in those rows only.

    Args:
        learning_rate: a number >= 0, a `LearningRateSchedule` or a zero-argument callable.
            Default 0.001.
        beta_1: decay of the first moment, in [0, 1). Default 0.9.
        beta_2: decay of the second moment, in [0, 1). Default 0.999.
        epsilon: added to `v` and to ``sqrt(v_hat)``, > 0 (tfa silently turned 0 into
            1e-7; 0 is an error here). Default 1e-14.
        weight_decay: a number >= 0, a schedule (at `iterations`) or a zero-argument callable.
            Default 0.0.
        amsgrad: keep the running maximum of `v` (slot `vhat`) and use it. Default False.
        rectify: rectify the adaptive rate as RAdam does. Default True.
        sma_threshold: with `rectify`, rectify from the step whose ``sma_t`` reaches it.
            Default 5.0.
        total_steps: > 0 turns the warmup and decay of the learning rate on. Default 0.
        warmup_proportion: the warmup's share of `total_steps`, in [0, 1]. Default 0.1.
        min_lr: the rate reached at `total_steps`, >= 0. Default 0.0.
        **kwargs: Keras's base optimizer options (`clipnorm`, `name`, ...).

    Keyword Args:
        decay: legacy time decay of the learning rate, ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Zhuang et al. (2020), "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
        Observed Gradients".

    Example:
        >>> AdaBelief(learning_rate=1e-3, rectify=False)
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
        epsilon: numbers.Real = 1e-14,
        weight_decay: LearningRate = 0.0,
        amsgrad: bool = False,
        rectify: bool = True,
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
        self.rectify = rectify
        if not amsgrad:
            self.slot_names = ("m", "v")  # tfa created vhat only with amsgrad

    def apply(self, grads, trainable_variables=None):
        with _rectification.one_step(self):  # the step's scalars once, not once per variable
            return super().apply(grads, trainable_variables)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        order = _rectification.Order.ADABELIEF if self.rectify else None
        k = _rectification.coefficients(self, learning_rate, dtype, order)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        m, v = self.get_slot(variable, "m"), self.get_slot(variable, "v")
        sparse = _sparse.sparse_rows(gradient)
        gradient, indices = (gradient, None) if sparse is None else sparse
        gradient = ops.cast(gradient, dtype)
        m_t = _rectification.accumulate(
            self, m, ops.multiply(m, beta_1), ops.multiply(gradient, 1.0 - beta_1), indices
        )
        # v <- beta_2 v + ((1 - beta_2) (g - m)^2 + epsilon), epsilon in the gradient's rows only
        # if it is sparse: the order of tfa's sparse kernel. Its dense kernel adds epsilon last
        # (at most an ulp apart), which makes XLA recompute v in the step from a copy of the
        # old v instead of fusing the two (1.5x Adam's time on JAX; 1.1x this way)
        m_rows = _sparse.take_rows(m_t, indices)
        deviation = ops.square(ops.subtract(gradient, m_rows))
        belief = ops.add(ops.multiply(deviation, 1.0 - beta_2), self.epsilon)
        v_t = _rectification.accumulate(self, v, ops.multiply(v, beta_2), belief, indices)
        _rectification.apply_step(self, variable, m_t, v_t, k, indices)
