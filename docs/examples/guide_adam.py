"""Adam written exactly as docs/writing-optimizers.md teaches: one `update_step` in keras.ops.

The rule is Keras's Adam (same operations, same order), so it can be compared with
`keras.optimizers.Adam` for speed (benchmarks/step_time.py, benchmarks/fit_time.py) and for
numbers. `elementwise = True` is the one-line declaration that lets PluginOptimizer run the rule
over many variables at once on torch.

    python docs/examples/guide_adam.py      # trains a small model with it and saves it
"""

from __future__ import annotations

import numbers

from keras import ops

from kerasopt_plugins import LearningRate, PluginOptimizer, check_number, register_optimizer


@register_optimizer("guide_adam", example_config={"learning_rate": 0.1})
class GuideAdam(PluginOptimizer):
    """Adam, written as the guide teaches (an example; use keras.optimizers.Adam in real code)."""

    slot_names = ("m", "v")
    elementwise = True  # each output element depends only on the same element of its inputs

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: numbers.Real = 0.9,
        beta_2: numbers.Real = 0.999,
        epsilon: numbers.Real = 1e-7,
        **kwargs,
    ):
        beta_1 = check_number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        beta_2 = check_number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        epsilon = check_number("epsilon", epsilon, low=0.0)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), step)
        m = self.get_slot(variable, "m")
        v = self.get_slot(variable, "v")
        alpha = learning_rate * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


if __name__ == "__main__":
    import keras
    import numpy as np

    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.get("guide_adam").from_config({"learning_rate": 0.01}), loss="mse")
    history = model.fit(x, y, epochs=20, verbose=0)
    print(f"GuideAdam: loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f}")
    model.save("guide_adam.keras")  # loads with keras.saving.load_model once this module is imported
