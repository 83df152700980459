"""ProximalAdagrad: what the tfa golden data (reference/data/proximal_adagrad.json) cannot show.

A float64 NumPy reference of TensorFlow's kernel, argument checks, the accumulator's starting
value, legacy `decay` (tfa applied it but left it out of its config, so the golden data cannot
carry it), equivalences and the sparse path (only the gradient's rows change).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

from kerasopt_plugins.optimizers.proximal_adagrad import ProximalAdagrad

TF_ONLY = pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices and tf.function are TensorFlow's")


def numpy_proximal_adagrad(w, grads, lr=0.001, initial=0.1, l1=0.0, l2=0.0, decay=0.0):
    """FOBOS with Adagrad's per-element rate (TensorFlow's ApplyProximalAdagrad), in float64."""
    lr, initial, l1, l2, decay = (float(np.float32(x)) for x in (lr, initial, l1, l2, decay))
    w = w.astype("float64")
    a = np.full_like(w, initial)
    for t, g in enumerate(grads):
        g = g.astype("float64")
        a = a + g * g
        r = lr / (1 + decay * t) / np.sqrt(a)
        w = w - r * g
        w = np.sign(w) * np.maximum(np.abs(w) - r * l1, 0.0) / (1 + l2 * r)
    return w, a


def run(optimizer, w0, grads):
    w = keras.Variable(w0)
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return w


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.1},
        {"learning_rate": 0.2, "initial_accumulator_value": 0.01, "l1_regularization_strength": 0.3},
        {"learning_rate": 0.1, "l1_regularization_strength": 0.05, "l2_regularization_strength": 0.5},
        {"learning_rate": 0.1, "l2_regularization_strength": 0.5, "decay": 0.3},
    ],
)
def test_steps_match_a_float64_numpy_reference(kwargs):
    rng = np.random.default_rng(11)
    w0 = rng.normal(size=(4, 5)).astype("float32")
    grads = [rng.normal(size=(4, 5)).astype("float32") * s for s in (1.0, 0.1, 2.0, 0.5, 1.0, 0.3, 1.5, 0.2)]
    optimizer = ProximalAdagrad(**kwargs)
    w = run(optimizer, w0, grads)
    names = {"learning_rate": "lr", "initial_accumulator_value": "initial", "decay": "decay",
             "l1_regularization_strength": "l1", "l2_regularization_strength": "l2"}
    want_w, want_a = numpy_proximal_adagrad(w0, grads, **{names[k]: x for k, x in kwargs.items()})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.get_slot(w, "accumulator")), want_a, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # tfa accepted 0, then turned an element whose first gradient is 0 into NaN
        ({"initial_accumulator_value": 0.0}, ValueError, "must be > 0, got 0.0.*NaN"),
        ({"initial_accumulator_value": -0.1}, ValueError, r"initial_accumulator_value must be in \[0, inf\)"),
        ({"l1_regularization_strength": -0.1}, ValueError, r"l1_regularization_strength must be in \[0, inf\)"),
        ({"l2_regularization_strength": float("inf")}, ValueError, "l2_regularization_strength must be a finite"),
        ({"l1": 0.1}, TypeError, "unexpected keyword argument 'l1'"),
        ({"learning_rate": -1.0}, ValueError, r"learning_rate must be in \[0, inf\)"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        ProximalAdagrad(**kwargs)


def test_the_accumulator_starts_at_its_initial_value():
    optimizer = ProximalAdagrad(initial_accumulator_value=0.375)
    w = keras.Variable(np.ones((2, 3), "float32"))
    optimizer.build([w])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(optimizer.get_slot(w, "accumulator")), np.full((2, 3), 0.375, "float32")
    )


@TF_ONLY
def test_the_accumulator_starts_at_its_initial_value_when_built_inside_a_tf_function():
    import tensorflow as tf

    optimizer = ProximalAdagrad(initial_accumulator_value=0.375)
    w = keras.Variable(np.zeros(3, "float32"))
    step = tf.function(lambda g: optimizer.apply([g], [w]))
    for _ in range(3):
        step(tf.zeros(3))
    np.testing.assert_array_equal(optimizer.get_slot(w, "accumulator").numpy(), np.full(3, 0.375, "float32"))


def test_legacy_decay_gives_tfa_numbers_and_stays_in_the_config():
    """tfa 0.23: ProximalAdagrad(0.1, decay=0.5), three steps of g = [0.5, 0.3] from [1, 2]
    gave [0.8453351, 1.8687189] (and 0.0 decay [0.7967022, 1.8251609]); its get_config then
    dropped `decay`, this port keeps it."""
    for decay, tfa_result in ((0.5, [0.8453351, 1.8687189]), (0.0, [0.7967022, 1.8251609])):
        optimizer = ProximalAdagrad(0.1, decay=decay)
        w = run(optimizer, np.array([1.0, 2.0], "float32"), [np.array([0.5, 0.3], "float32")] * 3)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(w), tfa_result, rtol=1e-6)
        assert optimizer.get_config()["decay"] == decay
        again = ProximalAdagrad.from_config(optimizer.get_config())
        w_again = run(again, np.array([1.0, 2.0], "float32"), [np.array([0.5, 0.3], "float32")] * 3)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w_again), keras.ops.convert_to_numpy(w))


def test_without_regularization_it_is_adagrad_without_epsilon():
    """l1 = l2 = 0: Keras's Adagrad(epsilon=0), up to lr * rsqrt(a) against lr / sqrt(a)."""
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(50,)).astype("float32")
    grads = [rng.normal(size=(50,)).astype("float32") for _ in range(10)]
    ours = run(ProximalAdagrad(0.1, initial_accumulator_value=0.2), w0, grads)
    keras_adagrad = run(keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.2, epsilon=0.0), w0, grads)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(keras_adagrad), rtol=1e-6)


