"""PluginOptimizer: lr alias, validation, slots, learning-rate bookkeeping, short subclasses."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import keras
import numpy as np
import pytest
from conftest import regression_data, run_python, small_model

from kerasopt_plugins import (
    CMomentumSGD,
    LearningRate,
    MomentumSGD,
    PluginOptimizer,
    VanillaSGD,
    check_number,
)
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
        ({"learning_rate": -1}, ValueError, r"learning_rate must be in \[0, inf\), got -1"),
        ({"learning_rate": float("nan")}, ValueError, r"learning_rate must be a finite number, got nan"),
        ({"learning_rate": float("inf")}, ValueError, r"learning_rate must be a finite number, got inf"),
        ({"learning_rate": "0.1"}, TypeError, r"learning_rate must be a number >= 0, a keras LearningRateSchedule or a zero-argument callable, got '0\.1'"),
        ({"learning_rate": True}, TypeError, r"learning_rate must be .*got True of type bool"),
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


# -- learning_rate takes what Keras takes, and every reachable rate round-trips ----------------


def _rate_named_for_the_test():
    return 0.125


keras.saving.register_keras_serializable("kerasopt_tests")(_rate_named_for_the_test)


def test_a_zero_learning_rate_is_accepted_and_round_trips():
    opt = VanillaSGD(learning_rate=0.0)
    assert opt.get_config()["learning_rate"] == 0.0
    opt = MomentumSGD(learning_rate=0.1, momentum=0.5)
    opt.learning_rate = 0.0  # what LearningRateScheduler(lambda epoch: 0.0) does
    restored = MomentumSGD.from_config(opt.get_config())
    assert restored.get_config() == opt.get_config()
    assert restored.learning_rate_at(0) == 0.0


def test_a_learning_rate_set_by_a_scheduler_round_trips():
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer=CMomentumSGD(learning_rate=0.1, momentum=0.9), loss="mse")
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: [0.05, 0.0][epoch])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[schedule])
    config = model.optimizer.get_config()
    assert config["learning_rate"] == 0.0
    assert CMomentumSGD.from_config(config).get_config() == config


@pytest.mark.slow
def test_a_model_trained_down_to_a_zero_rate_loads_in_a_fresh_process(tmp_path):
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer=MomentumSGD(learning_rate=0.1, momentum=0.5), loss="mse")
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 0.0)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[schedule])
    model.save(tmp_path / "zero.keras")
    out = run_python(
        """
        import keras, kerasopt_plugins
        model = keras.saving.load_model("zero.keras")
        opt = model.optimizer
        print(type(opt).__name__, opt.get_config()["learning_rate"], int(opt.iterations))
        """,
        cwd=tmp_path,
    )
    assert out.stdout.split() == ["MomentumSGD", "0.0", "4"]


def test_a_zero_argument_callable_learning_rate_is_accepted_as_keras_sgd_accepts_it():
    variable = keras.Variable(np.array([1.0, -1.0], dtype="float32"))
    opt = MomentumSGD(learning_rate=lambda: 0.5, momentum=0.0)
    assert math.isclose(opt.learning_rate_at(3), 0.5)
    opt.apply([keras.ops.convert_to_tensor(np.array([1.0, 2.0], dtype="float32"))], [variable])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [0.5, -2.0], rtol=1e-6)
    assert VanillaSGD(learning_rate=lambda: 0.1).learning_rate_at(0) == pytest.approx(0.1)


def test_a_callable_learning_rate_is_configured_as_keras_configures_it():
    # Keras serializes the callable itself (serialize_keras_object): a registered function
    # by its registered name, so it loads wherever that function is registered.
    opt = VanillaSGD(learning_rate=_rate_named_for_the_test)
    expected = keras.optimizers.SGD(learning_rate=_rate_named_for_the_test).get_config()["learning_rate"]
    config = opt.get_config()
    assert config["learning_rate"] == expected
    restored = VanillaSGD.from_config(config)
    assert restored.learning_rate_at(0) == 0.125
    opt = VanillaSGD(learning_rate=0.1)
    opt.learning_rate = _rate_named_for_the_test  # the setter takes a callable too
    assert VanillaSGD.from_config(opt.get_config()).learning_rate_at(0) == 0.125


@pytest.mark.parametrize(
    "value,error,match",
    [
        (-0.1, ValueError, r"learning_rate must be in \[0, inf\), got -0\.1"),
        (float("nan"), ValueError, r"learning_rate must be a finite number, got nan"),
        (float("inf"), ValueError, r"learning_rate must be a finite number, got inf"),
        (True, TypeError, r"learning_rate must be .*got True of type bool"),
        ("0.1", TypeError, r"learning_rate must be a number >= 0, a keras LearningRateSchedule or a zero-argument callable, got '0\.1' of type str"),
        (lambda step: 0.1, TypeError, r"learning_rate is a callable that takes arguments"),
    ],
)
def test_bad_learning_rates_are_refused_by_the_constructor_and_the_setter(value, error, match):
    for cls in (VanillaSGD, MomentumSGD):
        with pytest.raises(error, match=match):
            cls(learning_rate=value)
        opt = cls(learning_rate=0.1)
        with pytest.raises(error, match=match):
            opt.learning_rate = value
        assert opt.get_config()["learning_rate"] == 0.1  # unchanged


def test_a_callable_rate_cannot_be_assigned_a_number():
    opt = VanillaSGD(learning_rate=lambda: 0.1)
    with pytest.raises(TypeError, match=r"VanillaSGD: its learning_rate is a callable .*cannot be set to 0\.5"):
        opt.learning_rate = 0.5


# -- lr=, the TF 2.x alias: handled once, for every subclass signature -------------------------


class _KwargsOnlySGD(PluginOptimizer):
    """Passes learning_rate through **kwargs: no named parameter for it."""

    def __init__(self, beta: numbers.Real = 0.5, **kwargs):
        beta = check_number("beta", beta, low=0.0)
        super().__init__(**kwargs)
        self.beta = beta

    def update_step(self, gradient, variable, learning_rate):
        self.assign_sub(variable, keras.ops.cast(learning_rate, variable.dtype) * gradient)


def test_lr_with_a_learning_rate_equal_to_the_default_still_conflicts():
    with pytest.raises(ValueError, match=r"learning_rate=0\.01 and its alias lr=0\.3"):
        VanillaSGD(learning_rate=0.01, lr=0.3)
    with pytest.raises(ValueError, match=r"learning_rate=0\.01 and its alias lr=0\.3"):
        MomentumSGD(learning_rate=0.01, lr=0.3)


def test_lr_and_a_positional_learning_rate_conflict():
    with pytest.raises(ValueError, match=r"learning_rate=0\.2 and its alias lr=0\.3"):
        MomentumSGD(0.2, lr=0.3)
    with pytest.raises(ValueError, match=r"learning_rate=0\.01 and its alias lr=0\.3"):
        CMomentumSGD(0.01, 0.5, lr=0.3)
    assert MomentumSGD(0.3, lr=0.3).get_config()["learning_rate"] == 0.3


def test_lr_equal_to_learning_rate_is_fine():
    assert VanillaSGD(learning_rate=0.3, lr=0.3).get_config()["learning_rate"] == 0.3
    assert VanillaSGD(learning_rate=1, lr=1.0).get_config()["learning_rate"] == 1.0


def test_lr_works_on_a_subclass_that_takes_learning_rate_through_kwargs():
    opt = _KwargsOnlySGD(lr=0.2, beta=0.25)
    assert opt.get_config()["learning_rate"] == 0.2 and opt.beta == 0.25
    assert "lr" not in opt.get_config()
    with pytest.raises(ValueError, match=r"learning_rate=0\.01 and its alias lr=0\.2"):
        _KwargsOnlySGD(learning_rate=0.01, lr=0.2)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert _keras_compat.raw_learning_rate(_KwargsOnlySGD(lr=schedule)) is schedule


def test_lr_alone_is_checked_like_learning_rate():
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, inf\), got -1"):
        MomentumSGD(lr=-1)
    assert MomentumSGD(lr=0.0).get_config()["learning_rate"] == 0.0


# -- annotations: resolved per parameter, read as they mean, checked once ------------------------

if TYPE_CHECKING:
    from kerasopt_plugins.not_a_module import OnlyForTypeCheckers


class _AnnotatedSGD(PluginOptimizer):
    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        beta: float = 0.5,
        steps: int = 1,
        helper: OnlyForTypeCheckers | None = None,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta = beta
        self.steps = steps
        self.helper = helper

    def update_step(self, gradient, variable, learning_rate):
        self.assign_sub(variable, keras.ops.cast(learning_rate, variable.dtype) * gradient)


def test_an_annotation_that_cannot_be_resolved_is_skipped_and_the_others_checked():
    opt = _AnnotatedSGD(beta=0.25, helper=object())
    assert opt.beta == 0.25
    with pytest.raises(TypeError, match=r"_AnnotatedSGD: argument 'beta' must be a real number, got 'x'"):
        _AnnotatedSGD(beta="x", helper=object())


@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(0.5), 1, np.int64(2)])
def test_float_annotations_accept_numpy_floats_and_ints(value):
    assert _AnnotatedSGD(beta=value).beta == value


@pytest.mark.parametrize("value", [np.int32(3), np.int64(3), 3])
def test_int_annotations_accept_numpy_ints(value):
    assert _AnnotatedSGD(steps=value).steps == 3


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"beta": True}, r"argument 'beta' must be a real number, got True of type bool"),
        ({"steps": False}, r"argument 'steps' must be an int, got False of type bool"),
        ({"steps": 1.5}, r"argument 'steps' must be an int, got 1\.5 of type float"),
        ({"steps": np.float32(2.0)}, r"argument 'steps' must be an int, got .*of type float32"),
    ],
)
def test_numeric_annotations_still_refuse_bools_and_the_wrong_kind(kwargs, match):
    with pytest.raises(TypeError, match=match):
        _AnnotatedSGD(**kwargs)


def test_each_argument_is_type_checked_once_per_construction(monkeypatch):
    import typeguard

    seen = []
    real_check = typeguard.check_type

    def counting(value, hint, *args, **kwargs):
        seen.append(value)
        return real_check(value, hint, *args, **kwargs)

    monkeypatch.setattr(typeguard, "check_type", counting)
    CMomentumSGD(momentum=0.25, centered=False, decay=0.125)
    assert sorted(seen, key=repr) == sorted([0.25, False, 0.125], key=repr)


# -- an argument get_config cannot read is reported at construction -------------------------


def test_an_argument_not_stored_under_its_name_is_reported_at_construction():
    class ForgetfulSGD(PluginOptimizer):
        def __init__(self, learning_rate=0.01, beta: numbers.Real = 0.9, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)
            self._beta = beta  # get_config reads self.beta

        def update_step(self, gradient, variable, learning_rate):
            pass

    with pytest.raises(
        AttributeError,
        match=r"ForgetfulSGD: constructor argument 'beta' is not stored.*store it as self\.beta = beta in __init__; get_config reads it",
    ):
        ForgetfulSGD(beta=0.5, clipnorm=1.0)


def test_arguments_stored_by_a_subclass_after_super_init_are_found():
    class Child(MomentumSGD):
        def __init__(self, learning_rate=0.01, momentum=0.0, gamma: numbers.Real = 2.0, **kwargs):
            super().__init__(learning_rate=learning_rate, momentum=momentum, **kwargs)
            self.gamma = gamma

    opt = Child(gamma=3.0, clipnorm=1.0, weight_decay=0.01, use_ema=False)
    assert opt.get_config()["gamma"] == 3.0


# -- build -----------------------------------------------------------------------------------


def test_build_twice_adds_no_second_set_of_slots():
    """Keras's SGD(momentum) stays at its variables when built again; so must we (and save so)."""
    variables = [keras.Variable(np.zeros((2, 3), dtype="float32")), keras.Variable(np.zeros(3, dtype="float32"))]
    ours, theirs = MomentumSGD(0.1, momentum=0.9), keras.optimizers.SGD(0.1, momentum=0.9)
    for optimizer in (ours, theirs):
        optimizer.build(variables)
        first = [v.path for v in optimizer.variables]
        optimizer.build(variables)
        assert [v.path for v in optimizer.variables] == first
    assert len(ours.variables) == len(theirs.variables) == 4  # iterations, learning rate, two slots
    assert ours.get_slot(variables[0], "m") is ours.variables[2]


def test_a_variable_overwritten_with_its_gradient_gets_no_slot_and_no_update_step():
    """Keras's rule for `overwrite_with_gradient` variables (float8 scales): no slots, assigned the gradient."""
    plain = keras.Variable(np.ones(3, dtype="float32"))
    scale = keras.Variable(np.ones(2, dtype="float32"))
    scale.overwrite_with_gradient = True
    optimizer = MomentumSGD(0.5, momentum=0.5)
    optimizer.build([plain, scale])
    assert optimizer.get_slot(scale, "m") is None and optimizer.get_slot(plain, "m") is not None
    assert len(optimizer.variables) == 3  # iterations, learning rate, the plain variable's slot
    optimizer.apply([keras.ops.ones((3,)), keras.ops.convert_to_tensor(np.array([7.0, 8.0], dtype="float32"))])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(scale), [7.0, 8.0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain), [0.75] * 3)  # m = 0.5 * 1; w = 1 - 0.5 * m
