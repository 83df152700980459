"""AdaBelief: a NumPy reference of tfa's rule, and the facts that pin it down.

What it shares with RectifiedAdam (arguments, warmup, tfa's weight decay, vhat) is tested for
both in test_rectified_adam.py; tfa's own trajectories are replayed in test_tfa_parity.py
(reference/cases/adabelief.py).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from addons.test_rectified_adam import (
    GRADS,
    START,
    TENSORFLOW_ONLY,
    rectifier,
    train,
    warmed_up,
)

from kerasopt_plugins.optimizers.adabelief import AdaBelief
from kerasopt_plugins.optimizers.rectified_adam import RectifiedAdam


def reference_adabelief(w, grads, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-14,
                        weight_decay=0.0, amsgrad=False, rectify=True, sma_threshold=5.0,
                        total_steps=0, warmup_proportion=0.1, min_lr=0.0):
    """tfa 0.23's AdaBelief in float64: the weights after every step."""
    w = w.astype(np.float64)
    m, v, vhat, history = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        lr = learning_rate
        if total_steps > 0:
            lr = warmed_up(learning_rate, t, total_steps, warmup_proportion, min_lr)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * (g - m) ** 2 + epsilon
        vhat = np.maximum(vhat, v) if amsgrad else v
        m_hat, v_hat = m / (1 - beta_1**t), vhat / (1 - beta_2**t)
        sma, r = rectifier(beta_2, t)
        if not rectify:
            u = m_hat / (np.sqrt(v_hat) + epsilon)
        elif sma >= sma_threshold:
            u = r * m_hat / (np.sqrt(v_hat) + epsilon)
        else:
            u = m_hat
        w = w - lr * (u + weight_decay * w)
        history.append(w)
    return history


@pytest.mark.parametrize(
    "config",
    [
        {"learning_rate": 0.01, "beta_2": 0.95},
        {"learning_rate": 0.01, "rectify": False, "epsilon": 1e-8},
        {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.9, "amsgrad": True, "weight_decay": 0.1},
        {"learning_rate": 0.05, "beta_2": 0.95, "total_steps": 12, "warmup_proportion": 0.25,
         "min_lr": 0.001, "weight_decay": 0.01, "epsilon": 1e-10},
    ],
    ids=["rectified_from_step_6", "no_rectify", "amsgrad_weight_decay", "warmup_then_decay"],
)
def test_matches_the_numpy_reference(config):
    history, _ = train(AdaBelief(**config), GRADS)
    for step, (got, want) in enumerate(zip(history, reference_adabelief(START, GRADS, **config)), 1):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=f"after step {step}")


def test_a_gradient_that_matches_its_average_takes_the_largest_steps():
    """beta_1 = 0 makes m = g, so (g - m)^2 = 0 and v holds epsilon alone:
    v_hat = epsilon / (1 - beta_2), and every step is lr g / (sqrt(epsilon / (1 - beta_2)) + epsilon),
    where Adam's would be lr g / |g|."""
    lr, beta_2, epsilon = 1e-3, 0.999, 1e-8
    g = np.array([0.5, -2.0, 3.0], "float32")
    optimizer = AdaBelief(lr, beta_1=0.0, beta_2=beta_2, epsilon=epsilon, rectify=False)
    history, variable = train(optimizer, [g] * 5, start=np.zeros(3, "float32"))
    step = lr * g / (np.sqrt(epsilon / (1 - beta_2)) + epsilon)  # 0.316 g
    np.testing.assert_allclose(history[-1], -5 * step, rtol=1e-4)
    v = ops.convert_to_numpy(optimizer.get_slot(variable, "v"))
    np.testing.assert_allclose(v, epsilon * (1 - beta_2**5) / (1 - beta_2), rtol=1e-5)


def test_below_the_threshold_it_takes_the_same_steps_as_rectified_adam():
    """Steps 1-5 (sma_t < 5 with beta_2 0.999) move by lr * m_hat in both, bit for bit, whatever
    v holds; from step 6 on the two second moments tell them apart."""
    adabelief, _ = train(AdaBelief(0.01), GRADS[:7])
    radam, _ = train(RectifiedAdam(0.01), GRADS[:7])
    assert rectifier(0.999, 5)[0] < 5.0 <= rectifier(0.999, 6)[0]
    for got, want in zip(adabelief[:5], radam[:5]):
        np.testing.assert_array_equal(got, want)
    step_6 = {"adabelief": adabelief[4] - adabelief[5], "radam": radam[4] - radam[5]}
    assert not np.allclose(step_6["adabelief"], step_6["radam"], rtol=0.1)


@TENSORFLOW_ONLY
def test_a_sparse_gradient_adds_epsilon_to_its_rows_of_v_only():
    """tfa's sparse kernel adds (1 - beta_2) (g - m)^2 + epsilon to the gradient's rows and
    decays the others, epsilon-free (the dense kernel adds epsilon to every element)."""
    import tensorflow as tf

    epsilon, beta_2 = 1e-3, 0.9
    table = keras.Variable(START)
    optimizer = AdaBelief(0.01, beta_1=0.0, beta_2=beta_2, epsilon=epsilon)
    optimizer.apply([ops.convert_to_tensor(GRADS[0])], [table])
    v_before = ops.convert_to_numpy(optimizer.get_slot(table, "v")).copy()
    values = tf.constant(GRADS[1][:2])
    optimizer.apply([tf.IndexedSlices(values, tf.constant([1, 3]), tf.constant([4, 5]))], [table])
    v_after = ops.convert_to_numpy(optimizer.get_slot(table, "v"))
    # beta_1 = 0: m = g in the touched rows, so only epsilon is added there
    np.testing.assert_allclose(v_after[[1, 3]], v_before[[1, 3]] * beta_2 + epsilon, rtol=1e-6)
    np.testing.assert_allclose(v_after[[0, 2]], v_before[[0, 2]] * beta_2, rtol=1e-6)
