"""ConditionalGradient: Frank-Wolfe steps towards a Frobenius- or nuclear-norm ball of radius lambda_."""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.optimizers._checks import check_epsilon
from kerasopt_plugins.registry import register_optimizer

ORDS = ("fro", "nuclear")


@register_optimizer(
    "conditional_gradient",
    example_config={"learning_rate": 0.99, "lambda_": 3.0},
    constrained=True,
    legacy_keys=("Addons>ConditionalGradient",),
    sparse="lazy",
)
class ConditionalGradient(PluginOptimizer):
    """Conditional gradient (Frank-Wolfe) under a norm constraint, as in tensorflow-addons.

    ```
    ord="fro":      s = g / (sqrt(sum(g ** 2)) + epsilon)
    ord="nuclear":  s = u1 v1^T, the top singular vectors of g (a vector is a 1-row matrix)
    w <- lr * w - (1 - lr) * lambda_ * s
    ```

    Each step moves `w` a fraction ``1 - lr`` of the way to ``-lambda_ * s``, the point of the
    ball ``||w|| <= lambda_`` that minimises the linearised loss: the weights end in (or on the
    edge of) that ball, so the loss's unconstrained minimum is reached only if it lies inside
    and in the limit of small steps. `learning_rate` is tfa's: the weight kept from the old
    value, so 1 means no step. Not elementwise: `s` uses the norm (or the singular vectors) of
    the whole gradient of each variable.

    On TensorFlow an `IndexedSlices` gradient (repeated indices summed first, as Keras 2 did)
    takes tfa's sparse path: `s` from the touched rows' gradient alone, and only those rows of
    `w` change. JAX and torch hand dense gradients: every row changes (``lr * w`` shrinks the
    untouched ones), as in tfa's dense path.

    Differences from tfa 0.23: a `LearningRateSchedule` works (tfa crashed: "Attempt to convert
    a value (<...ExponentialDecay object>) ... to a Tensor"); legacy `decay` is applied to the
    learning rate (tfa accepted it and ignored it); tfa's unused slot "conditional_gradient" is
    not kept; ``epsilon=0`` is an error (tfa silently used 1e-7); ord="nuclear" on a variable
    of rank above 2 is a ValueError at build (tfa crashed at the first step on a reshape).

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable: the fraction of `w` kept each step (tfa required it; here 0.01).
        lambda_: radius of the norm ball, >= 0. Default 0.01.
        epsilon: added to the Frobenius norm of g (ord="fro"), > 0. Default 1e-7.
        ord: "fro" (Frobenius norm) or "nuclear" (for variables of rank <= 2). Default "fro".
        **kwargs: Keras's base optimizer options.

    Keyword Args:
        decay: legacy time decay, step t uses ``lr / (1 + decay * t)``. Default 0.0.

    References:
        Frank & Wolfe (1956), "An algorithm for quadratic programming"; Ravi et al. (2018),
        "Constrained Deep Learning using Conditional Gradient and Applications in Computer
        Vision" (https://arxiv.org/abs/1803.06453).

    Example:
        >>> ConditionalGradient(learning_rate=0.9, lambda_=5.0, ord="nuclear")
    """

    slot_names = ()

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        lambda_: numbers.Real = 0.01,
        epsilon: numbers.Real = 1e-7,
        ord: str = "fro",
        **kwargs,
    ):
        lambda_ = check_number("lambda_", lambda_, low=0.0)
        epsilon = check_epsilon(epsilon)
        if ord not in ORDS:
            raise ValueError(f"ord must be one of {ORDS}, got {ord!r}")
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.lambda_ = lambda_
        self.epsilon = epsilon
        self.ord = ord
        self.per_variable_sums = ord == "fro"  # the norm through variable_sum: packed on torch

    def build(self, variables):
        if self.ord == "nuclear":
            for variable in variables:
                if len(variable.shape) > 2:
                    raise ValueError(
                        f"ConditionalGradient(ord='nuclear') takes variables of rank 0, 1 or 2 "
                        f"(the nuclear norm is a matrix norm); {variable.path!r} has shape "
                        f"{tuple(variable.shape)} (tfa 0.23 crashed on it at the first step); "
                        "use ord='fro' for it"
                    )
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        sparse = _sparse.sparse_rows(gradient)
        grad, indices = (gradient, None) if sparse is None else sparse
        grad = ops.cast(grad, dtype)
        if self.ord == "fro":
            # tfa's sum(g ** 2) ** 0.5, with sqrt for ** 0.5: torch rounds a packed norm (a
            # vector) as it rounds a variable's own (a scalar); its pow does not (1 ulp in ~1%)
            norm = ops.sqrt(self.variable_sum(ops.power(grad, 2.0), variable))
            s = ops.divide(grad, ops.add(norm, ops.cast(self.epsilon, dtype)))
        else:
            s = _top_singular_product(grad)
        lr = ops.cast(learning_rate, dtype)
        weights = variable if indices is None else _sparse.gather_rows(variable, indices)
        lambda_ = ops.cast(self.lambda_, dtype)
        new = ops.subtract(
            ops.multiply(weights, lr),
            ops.multiply(ops.multiply(ops.subtract(ops.cast(1.0, dtype), lr), lambda_), s),
        )
        self.assign(variable, new if indices is None else _sparse.rows(new, indices))


def _top_singular_product(x):
    """``u1 v1^T`` for the largest singular value of `x` as a matrix, in the shape of `x`.

    A scalar is a 1x1 matrix and a vector a one-row matrix, as in tfa; rank 3 and above are
    refused by `ConditionalGradient.build`. The product does not depend on the signs the SVD
    picks for u1 and v1.
    """
    rank = len(x.shape)
    matrix = x
    for _ in range(2 - rank):  # (k,) -> (1, k); () -> (1, 1)
        matrix = ops.expand_dims(matrix, 0)
    u, _, vh = ops.svd(matrix, full_matrices=False)
    product = ops.multiply(u[:, :1], vh[:1, :])
    for _ in range(2 - rank):
        product = product[0]
    return product