def test_l1_sets_small_weights_exactly_to_zero_and_keeps_them_there():
    """The prox step of l1 * |w| is a soft threshold: |w| <= lr * l1 / sqrt(a) gives exactly 0."""
    optimizer = ProximalAdagrad(0.5, initial_accumulator_value=1.0, l1_regularization_strength=0.1)
    w = keras.Variable(np.array([0.04, -0.04, 1.0], "float32"))
    for _ in range(3):
        optimizer.apply([keras.ops.convert_to_tensor(np.array([0.0, 0.01, 0.0], "float32"))], [w])
        value = keras.ops.convert_to_numpy(w)
        assert value[0] == 0.0 and value[1] == 0.0
    # the third element shrinks by lr * l1 / sqrt(1) per step: 1 - 3 * 0.05
    np.testing.assert_allclose(value[2], 0.85, rtol=1e-6)


@TF_ONLY
def test_sparse_gradients_change_only_their_rows():
    """ResourceSparseApplyProximalAdagrad: rows outside the gradient keep w and the accumulator,
    where the dense path shrinks them (l1, l2 > 0); touched rows get the dense path's bits."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    start = rng.normal(size=(5, 3)).astype("float32")
    values = tf.constant(rng.normal(size=(3, 3)).astype("float32"))
    grad = tf.IndexedSlices(values, tf.constant([3, 0, 3]), tf.constant([5, 3]))  # row 3 twice
    results = []
    for g in (grad, tf.convert_to_tensor(grad)):
        optimizer = ProximalAdagrad(0.2, l1_regularization_strength=0.1, l2_regularization_strength=0.2)
        w = keras.Variable(start)
        optimizer.apply([g], [w])
        results.append((w.numpy(), optimizer.get_slot(w, "accumulator").numpy()))
    (sparse_w, sparse_a), (dense_w, dense_a) = results
    np.testing.assert_array_equal(sparse_w[[0, 3]], dense_w[[0, 3]])
    np.testing.assert_array_equal(sparse_a, dense_a)  # a zero gradient adds nothing to a
    np.testing.assert_array_equal(sparse_w[[1, 2, 4]], start[[1, 2, 4]])
    assert (np.abs(dense_w[[1, 2, 4]]) < np.abs(start[[1, 2, 4]]) - 1e-3).all()  # shrunk
