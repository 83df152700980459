"""Under tf.distribute.MirroredStrategy (two logical CPUs) each wrapper trains as on one device."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import BACKEND, run_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute needs the TensorFlow backend"),
]

CODE = """
import json
import numpy as np
import tensorflow as tf
import keras
import kerasopt_plugins
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage, extend_with_decoupled_weight_decay

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
MAKE = {
    "lookahead": lambda: Lookahead(keras.optimizers.Adam(0.01), sync_period=3),
    "swa": lambda: SWA("momentum_sgd", start_averaging=1, average_period=2),
    "moving_average": lambda: MovingAverage(keras.optimizers.SGD(0.05, momentum=0.5), dynamic_decay=True),
    "decoupled": lambda: extend_with_decoupled_weight_decay(keras.optimizers.SGD)(0.01, learning_rate=0.05),
}

def train(strategy, kind):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
        model.compile(MAKE[kind](), "mse", jit_compile=False)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    slots = []
    opt = model.optimizer
    for name in getattr(opt, "slot_names", ()):
        slots += [np.asarray(opt.get_slot(v, name)).tolist() for v in model.trainable_variables]
    return {"weights": [w.tolist() for w in model.get_weights()], "slots": slots, "iterations": int(opt.iterations.numpy())}

out = {}
for kind in MAKE:
    out[kind] = {"single": train(tf.distribute.get_strategy(), kind),
                 "mirrored": train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), kind)}
print(json.dumps(out))
"""


def test_mirrored_strategy_matches_one_device():
    out = json.loads(run_python(CODE).stdout.strip().splitlines()[-1])
    for kind, runs in out.items():
        single, mirrored = runs["single"], runs["mirrored"]
        assert single["iterations"] == mirrored["iterations"] == 12, kind
        for a, b in zip(single["weights"] + single["slots"], mirrored["weights"] + mirrored["slots"]):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6, err_msg=kind)
        assert len(mirrored["slots"]) == len(single["slots"])
