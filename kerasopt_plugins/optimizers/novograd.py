"""NovoGrad: momentum on gradients normalized by a per-variable (per-layer) second moment."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.optimizers._checks import check_epsilon
from kerasopt_plugins.registry import register_optimizer


@register_optimizer(
    "novograd",
    aliases=("novo_grad",),
    example_config={"learning_rate": 0.1, "grad_averaging": True, "amsgrad": True},
    legacy_keys=("Addons>NovoGrad",),
    sparse="lazy",
)
class NovoGrad(PluginOptimizer):
    """NovoGrad (tensorflow-addons'): one second moment per variable, the squared gradient norm.

    ```
    v <- sum(g * g)  at the first step (iterations == 0), then
    v <- beta_2 * v + (1 - beta_2) * sum(g * g)           # one number per variable
    vhat <- max(vhat, v)                                  # amsgrad only; then v = vhat
    d <- g / (sqrt(v) + epsilon)
    d <- d + weight_decay * w                             # if weight_decay > 0
    d <- (1 - beta_1) * d                                 # grad_averaging, after the first step
    m <- beta_1 * m - lr * d
    w <- w + m
    ```

    As in tfa (Keras 2's momentum kernel), `m` holds the step itself, the learning rate
    included. On TensorFlow an `IndexedSlices` gradient (repeated indices summed first, as
    Keras 2 did) takes tfa's sparse path: `v` from the touched rows' gradient, and `m` and the
    weights of the touched rows only. JAX and torch hand dense gradients: every row's `m`
    decays and every row moves, as in tfa's dense path.

    `v` and `vhat` are one scalar each per variable (tfa kept `vhat` shaped like the variable,
    every entry equal). Differences from tfa 0.23: `get_config` keeps `amsgrad` and `decay`
    (tfa's dropped both, so a reloaded tfa NovoGrad lost them; a tfa config, lacking them, loads
    with amsgrad=False and decay=0 as tfa reloaded it); ``epsilon=0`` is an error (tfa
    silently used 1e-7).

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.001.
        beta_1: momentum of `m`, in [0, 1]. Default 0.9.
        beta_2: decay of the second moment `v`, in [0, 1]. Default 0.999.
        epsilon: added to ``sqrt(v)``, > 0. Default 1e-7.
        weight_decay: added to the normalized gradient as ``weight_decay * w``, >= 0 (tfa's
            meaning, not Keras's decoupled decay). Default 0.0.
        grad_averaging: scale the normalized gradient by ``1 - beta_1`` after the first step.
            Default False.
        amsgrad: normalize by the running maximum `vhat` of `v`. Default False.
        **kwargs: Keras's base optimizer options (except `weight_decay`, which is NovoGrad's).

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Ginsburg et al. (2019), "Stochastic Gradient Methods with Layer-wise Adaptive Moments
        for Training of Deep Networks".

    Example:
        >>> NovoGrad(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, weight_decay=1e-3)
    """

    slot_names = ("m", "v", "vhat")  # "vhat" with amsgrad=True only
    scalar_slots = ("v", "vhat")
    """Slots holding one number per variable, not one per element."""
    per_variable_sums = True  # sum(g * g), through variable_sum: packed on torch
    owns_weight_decay = True

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: numbers.Real = 0.9,
        beta_2: numbers.Real = 0.999,
        epsilon: numbers.Real = 1e-7,
        weight_decay: numbers.Real = 0.0,
        grad_averaging: bool = False,
        amsgrad: bool = False,
        **kwargs,
    ):
        beta_1 = check_number("beta_1", beta_1, low=0.0, high=1.0)
        beta_2 = check_number("beta_2", beta_2, low=0.0, high=1.0)
        epsilon = check_epsilon(epsilon)
        weight_decay = check_number("weight_decay", weight_decay, low=0.0)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.grad_averaging = grad_averaging
        self.amsgrad = amsgrad
        self.slot_names = NovoGrad.slot_names if amsgrad else ("m", "v")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        one = ops.cast(1.0, dtype)
        first = ops.equal(self.iterations, 0)
        sparse = _sparse.sparse_rows(gradient)
        grad, indices = (gradient, None) if sparse is None else sparse
        grad = ops.cast(grad, dtype)

        squared_norm = self.variable_sum(ops.square(grad), variable)
        v = self.get_slot(variable, "v")
        v_t = ops.where(
            first,
            squared_norm,
            ops.add(ops.multiply(v, beta_2), ops.multiply(squared_norm, ops.subtract(one, beta_2))),
        )
        self.assign(v, v_t)
        if self.amsgrad:
            vhat = self.get_slot(variable, "vhat")
            v_t = ops.maximum(vhat, v_t)
            self.assign(vhat, v_t)
        grad = ops.divide(grad, ops.add(ops.sqrt(v_t), ops.cast(self.epsilon, dtype)))
        if self.weight_decay > 0:
            weights = variable if indices is None else _sparse.gather_rows(variable, indices)
            grad = ops.add(grad, ops.multiply(ops.cast(self.weight_decay, dtype), weights))
        if self.grad_averaging:  # x * 1 is x: the first step keeps the gradient's bits
            grad = ops.multiply(grad, ops.where(first, one, ops.subtract(one, beta_1)))

        m = self.get_slot(variable, "m")
        lr = ops.cast(learning_rate, dtype)
        if indices is None:
            m_t = ops.subtract(ops.multiply(m, beta_1), ops.multiply(grad, lr))
            self.assign(m, m_t)
            self.assign_add(variable, m_t)
            return
        m_rows = ops.subtract(ops.multiply(_sparse.gather_rows(m, indices), beta_1), ops.multiply(grad, lr))
        self.assign(m, _sparse.rows(m_rows, indices))
        self.assign_add(variable, _sparse.rows(m_rows, indices))
