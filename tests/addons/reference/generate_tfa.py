"""Golden trajectories from the real tensorflow-addons 0.23, for the ports' parity tests.

tfa runs only beside TensorFlow 2.15 (Keras 2) on Python <= 3.11, so this script runs in a
venv of its own, never in the package's:

    python3.11 -m venv /tmp/tfa
    /tmp/tfa/bin/pip install tensorflow==2.15.1 tensorflow-addons==0.23.0
    /tmp/tfa/bin/python tests/addons/reference/generate_tfa.py            # every case module
    /tmp/tfa/bin/python tests/addons/reference/generate_tfa.py yogi sgdw  # some of them

Each module ``cases/NAME.py`` describes what to run (pure data, see cases/README.md); this
script writes ``data/NAME.json``: for every case, tfa's serialized optimizer (exactly as
``tf.keras.optimizers.serialize`` wrote it), the problem (initial values, the gradient of
every step) and, after every step, the variables and tfa's slots (wrappers: also the inner's).
Nothing imports kerasopt_plugins: the tests read the JSON, replay it on TF, JAX and torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SEED = 20261126


# -- problems: deterministic variables and per-step gradients --------------------------------

def dense_problem(steps: int, seed: int) -> dict:
    """Three variables of different shapes; float32 gradients, some entries exactly 0."""
    rng = np.random.RandomState(seed)
    shapes = {"bias": (5,), "kernel": (3, 4), "filters": (2, 3, 2)}
    init = {n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}
    grads = []
    for _ in range(steps):
        step = {}
        for n, s in shapes.items():
            g = (rng.normal(size=s) * rng.choice([0.1, 1.0, 3.0])).astype(np.float32)
            g[rng.uniform(size=s) < 0.1] = 0.0
            step[n] = g
        grads.append(step)
    return {"kind": "dense", "init": init, "grads": grads}


def sparse_problem(steps: int, seed: int) -> dict:
    """A 6x3 embedding table fed IndexedSlices with repeated indices, plus a dense bias."""
    rng = np.random.RandomState(seed)
    init = {
        "table": rng.normal(size=(6, 3)).astype(np.float32),
        "bias": rng.normal(size=(3,)).astype(np.float32),
    }
    grads = []
    for _ in range(steps):
        indices = rng.choice(6, size=4, replace=True)
        indices[-1] = indices[0]  # at least one repeat, as an embedding lookup gives
        grads.append({
            "table": {
                "indices": indices.astype(np.int64),
                "values": rng.normal(size=(4, 3)).astype(np.float32),
            },
            "bias": rng.normal(size=(3,)).astype(np.float32),
        })
    return {"kind": "sparse", "init": init, "grads": grads, "dense_shape": [6, 3]}


PROBLEMS = {"dense": dense_problem, "sparse": sparse_problem}


# -- running tfa ------------------------------------------------------------------------------

def to_tf(grad, dense_shape, densify: bool):
    if isinstance(grad, dict):
        slices = tf.IndexedSlices(
            tf.constant(grad["values"]), tf.constant(grad["indices"]), tf.constant(dense_shape)
        )
        return tf.convert_to_tensor(slices) if densify else slices
    return tf.constant(grad)


def build(spec):
    """A tfa object from a case's spec: kwargs, with nested ``{"class_name": ...}`` dicts
    (Keras schedules, tfa schedules) deserialized first."""
    def value(v):
        if isinstance(v, dict) and "class_name" in v:
            return tf.keras.utils.deserialize_keras_object(
                v, module_objects={**vars(tf.keras.optimizers.schedules), **vars(tfa.optimizers)}
            )
        return v

    return {k: value(v) for k, v in spec.items()}


def run_optimizer(name: str, case: dict, problem: dict, densify: bool) -> dict:
    optimizer = getattr(tfa.optimizers, name)(**build(case.get("kwargs", {})))
    serialized = tf.keras.optimizers.serialize(optimizer)
    variables = {n: tf.Variable(v, name=n) for n, v in problem["init"].items()}
    history = []
    for step in problem["grads"]:
        pairs = [
            (to_tf(step[n], problem.get("dense_shape"), densify), variables[n]) for n in variables
        ]
        optimizer.apply_gradients(pairs)
        slots = {
            s: {n: optimizer.get_slot(v, s).numpy() for n, v in variables.items()}
            for s in optimizer.get_slot_names()
        }
        history.append({"variables": {n: v.numpy() for n, v in variables.items()}, "slots": slots})
    return {"serialized": serialized, "tfa_config": optimizer.get_config(), "history": history}


def run_schedule(name: str, case: dict) -> dict:
    """tfa's schedule at the case's steps: float32 steps ("values"), and per step type
    (int32, int64, float64 tensors, Python ints) the values or tfa's error; fractional float32
    steps; and what `tf.keras.optimizers.SGD` (whose step counter is int64) makes of it.

    A case may name its class in "tfa_name" (default: the module's TFA_NAME) and give
    "scale_fn" as the name of one of the functions below (a case module holds no code).
    """
    def halving(x):
        return 0.5 ** x

    scale_fns = {"halving": halving, "lambda_halving": lambda x: 0.5 ** x}
    kwargs = build(case.get("kwargs", {}))
    if isinstance(kwargs.get("scale_fn"), str):
        kwargs["scale_fn"] = scale_fns[kwargs["scale_fn"]]
    schedule = getattr(tfa.optimizers, case.get("tfa_name", name))(**kwargs)

    def evaluate(steps, make):
        try:
            return [float(np.asarray(schedule(make(step)))) for step in steps]
        except Exception as err:  # noqa: BLE001 - tfa's failure is the record
            return {"error": f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"}

    steps = case["steps"]
    by_dtype = {
        dtype.name: evaluate(steps, lambda step, dtype=dtype: tf.constant(step, dtype))
        for dtype in (tf.int32, tf.int64, tf.float64)
    }
    by_dtype["python_int"] = evaluate(steps, int)
    try:
        optimizer = tf.keras.optimizers.SGD(learning_rate=schedule)
        variable = tf.Variable(1.0)
        optimizer.apply_gradients([(tf.constant(1.0), variable)])
        in_sgd = {"iterations_dtype": optimizer.iterations.dtype.name,
                  "value_after_one_step": float(variable.numpy())}
    except Exception as err:  # noqa: BLE001
        in_sgd = {"error": f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"}
    return {
        "serialized": tf.keras.optimizers.schedules.serialize(schedule),
        "values": evaluate(steps, lambda step: tf.constant(step, tf.float32)),
        "values_by_step_type": by_dtype,
        "fractional_values": evaluate(
            case.get("fractional_steps", []), lambda step: tf.constant(step, tf.float32)
        ),
        "in_keras2_sgd": in_sgd,
    }


# -- wrappers: Lookahead, SWA, MovingAverage, extend_with_decoupled_weight_decay ---------------
# (Below run_schedule on purpose: cyclical_learning_rate.json holds a lambda's code from it,
# line number included, so a line added above run_schedule changes that file.)
#
# A wrapper case module (KIND = "wrapper") has TFA_NAME (Lookahead, SWA, MovingAverage or
# extend_with_decoupled_weight_decay), PORT (the name in kerasopt_plugins.wrappers),
# INNER_SLOT_MAP ({inner class: {tfa's slot name: Keras 3's}}) and CASES with "inner":
# {"class_name": ..., "config": {...}} (tf.keras.optimizers.legacy.<X>, else tfa.optimizers.<X>;
# for extend_with_decoupled_weight_decay only the class to extend), "kwargs" (the wrapper's own
# arguments; for an extended class all of its arguments), "problem", "steps", and optionally
# "rtol" / "atol" with a comment saying why.

def inner_class(class_name: str):
    """Keras 2's legacy optimizer of that name (tfa's wrappers take no other), else tfa's."""
    legacy = tf.keras.optimizers.legacy
    return getattr(legacy, class_name) if hasattr(legacy, class_name) else getattr(tfa.optimizers, class_name)


