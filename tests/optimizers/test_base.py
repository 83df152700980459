"""PluginOptimizer: lr alias, validation, slots, learning-rate bookkeeping, short subclasses."""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import pytest
from conftest import regression_data, small_model

from kerasopt_plugins import CMomentumSGD, MomentumSGD, PluginOptimizer, VanillaSGD, check_number
from kerasopt_plugins.optimizers import _keras_compat


def test_lr_is_an_alias_of_learning_rate():
    opt = MomentumSGD(lr=0.3, momentum=0.5)
    assert opt.get_config()["learning_rate"] == 0.3
    assert "lr" not in opt.get_config()
    assert math.isclose(float(keras.ops.convert_to_numpy(opt.learning_rate)), 0.3, rel_tol=1e-7)


def test_lr_and_a_different_learning_rate_conflict():
    with pytest.raises(ValueError, match=r"learning_rate=0\.2 and its alias lr=0\.3"):
        VanillaSGD(learning_rate=0.2, lr=0.3)


def test_config_reports_the_learning_rate_as_written():
    assert VanillaSGD(learning_rate=0.01).get_config()["learning_rate"] == 0.01
    assert VanillaSGD(learning_rate=1).get_config()["learning_rate"] == 1.0
    opt = VanillaSGD(learning_rate=0.01)
    opt.learning_rate = 0.003  # what ReduceLROnPlateau does
    assert opt.get_config()["learning_rate"] == 0.003


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"learning_rate": 0.0}, ValueError, r"learning_rate must be in \(0, inf\), got 0\.0"),
        ({"learning_rate": -1}, ValueError, r"learning_rate must be in \(0, inf\), got -1"),
        ({"learning_rate": float("nan")}, ValueError, r"learning_rate must be a finite number, got nan"),
        ({"learning_rate": float("inf")}, ValueError, r"learning_rate must be a finite number, got inf"),
        ({"learning_rate": "0.1"}, TypeError, r"argument 'learning_rate' must be a real number or a keras LearningRateSchedule, got '0\.1'"),
        ({"learning_rate": True}, TypeError, r"argument 'learning_rate' must be .*got True of type bool"),
        ({"momentum": 1.0}, ValueError, r"momentum must be in \[0, 1\), got 1\.0"),
        ({"momentum": -0.1}, ValueError, r"momentum must be in \[0, 1\), got -0\.1"),
        ({"momentum": "high"}, TypeError, r"argument 'momentum' must be a real number, got 'high'"),
        ({"decay": -0.5}, ValueError, r"decay must be in \[0, inf\), got -0\.5"),
        ({"decay": float("inf")}, ValueError, r"decay must be a finite number, got inf"),
        ({"decay": None}, TypeError, r"argument 'decay' must be a real number, got None"),
        ({"centered": 1}, TypeError, r"argument 'centered' must be a bool, got 1 of type int"),
        ({"centred": True}, TypeError, r"CMomentumSGD\(\) got an unexpected keyword argument 'centred'"),
        ({"nesterov": True}, TypeError, r"unexpected keyword argument 'nesterov'"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        CMomentumSGD(**kwargs)


def test_numpy_numbers_are_accepted():
    opt = MomentumSGD(learning_rate=np.float32(0.5), momentum=np.float64(0.25))
    assert opt.momentum == 0.25 and isinstance(opt.momentum, float)


def test_keras_base_options_pass_through_and_are_checked_by_keras():
    opt = MomentumSGD(clipnorm=1.0, name="mine")
    assert opt.clipnorm == 1.0 and opt.name == "mine"
    with pytest.raises(ValueError, match="Only one of `clipnorm`"):
        MomentumSGD(clipnorm=1.0, clipvalue=1.0)


def test_check_number_bounds():
    assert check_number("x", 3, low=0) == 3.0
    with pytest.raises(ValueError, match=r"x must be in \[1, 2\], got 3"):
        check_number("x", 3, low=1, high=2)
    with pytest.raises(TypeError, match="x must be a real number, got False"):
        check_number("x", False)


def test_get_slot_errors_name_the_problem():
    opt = MomentumSGD()
    var = keras.Variable(np.zeros(2, dtype="float32"))
    with pytest.raises(ValueError, match="no slots yet: build it first"):
        opt.get_slot(var, "m")
    opt.build([var])
    with pytest.raises(ValueError, match=r"MomentumSGD has no slot 'v'; its slots are \('m',\)"):
        opt.get_slot(var, "v")
    other = keras.Variable(np.zeros(2, dtype="float32"), name="stranger")
    with pytest.raises(ValueError, match="was not built with variable"):
        opt.get_slot(other, "m")


def test_build_creates_one_slot_per_variable_named_after_it():
    model = small_model()
    opt = MomentumSGD()
    opt.build(model.trainable_variables)
    paths = [v.path for v in opt.variables]
    assert paths[:2] == ["momentum_sgd/iteration", "momentum_sgd/learning_rate"]
    assert len(paths) == 2 + len(model.trainable_variables)
    for var in model.trainable_variables:
        slot = opt.get_slot(var, "m")
        assert slot.shape == var.shape and slot.dtype == var.dtype
        assert slot.path.endswith(var.path.replace("/", "_") + "_m")


def test_decay_with_learning_rate_changed_by_a_callback():
    x, y = regression_data()
    model = small_model()
    opt = VanillaSGD(learning_rate=0.1, decay=1.0)
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    opt.learning_rate = 0.05
    assert math.isclose(opt.learning_rate_at(4), 0.05 / 5, rel_tol=1e-6)
    assert math.isclose(float(keras.ops.convert_to_numpy(opt.learning_rate)), 0.05 / 5, rel_tol=1e-6)


def test_learning_rate_at_refuses_bad_steps():
    with pytest.raises(ValueError, match="step must be a non-negative int, got -1"):
        VanillaSGD().learning_rate_at(-1)


def test_a_few_lines_make_a_complete_optimizer(tmp_path):
    class SignSGD(PluginOptimizer):
        """Sign descent with a decaying trace."""

        slot_names = ("trace",)

        def __init__(self, learning_rate=0.01, rho: numbers.Real = 0.5, **kwargs):
            rho = check_number("rho", rho, low=0.0, high=1.0)
            super().__init__(learning_rate=learning_rate, **kwargs)
            self.rho = rho

        def update_step(self, gradient, variable, learning_rate):
            trace = self.get_slot(variable, "trace")
            self.assign(trace, self.rho * trace + gradient)
            self.assign_sub(variable, keras.ops.cast(learning_rate, variable.dtype) * keras.ops.sign(trace))

    with pytest.raises(TypeError, match="argument 'rho' must be a real number"):
        SignSGD(rho="x")
    opt = SignSGD(learning_rate=0.1, rho=0.5, decay=0.1, lr=0.1)
    config = opt.get_config()
    assert config["rho"] == 0.5 and config["decay"] == 0.1 and config["learning_rate"] == 0.1
    assert SignSGD.from_config(config).get_config() == config
    var = keras.Variable(np.array([1.0, -1.0], dtype="float32"))
    opt.apply([keras.ops.convert_to_tensor(np.array([2.0, -3.0], dtype="float32"))], [var])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), [0.9, -0.9], rtol=1e-6)


