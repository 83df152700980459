"""Golden trajectories from the real OptimizerV2 (Keras 2.15), for tests/legacy.

OptimizerV2 exists only up to TensorFlow 2.15 (Keras 2) on Python <= 3.11, so this script runs
in a venv of its own, never in the package's:

    python3.11 -m venv /tmp/tf215
    /tmp/tf215/bin/pip install tensorflow==2.15.1
    /tmp/tf215/bin/python tests/legacy/reference/generate_keras2.py            # every case
    /tmp/tf215/bin/python tests/legacy/reference/generate_keras2.py own_clipped_sparse_sgd

(the project's workspace has such a venv at /work/tfa311). For every case of cases.py it
executes the case module as it is (``tf.keras.optimizers.legacy.Optimizer``, Keras 2.15's
OptimizerV2), trains `cases.STEPS` steps and writes ``data/CASE.json``: the problem (initial
values and the gradient fed at every step), after every step the variables, the slots and
`iterations`, and the optimizer's config before and after (or the error get_config raised).

It also writes ``data/keras2_facts.json``: what Keras 2.15 does where Keras 3 behaviour is
compared in the tests (VanillaSGD2's get_config, saving, config forms) and whether the
article's own import (TF's frozen copy in tensorflow.python.keras) gives the same trajectories.
Nothing here imports kerasopt_plugins.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import platform
import sys
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow as tf

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("legacy_cases", HERE / "cases.py")
cases = importlib.util.module_from_spec(_spec)
sys.modules["legacy_cases"] = cases
_spec.loader.exec_module(cases)


def keras_version() -> str:
    import keras  # Keras 2.15, the package tf.keras is

    return keras.__version__


def plain(value):
    """JSON-ready: arrays as nested lists of Python numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if tf.is_tensor(value):
        return value.numpy().tolist()
    return value


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"


def config_or_error(optimizer) -> dict:
    try:
        return {"config": plain(optimizer.get_config())}
    except Exception as err:  # noqa: BLE001 - Keras 2's failure is the record
        return {"error": error_text(err)}


def gradient_of(step: int, problem: dict, variables: dict) -> dict:
    if problem["kind"] == "sparse":
        step_grads = problem["grads"][step]
        table = step_grads["table"]
        return {
            "table": tf.IndexedSlices(
                tf.constant(table["values"]), tf.constant(table["indices"]), tf.constant(problem["dense_shape"], tf.int64)
            ),
            "bias": tf.constant(step_grads["bias"]),
        }
    with tf.GradientTape() as tape:
        loss = cases.dense_loss(problem, variables)
    return dict(zip(variables, tape.gradient(loss, list(variables.values()))))


def recorded(gradient) -> object:
    if isinstance(gradient, tf.IndexedSlices):
        return {"indices": gradient.indices.numpy().tolist(), "values": gradient.values.numpy().tolist()}
    return gradient.numpy().tolist()


def run(name: str, import_line: str | None = None) -> dict:
    case = cases.CASES[name]
    module = cases.load(case.module, import_line)
    problem = cases.PROBLEMS[case.problem]()
    optimizer = case.make(module)
    config_before = config_or_error(optimizer)
    variables = {n: tf.Variable(v, name=n) for n, v in problem["init"].items()}
    history = []
    for step in range(cases.STEPS):
        for attribute, value in case.changes.get(step, {}).items():
            setattr(optimizer, attribute, value)
        gradients = gradient_of(step, problem, variables)
        optimizer.apply_gradients([(gradients[n], variables[n]) for n in variables])
        history.append({
            "gradients": {n: recorded(g) for n, g in gradients.items()},
            "variables": {n: v.numpy().tolist() for n, v in variables.items()},
            "slots": {
                n: {s: optimizer.get_slot(v, s).numpy().tolist() for s in optimizer.get_slot_names()}
                for n, v in variables.items()
            },
            "iterations": int(optimizer.iterations.numpy()),
        })
    return {
        "case": name,
        "class": type(optimizer).__name__,
        "module": case.module,
        "note": case.note,
        "changes": {str(k): v for k, v in case.changes.items()},
        "problem": {
            "kind": problem["kind"],
            "dtype": problem["dtype"],
            "init": plain(problem["init"]),
            "dense_shape": problem.get("dense_shape"),
        },
        "config_before": config_before,
        "config_after": config_or_error(optimizer),
        "slot_names": list(optimizer.get_slot_names()),
        "history": history,
        "versions": {"tensorflow": tf.__version__, "keras": keras_version(), "python": platform.python_version()},
    }


def keras2_facts(written: dict) -> dict:
    """What Keras 2.15 does around the tutorial's classes (each fact is compared in tests/legacy)."""
    tutorial = cases.load("tutorial_optimizers")
    facts: dict = {"versions": {"tensorflow": tf.__version__, "keras": keras_version()}}

    # VanillaSGD2.get_config calls super(VanillaSGD, self): not a VanillaSGD
    facts["vanilla_sgd2_get_config"] = config_or_error(tutorial.VanillaSGD2(0.1, decay=0.5))
    rng = np.random.RandomState(cases.SEED)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        saving = {}
        for cls_name in ("VanillaSGD2", "CMomentumSGD"):
            tf.keras.utils.set_random_seed(cases.SEED)
            model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
            model.compile(optimizer=getattr(tutorial, cls_name)(0.1), loss="mse")
            history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
            saving[cls_name] = {"fit_loss": history.history["loss"]}
            for ext in ("h5", "keras"):
                path = pathlib.Path(tmp) / f"{cls_name}.{ext}"
                try:
                    model.save(path)
                    saving[cls_name][ext] = "saved"
                    if ext == "keras":
                        config = json.loads(zipfile.ZipFile(path).read("config.json"))
                        saving[cls_name]["keras_optimizer_config"] = config["compile_config"]["optimizer"]
                except Exception as err:  # noqa: BLE001 - Keras 2's failure is the record
                    saving[cls_name][ext] = error_text(err)
            saving[cls_name]["optimizer_weights"] = [w.name for w in model.optimizer.weights]
        facts["model_save"] = saving

    # the article's own import: TF's frozen copy of Keras (tensorflow.python.keras) on TF 2.15
    same = {}
    for name, case in cases.CASES.items():
        if case.module != "tutorial_optimizers":
            continue
        try:
            other = run(name, cases.ARTICLE_IMPORT)
        except Exception as err:  # noqa: BLE001 - Keras 2's failure is the record
            same[name] = error_text(err)
            continue
        same[name] = "identical" if other["history"] == written[name]["history"] else "different"
    facts["article_import_trajectories"] = same
    return facts


def main(argv: list[str]) -> None:
    names = argv or list(cases.CASES)
    unknown = sorted(set(names) - set(cases.CASES))
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; cases: {sorted(cases.CASES)}")
    cases.DATA.mkdir(exist_ok=True)
    written = {}
    for name in names:
        written[name] = run(name)
        (cases.DATA / f"{name}.json").write_text(json.dumps(written[name], indent=None) + "\n")
        print(f"wrote data/{name}.json")
    if not argv:
        (cases.DATA / "keras2_facts.json").write_text(json.dumps(keras2_facts(written), indent=1) + "\n")
        print("wrote data/keras2_facts.json")


if __name__ == "__main__":
    main(sys.argv[1:])
