"""A tensorflow-addons 0.23 training script on Keras 3, with one import changed.

    python docs/examples/tfa_migration.py [OUT_DIR]                 # TensorFlow
    KERAS_BACKEND=jax python docs/examples/tfa_migration.py         # or JAX, or torch

Trains with tfa's RectifiedAdam on a cyclical learning rate, saves the model, and builds an
optimizer from a config exactly as tfa 0.23 saved it. Load the saved model in a fresh process
with plain `keras.saving.load_model` after `import kerasopt_plugins`.
"""

from __future__ import annotations

import pathlib
import sys

import keras
import numpy as np

from kerasopt_plugins import addons as tfa  # was: import tensorflow_addons as tfa

# What tfa 0.23's `tf.keras.optimizers.serialize(tfa.optimizers.Yogi(...))` wrote:
TFA_SAVED_CONFIG = {
    "module": "tensorflow_addons.optimizers.yogi",
    "class_name": "Yogi",
    "config": {
        "name": "Yogi", "learning_rate": 0.009999999776482582, "decay": 0.0,
        "beta1": 0.8999999761581421, "beta2": 0.9990000128746033, "epsilon": 0.0010000000474974513,
        "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
        "activation": "sign", "initial_accumulator_value": 1e-06,
    },
    "registered_name": "Addons>Yogi",
}


def main(out: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.5).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    # unchanged tfa code from here on
    schedule = tfa.optimizers.TriangularCyclicalLearningRate(
        initial_learning_rate=1e-3, maximal_learning_rate=5e-2, step_size=16
    )
    optimizer = tfa.optimizers.RectifiedAdam(learning_rate=schedule, weight_decay=1e-4)
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=16, verbose=0)
    losses = history.history["loss"]
    print(f"RectifiedAdam + TriangularCyclicalLearningRate: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "radam.keras")
    print(f"saved {out / 'radam.keras'} after {int(model.optimizer.iterations)} steps")

    yogi = keras.optimizers.deserialize(TFA_SAVED_CONFIG)
    print(f"tfa's saved config -> {type(yogi).__module__}.{type(yogi).__name__}, beta1={yogi.beta1:.3f}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tfa_migration_out"))
