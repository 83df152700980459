"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train like one device.

Keras 3's `fit` does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585, open:
"Attempt to convert a value (PerReplica...)" for any optimizer, Keras's own included; checked
with TF 2.21 / Keras 3.15.1). A custom training loop does, and that is what is tested here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import BACKEND

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute needs the TensorFlow backend"),
]

WORKER = """
import json, os, sys
import numpy as np
import tensorflow as tf
import keras
import kerasopt_plugins

index, out = int(sys.argv[1]), sys.argv[2]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
mine_x, mine_y = x[index::2], y[index::2]  # batch k of each worker together: global batch k of 16
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    optimizer = kerasopt_plugins.CMomentumSGD(learning_rate=0.05, momentum=0.9)
    optimizer.build(model.trainable_variables)

@tf.function
def train_step(xb, yb):
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(xb, training=True) - yb)) / 16.0  # global batch mean
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)  # Keras all-reduces (sums) across workers
    strategy.run(step, args=(xb, yb))

for epoch in range(2):
    for k in range(0, 32, 8):
        train_step(tf.constant(mine_x[k:k + 8]), tf.constant(mine_y[k:k + 8]))
slots = [optimizer.get_slot(v, "m") for v in model.trainable_variables]
np.savez(out, *model.get_weights(), *[keras.ops.convert_to_numpy(s) for s in slots])
print("iterations", int(keras.ops.convert_to_numpy(optimizer.iterations)))
"""


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def single_device_weights():
    import keras

    import kerasopt_plugins

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
    order = np.concatenate([np.stack([x[0::2][k : k + 8], x[1::2][k : k + 8]]).reshape(16, 4) for k in range(0, 32, 8)])
    order_y = np.concatenate([np.stack([y[0::2][k : k + 8], y[1::2][k : k + 8]]).reshape(16, 1) for k in range(0, 32, 8)])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    optimizer = kerasopt_plugins.CMomentumSGD(learning_rate=0.05, momentum=0.9)
    model.compile(optimizer, "mse", jit_compile=False)
    model.fit(order, order_y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    return model.get_weights() + [keras.ops.convert_to_numpy(optimizer.get_slot(v, "m")) for v in model.trainable_variables]


def test_two_workers_match_single_device_training(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    try:
        for index in range(2):
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            processes.append(subprocess.Popen(
                [sys.executable, str(script), str(index), str(tmp_path / f"w{index}")],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        outputs = [p.communicate(timeout=110) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-4000:]
    reference = single_device_weights()
    arrays = []
    for index in range(2):
        with np.load(tmp_path / f"w{index}.npz") as saved:
            arrays.append([saved[f"arr_{i}"] for i in range(len(saved.files))])
        assert "iterations 8" in outputs[index][0]
        for got, want in zip(arrays[index], reference):  # weights, then slot m of each
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for a, b in zip(*arrays):  # both workers hold identical weights and slots
        np.testing.assert_array_equal(a, b)
