"""tfa 0.23's cyclical learning-rate schedules on Keras 3: tfa's values, any step type, saving.

The golden values come from the real tfa (reference/cases/cyclical_learning_rate.py, run by
reference/generate_tfa.py): tfa's values at float32 steps and, per step type, its values or its
error. Each case is replayed here with the schedule built from tfa's serialized dict, at int32,
int64, float32 and float64 steps: the port gives tfa's float32-step values at all of them,
also where tfa crashed (integer steps in "iterations" mode).
"""

from __future__ import annotations

import copy
import json
import math
import pathlib

import keras
import numpy as np
import pytest
from conftest import BACKEND, run_python

import kerasopt_plugins
from kerasopt_plugins.optimizers.base import deserialize_schedule
from kerasopt_plugins.schedules.cyclical import (
    CyclicalLearningRate,
    ExponentialCyclicalLearningRate,
    Triangular2CyclicalLearningRate,
    TriangularCyclicalLearningRate,
)

DATA = json.loads(
    (pathlib.Path(__file__).parent / "reference" / "data" / "cyclical_learning_rate.json").read_text()
)
CASES = DATA["cases"]
CLASSES = {
    cls.__name__: cls
    for cls in (
        CyclicalLearningRate,
        TriangularCyclicalLearningRate,
        Triangular2CyclicalLearningRate,
        ExponentialCyclicalLearningRate,
    )
}
RTOL = 1e-6  # tfa's float32 arithmetic; in practice every backend gives tfa's float32 exactly


@keras.saving.register_keras_serializable(package="kerasopt_tests")
def halving(t):
    """The golden cases' scale function, registered: tfa's config names it "halving"."""
    return 0.5 ** t


SCALE_FNS = {"halving": halving, "lambda_halving": lambda t: 0.5 ** t}  # as generate_tfa.py


def tfa_class(case):
    return CLASSES[case.get("tfa_name", DATA["tfa_name"])]


def from_kwargs(case):
    kwargs = dict(case["kwargs"])
    if "scale_fn" in kwargs:
        kwargs["scale_fn"] = SCALE_FNS[kwargs["scale_fn"]]
    return tfa_class(case)(**kwargs)


def from_tfa(case):
    """The port built from tfa's serialized dict (a lambda's bytecode: from the kwargs)."""
    if case["kwargs"].get("scale_fn") == "lambda_halving":
        return from_kwargs(case)
    return keras.optimizers.schedules.deserialize(copy.deepcopy(case["serialized"]))


def evaluate(schedule, steps, dtype):
    return np.array([
        float(keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(np.asarray(s, dtype)))))
        for s in steps
    ])


@pytest.mark.parametrize("step_type", ["int32", "int64", "float32", "float64"])
@pytest.mark.parametrize("case_id", list(CASES))
def test_tfa_values_at_every_step_type(case_id, step_type):
    case = CASES[case_id]
    schedule = from_tfa(case)
    assert type(schedule) is tfa_class(case)
    np.testing.assert_allclose(
        evaluate(schedule, case["steps"], step_type), case["values"], rtol=RTOL, atol=0,
        err_msg=f"{case_id} at {step_type} steps {case['steps']}",
    )
    if step_type.startswith("float"):
        np.testing.assert_allclose(
            evaluate(schedule, case["fractional_steps"], step_type), case["fractional_values"],
            rtol=RTOL, atol=0, err_msg=f"{case_id} at fractional steps",
        )


def test_the_golden_data_shows_where_tfa_crashed():
    """tfa crashed on integer steps in "iterations" mode when the scale depends on the step, in
    `tf.keras.optimizers.SGD` too (its counter is int64); the port is replayed at those steps."""
    crashed = {
        case_id for case_id, case in CASES.items()
        if "error" in case["values_by_step_type"]["int64"]
    }
    assert crashed == {
        "triangular2_iterations", "exponential_defaults", "exponential_gamma_iterations",
        "exponential_gamma_close_to_one", "generic_named_fn_iterations",
    }
    for case_id in crashed:
        case = CASES[case_id]
        assert "Cannot convert" in case["values_by_step_type"]["int64"]["error"]
        assert "Cannot convert" in case["in_keras2_sgd"]["error"]
        assert case["kwargs"].get("scale_mode", "iterations") == "iterations"


