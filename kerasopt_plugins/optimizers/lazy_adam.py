"""LazyAdam: Adam that, for a sparse gradient, updates only the rows the gradient touches."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers._checks import check_epsilon
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.registry import register_optimizer


@register_optimizer(
    "lazy_adam",
    aliases=("lazyadam",),
    example_config={"learning_rate": 0.05, "amsgrad": True},
    legacy_keys=("Addons>LazyAdam",),
    sparse="lazy",
)
class LazyAdam(PluginOptimizer):
    """Adam whose sparse steps touch only the gradient's rows (tensorflow-addons' LazyAdam).

    ```
    alpha = lr * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)     # t: this step, from 1
    dense gradient g (Keras 2's fused Adam kernel):
        m <- m + (g - m) * (1 - beta_1);  v <- v + (g * g - v) * (1 - beta_2)
        vhat <- max(vhat, v)                                  # amsgrad only; then v = vhat
        w <- w - (m * alpha) / (sqrt(v) + epsilon)
    sparse gradient (rows i; repeated indices summed first, as Keras 2 did):
        m[i] <- beta_1 * m[i] + (1 - beta_1) * g[i];  v[i] likewise with g[i] * g[i]
        vhat[i] <- max(vhat[i], v[i])                         # amsgrad only
        w[i] <- w[i] - alpha * m[i] / (sqrt(v[i]) + epsilon)
    ```

    Rows a sparse gradient does not touch keep their `m`, `v` and weights: no decay, no
    momentum step, unlike Adam, which moves every row every step. On TensorFlow an Embedding's
    gradient is an `IndexedSlices` (with jit_compile=True too) and takes the sparse path, a
    gather and a scatter of the touched rows. JAX and torch hand optimizers dense gradients:
    there LazyAdam is Adam, with tfa's dense steps.

    `epsilon` is Adam's "epsilon hat", outside the square root and not bias-corrected, as in
    `keras.optimizers.Adam`, which takes the same dense steps up to rounding: Keras 3 rounds
    ``1 - beta_1`` from the Python float (0.1 for 0.9), Keras 2 and this port from the
    float32 beta (0.100000024), a relative difference of about 2e-7 per step.

    Differences from tfa 0.23: `amsgrad` also applies to sparse gradients (tfa's sparse path
    ignored it, leaving `vhat` at zero, although its dense path used it); ``epsilon=0`` is an
    error (tfa silently used 1e-7).

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable. Default 0.001.
        beta_1: decay of the first moment `m`, in [0, 1). Default 0.9.
        beta_2: decay of the second moment `v`, in [0, 1). Default 0.999.
        epsilon: added to ``sqrt(v)``, > 0. Default 1e-7.
        amsgrad: divide by the running maximum `vhat` of `v` (AMSGrad). Default False.
        **kwargs: Keras's base optimizer options.

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization";
        Reddi et al. (2018), "On the Convergence of Adam and Beyond" (amsgrad).

    Example:
        >>> model.compile(optimizer=LazyAdam(learning_rate=1e-3), loss="mse")
    """

    slot_names = ("m", "v", "vhat")  # "vhat" with amsgrad=True only
    elementwise = True  # the dense rule; the sparse path exists on TensorFlow only

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: numbers.Real = 0.9,
        beta_2: numbers.Real = 0.999,
        epsilon: numbers.Real = 1e-7,
        amsgrad: bool = False,
        **kwargs,
    ):
        beta_1 = check_number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        beta_2 = check_number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        epsilon = check_epsilon(epsilon)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.slot_names = LazyAdam.slot_names if amsgrad else ("m", "v")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        step = ops.cast(ops.add(self.iterations, 1), dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        one = ops.cast(1.0, dtype)
        one_minus_beta_1 = ops.subtract(one, beta_1)  # in float32, as Keras 2 did
        one_minus_beta_2 = ops.subtract(one, beta_2)
        alpha = ops.divide(
            ops.multiply(
                ops.cast(learning_rate, dtype),
                ops.sqrt(ops.subtract(one, ops.power(beta_2, step))),
            ),
            ops.subtract(one, ops.power(beta_1, step)),
        )
        epsilon = ops.cast(self.epsilon, dtype)
        m = self.get_slot(variable, "m")
        v = self.get_slot(variable, "v")
        vhat = self.get_slot(variable, "vhat") if self.amsgrad else None
        sparse = _sparse.sparse_rows(gradient)
        if sparse is None:
            gradient = ops.cast(gradient, dtype)
            self.assign_add(m, ops.multiply(ops.subtract(gradient, m), one_minus_beta_1))
            self.assign_add(
                v, ops.multiply(ops.subtract(ops.square(gradient), v), one_minus_beta_2)
            )
            if vhat is not None:
                self.assign(vhat, ops.maximum(vhat, v))
                v = vhat
            self.assign_sub(
                variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), epsilon))
            )
            return
        values, indices = sparse
        values = ops.cast(values, dtype)
        m_rows = ops.add(
            ops.multiply(beta_1, _sparse.gather_rows(m, indices)),
            ops.multiply(one_minus_beta_1, values),
        )
        v_rows = ops.add(
            ops.multiply(beta_2, _sparse.gather_rows(v, indices)),
            ops.multiply(one_minus_beta_2, ops.square(values)),
        )
        self.assign(m, _sparse.rows(m_rows, indices))
        self.assign(v, _sparse.rows(v_rows, indices))
        if vhat is not None:
            v_rows = ops.maximum(_sparse.gather_rows(vhat, indices), v_rows)
            self.assign(vhat, _sparse.rows(v_rows, indices))
        step_rows = ops.divide(ops.multiply(alpha, m_rows), ops.add(ops.sqrt(v_rows), epsilon))
        self.assign_sub(variable, _sparse.rows(step_rows, indices))
