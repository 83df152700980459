"""Yogi: what the tfa golden data (test_tfa_parity.py, reference/data/yogi.json) cannot show.

A float64 NumPy reference of the rule, argument checks, the accumulator's starting value, the
sign(0) edge and tfa's sparse path (m decays everywhere, v and w change in the touched rows).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

from kerasopt_plugins.optimizers.yogi import Yogi

TF_ONLY = pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices and tf.function are TensorFlow's")


def numpy_yogi(w, grads, lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-3, l1=0.0, l2=0.0,
               initial=1e-6, activation="sign"):
    """Algorithm 2 of Zaheer et al. with tfa's bias correction and prox step, in float64
    from the float32 hyperparameters (1 - float32(0.999) is 1.3e-5 away from 0.001)."""
    lr, beta1, beta2, epsilon, l1, l2 = (float(np.float32(x)) for x in (lr, beta1, beta2, epsilon, l1, l2))
    w = w.astype("float64")
    m, v = np.zeros_like(w), np.full_like(w, initial)
    for t, g in enumerate(grads, start=1):
        g = g.astype("float64")
        m = beta1 * m + (1 - beta1) * g
        s = np.sign(g * g - v) if activation == "sign" else np.tanh(10 * (g * g - v))
        v = v + (1 - beta2) * s * g * g
        r = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) / (np.sqrt(v) + epsilon)
        w = w - r * m
        w = np.sign(w) * np.maximum(np.abs(w) - l1 * r, 0.0) / (1 + l2 * r)  # l1 = 0: w / (1 + l2 r)
    return w, m, v


def run(optimizer, w0, grads):
    w = keras.Variable(w0)
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return w


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.05},
        {"learning_rate": 0.1, "l1_regularization_strength": 0.05, "l2_regularization_strength": 0.1},
        {"learning_rate": 0.05, "beta1": 0.0, "activation": "tanh", "l2_regularization_strength": 0.3},
        {"learning_rate": 0.02, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-5, "initial_accumulator_value": 0.2},
    ],
)
def test_steps_match_a_float64_numpy_reference(kwargs):
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=(4, 5)).astype("float32")
    grads = [rng.normal(size=(4, 5)).astype("float32") * s for s in (1.0, 0.1, 2.0, 0.5, 1.0, 0.3, 1.5, 0.2)]
    optimizer = Yogi(**kwargs)
    w = run(optimizer, w0, grads)
    names = {"beta1": "beta1", "beta2": "beta2", "epsilon": "epsilon", "learning_rate": "lr",
             "l1_regularization_strength": "l1", "l2_regularization_strength": "l2",
             "initial_accumulator_value": "initial", "activation": "activation"}
    want_w, want_m, want_v = numpy_yogi(w0, grads, **{names[k]: x for k, x in kwargs.items()})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.get_slot(w, "v")), want_v, rtol=1e-5)
    if kwargs.get("beta1", 0.9) > 0:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.get_slot(w, "m")), want_m, rtol=1e-5, atol=1e-7)
    assert not np.allclose(keras.ops.convert_to_numpy(w), w0, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"beta1": 1.0}, ValueError, r"beta1 must be in \[0, 1\), got 1.0"),
        ({"beta2": -0.1}, ValueError, r"beta2 must be in \[0, 1\), got -0.1"),
        ({"epsilon": -1e-3}, ValueError, r"epsilon must be in \[0, inf\), got -0.001"),
        # tfa ignored negative strengths (its prox step ran only for values > 0)
        ({"l1_regularization_strength": -0.1}, ValueError, r"l1_regularization_strength must be in \[0, inf\)"),
        ({"l2_regularization_strength": -0.1}, ValueError, r"l2_regularization_strength must be in \[0, inf\)"),
        ({"initial_accumulator_value": -1.0}, ValueError, r"initial_accumulator_value must be in \[0, inf\)"),
        ({"initial_accumulator_value": 0.0, "epsilon": 0.0}, ValueError, "both 0.*NaN"),
        # tfa accepted any string and raised NotImplementedError at the first step
        ({"activation": "relu"}, ValueError, r"activation must be one of \('sign', 'tanh'\), got 'relu'"),
        ({"beta_1": 0.9}, TypeError, "unexpected keyword argument 'beta_1'"),
        ({"activation": None}, TypeError, "'activation' must be a str"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        Yogi(**kwargs)


def test_v_starts_at_the_initial_accumulator_value_and_m_at_zero():
    optimizer = Yogi(initial_accumulator_value=0.25)
    w = keras.Variable(np.ones((2, 3), "float32"))
    optimizer.build([w])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.get_slot(w, "v")), np.full((2, 3), 0.25, "float32"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.get_slot(w, "m")), np.zeros((2, 3), "float32"))


@TF_ONLY
def test_v_starts_at_the_initial_value_when_built_inside_a_tf_function():
    """Built lazily by apply() while a tf.function traces: v still starts at the value, once."""
    import tensorflow as tf

    optimizer = Yogi(initial_accumulator_value=0.25)
    w = keras.Variable(np.zeros(3, "float32"))
    step = tf.function(lambda g: optimizer.apply([g], [w]))
    for _ in range(3):
        step(tf.zeros(3))  # a zero gradient leaves v where it started
    np.testing.assert_array_equal(optimizer.get_slot(w, "v").numpy(), np.full(3, 0.25, "float32"))


def test_beta1_zero_keeps_no_first_moment():
    """As tfa: no slot `m`; the step is along the gradient itself."""
    optimizer = Yogi(learning_rate=0.1, beta1=0.0)
    assert optimizer.slot_names == ("v",) and Yogi.slot_names == ("v", "m")
    w = keras.Variable(np.ones(3, "float32"))
    optimizer.build([w])
    assert len(optimizer.variables) == 2 + 1  # iterations, learning rate, v
    with pytest.raises(ValueError, match="has no slot 'm'"):
        optimizer.get_slot(w, "m")


def test_a_zero_gradient_leaves_v_and_moves_w_along_m():
    """sign(g*g - v) * g*g is 0 where g is exactly 0: v keeps its bits; w still moves by r * m."""
    optimizer = Yogi(learning_rate=0.1)
    w = run(optimizer, np.array([1.0, -1.0], "float32"), [np.array([0.5, -2.0], "float32")])
    v1 = keras.ops.convert_to_numpy(optimizer.get_slot(w, "v")).copy()
    w1 = keras.ops.convert_to_numpy(w).copy()
    optimizer.apply([keras.ops.convert_to_tensor(np.zeros(2, "float32"))], [w])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.get_slot(w, "v")), v1)
    m = keras.ops.convert_to_numpy(optimizer.get_slot(w, "m")).astype("float64")
    r = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2) / (np.sqrt(v1.astype("float64")) + 1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), w1 - r * m, rtol=1e-6)


def test_zero_accumulator_and_zero_gradient_stay_finite():
    """initial_accumulator_value=0 (epsilon > 0): sign(0 - 0) = 0 on every backend, v stays 0."""
    optimizer = Yogi(learning_rate=0.1, initial_accumulator_value=0.0)
    w = run(optimizer, np.array([1.0, 2.0], "float32"), [np.array([0.0, 0.5], "float32")] * 2)
    value = keras.ops.convert_to_numpy(w)
    assert value[0] == 1.0 and np.isfinite(value).all() and value[1] < 2.0
    assert keras.ops.convert_to_numpy(optimizer.get_slot(w, "v"))[0] == 0.0


def _sparse_steps(optimizer, start, steps, dense):
    import tensorflow as tf

    table = keras.Variable(start)
    for rows, values in steps:
        values = tf.constant(values)
        grad = tf.IndexedSlices(values, tf.constant(rows), tf.constant(start.shape))
        optimizer.apply([tf.convert_to_tensor(grad) if dense else grad], [table])
    return [table.numpy()] + [optimizer.get_slot(table, s).numpy() for s in ("v", "m")]


@TF_ONLY
def test_sparse_gradients_follow_tfa_m_decays_everywhere_v_and_w_only_in_touched_rows():
    rng = np.random.default_rng(3)
    start = rng.normal(size=(5, 2)).astype("float32")
    first = ([0, 2, 2], rng.normal(size=(3, 2)).astype("float32"))  # row 2 twice: summed
    second = ([1], rng.normal(size=(1, 2)).astype("float32"))
    sparse = _sparse_steps(Yogi(0.1), start, [first], dense=False)
    dense = _sparse_steps(Yogi(0.1), start, [first], dense=True)
    for a, b in zip(sparse, dense):  # m and v start at 0 / the initial value: untouched rows agree
        np.testing.assert_array_equal(a, b)
    w1, v1, m1 = sparse
    w2, v2, m2 = _sparse_steps(Yogi(0.1), start, [first, second], dense=False)
    np.testing.assert_array_equal(m2[[0, 2]], m1[[0, 2]] * np.float32(0.9))  # decayed, not touched
    np.testing.assert_array_equal(v2[[0, 2]], v1[[0, 2]])
    np.testing.assert_array_equal(w2[[0, 2]], w1[[0, 2]])  # tfa: no step outside the gradient's rows
    assert not np.array_equal(w2[1], w1[1])
    dense_w2 = _sparse_steps(Yogi(0.1), start, [first, second], dense=True)[0]
    assert np.abs(dense_w2[[0, 2]] - w1[[0, 2]]).min() > 1e-3  # the dense path steps along m there
    np.testing.assert_array_equal(dense_w2[[1, 3, 4]], w2[[1, 3, 4]])