@pytest.mark.parametrize("case_id", [c for c in CASES if c != "generic_lambda"])
def test_every_tfa_form_builds_the_same_schedule(case_id):
    """tfa's serialized dict, its older ``{"class_name": "Addons>X"}`` form, the same dict
    inside an optimizer config, and tfa's constructor arguments: one schedule."""
    case = CASES[case_id]
    cls = tfa_class(case)
    expected = from_tfa(case).get_config()
    # tfa's configs carry no name: the schedule gets its class's default
    assert expected["name"] == cls.__name__
    old_form = {"class_name": f"Addons>{cls.__name__}", "config": case["serialized"]["config"]}
    assert case["serialized"]["registered_name"] == old_form["class_name"]
    for built in (
        keras.optimizers.schedules.deserialize(copy.deepcopy(old_form)),
        deserialize_schedule(copy.deepcopy(case["serialized"])),  # PluginOptimizer.from_config
    ):
        assert type(built) is cls
        assert built.get_config() == expected
    by_kwargs = from_kwargs(case).get_config()
    assert by_kwargs["name"] == case["kwargs"].get("name", cls.__name__)
    assert {**by_kwargs, "name": cls.__name__} == expected
    for key, value in case["serialized"]["config"].items():
        if key != "scale_fn":
            assert expected[key] == value, key


@pytest.mark.parametrize("case_id", [c for c in CASES if c != "generic_lambda"])
def test_config_is_json_and_reloads(case_id):
    schedule = from_kwargs(CASES[case_id])
    text = json.dumps(keras.optimizers.schedules.serialize(schedule))
    serialized = json.loads(text)
    assert serialized["registered_name"] == f"kerasopt_plugins>{type(schedule).__name__}"
    assert ("scale_fn" in serialized["config"]) == (type(schedule) is CyclicalLearningRate)
    again = keras.optimizers.schedules.deserialize(serialized)
    assert type(again) is type(schedule)
    assert again.get_config() == schedule.get_config()
    steps = CASES[case_id]["steps"]
    np.testing.assert_array_equal(
        evaluate(again, steps, "float32"), evaluate(schedule, steps, "float32")
    )


@pytest.mark.parametrize("cls", list(CLASSES.values()), ids=list(CLASSES))
def test_registered_under_our_package_and_tfa_key(cls):
    assert keras.saving.get_registered_name(cls) == f"kerasopt_plugins>{cls.__name__}"
    assert keras.saving.get_custom_objects()[f"Addons>{cls.__name__}"] is cls


# -- scale_fn -------------------------------------------------------------------------------


def unregistered(t):
    return 0.5 ** t


def test_scale_fn_that_cannot_be_found_again_fails_at_get_config():
    def nested(t):
        return 0.5 ** t

    for fn in (lambda t: 0.5 ** t, unregistered, nested):
        schedule = CyclicalLearningRate(1e-3, 1e-2, 4, scale_fn=fn)
        assert float(schedule(3)) == pytest.approx(1e-3 + 9e-3 * 0.75 * 0.5, rel=1e-6)
        with pytest.raises(ValueError, match=r"scale_fn=.* cannot be written to a config.*"
                           r"register_keras_serializable"):
            schedule.get_config()


def test_registered_callable_object_round_trips():
    @keras.saving.register_keras_serializable(package="kerasopt_tests")
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, t):
            return self.rate ** t

        def get_config(self):
            return {"rate": self.rate}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    schedule = CyclicalLearningRate(1e-3, 1e-2, 4, scale_fn=Decay(0.25), scale_mode="iterations")
    again = keras.optimizers.schedules.deserialize(
        json.loads(json.dumps(keras.optimizers.schedules.serialize(schedule)))
    )
    assert isinstance(again.scale_fn, Decay) and again.scale_fn.rate == 0.25
    assert float(again(5)) == pytest.approx(1e-3 + 9e-3 * 0.75 * 0.25 ** 5, rel=1e-6)


def test_tfa_config_with_a_lambda_or_an_unknown_function_says_what_to_do():
    with pytest.raises(ValueError, match=r"saved as a Python lambda.*safe_mode=False"):
        keras.optimizers.schedules.deserialize(copy.deepcopy(CASES["generic_lambda"]["serialized"]))
    unknown = copy.deepcopy(CASES["generic_named_fn_cycle"]["serialized"])
    unknown["config"]["scale_fn"]["config"] = "no_such_function"
    with pytest.raises(ValueError, match=r"cannot load scale_fn: Could not locate function "
                                         r"'no_such_function'"):
        keras.optimizers.schedules.deserialize(unknown)


