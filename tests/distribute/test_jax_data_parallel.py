"""Keras's distribution API on JAX: DataParallel over two host devices matches one device."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from conftest import run_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (the jax extra)"),
]

CODE = """
import json
import numpy as np
import jax
import keras
import kerasopt_plugins
from kerasopt_plugins.callbacks import SlotLogger

assert len(jax.devices()) == 2, jax.devices()
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")

def train(name):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                              keras.layers.Dense(1, name="out")], name="net")
    info = kerasopt_plugins.optimizer_info(name)  # the registry's example exercises the state
    model.compile(info.cls(**info.example_config), "mse")
    logger = SlotLogger(statistics=["l2"])
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[logger])
    return [w.tolist() for w in model.get_weights()], logger.records

out = {}
for name in kerasopt_plugins.list_optimizers():
    single = train(name)
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    parallel = train(name)
    keras.distribution.set_distribution(None)
    out[name] = {"single": single, "parallel": parallel}
print(json.dumps(out))
"""


def test_data_parallel_matches_one_device_for_every_optimizer():
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    result = json.loads(run_python(CODE, env=env).stdout.strip().splitlines()[-1])
    assert set(result) >= {"vanilla_sgd", "momentum_sgd", "cmomentum_sgd"}
    for name, r in result.items():
        (single_w, single_rec), (par_w, par_rec) = r["single"], r["parallel"]
        for a, b in zip(single_w, par_w):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
        assert [x["iteration"] for x in par_rec] == list(range(1, 9))
        for a, b in zip(single_rec, par_rec):
            for key in a:
                assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), (name, key)
