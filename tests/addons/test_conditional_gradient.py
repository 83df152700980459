"""ConditionalGradient: what the tfa golden data (reference/data/conditional_gradient.json) cannot show.

What tfa could not run or ran wrongly: a schedule learning rate (tfa crashed), legacy decay (tfa
ignored it), ord="nuclear" on dense variables of every rank (tfa crashed on rank 3; the golden
data has it on the sparse problem only); argument checks; no slot; the sparse path on TensorFlow.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins.optimizers.conditional_gradient import ConditionalGradient

TF_ONLY = pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")


def numpy_steps(w, grads, lrs, lambda_, epsilon=1e-7, ord="fro"):
    """The rule in float64: w <- lr w - (1 - lr) lambda_ s, lrs one rate per step."""
    w = w.astype("float64")
    for lr, g in zip(lrs, grads):
        g = g.astype("float64")
        if ord == "fro":
            s = g / (np.sqrt(np.sum(g * g)) + epsilon)
        else:
            u, _, vh = np.linalg.svd(g.reshape((1,) * (2 - g.ndim) + g.shape))
            s = np.outer(u[:, 0], vh[0]).reshape(g.shape)
        w = lr * w - (1 - lr) * lambda_ * s
    return w


def run(optimizer, w0, grads):
    w = keras.Variable(w0)
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return keras.ops.convert_to_numpy(w)


def grads_like(shape, count=6, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=shape) * s).astype("float32") for s in (1.0, 0.2, 3.0, 0.5, 1.0, 2.0)[:count]]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"ord": "spectral"}, ValueError, r"ord must be one of \('fro', 'nuclear'\), got 'spectral'"),
        ({"epsilon": 0.0}, ValueError, r"epsilon must be > 0, got 0.0: tensorflow-addons 0.23 silently used 1e-7"),
        ({"lambda_": -1.0}, ValueError, r"lambda_ must be in \[0, inf\), got -1.0"),
        ({"ord": None}, TypeError, r"argument 'ord' must be a str"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        ConditionalGradient(0.5, **kwargs)


def test_no_slot_is_kept():
    w = keras.Variable(np.ones((3, 4), "float32"))
    optimizer = ConditionalGradient(0.5)
    optimizer.build([w])
    assert optimizer.slot_names == ()
    assert all(len(v.shape) == 0 for v in optimizer.variables)  # the step count and the rate


@pytest.mark.parametrize("shape", [(), (7,), (4, 5)])
def test_nuclear_steps_use_the_top_singular_vectors(shape):
    """A vector is a one-row matrix (s = g / ||g||, no epsilon), a scalar a 1x1 one (s = sign g)."""
    w0 = np.random.default_rng(1).normal(size=shape).astype("float32")
    grads = grads_like(shape)
    got = run(ConditionalGradient(0.8, lambda_=2.0, ord="nuclear"), w0, grads)
    np.testing.assert_allclose(got, numpy_steps(w0, grads, [0.8] * 6, 2.0, ord="nuclear"), rtol=1e-5, atol=1e-6)
    if len(shape) == 1:
        fro = run(ConditionalGradient(0.8, lambda_=2.0, epsilon=1e-30), w0, grads)
        np.testing.assert_allclose(got, fro, rtol=1e-6, atol=1e-7)


def test_nuclear_differs_from_frobenius_on_matrices():
    w0, grads = np.zeros((4, 5), "float32"), grads_like((4, 5), count=1)
    nuclear = run(ConditionalGradient(0.5, lambda_=1.0, ord="nuclear"), w0, grads)
    fro = run(ConditionalGradient(0.5, lambda_=1.0), w0, grads)
    assert np.linalg.matrix_rank(nuclear, tol=1e-6) == 1  # -(1 - lr) lambda_ u1 v1^T
    np.testing.assert_allclose(np.linalg.norm(nuclear, ord="nuc"), 0.5, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fro), 0.5, rtol=1e-5)
    assert np.linalg.matrix_rank(fro, tol=1e-6) == 4


def test_nuclear_refuses_variables_of_rank_3_at_build():
    optimizer = ConditionalGradient(0.5, ord="nuclear")
    with pytest.raises(ValueError, match=r"rank 0, 1 or 2 .* has shape \(2, 3, 2\) .*tfa 0.23 crashed"):
        optimizer.build([keras.Variable(np.ones((2, 3), "float32")), keras.Variable(np.ones((2, 3, 2), "float32"))])
    ConditionalGradient(0.5).build([keras.Variable(np.ones((2, 3, 2), "float32"))])  # fro: any rank


def test_a_schedule_learning_rate_works_where_tfa_crashed():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.9, decay_steps=2, decay_rate=0.5)
    w0, grads = np.random.default_rng(2).normal(size=(3, 4)).astype("float32"), grads_like((3, 4))
    got = run(ConditionalGradient(schedule, lambda_=1.5), w0, grads)
    rates = [float(keras.ops.convert_to_numpy(schedule(t))) for t in range(6)]
    np.testing.assert_allclose(got, numpy_steps(w0, grads, rates, 1.5), rtol=1e-5, atol=1e-6)
    constant = run(ConditionalGradient(0.9, lambda_=1.5), w0, grads)
    assert np.max(np.abs(constant - got)) > 0.1


def test_legacy_decay_is_applied_where_tfa_ignored_it():
    w0, grads = np.random.default_rng(3).normal(size=(5,)).astype("float32"), grads_like((5,))
    got = run(ConditionalGradient(0.9, lambda_=1.0, decay=0.5), w0, grads)
    rates = [0.9 / (1 + 0.5 * t) for t in range(6)]
    np.testing.assert_allclose(got, numpy_steps(w0, grads, rates, 1.0), rtol=1e-5, atol=1e-6)
    tfa_like = run(ConditionalGradient(0.9, lambda_=1.0), w0, grads)
    assert np.max(np.abs(tfa_like - got)) > 0.1


def test_dense_frobenius_steps_match_numpy_on_every_backend():
    w0, grads = np.random.default_rng(4).normal(size=(2, 3, 2)).astype("float32"), grads_like((2, 3, 2))
    got = run(ConditionalGradient(0.7, lambda_=3.0, epsilon=1e-2), w0, grads)
    np.testing.assert_allclose(got, numpy_steps(w0, grads, [0.7] * 6, 3.0, epsilon=1e-2), rtol=1e-5, atol=1e-6)


@TF_ONLY
@pytest.mark.parametrize("ord", ["fro", "nuclear"])
def test_sparse_steps_change_only_the_touched_rows(ord):
    """tfa's sparse path: s from the touched rows' summed gradient alone; other rows keep
    their bits (the dense path would shrink them by lr)."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(20, 3)).astype("float32")
    table = keras.Variable(w0)
    optimizer = ConditionalGradient(0.6, lambda_=2.0, ord=ord)
    rows, values = [4, 9, 4, 17], rng.normal(size=(4, 3)).astype("float32")
    optimizer.apply([tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant([20, 3]))], [table])
    got = keras.ops.convert_to_numpy(table)
    untouched = np.setdiff1d(np.arange(20), rows)
    np.testing.assert_array_equal(got[untouched], w0[untouched])
    summed = np.stack([values[0] + values[2], values[1], values[3]])
    want = numpy_steps(w0[[4, 9, 17]], [summed], [0.6], 2.0, ord=ord)
    np.testing.assert_allclose(got[[4, 9, 17]], want, rtol=1e-5, atol=1e-6)


def test_registered_under_its_name_and_tfa_key():
    for name in ("conditional_gradient", "Addons>ConditionalGradient"):
        assert type(kerasopt_plugins.get_optimizer(name)) is ConditionalGradient
