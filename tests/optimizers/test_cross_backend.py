"""A .keras file saved on one backend loads on another, and training continues the same way."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import run_python

BACKENDS = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b if b != "tensorflow" else "tensorflow")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(len(BACKENDS) < 2, reason="needs at least two Keras backends installed"),
]

COMMON = """
import numpy as np, keras, kerasopt_plugins
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
"""

SAVE = COMMON + """
import sys
out = sys.argv[1] if len(sys.argv) > 1 else {out!r}
for name in kerasopt_plugins.list_optimizers():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                              keras.layers.Dense(1, name="out")], name="net")
    info = kerasopt_plugins.optimizer_info(name)  # the registry's example exercises the state
    model.compile(info.cls(**{{**info.example_config, "decay": 0.01}}), "mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    model.save(f"{{out}}/{{name}}.keras")
"""

CONTINUE = COMMON + """
import json
result = {{}}
for name in kerasopt_plugins.list_optimizers():
    model = keras.saving.load_model({out!r} + f"/{{name}}.keras")
    slots = [keras.ops.convert_to_numpy(v).tolist() for v in model.optimizer.variables]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    result[name] = {{"loaded_slots": slots, "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
                    "class": type(model.optimizer).__name__,
                    "weights": [w.tolist() for w in model.get_weights()]}}
print(json.dumps(result))
"""


def test_saved_on_tensorflow_continues_identically_on_every_backend(tmp_path):
    import json

    run_python(SAVE.format(out=str(tmp_path)), env={"KERAS_BACKEND": "tensorflow"})
    results = {
        backend: json.loads(
            run_python(CONTINUE.format(out=str(tmp_path)), env={"KERAS_BACKEND": backend}).stdout.strip().splitlines()[-1]
        )
        for backend in BACKENDS
    }
    reference = results["tensorflow"]
    for backend, result in results.items():
        for name, r in result.items():
            want = reference[name]
            assert r["class"] == want["class"] and r["iterations"] == want["iterations"] == 12
            for a, b in zip(r["loaded_slots"], want["loaded_slots"]):  # the file's state, bit for bit
                np.testing.assert_array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
            for a, b in zip(r["weights"], want["weights"]):  # four more steps: float32 rounding only
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{backend} {name}")
