"""tf.distribute: MirroredStrategy over two logical CPUs, and MultiWorkerMirroredStrategy with
two worker processes on 127.0.0.1 — each optimizer matches single-device training."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import BACKEND, run_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute needs the TensorFlow backend"),
]

TRAIN = """
import json, os, sys
import numpy as np
import tensorflow as tf
import keras
import kerasopt_plugins
from kerasopt_plugins.callbacks import SlotLogger

def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")

def make_optimizer(name):
    info = kerasopt_plugins.optimizer_info(name)  # the registry's example exercises the state
    return info.cls(**info.example_config)

def train(strategy, name, epochs=2):
    x, y = data()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
        model.compile(make_optimizer(name), "mse", jit_compile=False)
    logger = SlotLogger(statistics=["l2"])
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, shuffle=False, callbacks=[logger])
    return [w.tolist() for w in model.get_weights()], logger
"""


def max_abs_diff(a, b):
    import numpy as np

    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in zip(a, b))


def test_mirrored_strategy_matches_one_device_for_every_optimizer():
    code = TRAIN + textwrap.dedent(
        """
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
        out = {}
        for name in kerasopt_plugins.list_optimizers():
            single, _ = train(tf.distribute.get_strategy(), name)
            mirrored, logger = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), name)
            out[name] = {"single": single, "mirrored": mirrored, "replica_diff": logger.replica_max_abs_diff,
                         "records": len(logger.records)}
        print(json.dumps(out))
        """
    )
    result = json.loads(run_python(code).stdout.strip().splitlines()[-1])
    assert set(result) >= {"vanilla_sgd", "momentum_sgd", "cmomentum_sgd"}
    for name, r in result.items():
        # same global batch of 16, split 8 + 8 and summed across replicas: float32 rounding only
        assert max_abs_diff(r["single"], r["mirrored"]) < 1e-5, name
        assert r["records"] == 8
        assert r["replica_diff"] == [0.0, 0.0], name  # every replica's slot copy is identical


def test_optimizer_created_outside_the_scope_is_refused_clearly():
    code = TRAIN + textwrap.dedent(
        """
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
        optimizer = make_optimizer("momentum_sgd")  # made outside strategy.scope()
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile(optimizer, "mse", jit_compile=False)
        x, y = data()
        try:
            model.fit(x, y, batch_size=16, epochs=1, verbose=0)
            print("TRAINED")
        except Exception as error:
            print("ERROR", type(error).__name__, str(error).splitlines()[0][:300])
        """
    )
    last = run_python(code).stdout.strip().splitlines()[-1]
    assert last.startswith(
        "ERROR ValueError MomentumSGD was created outside the tf.distribute strategy it is being built "
        "under (MirroredStrategy); create the optimizer inside `with strategy.scope():`"
    ), last
