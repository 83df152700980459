"""Lookahead, SWA and MovingAverage: their rules, arguments, configs, and Keras's machinery around them.

tfa's own trajectories are replayed in test_tfa_parity.py; here: facts that hold whatever tfa
did (limits, equivalences with the inner optimizer alone), the arguments, and the places Keras
puts an optimizer (LossScaleOptimizer, gradient accumulation, MultiOptimizer, fit).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import BACKEND, regression_data, small_model

from kerasopt_plugins.addons import optimizers as tfa_optimizers
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage

RNG = np.random.default_rng(7)
SHAPES = [(3,), (2, 4)]
GRADS = [[RNG.normal(size=s).astype("float32") for s in SHAPES] for _ in range(12)]
INIT = [RNG.normal(size=s).astype("float32") for s in SHAPES]


def variables():
    return [keras.Variable(v.copy(), name=f"v{i}") for i, v in enumerate(INIT)]


def run(optimizer, steps=12, grads=GRADS):
    vs = variables()
    history = []
    for step in grads[:steps]:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in step], vs)
        history.append([np.array(v.numpy()) for v in vs])
    return vs, history


def test_lookahead_is_the_inner_optimizer_between_syncs_and_steps_back_at_each():
    k, alpha = 3, 0.25
    wrapped, history = run(Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), sync_period=k, slow_step_size=alpha))
    # the same SGD alone, with the sync done by hand in NumPy
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    vs = variables()
    slow = [v.copy() for v in INIT]
    for t, step in enumerate(GRADS, start=1):
        sgd.apply([keras.ops.convert_to_tensor(g) for g in step], vs)
        if t % k == 0:
            slow = [s + np.float32(alpha) * (v.numpy() - s) for s, v in zip(slow, vs)]
            for v, s in zip(vs, slow):
                v.assign(s)
        for got, want in zip(history[t - 1], vs):
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-7)


def test_lookahead_sync_period_one_and_full_step_is_the_inner_optimizer():
    _, wrapped = run(Lookahead(keras.optimizers.Adam(0.01), sync_period=1, slow_step_size=1.0))
    _, alone = run(keras.optimizers.Adam(0.01))
    for a, b in zip(wrapped, alone):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_swa_average_is_the_mean_of_the_snapshots():
    start, period = 2, 3
    optimizer = SWA(keras.optimizers.SGD(0.05), start_averaging=start, average_period=period)
    vs, history = run(optimizer)
    snapshots = [history[t] for t in range(start, len(history), period)]  # 0-based steps 2, 5, 8, 11
    assert len(snapshots) == 4
    for i, v in enumerate(vs):
        want = np.mean([s[i] for s in snapshots], axis=0)
        np.testing.assert_allclose(optimizer.get_slot(v, "average").numpy(), want, rtol=1e-6, atol=1e-7)


def test_swa_average_is_zero_before_the_first_snapshot():
    optimizer = SWA(keras.optimizers.SGD(0.05), start_averaging=5, average_period=2)
    vs, _ = run(optimizer, steps=5)  # 0-based steps 0..4
    assert all(not np.any(optimizer.get_slot(v, "average").numpy()) for v in vs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"start_step": 4}, {"dynamic_decay": True}, {"num_updates": 3}, {"average_decay": 0.5, "start_step": 2, "dynamic_decay": True}],
    ids=["default", "start_step", "dynamic", "num_updates", "combined"],
)
def test_moving_average_matches_numpy(kwargs):
    optimizer = MovingAverage(keras.optimizers.SGD(0.05), **kwargs)
    vs, history = run(optimizer)
    decay = np.float32(kwargs.get("average_decay", 0.99))
    if kwargs.get("num_updates") is not None:
        n = np.float32(kwargs["num_updates"])
        decay = min(decay, (np.float32(1) + n) / (np.float32(10) + n))
    average = [v.copy() for v in INIT]
    for t, weights in enumerate(history):
        d = decay
        if kwargs.get("dynamic_decay"):
            c = np.float32(t - kwargs.get("start_step", 0))
            d = min(d, (np.float32(1) + c) / (np.float32(10) + c))
        if t < kwargs.get("start_step", 0):
            d = np.float32(0)
        average = [a - (a - w) * (np.float32(1) - d) for a, w in zip(average, weights)]
    for v, a in zip(vs, average):
        np.testing.assert_allclose(optimizer.get_slot(v, "average").numpy(), a, rtol=1e-6, atol=1e-7)


def test_the_average_starts_from_the_initial_weights():
    optimizer = MovingAverage(keras.optimizers.SGD(0.05), average_decay=1.0)
    vs, _ = run(optimizer, steps=3)
    for v, init in zip(vs, INIT):
        np.testing.assert_array_equal(optimizer.get_slot(v, "average").numpy(), init)
        assert not np.array_equal(v.numpy(), init)


# -- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Lookahead("sgd", sync_period=0), r"^Lookahead: sync_period must be an int >= 1, got 0$"),
        (lambda: Lookahead("sgd", slow_step_size=1.5), r"^Lookahead: slow_step_size must be in \[0, 1\], got 1.5$"),
        (lambda: Lookahead("sgd", slow_step_size=float("nan")), r"^Lookahead: slow_step_size must be a finite number, got nan$"),
        (lambda: SWA("sgd", start_averaging=-1), r"^SWA: start_averaging must be an int >= 0, got -1$"),
        (lambda: SWA("sgd", average_period=0), r"^SWA: average_period must be an int >= 1, got 0$"),
        (lambda: MovingAverage("sgd", average_decay=-0.1), r"^MovingAverage: average_decay must be in \[0, 1\], got -0.1$"),
        (lambda: MovingAverage("sgd", num_updates=-2), r"^MovingAverage: num_updates must be an int >= 0 or None, got -2$"),
        (lambda: MovingAverage("sgd", dynamic_decay=2), r"^MovingAverage: dynamic_decay must be a bool, got 2$"),
        (lambda: Lookahead("sgd", clipnorm=1.0), r"clipnorm=1.0 belongs on the inner optimizer"),
        (lambda: SWA("sgd", gradient_accumulation_steps=2), r"gradient_accumulation_steps=2 belongs on the inner"),
    ],
)
def test_bad_arguments_are_refused_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Lookahead("sgd", slow_step_size="abc"), r"^Lookahead: slow_step_size must be a real number, got 'abc' of type str$"),
        (lambda: Lookahead("sgd", sync_period="5"), r"^Lookahead: sync_period must be an int, got '5' of type str$"),
        (lambda: Lookahead("sgd", sync_period=2.0), r"^Lookahead: sync_period must be an int, got 2.0 of type float$"),
        (lambda: Lookahead("sgd", sync_period=True), r"^Lookahead: sync_period must be an int, got True of type bool$"),
        (lambda: SWA("sgd", average_period="10"), r"^SWA: average_period must be an int, got '10' of type str$"),
        (lambda: MovingAverage("sgd", average_decay=True), r"^MovingAverage: average_decay must be a real number, got True of type bool$"),
        (lambda: MovingAverage("sgd", num_updates="5"), r"^MovingAverage: num_updates must be an int or None, got '5' of type str$"),
        (lambda: MovingAverage("sgd", dynamic_decay="yes"), r"^MovingAverage: dynamic_decay must be a bool, got 'yes' of type str$"),
    ],
)
def test_arguments_of_the_wrong_type_are_a_type_error(make, match):
    # a string, a float where an int is meant, a bool where a number is meant: TypeError, as
    # check_number and check_integer raise for an optimizer's own arguments
    with pytest.raises(TypeError, match=match):
        make()


def test_integer_arguments_are_kept_as_given():
    optimizer = Lookahead("sgd", sync_period=np.int64(5), slow_step_size=np.float32(0.25))
    assert optimizer.sync_period == 5 and type(optimizer.sync_period) is np.int64
    assert optimizer.slow_step_size == 0.25 and type(optimizer.slow_step_size) is float
    assert json.loads(json.dumps(keras.saving.serialize_keras_object(optimizer)))["config"]["sync_period"] == 5
    swa = SWA("sgd", start_averaging=np.int32(3), average_period=np.uint8(2))
    assert (swa.start_averaging, swa.average_period) == (3, 2)
    assert MovingAverage("sgd", num_updates=None).num_updates is None


def test_an_inner_optimizer_of_another_type_is_refused():
    with pytest.raises(TypeError, match=r"optimizer must be a keras.optimizers.Optimizer, a name or a config dict, got 3"):
        Lookahead(3)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'sync'"):
        Lookahead("sgd", sync=3)


def test_an_unknown_inner_name_says_so():
    with pytest.raises(ValueError, match="adamm"):
        Lookahead("adamm")


# -- configs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer",
    [
        Lookahead(tfa_optimizers.RectifiedAdam(0.01, total_steps=100, warmup_proportion=0.1), sync_period=4, slow_step_size=0.3),
        SWA(keras.optimizers.SGD(0.1, momentum=0.5), start_averaging=3, average_period=2),
        MovingAverage("adam", average_decay=0.9, num_updates=5, start_step=2, dynamic_decay=True),
        Lookahead(MovingAverage(keras.optimizers.Adam(0.002)), sync_period=3),
    ],
    ids=["lookahead_radam", "swa_sgd", "moving_average", "nested"],
)
def test_config_round_trips_through_json(optimizer):
    text = json.dumps(keras.optimizers.serialize(optimizer))
    again = keras.optimizers.deserialize(json.loads(text))
    assert type(again) is type(optimizer)
    assert type(again.inner_optimizer) is type(optimizer.inner_optimizer)
    assert again.get_config() == optimizer.get_config()


def test_inner_given_by_name_or_config_is_the_same_optimizer():
    by_name = Lookahead("radam")
    by_config = Lookahead({"class_name": "Addons>RectifiedAdam", "config": {"learning_rate": 0.002}})
    assert type(by_name.inner_optimizer) is tfa_optimizers.RectifiedAdam
    assert by_config.inner_optimizer.get_config()["learning_rate"] == 0.002


def test_tfa_config_keys_load():
    config = {"class_name": "Addons>SWA", "config": {
        "name": "SWA", "optimizer": {"class_name": "SGD", "config": {"name": "SGD", "learning_rate": 0.1, "decay": 0.0, "momentum": 0.0, "nesterov": False}},
        "start_averaging": 1, "average_period": 2, "is_legacy_optimizer": True}}
    optimizer = keras.optimizers.deserialize(config)
    assert type(optimizer) is SWA
    assert isinstance(optimizer.inner_optimizer, keras.optimizers.SGD)
    assert (optimizer.start_averaging, optimizer.average_period) == (1, 2)


def test_keras2_time_decay_of_the_inner_becomes_the_same_schedule():
    optimizer = Lookahead({"class_name": "SGD", "config": {"learning_rate": 0.1, "decay": 0.5}})
    rate = optimizer.inner_optimizer._learning_rate
    assert isinstance(rate, keras.optimizers.schedules.InverseTimeDecay)
    assert [float(rate(t)) for t in (0, 1, 4)] == pytest.approx([0.1, 0.1 / 1.5, 0.1 / 3.0], rel=1e-7)


def test_learning_rate_and_iterations_are_the_inner_optimizers():
    inner = keras.optimizers.Adam(0.01)
    optimizer = Lookahead(inner)
    run(optimizer, steps=3)
    assert int(optimizer.iterations) == int(inner.iterations) == 3
    optimizer.learning_rate = 0.5
    assert float(inner.learning_rate) == 0.5 == float(optimizer.learning_rate)


# -- Keras's machinery around an optimizer ----------------------------------------------------


@pytest.mark.parametrize("wrapper", [Lookahead, SWA, MovingAverage])
def test_gradient_accumulation_on_the_inner_counts_real_updates(wrapper):
    kwargs = {"sync_period": 2} if wrapper is Lookahead else ({"average_period": 2} if wrapper is SWA else {})
    accumulating = wrapper(keras.optimizers.SGD(0.1, momentum=0.5, gradient_accumulation_steps=2), **kwargs)
    plain = wrapper(keras.optimizers.SGD(0.1, momentum=0.5), **kwargs)
    micro = GRADS[:12]
    _, acc_history = run(accumulating, grads=micro)
    averaged = [[(b + a) / np.float32(2) for a, b in zip(micro[i], micro[i + 1])] for i in range(0, 12, 2)]
    _, plain_history = run(plain, grads=averaged)
    for t in range(6):
        for x, y in zip(acc_history[2 * t + 1], plain_history[t]):
            np.testing.assert_array_equal(x, y)
    assert int(accumulating.iterations) == int(plain.iterations) == 6
    slot = wrapper.slot_names[0]
    a_vars, p_vars = accumulating._trainable_variables, plain._trainable_variables
    for a, p in zip(a_vars, p_vars):
        np.testing.assert_array_equal(accumulating.get_slot(a, slot).numpy(), plain.get_slot(p, slot).numpy())


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="Keras 3.15's LossScaleOptimizer.apply outside fit fails on JAX around any optimizer, "
    "keras.optimizers.SGD included (UnexpectedTracerError); fit is tested below",
)
def test_inside_a_loss_scale_optimizer_the_steps_are_those_of_unscaled_gradients():
    scaled = keras.optimizers.LossScaleOptimizer(Lookahead(keras.optimizers.SGD(0.1), sync_period=2), initial_scale=1024.0)
    plain = Lookahead(keras.optimizers.SGD(0.1), sync_period=2)
    _, s_history = run(scaled, grads=[[g * np.float32(1024) for g in step] for step in GRADS])
    _, p_history = run(plain)
    for a, b in zip(s_history, p_history):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_mixed_precision_fit_trains_and_wraps_in_a_loss_scale_optimizer():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = small_model()
        model.compile(optimizer=SWA(keras.optimizers.SGD(0.05), average_period=2), loss="mse")
        x, y = regression_data()
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, SWA)
    assert history.history["loss"][-1] < history.history["loss"][0]
    swa = model.optimizer.inner_optimizer
    assert 6 <= int(swa.iterations) <= 12  # a step with overflowing float16 gradients is skipped
    kernel = model.trainable_variables[0]
    assert np.any(swa.get_slot(kernel, "average").numpy())


def test_as_an_inner_optimizer_of_multi_optimizer():
    lookahead = Lookahead(keras.optimizers.SGD(0.1), sync_period=2)
    sgd = keras.optimizers.SGD(0.1)
    multi = keras.optimizers.MultiOptimizer(lambda v: lookahead if v.name == "v0" else sgd)
    vs, history = run(multi, steps=4)
    # v0 followed Lookahead, v1 plain SGD: compare each with its optimizer alone
    alone_la = Lookahead(keras.optimizers.SGD(0.1), sync_period=2)
    v0 = keras.Variable(INIT[0].copy(), name="v0")
    v1 = keras.Variable(INIT[1].copy(), name="v1")
    alone_sgd = keras.optimizers.SGD(0.1)
    for step in GRADS[:4]:
        alone_la.apply([keras.ops.convert_to_tensor(step[0])], [v0])
        alone_sgd.apply([keras.ops.convert_to_tensor(step[1])], [v1])
    np.testing.assert_array_equal(vs[0].numpy(), v0.numpy())
    np.testing.assert_array_equal(vs[1].numpy(), v1.numpy())
    assert int(lookahead.iterations) == 4


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_with_and_without_jit_gives_the_same_weights(jit_compile):
    x, y = regression_data()

    def train(jit):
        model = small_model()
        model.compile(optimizer=Lookahead(keras.optimizers.Adam(0.01), sync_period=3), loss="mse", jit_compile=jit)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        return model.get_weights()

    for a, b in zip(train(False), train(jit_compile)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_variables_hold_the_wrappers_slots_and_the_inner_state():
    optimizer = Lookahead(keras.optimizers.Adam(0.01))
    vs, _ = run(optimizer, steps=1)
    paths = [v.path for v in optimizer.variables]
    assert sum("slow" in p for p in paths) == len(vs)
    inner = optimizer.inner_optimizer.variables
    assert optimizer.variables[-len(inner):] == inner
    assert BACKEND in ("tensorflow", "jax", "torch")


@pytest.mark.parametrize("jit_compile", [False, True])
def test_in_fit_the_slow_weights_and_the_average_start_from_the_initial_weights(jit_compile):
    # Keras may build the optimizer inside the first traced step: the start must be the
    # weights' values then, not an operation of the step
    x, y = regression_data(n=8)

    def one_step(optimizer):
        model = small_model()
        model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
        before = [np.array(w) for w in model.get_weights()]
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        return before, model.get_weights(), model

    before, sgd_after, _ = one_step(keras.optimizers.SGD(0.1))
    _, lookahead_after, _ = one_step(Lookahead(keras.optimizers.SGD(0.1), sync_period=1, slow_step_size=0.5))
    _, ma_after, model = one_step(MovingAverage(keras.optimizers.SGD(0.1), average_decay=0.75))
    for w0, w1, la, ma in zip(before, sgd_after, lookahead_after, ma_after):
        np.testing.assert_allclose(la, w0 + np.float32(0.5) * (w1 - w0), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(ma, w1)
    for variable, w0, w1 in zip(model.trainable_variables, before, sgd_after):
        average = model.optimizer.get_slot(variable, "average").numpy()
        np.testing.assert_allclose(average, w0 - (w0 - w1) * np.float32(0.25), rtol=1e-6, atol=1e-7)


def test_keras_learning_rate_callbacks_reach_the_inner_optimizer():
    inner = keras.optimizers.SGD(0.1)
    model = small_model()
    model.compile(optimizer=Lookahead(inner, sync_period=2), loss="mse")
    x, y = regression_data()
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 * 0.5**epoch)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[schedule])
    assert float(inner.learning_rate) == pytest.approx(0.025)


@pytest.mark.parametrize("wrapper", [Lookahead, SWA, MovingAverage])
def test_in_fit_gradient_accumulation_on_the_inner_equals_the_larger_batch(wrapper):
    # two half batches accumulated = one batch of both (up to float32 rounding of the mean)
    kwargs = {"sync_period": 2} if wrapper is Lookahead else ({"average_period": 2} if wrapper is SWA else {})
    x, y = regression_data(n=32)

    def train(batch_size, **inner):
        model = small_model()
        model.compile(optimizer=wrapper(keras.optimizers.SGD(0.1, **inner), **kwargs), loss="mse")
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, shuffle=False)
        slot = wrapper.slot_names[0]
        return model.get_weights() + [model.optimizer.get_slot(v, slot).numpy() for v in model.trainable_variables], model

    accumulated, model = train(4, gradient_accumulation_steps=2)
    plain, _ = train(8)
    assert int(model.optimizer.iterations) == 8
    for a, b in zip(accumulated, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
