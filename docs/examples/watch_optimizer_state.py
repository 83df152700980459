"""Watch what two optimizers do during fit: the momentum slot's norm and the learning rate, per step.

Trains the same small regression model with kerasopt_plugins' MomentumSGD (legacy `decay`) and
Keras's Adam (a CosineDecay schedule), logs every step with SlotLogger and LearningRateLogger,
and plots both from the loggers' records.

    python docs/examples/watch_optimizer_state.py [OUT_FOLDER]
"""

import sys
from pathlib import Path

import keras
import numpy as np

import kerasopt_plugins
from kerasopt_plugins.callbacks import IterationLogger, LearningRateLogger, SlotLogger

out = Path(sys.argv[1] if len(sys.argv) > 1 else "watch-optimizer-state")
out.mkdir(exist_ok=True)

rng = np.random.default_rng(0)
x = rng.normal(size=(512, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 1))).astype("float32")

optimizers = {
    "MomentumSGD": kerasopt_plugins.MomentumSGD(learning_rate=0.1, momentum=0.9, decay=0.01),
    "Adam": keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.01, decay_steps=160)),
}
runs = {}
for label, optimizer in optimizers.items():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    slots = SlotLogger(statistics=["l2"], path=out / f"{label}-slots.csv", if_exists="overwrite")
    rates = LearningRateLogger()
    steps = IterationLogger()
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0, callbacks=[slots, rates, steps])
    runs[label] = (slots.records, rates.records)
    print(f"{label}: {steps.records[-1]['iteration']} steps, final loss {history.history['loss'][-1]:.4f}, "
          f"last rate {rates.records[-1]['learning_rate']:.5f}")

from matplotlib.figure import Figure  # noqa: E402  (plotting needs the `plot` extra)

figure = Figure(figsize=(10, 4))
norm_axes, rate_axes = figure.subplots(1, 2)
for label, (slot_records, rate_records) in runs.items():
    # the first-moment slot: "m" for MomentumSGD, "momentum" for Adam; summed over variables
    first_moment = [k for k in slot_records[0] if k.endswith("/l2") and k.split("/")[0] in ("m", "momentum")]
    norm = [np.sqrt(sum(r[k] ** 2 for k in first_moment)) for r in slot_records]
    norm_axes.plot([r["iteration"] for r in slot_records], norm, label=label)
    rate_axes.plot([r["iteration"] for r in rate_records], [r["learning_rate"] for r in rate_records], label=label)
norm_axes.set(title="first-moment slot, global L2 norm", xlabel="step", yscale="log")
rate_axes.set(title="learning rate applied at each step", xlabel="step")
for axes in (norm_axes, rate_axes):
    axes.legend()
figure.tight_layout()
figure.savefig(out / "optimizer-state.png", dpi=100)
print(f"wrote {out / 'optimizer-state.png'}")