def build_wrapper(name: str, case: dict):
    """(the optimizer that applies the gradients, the one that keeps the inner slots).

    ``extend_with_decoupled_weight_decay`` makes one optimizer of both: the extended class,
    built from the case's kwargs (weight_decay first, the inner's own arguments,
    exclude_from_weight_decay)."""
    inner = case["inner"]
    if name == "extend_with_decoupled_weight_decay":
        extended = tfa.optimizers.extend_with_decoupled_weight_decay(inner_class(inner["class_name"]))
        optimizer = extended(**build(case.get("kwargs", {})))
        return optimizer, optimizer
    inner_optimizer = inner_class(inner["class_name"])(**build(inner.get("config", {})))
    wrapper = getattr(tfa.optimizers, name)(inner_optimizer, **build(case.get("kwargs", {})))
    return wrapper, inner_optimizer


def slot_values(optimizer, variables: dict) -> dict:
    return {
        s: {n: optimizer.get_slot(v, s).numpy() for n, v in variables.items()}
        for s in optimizer.get_slot_names()
    }


def run_wrapper(name: str, case: dict, problem: dict, densify: bool) -> dict:
    """A wrapper case: after every step the variables, the wrapper's own slots (``slow``,
    ``average``; none for an extended class), the inner optimizer's slots under tfa's names,
    and the iterations of both. An averaging wrapper's run ends with `assign_average_vars`
    applied to the variables; what it assigned is recorded."""
    wrapper, inner = build_wrapper(name, case)
    serialized = tf.keras.optimizers.serialize(wrapper)
    variables = {n: tf.Variable(v, name=n) for n, v in problem["init"].items()}
    history = []
    for step in problem["grads"]:
        pairs = [
            (to_tf(step[n], problem.get("dense_shape"), densify), variables[n]) for n in variables
        ]
        wrapper.apply_gradients(pairs)
        history.append({
            "variables": {n: v.numpy() for n, v in variables.items()},
            "slots": {} if wrapper is inner else slot_values(wrapper, variables),
            "inner_slots": slot_values(inner, variables),
            "iterations": int(wrapper.iterations.numpy()),
            "inner_iterations": int(inner.iterations.numpy()),
        })
    result = {"serialized": serialized, "tfa_config": wrapper.get_config(), "history": history}
    if hasattr(wrapper, "assign_average_vars"):
        wrapper.assign_average_vars(list(variables.values()))
        result["assign_average_vars"] = {n: v.numpy() for n, v in variables.items()}
    return result


