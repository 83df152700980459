"""Saved with a wrapper, loaded in a fresh process with plain `keras.saving.load_model`: the state
comes back bit for bit and training resumes exactly as if it had never stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import BACKEND, computed_once, run_python

MAKE = """
import keras
from kerasopt_plugins.addons import optimizers as tfa
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage, extend_with_decoupled_weight_decay

def make(kind):
    if kind == "lookahead_radam":
        return Lookahead(tfa.RectifiedAdam(0.01, total_steps=40, warmup_proportion=0.2), sync_period=3)
    if kind == "swa_sgd":
        return SWA(keras.optimizers.SGD(0.05, momentum=0.9), start_averaging=2, average_period=3)
    if kind == "moving_average_adam":
        return MovingAverage(keras.optimizers.Adam(0.01), start_step=2, dynamic_decay=True)
    if kind == "decoupled_adam":
        return extend_with_decoupled_weight_decay(keras.optimizers.Adam)(0.01, learning_rate=0.01)
    if kind == "nested":
        return Lookahead(SWA("cmomentum_sgd", average_period=2), sync_period=2)
    raise ValueError(kind)

def data():
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")

def model_for(kind):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(optimizer=make(kind), loss="mse")
    return model
"""

KINDS = ["lookahead_radam", "swa_sgd", "moving_average_adam", "decoupled_adam", "nested"]

TRAIN = MAKE + """
import json, sys
import numpy as np
out = {}
x, y = data()
for kind in json.loads(sys.argv[1]):
    model = model_for(kind)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    model.save(f"{sys.argv[2]}/{kind}.keras")
    state = [np.asarray(v).tolist() for v in model.optimizer.variables]
    iterations = int(model.optimizer.iterations)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    out[kind] = {"state": state, "iterations": iterations, "resumed": [w.tolist() for w in model.get_weights()],
                 "classes": [type(model.optimizer).__name__, type(getattr(model.optimizer, "inner_optimizer", None)).__name__]}
print(json.dumps(out))
"""

RESUME = """
import json, sys
import keras
import numpy as np
import kerasopt_plugins  # all a user imports: no custom_objects, nothing registered by hand

def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")

out = {}
x, y = data()
for kind in json.loads(sys.argv[1]):
    model = keras.saving.load_model(f"{sys.argv[2]}/{kind}.keras")
    state = [np.asarray(v).tolist() for v in model.optimizer.variables]
    iterations = int(model.optimizer.iterations)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    out[kind] = {"state": state, "iterations": iterations, "resumed": [w.tolist() for w in model.get_weights()],
                 "classes": [type(model.optimizer).__name__, type(getattr(model.optimizer, "inner_optimizer", None)).__name__]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def trained_and_reloaded(tmp_path_factory):
    """Trained and saved in one fresh process, reloaded and resumed in another; once per session."""

    def run():
        folder = tmp_path_factory.mktemp("wrapped")
        kinds = json.dumps(KINDS)

        def last_json(proc):
            return json.loads(proc.stdout.strip().splitlines()[-1])

        trained = last_json(run_python(f"import sys; sys.argv = ['x', {kinds!r}, {str(folder)!r}]\n" + TRAIN))
        reloaded = last_json(run_python(f"import sys; sys.argv = ['x', {kinds!r}, {str(folder)!r}]\n" + RESUME))
        return [trained, reloaded]

    return computed_once(tmp_path_factory, "wrappers-saving", run)


@pytest.mark.slow  # its fixture trains, saves and reloads in a fresh process (~20 s)
@pytest.mark.parametrize("kind", KINDS)
def test_state_reloads_bit_for_bit_and_training_resumes_identically(trained_and_reloaded, kind):
    trained, reloaded = trained_and_reloaded
    before, after = trained[kind], reloaded[kind]
    assert after["classes"] == before["classes"]
    assert after["iterations"] == before["iterations"] == 12
    assert len(after["state"]) == len(before["state"])
    for a, b in zip(before["state"], after["state"]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(before["resumed"], after["resumed"]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{kind} on {BACKEND}")
