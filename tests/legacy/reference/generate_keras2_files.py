"""Keras 2 model files and what Keras 2 did with them, for tests/legacy/test_load_model.py.

Runs in a venv with tensorflow 2.15.1 (Keras 2.15) and tensorflow-addons 0.23.0, never in the
package's (the project's workspace has one at /work/tfa311)::

    python3.11 -m venv /tmp/tfa311
    /tmp/tfa311/bin/pip install tensorflow==2.15.1 tensorflow-addons==0.23.0
    /tmp/tfa311/bin/python tests/legacy/reference/generate_keras2_files.py          # every case
    /tmp/tfa311/bin/python tests/legacy/reference/generate_keras2_files.py tfa_yogi

For every case of `CASES` it builds a small model with Keras 2, compiles it with the case's
optimizer, loss and metrics, trains `EPOCHS_BEFORE` epochs of `fit` on fixed data (batch size
`BATCH`, shuffle=False) and saves it (`.h5`, or `.keras` as Keras 2.15 writes it). Then it
records what Keras 2 does next:

* ``continued``: the same in-memory model trained one more epoch;
* ``reloaded``: the saved file loaded back with Keras 2's own ``load_model`` and trained one
  more epoch: what "continue training from the file" meant on Keras 2. For `.h5` it equals
  ``continued`` (Keras 2 restores the optimizer state); for a `.keras` file of an OptimizerV2
  optimizer (Keras 2's legacy ones, tfa's, the tutorial's) Keras 2 saves no optimizer state,
  so it restarts the optimizer (iterations 0, zero slots) and ``reloaded`` differs.
  ``continued`` is kept only where it differs from ``reloaded``; ``target`` names the one the
  tests compare with (``reloaded``, except the cases of `CONTINUED_IS_TARGET`).

Each record holds the weights of every layer (in the legacy order, trainable then
non-trainable, keyed by layer name), `iterations`, the history of the extra epoch (loss and
metrics), the optimizer's config as the file holds it and the names of the file's optimizer
variables. Files are written gzip-compressed as ``keras2_files/CASE.EXT.gz`` (a tiny `.h5` is
26 KB of mostly padding, 2 KB compressed); the records go to ``keras2_files/golden.json``.
Nothing here imports kerasopt_plugins.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import pathlib
import platform
import sys
import tempfile
import warnings
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
warnings.filterwarnings("ignore")

import h5py
import numpy as np
import tensorflow as tf
import tensorflow_addons as tfa

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "keras2_files"
EPOCHS_BEFORE = 2
BATCH = 4
SAMPLES = 32
FEATURES = 4
SEED = 20261126

_spec = importlib.util.spec_from_file_location("legacy_cases", HERE / "cases.py")
cases = importlib.util.module_from_spec(_spec)
sys.modules["legacy_cases"] = cases
_spec.loader.exec_module(cases)
tutorial = cases.load("tutorial_optimizers")  # the article's classes on Keras 2.15's OptimizerV2

legacy = tf.keras.optimizers.legacy
new = tf.keras.optimizers


def data() -> tuple[np.ndarray, np.ndarray]:
    """Fixed inputs and targets: closed formulas, no random generator (stored in golden.json)."""
    i = np.arange(SAMPLES, dtype=np.float64)[:, None]
    j = np.arange(FEATURES, dtype=np.float64)[None, :]
    x = np.sin(0.37 * i + 1.1 * j + 0.2 * i * j / SAMPLES).astype(np.float32)
    y = (np.tanh(x @ np.array([[0.9], [-0.6], [0.4], [0.25]])) + 0.1 * np.cos(i)).astype(np.float32)
    return x, y


def dense_model():
    return tf.keras.Sequential(
        [tf.keras.Input((FEATURES,)), tf.keras.layers.Dense(3, activation="tanh"), tf.keras.layers.Dense(1)],
        name="dense_model",
    )


def batch_norm_model():
    """Functional, with named layers and a BatchNormalization (non-trainable weights)."""
    inputs = tf.keras.Input((FEATURES,), name="features")
    hidden = tf.keras.layers.Dense(5, activation="tanh", name="hidden")(inputs)
    hidden = tf.keras.layers.BatchNormalization(name="norm")(hidden)
    outputs = tf.keras.layers.Dense(1, name="head")(hidden)
    return tf.keras.Model(inputs, outputs, name="batch_norm_model")


def nested_model():
    """A Sequential and a functional model inside a functional model (each inner model's weights
    are one h5 group; Keras 2 counted the node its construction made)."""
    body = tf.keras.Sequential([tf.keras.Input((FEATURES,)), tf.keras.layers.Dense(3, activation="tanh")], name="body")
    neck_in = tf.keras.Input((3,), name="neck_in")
    neck = tf.keras.Model(neck_in, tf.keras.layers.Dense(2, activation="tanh", name="neck_dense")(neck_in), name="neck")
    inputs = tf.keras.Input((FEATURES,), name="features")
    outputs = tf.keras.layers.Dense(1, name="head")(neck(body(inputs)))
    return tf.keras.Model(inputs, outputs, name="nested_model")


MODELS = {"dense": dense_model, "batch_norm": batch_norm_model, "nested": nested_model}
LOSSES = {
    "mse": lambda: ("mse", ["mae"]),
    "huber": lambda: (tf.keras.losses.Huber(delta=0.5), ["mean_absolute_error", tf.keras.metrics.RootMeanSquaredError()]),
}

#: case -> (optimizer factory, model, loss, file extension)
CASES = {
    # the five of issue 14
    "tfa_rectified_adam": (lambda: tfa.optimizers.RectifiedAdam(0.01), "dense", "mse", "h5"),
    "tfa_yogi": (lambda: tfa.optimizers.Yogi(0.02), "batch_norm", "mse", "h5"),
    "tfa_lookahead_rectified_adam": (
        lambda: tfa.optimizers.Lookahead(tfa.optimizers.RectifiedAdam(0.01, amsgrad=True), sync_period=3, slow_step_size=0.6),
        "nested", "mse", "h5",
    ),
    "tutorial_cmomentum_sgd": (lambda: tutorial.CMomentumSGD(0.05, momentum=0.9), "dense", "mse", "h5"),
    "keras2_legacy_adam_decay": (lambda: legacy.Adam(0.01, decay=0.01), "dense", "huber", "h5"),
    # tfa's other optimizers and wrappers with a port here
    "tfa_lazy_adam": (lambda: tfa.optimizers.LazyAdam(0.01), "dense", "mse", "h5"),
    "tfa_novograd": (lambda: tfa.optimizers.NovoGrad(0.01, amsgrad=True), "dense", "mse", "h5"),
    "tfa_adabelief": (lambda: tfa.optimizers.AdaBelief(0.01, amsgrad=True), "dense", "mse", "h5"),
    "tfa_proximal_adagrad": (lambda: tfa.optimizers.ProximalAdagrad(0.1, l1_regularization_strength=0.001), "dense", "mse", "h5"),
    "tfa_cocob": (lambda: tfa.optimizers.COCOB(), "dense", "mse", "h5"),
    "tfa_conditional_gradient": (lambda: tfa.optimizers.ConditionalGradient(0.05, lambda_=0.5), "dense", "mse", "h5"),
    "tfa_sgdw": (lambda: tfa.optimizers.SGDW(weight_decay=0.001, learning_rate=0.05, momentum=0.9), "dense", "mse", "h5"),
    "tfa_adamw": (lambda: tfa.optimizers.AdamW(weight_decay=0.001, learning_rate=0.01), "dense", "mse", "h5"),
    "tfa_swa_sgd": (lambda: tfa.optimizers.SWA(legacy.SGD(0.05, momentum=0.5), start_averaging=4, average_period=3), "dense", "mse", "h5"),
    "tfa_moving_average_adam": (lambda: tfa.optimizers.MovingAverage(legacy.Adam(0.01), average_decay=0.9), "dense", "mse", "h5"),
    # Keras 2's other legacy (OptimizerV2) optimizers
    "keras2_legacy_sgd_nesterov": (lambda: legacy.SGD(0.05, momentum=0.9, nesterov=True), "dense", "mse", "h5"),
    "keras2_legacy_rmsprop_centered": (lambda: legacy.RMSprop(0.005, momentum=0.5, centered=True), "dense", "mse", "h5"),
    "keras2_legacy_adagrad": (lambda: legacy.Adagrad(0.1), "dense", "mse", "h5"),
    "keras2_legacy_adadelta": (lambda: legacy.Adadelta(1.0), "dense", "mse", "h5"),
    "keras2_legacy_adamax": (lambda: legacy.Adamax(0.02), "dense", "mse", "h5"),
    "keras2_legacy_nadam": (lambda: legacy.Nadam(0.01), "dense", "mse", "h5"),  # refused on Keras 3
    "keras2_legacy_nadam_schedule_decay_1": (lambda: legacy.Nadam(0.01, schedule_decay=1.0), "dense", "mse", "h5"),
    "keras2_legacy_ftrl": (lambda: legacy.Ftrl(0.1, l1_regularization_strength=0.001), "dense", "mse", "h5"),
    "keras2_legacy_adam_amsgrad": (lambda: legacy.Adam(0.01, amsgrad=True), "batch_norm", "mse", "h5"),
    # Keras 2.11+'s optimizers (tf.keras.optimizers.Adam, ...), the default ones in 2.15
    "keras2_adam": (lambda: new.Adam(0.01), "dense", "mse", "h5"),
    "keras2_sgd_momentum": (lambda: new.SGD(0.05, momentum=0.9), "dense", "mse", "h5"),
    "keras2_rmsprop_centered": (lambda: new.RMSprop(0.005, momentum=0.5, centered=True), "dense", "mse", "h5"),
    "keras2_adamw": (lambda: new.AdamW(0.01, weight_decay=0.05), "dense", "mse", "h5"),
    "keras2_nadam": (lambda: new.Nadam(0.01), "dense", "mse", "h5"),  # Keras 2 saves no u_product
    "keras2_adafactor": (lambda: new.Adafactor(0.05), "dense", "mse", "h5"),  # refused on Keras 3
    # .keras as Keras 2.15 wrote it
    "keras2_legacy_adam_decay_keras": (lambda: legacy.Adam(0.01, decay=0.01), "dense", "huber", "keras"),
    "tfa_rectified_adam_keras": (lambda: tfa.optimizers.RectifiedAdam(0.01), "dense", "mse", "keras"),
    "keras2_adam_keras": (lambda: new.Adam(0.01, amsgrad=True), "dense", "mse", "keras"),
    "keras2_rmsprop_centered_keras": (lambda: new.RMSprop(0.005, momentum=0.5, centered=True), "nested", "mse", "keras"),
}

#: What a Keras 2 user passed to load these files back (tfa's Lookahead looks its inner optimizer
#: up by bare class name).
#: Cases where Keras 2's own reload is not what the file holds, so the tests compare with the
#: in-memory continuation (``continued``) instead, and why.
CONTINUED_IS_TARGET = {
    "keras2_nadam": (
        "Keras 2.15's Nadam keeps the product of its momentum schedule (_u_product) outside its "
        "variables, so no file holds it and Keras 2's own reload continues from another value. "
        "In fit it also multiplied it once per variable instead of once per step (saved.u_product: "
        "3.9e-15 after 16 steps of this 4-variable model; the product of the 16 factors is 1.35e-4). "
        "legacy.load_model sets the product of the factors, Keras 3's rule; the denominators "
        "1 - u_product then differ by 1.4e-4 relative, and the weights after the epoch by <= 1.5e-6"
    ),
    "keras2_legacy_nadam_schedule_decay_1": (
        "Keras 2's legacy Nadam.from_config sets decay back to 0.004 (its constructor runs "
        "kwargs['decay'] = kwargs.pop('schedule_decay', 0.004)), so Keras 2 reloads this file as "
        "another optimizer; the file holds schedule decay 1.0 and its state"
    ),
}

CUSTOM_OBJECTS = {"CMomentumSGD": tutorial.CMomentumSGD, "RectifiedAdam": tfa.optimizers.RectifiedAdam}
CUSTOM_OBJECTS.update({"SGD": legacy.SGD, "Adam": legacy.Adam})  # tfa wrappers' inner configs


def keras_version() -> str:
    import keras  # Keras 2.15, the package tf.keras is

    return keras.__version__


def plain(value):
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if tf.is_tensor(value):
        return value.numpy().tolist()
    return value


def layer_weights(model) -> dict:
    """Each layer's weights in the legacy order (trainable, then non-trainable), by layer name."""
    return {
        layer.name: [w.numpy().tolist() for w in layer.trainable_weights + layer.non_trainable_weights]
        for layer in model.layers
        if layer.weights
    }


