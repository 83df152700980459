"""QHM, registered as 'qhm'.

Installed, this package's entry point (setup.cfg, group kerasopt_plugins.optimizers) makes
`import kerasopt_plugins` load this module, so 'qhm' works by name everywhere:
`model.compile(optimizer="qhm")`, `keras.saving.load_model`, `kerasopt list`.

Generated with `kerasopt new kerasopt-sample-plugin --optimizer qhm --dir examples`; then the
skeleton's heavy-ball rule was edited into QHM's (its no-op `build` and `get_config` removed).
"""

from __future__ import annotations

from keras import ops

from kerasopt_plugins import PluginOptimizer, check_number, register_optimizer


@register_optimizer(
    "qhm",
    example_config={"learning_rate": 0.1, "momentum": 0.9, "nu": 0.7},  # what the kit builds it with
    sparse="dense",  # a tf.IndexedSlices gradient of some rows gives the dense result
)
class QHM(PluginOptimizer):
    """Quasi-hyperbolic momentum: a step between the gradient and its moving average.

    ```
    m <- momentum * m + (1 - momentum) * g
    w <- w - lr * ((1 - nu) * g + nu * m)
    ```

    ``nu=1`` is momentum SGD with the averaged momentum (`momentum_sgd`), ``nu=0`` plain SGD.

    Args:
        learning_rate: the step size. Default 1.0 (the paper's, with the averaged momentum).
        momentum: how much of the average `m` each step keeps (the paper's beta), in [0, 1).
            Default 0.999.
        nu: the weight of the average in the step, in [0, 1]. Default 0.7.

    References:
        Ma & Yarats (2019), "Quasi-hyperbolic momentum and Adam for deep learning",
        https://arxiv.org/abs/1810.06801.

    Example:
        >>> model.compile(optimizer=QHM(learning_rate=0.1, momentum=0.9, nu=0.7), loss="mse")
    """

    slot_names = ("m",)  # one slot per variable, created by build
    elementwise = True  # each element's update reads only that element: fast on torch

    def __init__(self, learning_rate=1.0, momentum: float = 0.999, nu: float = 0.7, **kwargs):
        momentum = check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        nu = check_number("nu", nu, low=0.0, high=1.0)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum  # every argument stored under its own name
        self.nu = nu

    def update_step(self, gradient, variable, learning_rate):
        m = self.get_slot(variable, "m")
        dtype = variable.dtype
        momentum = ops.cast(self.momentum, dtype)
        nu = ops.cast(self.nu, dtype)
        gradient = ops.cast(gradient, dtype)  # ops.* accept a tf.IndexedSlices
        self.assign(m, ops.add(ops.multiply(m, momentum), ops.multiply(gradient, 1.0 - momentum)))
        step = ops.add(ops.multiply(gradient, 1.0 - nu), ops.multiply(m, nu))
        self.assign_sub(variable, ops.multiply(step, ops.cast(learning_rate, dtype)))
