"""COCOB: what the tfa golden data (reference/data/cocob.json) cannot show.

A float64 NumPy reference, the absent learning rate (refused, and never read), the slots'
starting values, the first step's closed form and the sparse path (tfa raised
NotImplementedError there; the port updates the gradient's rows).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins.optimizers.cocob import COCOB

TF_ONLY = pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices are TensorFlow's")
SLOTS = ("lr", "grad_norm_sum", "gradients_sum", "tilde_w", "reward")


def numpy_cocob(w, grads, alpha=100.0):
    """Algorithm 2 of Orabona & Tommasi (COCOB-Backprop), tfa's form, in float64."""
    w = w.astype("float64")
    L = np.full_like(w, float(np.float32(1e-8)))
    G, A, R, x = (np.zeros_like(w) for _ in range(4))
    for g in grads:
        g = g.astype("float64")
        L = np.maximum(L, np.abs(g))
        G, A = G + g, A + np.abs(g)
        R = np.maximum(R - g * x, 0.0)
        new_x = -G / (L * np.maximum(A + L, alpha * L)) * (R + L)
        w, x = w - x + new_x, new_x
    return w, {"lr": L, "grad_norm_sum": A, "gradients_sum": G, "tilde_w": x, "reward": R}


def run(optimizer, w0, grads):
    w = keras.Variable(w0)
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return w


def _data(steps=10, shape=(4, 5), seed=5):
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=shape).astype("float32")
    return w0, [rng.normal(size=shape).astype("float32") * s for s in np.linspace(2.0, 0.2, steps)]


@pytest.mark.parametrize("alpha", [100.0, 10.0, 1.0])
def test_steps_match_a_float64_numpy_reference(alpha):
    w0, grads = _data()
    optimizer = COCOB(alpha=alpha)
    w = run(optimizer, w0, grads)
    want_w, want_slots = numpy_cocob(w0, grads, alpha)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), want_w, rtol=1e-5, atol=1e-6)
    for name in SLOTS:
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(optimizer.get_slot(w, name)), want_slots[name], rtol=1e-5, atol=1e-7,
            err_msg=name,
        )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"alpha": 0.5}, ValueError, r"alpha must be in \[1, inf\), got 0.5"),
        # tfa refused learning_rate= (TypeError) and silently ignored lr=
        ({"learning_rate": 0.1}, TypeError, "COCOB takes no learning rate.*learning_rate=0.1"),
        ({"lr": 0.1}, TypeError, "COCOB takes no learning rate.*learning_rate=0.1"),
        ({"weight_decay": 0.01}, ValueError, "weight_decay option is scaled by it; got weight_decay=0.01"),
        ({"use_locking": 1}, TypeError, "'use_locking' must be a bool"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        COCOB(**kwargs)


def test_tfa_config_builds_it_and_its_own_config_has_no_learning_rate():
    tfa_config = {"name": "COCOB", "alpha": 100}  # what tfa 0.23's get_config wrote, all of it
    optimizer = COCOB.from_config(tfa_config)
    assert optimizer.alpha == 100.0 and optimizer.name == "COCOB"
    old_form = kerasopt_plugins.get_optimizer({"class_name": "Addons>COCOB", "config": {"alpha": 50}})
    assert type(old_form) is COCOB and old_form.alpha == 50.0
    config = optimizer.get_config()
    assert config["learning_rate"] is None and config["use_locking"] is False
    assert COCOB.from_config(json.loads(json.dumps(config))).get_config() == config


def test_the_learning_rate_keras_holds_and_decay_never_change_a_step():
    """decay is accepted as tfa accepted it, and like the rate Keras keeps, never read."""
    w0, grads = _data(steps=6)
    plain = run(COCOB(alpha=10.0), w0, grads)
    decayed = COCOB(alpha=10.0, decay=0.5)
    w = keras.Variable(w0)
    for t, g in enumerate(grads):
        if t == 2:
            decayed.learning_rate = 123.0
        decayed.apply([keras.ops.convert_to_tensor(g)], [w])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), keras.ops.convert_to_numpy(plain))


def test_slots_start_as_in_tfa_and_a_zero_first_gradient_stays_finite():
    optimizer = COCOB()
    w = run(optimizer, np.array([1.0, -2.0], "float32"), [np.zeros(2, "float32")])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), [1.0, -2.0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.get_slot(w, "lr")), np.full(2, 1e-8, "float32"))
    for name in SLOTS[1:]:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.get_slot(w, name)), [0.0, 0.0])


@pytest.mark.parametrize("alpha", [100.0, 2.0])
def test_the_first_step_bets_sign_of_the_gradient_over_alpha(alpha):
    """Step 1: L = |g|, max(2|g|, alpha |g|) = alpha |g| (alpha >= 2), R = 0: w moves -sign(g) / alpha."""
    g = np.array([0.5, -3.0, 1e-3, 7.0], "float32")
    w = run(COCOB(alpha=alpha), np.zeros(4, "float32"), [g])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), -np.sign(g) / alpha, rtol=1e-6)


@TF_ONLY
def test_sparse_gradients_update_their_rows_as_the_dense_path_does():
    """tfa raised NotImplementedError; here the touched rows get the dense path's bits (repeated
    indices summed) and the other rows keep their weight and state exactly (the dense path
    recomputes the same bet there: w - x + x, equal up to one rounding)."""
    import tensorflow as tf

    rng = np.random.default_rng(6)
    start = rng.normal(size=(6, 2)).astype("float32")
    steps = [([1, 4, 1], rng.normal(size=(3, 2))), ([0, 4], rng.normal(size=(2, 2))), ([4], rng.normal(size=(1, 2)))]
    results = []
    for dense in (False, True):
        optimizer = COCOB(alpha=5.0)
        w = keras.Variable(start)
        for rows, values in steps:
            g = tf.IndexedSlices(tf.constant(values, tf.float32), tf.constant(rows), tf.constant([6, 2]))
            optimizer.apply([tf.convert_to_tensor(g) if dense else g], [w])
        results.append([w.numpy()] + [optimizer.get_slot(w, s).numpy() for s in SLOTS])
    sparse, dense = results
    np.testing.assert_array_equal(sparse[0][4], dense[0][4])  # touched at every step
    for a, b in zip(sparse[1:], dense[1:]):
        np.testing.assert_array_equal(a, b)  # the state: zero gradients change none of it
    np.testing.assert_array_equal(sparse[0][[2, 3, 5]], start[[2, 3, 5]])  # never touched
    np.testing.assert_allclose(sparse[0], dense[0], rtol=1e-6)
    assert not np.allclose(sparse[0][[0, 1, 4]], start[[0, 1, 4]])
