"""Every port replays tensorflow-addons 0.23's own trajectories, step by step.

The golden data in reference/data/ comes from the real tfa (reference/generate_tfa.py, run in
a TensorFlow 2.15 venv). Each case is replayed on the backend under test with the optimizer
built from tfa's serialized config, exactly as `tf.keras.optimizers.serialize` wrote it. On
TensorFlow a sparse case feeds `IndexedSlices` with repeated indices and must match tfa's
sparse trajectory; JAX and torch hand dense gradients to an optimizer, so there the same case
feeds the summed dense gradient and must match tfa's run on that dense gradient.
"""

from __future__ import annotations

import copy
import json
import pathlib

import keras
import numpy as np
import pytest
from tfa_cases import gradient, history_for_backend

import kerasopt_plugins
from kerasopt_plugins.optimizers.base import deserialize_schedule

DATA = pathlib.Path(__file__).parent / "reference" / "data"
BACKEND = keras.backend.backend()


def _cases(kind: str):
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") != kind:
            continue
        for case_id, case in data["cases"].items():
            yield pytest.param(data, case, id=f"{path.stem}-{case_id}")


OPTIMIZER_CASES = list(_cases("optimizer"))


def port_class(data):
    return kerasopt_plugins.optimizer_info(data["port"]).cls


def from_tfa_config(data, case):
    optimizer = keras.optimizers.deserialize(copy.deepcopy(case["serialized"]))
    assert type(optimizer) is port_class(data)
    return optimizer


def replay(optimizer, data, case):
    """Apply the case's gradients; compare variables and slots with tfa's after every step."""
    if "quirk" in case and (BACKEND == "tensorflow" or case["problem"]["kind"] == "dense"):
        pytest.skip(f"a tfa quirk the port does not copy ({case['quirk']}); tested on its own")
    problem = case["problem"]
    rtol, atol = case.get("rtol", 1e-6), case.get("atol", 1e-7)
    variables = {
        n: keras.Variable(np.asarray(v, np.float32), name=n) for n, v in problem["init"].items()
    }
    names = list(variables)
    for step, (grads, expected) in enumerate(zip(problem["grads"], history_for_backend(case))):
        optimizer.apply(
            [gradient(grads[n], problem.get("dense_shape")) for n in names],
            [variables[n] for n in names],
        )
        for n in names:
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(variables[n]), expected["variables"][n],
                rtol=rtol, atol=atol, err_msg=f"{case['id']}: variable {n!r} after step {step + 1}",
            )
        for tfa_slot, per_variable in expected["slots"].items():
            slot = data["slot_map"].get(tfa_slot, tfa_slot)
            if slot is None:  # the port keeps no such slot (the case module says why)
                continue
            for n in names:
                np.testing.assert_allclose(
                    keras.ops.convert_to_numpy(optimizer.get_slot(variables[n], slot)),
                    per_variable[n], rtol=rtol, atol=atol,
                    err_msg=f"{case['id']}: slot {slot!r} of {n!r} after step {step + 1}",
                )


def dropped_by_tfa(case):
    """Arguments the case sets that tfa's own config left out (NovoGrad's `amsgrad`, `decay`)."""
    return sorted(set(case["kwargs"]) - set(case["tfa_config"]))


@pytest.mark.parametrize("data, case", OPTIMIZER_CASES)
def test_port_replays_tfa(data, case):
    if case.get("build_from") == "kwargs":  # tfa's config cannot carry what this case sets
        assert dropped_by_tfa(case), "build_from kwargs: tfa's config drops none of its arguments"
        optimizer = port_class(data)(**tfa_kwargs(case["kwargs"]))
    else:
        optimizer = from_tfa_config(data, case)
    replay(optimizer, data, case)


def tfa_kwargs(kwargs):
    """A case's tfa constructor arguments, schedules deserialized, for the port's constructor."""
    return {
        k: deserialize_schedule(v) if isinstance(v, dict) and "class_name" in v else v
        for k, v in kwargs.items()
    }


def as_float32(config):
    """A config with its floats as float32 values: tfa wrote its hyperparameters from float32
    variables (0.0010000000474974513 for 0.001), a port stores what it was given."""
    if isinstance(config, dict):
        return {k: as_float32(v) for k, v in config.items()}
    if isinstance(config, list):
        return [as_float32(v) for v in config]
    if isinstance(config, float):
        return float(np.float32(config))
    return config


@pytest.mark.parametrize("data, case", OPTIMIZER_CASES)
def test_tfa_arguments_build_the_same_optimizer(data, case):
    """`Port(**kwargs)` as a tfa user wrote it equals the port built from tfa's config, and
    tfa's config in the old ``{"class_name": "Addons>Name"}`` form builds it too. Where tfa's
    config dropped an argument, it loads with that argument's default (as tfa reloaded it),
    and the port's own config keeps what was given."""
    expected = as_float32(from_tfa_config(data, case).get_config())
    by_kwargs = port_class(data)(**tfa_kwargs(case["kwargs"]))
    given = as_float32({**by_kwargs.get_config(), "name": expected["name"]})
    dropped = dropped_by_tfa(case)
    defaults = port_class(data)().get_config()
    for key in dropped:
        assert given[key] == as_float32(case["kwargs"][key]) and expected[key] == defaults[key], key
    assert {k: v for k, v in given.items() if k not in dropped} == {
        k: v for k, v in expected.items() if k not in dropped
    }
    old_form = {"class_name": case["serialized"]["registered_name"], "config": case["tfa_config"]}
    for build in (keras.optimizers.deserialize, kerasopt_plugins.get_optimizer):
        optimizer = build(copy.deepcopy(old_form))
        assert type(optimizer) is port_class(data)
        assert as_float32(optimizer.get_config()) == expected
    # every hyperparameter tfa wrote reaches the port under the same key with the same value
    for key, value in as_float32(case["tfa_config"]).items():
        if key != "name" and key in case["kwargs"] and not isinstance(value, dict):
            assert expected[key] == value, key