# -- the adapter module: fails loudly when Keras moves the internals it relies on ----------


def test_keras_internals_used_by_the_adapter_still_exist():
    opt = VanillaSGD(learning_rate=0.25)
    a = keras.Variable(np.zeros(2, dtype="float32"))
    b = keras.Variable(np.zeros(3, dtype="float32"))
    opt.build([a, b])
    assert _keras_compat.variable_index(opt, b) == 1
    assert _keras_compat.variable_index(opt, a) == 0
    raw = _keras_compat.raw_learning_rate(opt)
    assert isinstance(raw, keras.Variable)
    assert math.isclose(float(keras.ops.convert_to_numpy(raw)), 0.25)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert _keras_compat.raw_learning_rate(VanillaSGD(learning_rate=schedule)) is schedule


def test_keras_compat_step_counter_counts_every_apply_call():
    import keras as _keras

    variable = _keras.Variable([1.0, 2.0])
    accumulating = VanillaSGD(learning_rate=0.1, gradient_accumulation_steps=3)
    for _ in range(7):
        accumulating.apply([_keras.ops.ones((2,))], [variable])
    assert int(_keras.ops.convert_to_numpy(_keras_compat.step_counter(accumulating))) == 7
    assert int(_keras.ops.convert_to_numpy(accumulating.iterations)) == 7 // 3  # Keras: updates
    plain = VanillaSGD(learning_rate=0.1)
    plain.build([variable])
    assert _keras_compat.step_counter(plain) is plain.iterations


def test_keras_still_reads_the_rate_through_the_hook_we_override():
    # PluginOptimizer applies legacy decay in _get_current_learning_rate; Keras must still
    # route `learning_rate` (and, on torch, weight decay) through it.
    import inspect

    import keras as _keras

    base = _keras.optimizers.Optimizer
    assert hasattr(base, "_get_current_learning_rate")
    assert "_get_current_learning_rate" in inspect.getsource(base.learning_rate.fget)