def test_scale_fn_gets_a_float_tensor_in_iterations_mode():
    """tfa passed the raw step (an int64 tensor in training), so `0.9 ** t` crashed."""
    seen = []

    def scale(t):
        seen.append(keras.backend.standardize_dtype(t.dtype))
        return keras.ops.power(0.9, t)

    schedule = CyclicalLearningRate(1e-3, 1e-2, 4, scale_fn=scale, scale_mode="iterations")
    value = schedule(keras.ops.convert_to_tensor(np.int64(6)))
    assert seen == ["float32"]
    assert float(value) == pytest.approx(1e-3 + 9e-3 * 0.5 * 0.9 ** 6, rel=1e-6)


# -- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"step_size": 0}, ValueError, r"step_size must be in \(0, inf\), got 0"),
        ({"step_size": -2}, ValueError, r"step_size must be in \(0, inf\), got -2"),
        ({"step_size": math.nan}, ValueError, r"step_size must be a finite number, got nan"),
        ({"step_size": "4"}, TypeError, r"step_size must be a real number, got '4'"),
        ({"initial_learning_rate": -1e-3}, ValueError, r"initial_learning_rate .* got -0.001"),
        ({"maximal_learning_rate": math.inf}, ValueError, r"maximal_learning_rate .* got inf"),
        ({"maximal_learning_rate": True}, TypeError, r"maximal_learning_rate .* got True"),
        ({"scale_mode": "bogus"}, ValueError, r"scale_mode must be one of .*, got 'bogus'"),
        (
            {"scale_mode": "Cycle"},
            ValueError,
            r"scale_mode must be one of \('cycle', 'iterations'\), got 'Cycle'",
        ),
        ({"name": None}, TypeError, r"name must be a str, got None"),
    ],
)
@pytest.mark.parametrize("cls", list(CLASSES.values()), ids=list(CLASSES))
def test_bad_arguments(cls, kwargs, error, match):
    arguments = {"initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-2, "step_size": 4,
                 **kwargs}
    if cls is CyclicalLearningRate:
        arguments["scale_fn"] = halving
    with pytest.raises(error, match=rf"^{cls.__name__}: {match}"):
        cls(**arguments)


@pytest.mark.parametrize("gamma", [0, -0.5, math.nan])
def test_gamma_must_be_positive(gamma):
    with pytest.raises(ValueError, match=rf"ExponentialCyclicalLearningRate: gamma must be "
                                         rf".*got {gamma}"):
        ExponentialCyclicalLearningRate(1e-3, 1e-2, 4, gamma=gamma)


def test_scale_fn_must_be_callable():
    with pytest.raises(TypeError, match=r"CyclicalLearningRate: scale_fn must be a callable"):
        CyclicalLearningRate(1e-3, 1e-2, 4, scale_fn=1.0)


def test_integer_rates_work():
    """tfa computed in the dtype of initial_learning_rate, so an int crashed (int32 vs double)."""
    ints = Triangular2CyclicalLearningRate(1, 3, step_size=2)
    floats = Triangular2CyclicalLearningRate(1.0, 3.0, step_size=2.0)
    assert ints.get_config()["initial_learning_rate"] == 1  # kept as written
    steps = list(range(12))
    np.testing.assert_array_equal(evaluate(ints, steps, "int32"), evaluate(floats, steps, "int32"))
    assert float(ints(1)) == 2.0 and float(ints(5)) == 1.5


# -- in an optimizer -----------------------------------------------------------------------