def one_more_epoch(model, x, y) -> dict:
    history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return {
        "weights": layer_weights(model),
        "iterations": int(model.optimizer.iterations.numpy()),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }


def file_facts(path: pathlib.Path, ext: str) -> dict:
    if ext == "h5":
        with h5py.File(path, "r") as f:
            training = json.loads(f.attrs["training_config"])
            names = [n.decode() if isinstance(n, bytes) else n for n in f["optimizer_weights"].attrs["weight_names"]]
            return {"optimizer_config": training["optimizer_config"], "optimizer_weight_names": names}
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
            count = len(f["optimizer/vars"]) if "optimizer/vars" in f else 0
    return {"optimizer_config": config["compile_config"]["optimizer"], "optimizer_variable_count": count}


def run(name: str, tmp: pathlib.Path) -> dict:
    make, model_kind, loss_kind, ext = CASES[name]
    x, y = data()
    tf.keras.utils.set_random_seed(SEED)
    model = MODELS[model_kind]()
    loss, metrics = LOSSES[loss_kind]()
    optimizer = make()
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS_BEFORE, shuffle=False, verbose=0)
    path = tmp / f"{name}.{ext}"
    model.save(path)
    saved = {
        "u_product": float(optimizer._u_product.numpy()) if hasattr(optimizer, "_u_product") else None,
        "weights": layer_weights(model),
        "iterations": int(model.optimizer.iterations.numpy()),
        "optimizer_variables": [w.name for w in model.optimizer.variables()]
        if callable(model.optimizer.variables) else [w.name for w in model.optimizer.variables],
    }
    continued = one_more_epoch(model, x, y)
    reloaded_model = tf.keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS)
    reloaded = {"iterations_after_load": int(reloaded_model.optimizer.iterations.numpy())}
    reloaded.update(one_more_epoch(reloaded_model, x, y))
    (OUT / f"{name}.{ext}.gz").write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
    same = reloaded["weights"] == continued["weights"]
    target = "continued" if name in CONTINUED_IS_TARGET else "reloaded"
    return {
        "file": f"{name}.{ext}.gz",
        "target": target,
        "target_note": CONTINUED_IS_TARGET.get(name),
        "format": ext,
        "model": model_kind,
        "loss": loss_kind,
        "optimizer_class": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}",
        "saved": saved,
        # the in-memory continuation is kept only where it differs from Keras 2's reload
        "continued": None if same else continued,
        "reloaded": reloaded,
        "reloaded_equals_continued": same,
        **plain(file_facts(path, ext)),
    }


def main(argv: list[str]) -> None:
    names = argv or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; cases: {sorted(CASES)}")
    OUT.mkdir(exist_ok=True)
    golden_path = OUT / "golden.json"
    golden = json.loads(golden_path.read_text()) if argv and golden_path.exists() else {}
    x, y = data()
    golden["_setup"] = {
        "x": x.tolist(),
        "y": y.tolist(),
        "batch_size": BATCH,
        "epochs_before": EPOCHS_BEFORE,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras_version(),
            "tensorflow_addons": tfa.__version__,
            "python": platform.python_version(),
        },
    }
    cases_out = golden.setdefault("cases", {})
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            cases_out[name] = run(name, pathlib.Path(tmp))
            print(f"{name}: wrote {cases_out[name]['file']}; reloaded == continued: {cases_out[name]['reloaded_equals_continued']}")
    golden["cases"] = {k: cases_out[k] for k in sorted(cases_out)}
    golden_path.write_text(json.dumps(golden, indent=None, sort_keys=False) + "\n")
    print(f"wrote {golden_path.relative_to(HERE)}")


if __name__ == "__main__":
    main(sys.argv[1:])
