"""RectifiedAdam: a NumPy reference of tfa's rule, and the facts that pin it down.

What RectifiedAdam and AdaBelief share (their arguments, the warmup, tfa's weight decay, the
amsgrad slot) is tested here for both classes; test_adabelief.py has AdaBelief's own facts.
tfa's own trajectories are replayed in test_tfa_parity.py (reference/cases/rectified_adam.py).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

from kerasopt_plugins.optimizers.adabelief import AdaBelief
from kerasopt_plugins.optimizers.rectified_adam import RectifiedAdam

BOTH = [RectifiedAdam, AdaBelief]
RNG = np.random.default_rng(12)
START = RNG.normal(size=(4, 5)).astype("float32")
GRADS = [  # some exact zeros
    (RNG.normal(size=(4, 5)) * (RNG.uniform(size=(4, 5)) > 0.1)).astype("float32") for _ in range(20)
]
TENSORFLOW_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="IndexedSlices gradients are TensorFlow's"
)


def warmed_up(lr, t, total_steps, warmup_proportion, min_lr):
    """tfa's learning rate at step t (1-based) with total_steps > 0."""
    warmup = total_steps * warmup_proportion
    if t <= warmup:
        return lr * t / warmup
    decay_steps = max(total_steps - warmup, 1)
    return lr + (min_lr - lr) * min(t - warmup, decay_steps) / decay_steps


def rectifier(beta_2, t):
    """(sma_t, r_t) in float64; r_t is NaN where sma_t < 4."""
    sma_inf = 2 / (1 - beta_2) - 1
    sma = sma_inf - 2 * t * beta_2**t / (1 - beta_2**t)
    with np.errstate(invalid="ignore"):
        r = np.sqrt((sma - 4) * (sma - 2) * sma_inf / ((sma_inf - 4) * (sma_inf - 2) * sma))
    return sma, r


def reference_radam(w, grads, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                    weight_decay=0.0, amsgrad=False, sma_threshold=5.0, total_steps=0,
                    warmup_proportion=0.1, min_lr=0.0):
    """tfa 0.23's RectifiedAdam in float64: the weights after every step."""
    w = w.astype(np.float64)
    m, v, vhat, history = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        lr = learning_rate
        if total_steps > 0:
            lr = warmed_up(learning_rate, t, total_steps, warmup_proportion, min_lr)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g.astype(np.float64) ** 2
        vhat = np.maximum(vhat, v) if amsgrad else v
        m_hat, v_hat = m / (1 - beta_1**t), vhat / (1 - beta_2**t)
        sma, r = rectifier(beta_2, t)
        u = r * m_hat / (np.sqrt(v_hat) + epsilon) if sma >= sma_threshold else m_hat
        w = w - lr * (u + weight_decay * w)
        history.append(w)
    return history


def train(optimizer, grads, start=START):
    """The weights after every step of `optimizer` on one variable."""
    variable = keras.Variable(start)
    history = []
    for g in grads:
        optimizer.apply([ops.convert_to_tensor(g)], [variable])
        history.append(ops.convert_to_numpy(variable).copy())
    return history, variable


@pytest.mark.parametrize(
    "config",
    [
        {"learning_rate": 0.01, "beta_2": 0.95},
        {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.9, "amsgrad": True, "weight_decay": 0.1},
        {"learning_rate": 0.05, "beta_2": 0.95, "total_steps": 12, "warmup_proportion": 0.25,
         "min_lr": 0.001, "weight_decay": 0.01},
    ],
    ids=["rectified_from_step_6", "amsgrad_weight_decay", "warmup_then_decay_past_total_steps"],
)
def test_matches_the_numpy_reference(config):
    # beta_2 0.95 / 0.9: sma_t stays 0.2 or more away from the threshold, so float32 and float64
    # take the same branches (tfa's float32 trajectories, near it too: test_tfa_parity.py)
    history, _ = train(RectifiedAdam(**config), GRADS)
    for step, (got, want) in enumerate(zip(history, reference_radam(START, GRADS, **config)), 1):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=f"after step {step}")


def test_below_the_threshold_the_step_is_sgd_on_the_corrected_momentum():
    """With beta_1 = 0 and a threshold never reached, RAdam is plain SGD, bit for bit:
    m = g, and the step is g * lr rounded once."""
    radam, _ = train(RectifiedAdam(0.1, beta_1=0.0, sma_threshold=1e9), GRADS[:8])
    w = START
    for step, (got, g) in enumerate(zip(radam, GRADS), 1):
        w = w - g * np.float32(0.1)  # float32 throughout, as the optimizer computes it
        np.testing.assert_array_equal(got, w, err_msg=f"after step {step}")


