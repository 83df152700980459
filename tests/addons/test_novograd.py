"""NovoGrad: what test_tfa_parity.py's replay of reference/data/novograd.json cannot show.

tfa's cases with amsgrad or legacy decay (reference/data/novograd_kwargs.json: tfa's config
drops both, so they are replayed here from the constructor arguments), loading tfa's config,
argument checks, the per-variable scalar slots, the first step's `v`, and the sparse path on
TensorFlow, amsgrad included (where tfa crashed).
"""

from __future__ import annotations

import copy
import json
import pathlib

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins.optimizers.novograd import NovoGrad

TF_ONLY = pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
F = np.float32
DATA = json.loads((pathlib.Path(__file__).parent / "reference" / "data" / "novograd.json").read_text())


def test_tfas_config_without_amsgrad_and_decay_loads_as_tfa_reloaded_it():
    case = DATA["cases"]["amsgrad"]
    assert "amsgrad" not in case["tfa_config"] and "decay" not in case["tfa_config"]
    for config in (case["serialized"], {"class_name": "Addons>NovoGrad", "config": case["tfa_config"]}):
        optimizer = keras.optimizers.deserialize(copy.deepcopy(config))
        assert type(optimizer) is NovoGrad
        assert optimizer.amsgrad is False and optimizer.decay == 0.0
        assert optimizer.slot_names == ("m", "v")


def test_the_ports_config_keeps_amsgrad_and_decay():
    optimizer = NovoGrad(0.01, amsgrad=True, decay=0.1, weight_decay=0.01)
    config = json.loads(json.dumps(keras.optimizers.serialize(optimizer)))
    again = keras.optimizers.deserialize(config)
    assert again.amsgrad is True and again.decay == 0.1 and again.weight_decay == 0.01
    assert again.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"epsilon": 0}, ValueError, r"epsilon must be > 0, got 0: tensorflow-addons 0.23 silently used 1e-7"),
        ({"epsilon": -1.0}, ValueError, r"epsilon must be in \(0, inf\), got -1.0"),
        ({"weight_decay": -0.1}, ValueError, r"weight_decay must be in \[0, inf\), got -0.1"),
        ({"beta_1": 1.5}, ValueError, r"beta_1 must be in \[0, 1\], got 1.5"),
        ({"beta_2": -0.5}, ValueError, r"beta_2 must be in \[0, 1\], got -0.5"),
        ({"grad_averaging": 1}, TypeError, r"argument 'grad_averaging' must be a bool"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        NovoGrad(**kwargs)


def test_v_and_vhat_are_one_scalar_per_variable_and_building_again_adds_nothing():
    variables = [keras.Variable(np.ones((4, 3), "float32")), keras.Variable(np.ones((5,), "float32"))]
    optimizer = NovoGrad(amsgrad=True)
    optimizer.build(variables)
    count = len(optimizer.variables)
    optimizer.build(variables)
    assert len(optimizer.variables) == count
    for w in variables:
        assert tuple(optimizer.get_slot(w, "m").shape) == tuple(w.shape)
        assert tuple(optimizer.get_slot(w, "v").shape) == ()
        assert tuple(optimizer.get_slot(w, "vhat").shape) == ()
    state = sum(int(np.prod(v.shape)) for v in optimizer.variables if len(v.shape))
    assert state == 12 + 5  # m only: v and vhat are scalars


def test_first_step_sets_v_to_the_squared_norm_then_averages():
    """tfa starts v at ||g||^2 (not (1 - beta_2) ||g||^2): the first step's d is g / ||g||."""
    g1, g2 = np.array([3.0, 4.0], "float32"), np.array([1.0, 0.0], "float32")
    w = keras.Variable(np.zeros(2, "float32"))
    optimizer = NovoGrad(0.1, beta_1=0.5, beta_2=0.9, epsilon=1e-7)
    optimizer.apply([keras.ops.convert_to_tensor(g1)], [w])
    assert float(keras.ops.convert_to_numpy(optimizer.get_slot(w, "v"))) == 25.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), -0.1 * g1 / 5.0, rtol=1e-6)
    optimizer.apply([keras.ops.convert_to_tensor(g2)], [w])
    assert float(keras.ops.convert_to_numpy(optimizer.get_slot(w, "v"))) == pytest.approx(0.9 * 25 + 0.1 * 1)


