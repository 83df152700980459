"""The wrappers replay tensorflow-addons 0.23's own trajectories, step by step.

The golden data (tests/addons/reference/data/{lookahead,swa,moving_average,
decoupled_weight_decay}.json) comes from the real tfa wrapping Keras 2's legacy optimizers
(reference/generate_tfa.py, KIND "wrapper"). Each case is replayed on the backend under test
with the wrapper built two ways: from tfa's serialized config, exactly as
`tf.keras.optimizers.serialize` wrote it (Keras 2 inner config included), and from the case's
spec (the Keras 3 inner optimizer built from its arguments, the wrapper from its own). After
every step the variables, the wrapper's slots (``slow``, ``average``), the inner optimizer's
slots (tfa's names mapped by the case module's INNER_SLOT_MAP) and the iterations must match
tfa's. As in tests/addons/test_tfa_parity.py, a sparse case feeds `IndexedSlices` with
repeated indices on TensorFlow and the summed dense gradient on JAX and torch (there compared
with tfa's run on that dense gradient).
"""

from __future__ import annotations

import copy
import json
import pathlib

import keras
import numpy as np
import pytest
from tfa_cases import gradient, history_for_backend

from kerasopt_plugins.addons import optimizers as addons_optimizers
from kerasopt_plugins.callbacks._slots import find_slots
from kerasopt_plugins.optimizers.base import deserialize_schedule
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage, extend_with_decoupled_weight_decay

DATA = pathlib.Path(__file__).parents[1] / "addons" / "reference" / "data"
BACKEND = keras.backend.backend()
WRAPPERS = {"Lookahead": Lookahead, "SWA": SWA, "MovingAverage": MovingAverage}
EXTEND = "extend_with_decoupled_weight_decay"


def _cases():
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") != "wrapper":
            continue
        for case_id, case in data["cases"].items():
            yield pytest.param(data, case, id=f"{path.stem}-{case_id}")


WRAPPER_CASES = list(_cases())


def test_every_wrapper_has_golden_data():
    """The data covers every wrapper (a generator run that lost a module fails here)."""
    ports = {data["port"] for data, _ in (p.values for p in WRAPPER_CASES)}
    assert ports == {*WRAPPERS, EXTEND}


# -- building ------------------------------------------------------------------------------

def with_schedules(kwargs):
    """A case's arguments with ``{"class_name": ...}`` schedules deserialized."""
    return {
        k: deserialize_schedule(v) if isinstance(v, dict) and "class_name" in v else v
        for k, v in kwargs.items()
    }


def inner_class(class_name):
    """Keras 3's optimizer for tfa's Keras 2 one, else this package's port of tfa's."""
    return getattr(keras.optimizers, class_name, None) or getattr(addons_optimizers, class_name)


def extended_class(case):
    return extend_with_decoupled_weight_decay(inner_class(case["inner"]["class_name"]))


def keras3_arguments(kwargs):
    """A tfa case's optimizer arguments as a Keras 3 user writes them: schedules deserialized,
    and Keras 2's time decay (``decay``: lr / (1 + decay * iterations)), which Keras 3 ignores,
    written as the schedule that computes it."""
    kwargs = with_schedules(kwargs)
    decay = kwargs.pop("decay", 0.0)
    if decay:
        kwargs["learning_rate"] = keras.optimizers.schedules.InverseTimeDecay(
            kwargs["learning_rate"], decay_steps=1, decay_rate=decay
        )
    return kwargs


def from_spec(data, case):
    """The optimizer as a user writes it: Keras 3 inner from the case's arguments."""
    if data["port"] == EXTEND:
        return extended_class(case)(**keras3_arguments(case["kwargs"]))
    inner = inner_class(case["inner"]["class_name"])(**keras3_arguments(case["inner"].get("config", {})))
    return WRAPPERS[data["port"]](inner, **case["kwargs"])


def from_tfa_config(data, case):
    """The optimizer from tfa's serialized config, as tfa wrote it. tfa's extended class is
    anonymous (``OptimizerWithDecoupledWeightDecay``; Keras 2's own deserialize returned that
    string): the base class comes from the config's name (tfa's default, the base's name)."""
    serialized = copy.deepcopy(case["serialized"])
    if data["port"] == EXTEND:
        optimizer = keras.optimizers.deserialize(serialized)
        assert type(optimizer) is extended_class(case)
        return optimizer
    optimizer = keras.optimizers.deserialize(serialized)
    assert type(optimizer) is WRAPPERS[data["port"]]
    # isinstance: on torch, keras.optimizers.Adam(...) makes Keras's torch subclass of Adam
    assert isinstance(optimizer.inner_optimizer, inner_class(case["inner"]["class_name"]))
    return optimizer