@pytest.mark.parametrize("make_optimizer", ["sgd", "momentum_sgd"])
def test_fit_uses_tfa_values_with_the_backend_step_counter(make_optimizer):
    """In `fit` (compiled on TF and JAX) with Keras's own counter, int64 on TF and int32 on JAX
    and torch: w <- w - lr(k) * 1 takes tfa's rate at every step, in "iterations" mode with
    gamma, where tfa's schedule crashed in tf.keras.optimizers.SGD."""
    case = CASES["exponential_gamma_iterations"]
    steps = 12
    schedule = from_tfa(case)
    if make_optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
    else:  # momentum 0: plain descent, through PluginOptimizer's learning-rate path
        optimizer = kerasopt_plugins.get_optimizer("momentum_sgd", learning_rate=schedule)
        np.testing.assert_allclose(optimizer.learning_rate_at(5), case["values"][5], rtol=RTOL)
    model = keras.Sequential([
        keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
    ])
    model.compile(optimizer=optimizer, loss=lambda y_true, y_pred: keras.ops.sum(y_pred))
    x = np.ones((steps, 1), np.float32)
    model.fit(x, np.zeros((steps, 1), np.float32), batch_size=1, epochs=1, verbose=0, shuffle=False)
    expected = np.float32(0.0)
    for lr in case["values"][:steps]:
        expected = np.float32(expected - np.float32(lr))
    assert int(optimizer.iterations) == steps
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.trainable_variables[0])[0, 0], expected, rtol=1e-6
    )


SAVE = """
import json, numpy as np, keras
import kerasopt_plugins
from my_scales import x, y
from kerasopt_plugins.schedules.cyclical import (
    CyclicalLearningRate, ExponentialCyclicalLearningRate, TriangularCyclicalLearningRate)
import my_scales
makers = {
    "sgd_triangular": lambda: keras.optimizers.SGD(
        TriangularCyclicalLearningRate(1e-3, 5e-2, step_size=3), momentum=0.5),
    "momentum_sgd_exponential": lambda: kerasopt_plugins.get_optimizer(
        "momentum_sgd", learning_rate=ExponentialCyclicalLearningRate(
            1e-3, 1e-1, step_size=2, gamma=0.95), momentum=0.9),
    "sgd_generic": lambda: keras.optimizers.SGD(
        CyclicalLearningRate(1e-3, 5e-2, 2, scale_fn=my_scales.quartering, scale_mode="iterations")),
}
report = {}
for name, make in makers.items():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=make(), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    model.save(name + ".keras")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    report[name] = {"config": model.optimizer.get_config(),
                    "lr": float(model.optimizer.learning_rate),
                    "weights": [keras.ops.convert_to_numpy(w).tolist()
                                for w in model.trainable_variables]}
json.dump(report, open("saved.json", "w"))
"""

LOAD = """
import json, numpy as np, keras
import kerasopt_plugins, my_scales  # what a user imports: the package and their scale_fn
from my_scales import x, y
report = {}
for name in json.load(open("saved.json")):
    model = keras.saving.load_model(name + ".keras")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    report[name] = {"config": model.optimizer.get_config(),
                    "lr": float(model.optimizer.learning_rate),
                    "weights": [keras.ops.convert_to_numpy(w).tolist()
                                for w in model.trainable_variables]}
json.dump(report, open("loaded.json", "w"))
"""

MY_SCALES = '''
import keras, numpy as np

@keras.saving.register_keras_serializable(package="my_package")
def quartering(t):
    return 0.25 ** t

x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
'''


@pytest.mark.slow
def test_models_using_the_schedules_reload_in_a_fresh_process(tmp_path):
    """Saved and loaded each in a fresh process (this backend), then trained one more epoch:
    the loaded optimizer has the same config, the same rate, and takes the same steps."""
    (tmp_path / "my_scales.py").write_text(MY_SCALES)
    env = {"PYTHONPATH": str(tmp_path), "KERAS_BACKEND": BACKEND}
    run_python(SAVE, cwd=tmp_path, env=env)
    run_python(LOAD, cwd=tmp_path, env=env)
    saved = json.loads((tmp_path / "saved.json").read_text())
    loaded = json.loads((tmp_path / "loaded.json").read_text())
    assert set(loaded) == set(saved) == {"sgd_triangular", "momentum_sgd_exponential", "sgd_generic"}
    for name, expected in saved.items():
        got = loaded[name]
        # the config of the loaded optimizer names the class of the schedule it holds
        assert got["config"]["learning_rate"]["module"] == "kerasopt_plugins.schedules.cyclical"
        assert got["config"] == expected["config"], name
        assert got["lr"] == expected["lr"], name
        for a, b in zip(got["weights"], expected["weights"]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
    assert saved["sgd_generic"]["config"]["learning_rate"]["config"]["scale_fn"]["config"] == (
        "my_package>quartering"
    )
