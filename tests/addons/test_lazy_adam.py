"""LazyAdam: what the tfa golden data (test_tfa_parity.py, reference/data/lazy_adam.json) cannot show.

Argument checks, the slots amsgrad adds, the lazy property on TensorFlow (untouched rows of the
weights, `m`, `v` and `vhat` keep their bits; the update is a gather and a scatter of the touched
rows), amsgrad on sparse gradients (tfa ignored it there), dense gradients as Adam's steps on
every backend, and how those steps relate to `keras.optimizers.Adam`'s.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

from kerasopt_plugins.optimizers.lazy_adam import LazyAdam

TF_ONLY = pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
F = np.float32


def numpy_sparse_steps(w, steps, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    """tfa's sparse rule in float32, its operations in its order; `steps` are (rows, values)
    with repeated rows, summed first as Keras 2 did. Returns w, m, v, vhat."""
    w = w.copy()
    m, v, vhat = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    b1, b2, eps, one = F(beta_1), F(beta_2), F(epsilon), F(1)
    for t, (rows, values) in enumerate(steps, start=1):
        unique = list(dict.fromkeys(rows))
        g = np.zeros((len(unique), w.shape[1]), F)
        for r, row in zip(rows, values):
            g[unique.index(r)] += row
        alpha = F(lr) * np.sqrt(one - b2 ** F(t)) / (one - b1 ** F(t))
        m[unique] = b1 * m[unique] + (one - b1) * g
        v[unique] = b2 * v[unique] + (one - b2) * g * g
        denominator = v[unique]
        if amsgrad:
            vhat[unique] = np.maximum(vhat[unique], v[unique])
            denominator = vhat[unique]
        w[unique] -= alpha * m[unique] / (np.sqrt(denominator) + eps)
    return w, m, v, vhat


def numpy_dense_steps(w, grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                      one_minus=None):
    """Keras 2's fused Adam kernel in float32; `one_minus` overrides (1 - beta_1, 1 - beta_2)."""
    w = w.copy()
    m, v, vhat = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    b1, b2, eps, one = F(beta_1), F(beta_2), F(epsilon), F(1)
    c1, c2 = one_minus or (one - b1, one - b2)
    for t, g in enumerate(grads, start=1):
        alpha = F(lr) * np.sqrt(one - b2 ** F(t)) / (one - b1 ** F(t))
        m = m + (g - m) * F(c1)
        v = v + (g * g - v) * F(c2)
        if amsgrad:
            vhat = np.maximum(vhat, v)
        w = w - (m * alpha) / (np.sqrt(vhat if amsgrad else v) + eps)
    return w


def run(optimizer, w0, grads):
    w = keras.Variable(w0)
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return keras.ops.convert_to_numpy(w)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"epsilon": 0}, ValueError, r"epsilon must be > 0, got 0: tensorflow-addons 0.23 silently used 1e-7"),
        ({"epsilon": 0.0}, ValueError, r"pass epsilon=1e-7 for tfa's numbers"),
        ({"epsilon": -1e-3}, ValueError, r"epsilon must be in \(0, inf\), got -0.001"),
        ({"beta_1": 1.0}, ValueError, r"beta_1 must be in \[0, 1\), got 1.0"),
        ({"beta_2": -0.1}, ValueError, r"beta_2 must be in \[0, 1\), got -0.1"),
        ({"amsgrad": "yes"}, TypeError, r"argument 'amsgrad' must be a bool"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        LazyAdam(**kwargs)


def test_amsgrad_adds_the_vhat_slot_and_only_then():
    w = keras.Variable(np.ones((3, 2), "float32"))
    plain, ams = LazyAdam(), LazyAdam(amsgrad=True)
    assert plain.slot_names == ("m", "v") and ams.slot_names == ("m", "v", "vhat")
    for optimizer in (plain, ams):
        optimizer.build([w])
    assert len(ams.variables) - len(plain.variables) == 1
    with pytest.raises(ValueError, match=r"has no slot 'vhat'; its slots are \('m', 'v'\)"):
        plain.get_slot(w, "vhat")


@pytest.mark.parametrize("amsgrad", [False, True])
def test_dense_steps_are_keras_2_adams_fused_kernel(amsgrad):
    """Every backend: the m + (g - m)(1 - beta_1) form, 1 - beta in float32, epsilon hat."""
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(6, 5)).astype("float32")
    grads = [rng.normal(size=(6, 5)).astype("float32") * s for s in (1.0, 3.0, 0.1, 0.5, 2.0, 0.2)]
    kwargs = {"lr": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4, "amsgrad": amsgrad}
    got = run(LazyAdam(kwargs.pop("lr"), **kwargs), w0, grads)
    want = numpy_dense_steps(w0, grads, 0.05, **kwargs)
    # torch's vectorised sqrt is off by 1 ulp on some inputs; elsewhere the bits agree
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


def test_keras_adam_differs_only_by_rounding_one_minus_beta_in_python():
    """keras.optimizers.Adam takes 1 - beta from the Python float (0.001 for 0.999); Keras 2
    and tfa from the float32 beta (0.0009999871, 1.3e-5 away). With betas whose float32
    complement is exact the two give the same bits (torch: within its 1-ulp sqrt)."""
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=(50,)).astype("float32")
    grads = [rng.normal(size=(50,)).astype("float32") for _ in range(6)]
    exact = {"beta_1": 0.5, "beta_2": 0.75}
    same = run(LazyAdam(0.01, **exact), w0, grads), run(keras.optimizers.Adam(0.01, **exact), w0, grads)
    np.testing.assert_allclose(*same, rtol=1e-6 if BACKEND == "torch" else 0, atol=0)
    ours, keras_adam = run(LazyAdam(0.01), w0, grads), run(keras.optimizers.Adam(0.01), w0, grads)
    np.testing.assert_allclose(ours, numpy_dense_steps(w0, grads, 0.01), rtol=1e-6)
    python_rounded = numpy_dense_steps(w0, grads, 0.01, one_minus=(1 - 0.9, 1 - 0.999))
    np.testing.assert_allclose(keras_adam, python_rounded, rtol=1e-6)
    assert not np.array_equal(ours, keras_adam)
    np.testing.assert_allclose(ours, keras_adam, rtol=1e-3, atol=1e-6)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="JAX and torch hand dense gradients")