def test_once_rectified_the_step_is_adams_times_r_t():
    """Steps 1-5 (sma_t < 5 with beta_2 0.99) move by lr * m_hat; from step 6 on, by r_t times
    Adam's step (epsilon negligible here): the rectification term and nothing else."""
    lr, beta_1, beta_2 = 0.01, 0.9, 0.99
    zero = np.zeros_like(START)
    radam, _ = train(RectifiedAdam(lr, beta_2=beta_2, epsilon=1e-12), GRADS, start=zero)
    adam, _ = train(keras.optimizers.Adam(lr, beta_2=beta_2, epsilon=1e-12), GRADS, start=zero)
    m = np.zeros_like(START, dtype=np.float64)
    previous = {"radam": zero, "adam": zero}
    for t, (w_radam, w_adam, g) in enumerate(zip(radam, adam, GRADS), start=1):
        step_radam, step_adam = previous["radam"] - w_radam, previous["adam"] - w_adam
        previous = {"radam": w_radam, "adam": w_adam}
        m = beta_1 * m + (1 - beta_1) * g
        sma, r = rectifier(beta_2, t)
        if t <= 5:
            assert sma < 5.0
            np.testing.assert_allclose(step_radam, lr * m / (1 - beta_1**t), rtol=1e-4, atol=1e-9)
        else:
            assert sma >= 5.0
            np.testing.assert_allclose(step_radam, r * step_adam, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("cls", BOTH)
def test_warmup_then_linear_decay_to_min_lr(cls):
    """beta_1 = 0, no rectification and a gradient of ones: each step moves w by lr_t."""
    lr, total, proportion, min_lr = 0.5, 10, 0.3, 0.05
    optimizer = cls(lr, beta_1=0.0, sma_threshold=1e9, total_steps=total,
                    warmup_proportion=proportion, min_lr=min_lr)
    ones = [np.ones((2,), "float32")] * 14
    history, _ = train(optimizer, ones, start=np.zeros(2, "float32"))
    steps = -np.diff(np.concatenate([[0.0], [h[0] for h in history]]))
    want = [warmed_up(lr, t, total, proportion, min_lr) for t in range(1, 15)]
    np.testing.assert_allclose(steps, want, rtol=1e-5)
    assert want[:3] == pytest.approx([lr / 3, 2 * lr / 3, lr]) and want[-1] == pytest.approx(min_lr)


@pytest.mark.parametrize("cls", BOTH)
def test_weight_decay_is_tfas_scaled_by_the_warmed_up_rate_and_applied_once(cls):
    """A zero gradient leaves m at 0, so each step is w <- w (1 - lr_t wd): Keras's own
    weight-decay pass (w -= lr wd w) is not applied on top of it."""
    lr, wd = 0.5, 0.1
    optimizer = cls(lr, weight_decay=wd, total_steps=8, warmup_proportion=0.5)
    zeros = [np.zeros((3,), "float32")] * 6
    history, _ = train(optimizer, zeros, start=np.ones(3, "float32"))
    ratios = np.asarray([h[0] for h in history]) / np.concatenate([[1.0], [h[0] for h in history[:-1]]])
    want = [1 - warmed_up(lr, t, 8, 0.5, 0.0) * wd for t in range(1, 7)]
    np.testing.assert_allclose(ratios, want, rtol=1e-6)


@pytest.mark.parametrize("cls", BOTH)
def test_weight_decay_schedule_and_callable(cls):
    """A schedule is evaluated at `iterations` (steps already applied), a callable each step."""
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([2], [0.1, 0.01])
    ones = np.ones(3, "float32")
    zeros = [np.zeros((3,), "float32")] * 4
    by_schedule, _ = train(cls(0.5, weight_decay=schedule), zeros, start=ones)
    by_callable, _ = train(cls(0.5, weight_decay=lambda: 0.1), zeros, start=ones)
    factors = [0.95, 0.95, 0.95, 0.995]  # w *= 1 - lr wd: iterations 0, 1, 2 -> 0.1; then 0.01
    np.testing.assert_allclose([h[0] for h in by_schedule], np.cumprod(factors), rtol=1e-6)
    np.testing.assert_allclose([h[0] for h in by_callable], 0.95 ** np.arange(1, 5), rtol=1e-6)


@pytest.mark.parametrize("cls", BOTH)
def test_a_weight_decay_schedule_survives_the_config_round_trip(cls):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=3, decay_rate=0.5)
    optimizer = cls(weight_decay=schedule, total_steps=100)
    config = optimizer.get_config()
    again = cls.from_config(json.loads(json.dumps(config)))
    assert isinstance(again.weight_decay, keras.optimizers.schedules.ExponentialDecay)
    assert again.get_config() == config


