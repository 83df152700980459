"""An independent witness for the logging callbacks: reads optimizer state synchronously.

It never uses kerasopt_plugins.callbacks: slots come from each optimizer's own attributes, the
learning rate from `optimizer.learning_rate` read before the step, and on JAX it forces Keras's
own state sync (`jax_state_sync`) so the Keras variables are current.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt_plugins import PluginOptimizer

# Keras's built-in optimizers keep their slots in lists parallel to the trainable variables.
BUILTIN_SLOT_ATTRIBUTES = {
    "SGD": {"momentum": "momentums"},
    "Adam": {"momentum": "_momentums", "velocity": "_velocities"},
    "RMSprop": {"velocity": "_velocities", "momentum": "_momentums"},
    "Adagrad": {"accumulator": "_accumulators"},
}


def slot_arrays(optimizer, variables) -> dict[str, np.ndarray]:
    """{"<slot>/<path>": array} read straight from the optimizer's own attributes."""
    inner = optimizer
    while hasattr(inner, "inner_optimizer"):
        inner = inner.inner_optimizer
    out = {}
    if isinstance(inner, PluginOptimizer):
        table = {name: [inner.get_slot(v, name) for v in variables] for name in inner.slot_names}
    else:
        table = {
            slot: getattr(inner, attribute)
            for slot, attribute in BUILTIN_SLOT_ATTRIBUTES[type(inner).__name__].items()
            if getattr(inner, attribute)
        }
    for slot, slot_vars in table.items():
        for variable, slot_var in zip(variables, slot_vars):
            if slot_var is not None:
                out[f"{slot}/{variable.path}"] = np.array(keras.ops.convert_to_numpy(slot_var))
    return out


def numpy_stats(array: np.ndarray) -> dict[str, float]:
    x = array.astype(np.float64).ravel()
    return {
        "mean": x.mean(),
        "std": x.std(),
        "min": x.min(),
        "max": x.max(),
        "l2": np.sqrt(np.sum(x * x)),
    }


class StateProbe(keras.callbacks.Callback):
    """After every step: iteration, slot arrays; before every step: the learning rate."""

    def __init__(self):
        super().__init__()
        self.steps: list[dict] = []
        self.rates_before: list[float] = []

    def _sync(self):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    def on_train_batch_begin(self, batch, logs=None):
        self._sync()
        self.rates_before.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_train_batch_end(self, batch, logs=None):
        self._sync()
        optimizer = self.model.optimizer
        self.steps.append(
            {
                "iteration": int(keras.ops.convert_to_numpy(optimizer.iterations)),
                "batch": int(batch),
                "slots": slot_arrays(optimizer, self.model.trainable_variables),
            }
        )


def named_model(features: int = 4, seed: int = 0) -> keras.Model:
    """small_model with fixed names, so variable paths are net/hidden/kernel ... in any order of tests."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(3, activation="tanh", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )


def assert_rates_equal(logged, probed):
    """Rates from compiled code vs the probe's eager reads: equal, or 1-2 ulp apart where a
    compiler rewrote a division or pow (XLA computes a/b as a*(1/b))."""
    np.testing.assert_array_max_ulp(np.float32(logged), np.float32(probed), maxulp=2)


needs_steps_per_execution = pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="Keras allows steps_per_execution > 1 only on TensorFlow and JAX"
)