def test_on_jax_and_torch_gradients_are_dense_so_untouched_rows_move_as_in_adam():
    w0 = np.ones((4, 2), "float32")
    g1 = np.array([[1, 1], [0, 0], [2, 2], [0, 0]], "float32")
    g2 = np.array([[0, 0], [0, 0], [1, 1], [0, 0]], "float32")
    w = run(LazyAdam(0.1), w0, [g1, g2])
    np.testing.assert_array_equal(w, numpy_dense_steps(w0, [g1, g2], 0.1))
    assert w[0, 0] < np.float32(0.9) - 0.05  # row 0 moved again at step 2 (its m had not decayed)


def _table_and_slots(optimizer, table):
    return [keras.ops.convert_to_numpy(x).copy() for x in (table, *(optimizer.get_slot(table, s) for s in optimizer.slot_names))]


@TF_ONLY
@pytest.mark.parametrize("amsgrad", [False, True])
def test_sparse_steps_change_only_the_touched_rows_with_tfas_sparse_rule(amsgrad):
    import tensorflow as tf

    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(40, 3)).astype("float32")
    steps = [([1, 7, 7, 30], 2.0), ([7, 39, 1], 0.1), ([30, 2, 30, 30], 1.0), ([7, 1], 0.01)]
    steps = [(rows, (rng.normal(size=(len(rows), 3)) * s).astype("float32")) for rows, s in steps]
    table = keras.Variable(w0)
    optimizer = LazyAdam(0.05, amsgrad=amsgrad)
    optimizer.build([table])
    step = tf.function(lambda g: optimizer.apply([g], [table]), autograph=False, reduce_retracing=True)
    for rows, values in steps:
        before = _table_and_slots(optimizer, table)
        step(tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant([40, 3])))
        untouched = np.setdiff1d(np.arange(40), rows)
        after = _table_and_slots(optimizer, table)
        for old, new in zip(before, after):
            np.testing.assert_array_equal(new[untouched], old[untouched])
        for old, new in zip(before[:3], after[:3]):  # w, m, v (vhat keeps a larger past v)
            assert np.all(new[rows] != old[rows])
    want = numpy_sparse_steps(w0, steps, 0.05, amsgrad=amsgrad)
    for got, expected in zip(_table_and_slots(optimizer, table), want):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    if amsgrad:  # vhat holds the larger past v where v shrank (rows 1 and 7 after step 2)
        vhat, v = keras.ops.convert_to_numpy(optimizer.get_slot(table, "vhat")), want[2]
        assert np.all(vhat[[1, 7]] > v[[1, 7]])


@TF_ONLY
def test_sparse_update_is_a_gather_and_scatter_of_the_touched_rows():
    """No arithmetic on a whole table: every tensor of the table's shape in the step's graph
    is a read of a variable (which aliases its buffer)."""
    import tensorflow as tf

    rows, width = 1000, 8
    table = keras.Variable(np.ones((rows, width), "float32"))
    optimizer = LazyAdam(amsgrad=True)
    optimizer.build([table])
    gradient = tf.IndexedSlices(tf.ones((4, width)), tf.constant([3, 17, 17, 512]), tf.constant([rows, width]))
    graph = tf.function(lambda g: optimizer.apply([g], [table]), autograph=False).get_concrete_function(gradient).graph
    whole = {
        op.type for op in graph.get_operations()
        for out in op.outputs if out.shape.rank == 2 and out.shape[0] == rows
    }
    assert whole <= {"ReadVariableOp"}, whole
    scatters = [op.type for op in graph.get_operations() if op.type.startswith("ResourceScatter")]
    assert sorted(scatters) == ["ResourceScatterSub", *["ResourceScatterUpdate"] * 3]


@TF_ONLY
def test_first_sparse_step_equals_the_dense_step_later_ones_do_not():
    """From zero state both forms give the same bits; afterwards the dense step decays m and v
    of every row and moves rows the gradient no longer touches, the sparse step does not."""
    import tensorflow as tf

    w0 = np.random.default_rng(6).normal(size=(5, 2)).astype("float32")
    values = [np.array([[1.0, -2.0], [0.5, 0.5]], "float32"), np.array([[3.0, 1.0]], "float32")]
    indices = [[0, 3], [3]]
    results = []
    for sparse in (True, False):
        table, optimizer = keras.Variable(w0), LazyAdam(0.1)
        history = []
        for rows, vals in zip(indices, values):
            g = tf.IndexedSlices(tf.constant(vals), tf.constant(rows), tf.constant([5, 2]))
            optimizer.apply([g if sparse else tf.convert_to_tensor(g)], [table])
            history.append(keras.ops.convert_to_numpy(table).copy())
        results.append(history)
    (sparse_1, sparse_2), (dense_1, dense_2) = results
    np.testing.assert_array_equal(sparse_1, dense_1)
    np.testing.assert_array_equal(sparse_2[0], sparse_1[0])  # row 0 untouched at step 2
    assert np.all(np.abs(dense_2[0] - dense_1[0]) > 1e-3)  # Adam's momentum moves it
