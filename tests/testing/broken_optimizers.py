"""Optimizers for tests/testing/test_kit.py: one correct, and each of the others breaks one promise.

Nothing here is registered at import: a test registers the one it checks and unregisters it
after (the registry-wide suites would pick them up otherwise). The module is loaded by path; a
fresh process of the kit loads it the same way, under the same module name.

All are the same momentum rule, ``m <- beta m + (1 - beta) g; w <- w - lr m``, with one thing wrong.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

from kerasopt_plugins import PluginOptimizer, check_number

EXAMPLE_CONFIG = {"learning_rate": 0.1, "beta": 0.5}


class GoodMomentum(PluginOptimizer):
    """Momentum with the average kept in slot ``m``: keeps every promise."""

    slot_names = ("m",)
    elementwise = True

    def __init__(self, learning_rate=0.01, beta: numbers.Real = 0.9, **kwargs):
        beta = check_number("beta", beta, low=0.0, high=1.0, high_open=True)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta = beta

    def rate(self, learning_rate, variable):
        return ops.cast(learning_rate, variable.dtype)

    def update_step(self, gradient, variable, learning_rate):
        m = self.get_slot(variable, "m")
        beta = ops.cast(self.beta, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        self.assign(m, ops.add(ops.multiply(m, beta), ops.multiply(gradient, 1.0 - beta)))
        self.assign_sub(variable, ops.multiply(m, self.rate(learning_rate, variable)))


def momentum_reference(params, grads, step, state, learning_rate=0.1, beta=0.5):
    """GoodMomentum's rule in NumPy (float64), for EXAMPLE_CONFIG."""
    if step == 0:
        state["m"] = [np.zeros_like(p) for p in params]
    state["m"] = [beta * m + (1 - beta) * g for m, g in zip(state["m"], grads)]
    return [p - learning_rate * m for p, m in zip(params, state["m"])]


def plain_sgd_reference(params, grads, step):
    """The wrong reference for GoodMomentum: no momentum."""
    return [p - 0.1 * g for p, g in zip(params, grads)]


class ForgetsHyperparameter(GoodMomentum):
    """Keeps `beta` as ``self._beta``: get_config could not read it."""

    def __init__(self, learning_rate=0.01, beta: numbers.Real = 0.9, **kwargs):
        PluginOptimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self._beta = beta


class ConfigDropsArgument(GoodMomentum):
    """Stores `beta` but leaves it out of its own get_config."""

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class IgnoresLearningRate(GoodMomentum):
    """Steps with a rate of its own, whatever learning_rate says."""

    def rate(self, learning_rate, variable):
        return ops.cast(0.05, variable.dtype)


class NoValidation(GoodMomentum):
    """Takes any beta, NaN included."""

    def __init__(self, learning_rate=0.01, beta: numbers.Real = 0.9, **kwargs):
        PluginOptimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.beta = beta


class SlotOutsideBuild(PluginOptimizer):
    """Creates its average on the first update instead of in build()."""

    def __init__(self, learning_rate=0.01, beta: numbers.Real = 0.9, **kwargs):
        beta = check_number("beta", beta, low=0.0, high=1.0, high_open=True)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta = beta
        self.late = {}

    def update_step(self, gradient, variable, learning_rate):
        key = self._var_key(variable)  # TensorFlow passes its own variable here
        if key not in self.late:
            self.late[key] = self.add_variable_from_reference(variable, "late_m")
        m = self.late[key]
        gradient = ops.cast(gradient, variable.dtype)
        self.assign(m, ops.add(ops.multiply(m, self.beta), ops.multiply(gradient, 1.0 - self.beta)))
        self.assign_sub(variable, ops.multiply(m, ops.cast(learning_rate, variable.dtype)))


class FailsOnIndexedSlices(GoodMomentum):
    """Scales the gradient with Python's ``*``, which a tf.IndexedSlices refuses."""

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient * 1.0, variable, learning_rate)


class DiffersOnOtherBackends(GoodMomentum):
    """Takes half again as long a step on every backend but TensorFlow."""

    def rate(self, learning_rate, variable):
        scale = 1.0 if keras.backend.backend() == "tensorflow" else 1.5
        return ops.cast(learning_rate, variable.dtype) * scale


class NeverConverges(GoodMomentum):
    """Pulls every weight towards zero as well: its fixed point is 0.8 of the minimum."""

    def update_step(self, gradient, variable, learning_rate):
        gradient = ops.add(ops.cast(gradient, variable.dtype), ops.multiply(variable, 0.5))
        super().update_step(gradient, variable, learning_rate)


class StateNotSaved(GoodMomentum):
    """Keeps its average in Variables of a plain Python dict that the optimizer does not track."""

    slot_names = ()

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        hidden = {self._var_key(v): keras.Variable(np.zeros(v.shape, dtype=v.dtype), trainable=False) for v in variables}
        object.__setattr__(self, "hidden", hidden)  # past Keras's tracking: never saved

    def update_step(self, gradient, variable, learning_rate):
        m = self.hidden[self._var_key(variable)]
        gradient = ops.cast(gradient, variable.dtype)
        m.assign(ops.add(ops.multiply(m, self.beta), ops.multiply(gradient, 1.0 - self.beta)))
        self.assign_sub(variable, ops.multiply(m, ops.cast(learning_rate, variable.dtype)))


class KerasMomentum(keras.optimizers.Optimizer):
    """The same rule on Keras's own base class, without PluginOptimizer: keeps every promise."""

    def __init__(self, learning_rate=0.01, beta=0.9, name="kit_keras_momentum", **kwargs):
        for arg, value in (("learning_rate", learning_rate), ("beta", beta)):
            if not isinstance(value, numbers.Real) or not 0.0 <= value < (1.0 if arg == "beta" else np.inf):
                raise ValueError(f"{arg} must be a number in range, got {value!r}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta = beta

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.m = self.add_optimizer_variables(variables, "m")

    def update_step(self, gradient, variable, learning_rate):
        m = self.m[self._get_variable_index(variable)]
        gradient = ops.cast(gradient, variable.dtype)
        self.assign(m, ops.add(ops.multiply(m, self.beta), ops.multiply(gradient, 1.0 - self.beta)))
        self.assign_sub(variable, ops.multiply(m, ops.cast(learning_rate, variable.dtype)))

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