def run_module(path: pathlib.Path) -> dict:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = {
        "tfa_name": module.TFA_NAME,
        "port": module.PORT,
        "kind": getattr(module, "KIND", "optimizer"),
        "slot_map": getattr(module, "SLOT_MAP", {}),
        "cases": {},
    }
    if out["kind"] == "wrapper":
        out["inner_slot_map"] = module.INNER_SLOT_MAP
    for index, case in enumerate(module.CASES):
        if out["kind"] == "schedule":
            out["cases"][case["id"]] = {**case, **run_schedule(module.TFA_NAME, case)}
            continue
        problem = PROBLEMS[case["problem"]](case["steps"], SEED + index)
        if out["kind"] == "wrapper":
            result = {**case, "problem": problem, **run_wrapper(module.TFA_NAME, case, problem, False)}
            if problem["kind"] == "sparse":
                result["dense_history"] = run_wrapper(module.TFA_NAME, case, problem, True)["history"]
            out["cases"][case["id"]] = result
            continue
        result = {**case, "problem": problem, **run_optimizer(module.TFA_NAME, case, problem, False)}
        if problem["kind"] == "sparse":  # what JAX and torch see: the summed dense gradient
            result["dense_history"] = run_optimizer(module.TFA_NAME, case, problem, True)["history"]
        out["cases"][case["id"]] = result
    return out


def public_api() -> dict:
    """Every public class and function of `tfa.optimizers` by kind: what docs/tfa.md's
    migration table must cover."""
    kinds = {}
    for name in dir(tfa.optimizers):
        obj = getattr(tfa.optimizers, name)
        if name.startswith("_") or not callable(obj):
            continue  # submodules, constants
        if isinstance(obj, type) and issubclass(obj, tf.keras.optimizers.schedules.LearningRateSchedule):
            kinds[name] = "schedule"
        elif isinstance(obj, type) and issubclass(obj, tf.keras.optimizers.legacy.Optimizer):
            kinds[name] = "optimizer"
        else:
            kinds[name] = "class" if isinstance(obj, type) else "function"
    return kinds


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()  # float32 -> the exact double
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def main(argv: list[str]) -> None:
    modules = sorted((HERE / "cases").glob("*.py"))
    if argv:
        unknown = set(argv) - {m.stem for m in modules}
        if unknown:
            raise SystemExit(f"no case module for {sorted(unknown)}; have {[m.stem for m in modules]}")
        modules = [m for m in modules if m.stem in argv]
    machine = {
        "tensorflow": tf.__version__,
        "tensorflow_addons": tfa.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    api = {"generated_with": machine, "tfa.optimizers": public_api()}
    (HERE / "data" / "tfa_api.json").write_text(json.dumps(api, indent=1, sort_keys=True) + "\n")
    for path in modules:
        data = {"generated_with": machine, **run_module(path)}
        target = HERE / "data" / f"{path.stem}.json"
        target.write_text(json.dumps(jsonable(data), separators=(",", ":")) + "\n")
        print(f"{target.relative_to(HERE)}: {len(data['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