BUILDS = {"from_tfa_config": from_tfa_config, "from_spec": from_spec}


# -- replaying -----------------------------------------------------------------------------

def as_int(value):
    return int(keras.ops.convert_to_numpy(value))


def replay(optimizer, data, case):
    """Apply the case's gradients; compare with tfa after every step, then assign_average_vars."""
    problem = case["problem"]
    rtol, atol = case.get("rtol", 1e-6), case.get("atol", 1e-7)
    variables = {
        n: keras.Variable(np.asarray(v, np.float32), name=n) for n, v in problem["init"].items()
    }
    names = list(variables)
    var_list = [variables[n] for n in names]
    inner = optimizer if data["port"] == EXTEND else optimizer.inner_optimizer
    slot_map = data["inner_slot_map"].get(case["inner"]["class_name"], {})

    def close(actual, expected, what, step):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(actual), expected, rtol=rtol, atol=atol,
            err_msg=f"{case['id']}: {what} after step {step}",
        )

    for step, (grads, expected) in enumerate(zip(problem["grads"], history_for_backend(case)), 1):
        optimizer.apply([gradient(grads[n], problem.get("dense_shape"), as_tensor=True) for n in names], var_list)
        for n in names:
            close(variables[n], expected["variables"][n], f"variable {n!r}", step)
        for slot, per_variable in expected["slots"].items():
            for n in names:
                close(optimizer.get_slot(variables[n], slot), per_variable[n], f"{slot!r} of {n!r}", step)
        found = find_slots(inner, var_list)
        wanted = {slot_map.get(s, s): per_variable for s, per_variable in expected["inner_slots"].items()}
        assert set(found) == set(wanted), f"{case['id']}: inner slots {sorted(found)}, tfa's {sorted(wanted)}"
        for slot, per_variable in wanted.items():
            for i, n in enumerate(names):
                close(found[slot][i], per_variable[n], f"inner slot {slot!r} of {n!r}", step)
        assert as_int(optimizer.iterations) == expected["iterations"], f"{case['id']}: step {step}"
        assert as_int(inner.iterations) == expected["inner_iterations"], f"{case['id']}: step {step}"
    if "assign_average_vars" in case:
        optimizer.assign_average_vars(var_list)
        for n in names:
            close(variables[n], case["assign_average_vars"][n], f"assign_average_vars: {n!r}", len(problem["grads"]))


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("data, case", WRAPPER_CASES)
def test_wrapper_replays_tfa(data, case, build):
    replay(BUILDS[build](data, case), data, case)


# -- configs -------------------------------------------------------------------------------

def comparable(config):
    """A config without names (tfa named its optimizers "Adam", "Lookahead"; Keras 3 "adam"),
    floats as float32 (a schedule tfa serialized holds what it was given)."""
    if isinstance(config, dict):
        return {k: comparable(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [comparable(v) for v in config]
    if isinstance(config, float):
        return float(np.float32(config))
    return config


def effective_average_decay(config):
    """tfa's MovingAverage lowered average_decay to min(average_decay, (1 + n) / (10 + n)) for
    num_updates = n at construction, and its config holds the lowered value (0.7 for 0.99 and
    n = 20); the decay used is the same either way."""
    if config.get("num_updates") is not None:
        n = np.float32(config["num_updates"])
        decay = min(np.float32(config["average_decay"]), (n + np.float32(1)) / (n + np.float32(10)))
        config = {**config, "average_decay": float(decay)}
    return config


@pytest.mark.parametrize("data, case", WRAPPER_CASES)
def test_tfa_config_builds_the_spec_optimizer(data, case):
    """tfa's serialized wrapper and the same arguments written for Keras 3 give one config,
    inner configuration included (Keras 2's inner config translated, nothing dropped)."""
    by_tfa, by_spec = (build(data, case).get_config() for build in (from_tfa_config, from_spec))
    if data["port"] == "MovingAverage":
        by_tfa, by_spec = effective_average_decay(by_tfa), effective_average_decay(by_spec)
    assert comparable(by_tfa) == comparable(by_spec)