@pytest.mark.parametrize("cls", BOTH)
def test_vhat_exists_with_amsgrad_only_and_is_the_running_maximum_of_v(cls):
    variable = keras.Variable(START)
    plain = cls()
    plain.build([variable])
    assert plain.slot_names == ("m", "v") and len(plain.variables) == 2 + 2  # iterations, lr
    with pytest.raises(ValueError, match="has no slot 'vhat'"):
        plain.get_slot(variable, "vhat")
    amsgrad = cls(amsgrad=True)
    assert amsgrad.slot_names == ("m", "v", "vhat")
    running_max = np.zeros_like(START)
    for g in GRADS[:6]:
        amsgrad.apply([ops.convert_to_tensor(g)], [variable])
        running_max = np.maximum(running_max, ops.convert_to_numpy(amsgrad.get_slot(variable, "v")))
        vhat = ops.convert_to_numpy(amsgrad.get_slot(variable, "vhat"))
        np.testing.assert_array_equal(vhat, running_max)


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"beta_1": 1.0}, ValueError, r"beta_1 must be in \[0, 1\), got 1.0"),
        ({"beta_2": -0.1}, ValueError, r"beta_2 must be in \[0, 1\)"),
        ({"epsilon": 0.0}, ValueError, "epsilon must be > 0, got 0.0: tensorflow-addons 0.23"),
        ({"epsilon": -1e-8}, ValueError, r"epsilon must be in \(0, inf\)"),
        ({"weight_decay": -0.1}, ValueError, r"weight_decay must be in \[0, inf\)"),
        ({"weight_decay": "l2"}, TypeError, "weight_decay"),
        ({"sma_threshold": float("nan")}, ValueError, "sma_threshold must be a finite number"),
        ({"sma_threshold": 3.5}, ValueError, "sma_threshold must be >= 4, got 3.5: below 4"),
        ({"total_steps": -1}, ValueError, "total_steps must be an int >= 0, got -1"),
        ({"total_steps": 10.5}, TypeError, "'total_steps' must be an int"),
        ({"warmup_proportion": 1.5}, ValueError, r"warmup_proportion must be in \[0, 1\]"),
        ({"min_lr": -1.0}, ValueError, r"min_lr must be in \[0, inf\)"),
        ({"amsgrad": "yes"}, TypeError, "'amsgrad' must be a bool"),
    ],
)
def test_invalid_arguments_are_refused_at_construction(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


@TENSORFLOW_ONLY
@pytest.mark.parametrize("cls", BOTH)
def test_a_sparse_gradient_moves_its_rows_only_while_every_row_of_m_decays(cls):
    import tensorflow as tf

    table = keras.Variable(START)
    optimizer = cls(0.1, beta_1=0.5)
    optimizer.apply([ops.convert_to_tensor(GRADS[0])], [table])  # every row of m nonzero
    before = ops.convert_to_numpy(table).copy()
    m_before = ops.convert_to_numpy(optimizer.get_slot(table, "m")).copy()
    rows = tf.constant([2, 0, 2])  # row 2 twice: summed, as Keras 2 did
    values = tf.constant(GRADS[1][:3])
    optimizer.apply([tf.IndexedSlices(values, rows, tf.constant([4, 5]))], [table])
    after, m_after = ops.convert_to_numpy(table), ops.convert_to_numpy(optimizer.get_slot(table, "m"))
    np.testing.assert_array_equal(after[[1, 3]], before[[1, 3]])
    assert np.all(after[[0, 2]] != before[[0, 2]])
    np.testing.assert_array_equal(m_after[[1, 3]], m_before[[1, 3]] * np.float32(0.5))
    summed = GRADS[1][0] + GRADS[1][2]
    np.testing.assert_allclose(m_after[2], m_before[2] * 0.5 + summed * 0.5, rtol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="packed execution runs on torch only")
@pytest.mark.parametrize("cls", BOTH)
def test_packed_execution_is_bit_identical_across_the_threshold(cls, monkeypatch):
    """The contract suite's packed-execution check runs 4 steps, all below the threshold; here
    8 steps with the defaults (rectified from step 6) and weight decay, in packs of up to 64
    elements and chunks of 1000, against one call per variable."""
    from kerasopt_plugins.optimizers import _packed

    monkeypatch.setattr(_packed, "UNIT", 64)
    monkeypatch.setattr(_packed, "CHUNK", 1000)
    shapes = [(7, 5), (5,), (300, 300), (), (20, 4)]
    rng = np.random.default_rng(4)
    start = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[rng.normal(size=s).astype("float32") for s in shapes] for _ in range(8)]
    results = []
    for elementwise in (True, False):
        optimizer = cls(0.01, weight_decay=0.01)
        optimizer.elementwise = elementwise
        variables = [keras.Variable(w) for w in start]
        for g in grads:
            optimizer.apply([ops.convert_to_tensor(x) for x in g], variables)
        results.append([ops.convert_to_numpy(v) for v in variables + list(optimizer.variables)])
    for packed, alone in zip(*results):
        np.testing.assert_array_equal(packed, alone)
