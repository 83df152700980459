"""Wrappers around any optimizer: Ranger (Lookahead around RectifiedAdam), and SWA with its
batch-norm statistics recomputed, evaluated and saved with the averaged weights.

    python docs/examples/wrappers.py [OUT_DIR]
"""

import sys
from pathlib import Path

import keras
import numpy as np

from kerasopt_plugins.addons import optimizers as tfa
from kerasopt_plugins.callbacks import AverageModelCheckpoint
from kerasopt_plugins.wrappers import SWA, Lookahead, recompute_batch_norm

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 8)).astype("float32")
y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] ** 2).astype("float32")
x_val, y_val = x[-128:], y[-128:]
x, y = x[:-128], y[:-128]


def model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dense(1),
    ])


# Ranger: Lookahead around RectifiedAdam. Saved, it loads anywhere kerasopt_plugins is imported.
ranger = model()
ranger.compile(optimizer=Lookahead(tfa.RectifiedAdam(1e-2), sync_period=6, slow_step_size=0.5), loss="mse")
ranger.fit(x, y, epochs=10, batch_size=32, verbose=0)
ranger.save(out / "ranger.keras")
print(f"Ranger: validation loss {ranger.evaluate(x_val, y_val, verbose=0):.4f}")

# SWA: a constant-rate SGD whose weights are averaged every epoch (12 steps) from epoch 5 on.
swa = model()
optimizer = SWA(keras.optimizers.SGD(0.05, momentum=0.9), start_averaging=4 * 12, average_period=12)
swa.compile(optimizer=optimizer, loss="mse")
best = AverageModelCheckpoint(False, str(out / "swa.keras"), validation_data=(x_val, y_val))
history = swa.fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[best])
print(f"SGD weights: validation loss {swa.evaluate(x_val, y_val, verbose=0):.4f}")
print(f"averaged weights (batch-norm statistics of the SGD weights): {history.history['average_val_loss'][-1]:.4f}")
with optimizer.averaged_weights():  # the averages in; the SGD weights back after the block
    batches = recompute_batch_norm(swa, x, batch_size=32)
    print(f"averaged weights, batch-norm statistics recomputed over {batches} batches: "
          f"{swa.evaluate(x_val, y_val, verbose=0):.4f}")
print(f"saved {out / 'ranger.keras'} and {out / 'swa.keras'}")