def numpy_sparse_steps(w, steps, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0,
                       grad_averaging=False, amsgrad=False):
    """tfa's sparse rule in float64 with a scalar vhat (tfa's crashed); repeated rows summed."""
    w = w.astype("float64")
    m = np.zeros_like(w)
    v = vhat = 0.0
    b1, b2 = float(F(beta_1)), float(F(beta_2))
    for t, (rows, values) in enumerate(steps):
        unique = list(dict.fromkeys(rows))
        g = np.zeros((len(unique), w.shape[1]))
        for r, row in zip(rows, values):
            g[unique.index(r)] += row
        norm2 = float(np.sum(g * g))
        v = norm2 if t == 0 else b2 * v + (1 - b2) * norm2
        vhat = max(vhat, v)
        d = g / (np.sqrt(vhat if amsgrad else v) + epsilon) + weight_decay * w[unique]
        if grad_averaging and t > 0:
            d = d * (1 - b1)
        m[unique] = b1 * m[unique] - lr * d
        w[unique] += m[unique]
    return w, m, v, vhat


@TF_ONLY
@pytest.mark.parametrize("amsgrad", [False, True])
def test_sparse_steps_change_only_the_touched_rows(amsgrad):
    import tensorflow as tf

    rng = np.random.default_rng(8)
    w0 = rng.normal(size=(30, 3)).astype("float32")
    steps = [([1, 7, 7, 20], 3.0), ([7, 29], 0.1), ([20, 2, 20], 1.0), ([7, 1], 0.05)]
    steps = [(rows, (rng.normal(size=(len(rows), 3)) * s).astype("float32")) for rows, s in steps]
    kwargs = {"beta_1": 0.8, "beta_2": 0.5, "weight_decay": 0.05, "grad_averaging": True, "amsgrad": amsgrad}
    table = keras.Variable(w0)
    optimizer = NovoGrad(0.05, **kwargs)
    optimizer.build([table])
    step = tf.function(lambda g: optimizer.apply([g], [table]), autograph=False, reduce_retracing=True)
    for rows, values in steps:
        before = [keras.ops.convert_to_numpy(x).copy() for x in (table, optimizer.get_slot(table, "m"))]
        step(tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant([30, 3])))
        untouched = np.setdiff1d(np.arange(30), rows)
        for old, x in zip(before, (table, optimizer.get_slot(table, "m"))):
            new = keras.ops.convert_to_numpy(x)
            np.testing.assert_array_equal(new[untouched], old[untouched])
            assert np.all(new[rows] != old[rows])
    w, m, v, vhat = numpy_sparse_steps(w0, steps, 0.05, **kwargs)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(table), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.get_slot(table, "m")), m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.get_slot(table, "v")), v, rtol=1e-5)
    if amsgrad:
        assert vhat > 2 * v  # v shrank after the large first gradient: amsgrad changed the steps
        np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.get_slot(table, "vhat")), vhat, rtol=1e-5)
        plain = numpy_sparse_steps(w0, steps, 0.05, **{**kwargs, "amsgrad": False})[0]
        assert np.max(np.abs(plain - w)) > 1e-3


def test_keras_weight_decay_pass_is_off_novograds_own_is_used():
    w0 = np.array([1.0, -2.0], "float32")
    g = np.array([0.0, 0.0], "float32")
    w = keras.Variable(w0)
    NovoGrad(0.1, weight_decay=0.5, epsilon=1.0).apply([keras.ops.convert_to_tensor(g)], [w])
    # d = 0 / (0 + 1) + 0.5 w; m = -0.1 d; w + m = 0.95 w (Keras's pass would add lr*wd*w again)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), 0.95 * w0, rtol=1e-6)


def test_registered_under_its_names_and_tfa_key():
    for name in ("novograd", "novo_grad", "Addons>NovoGrad"):
        assert type(kerasopt_plugins.get_optimizer(name)) is NovoGrad
