"""The seed optimizers against NumPy references, and the tutorial's claims as exact facts."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND, example_optimizer

from kerasopt_plugins import CMomentumSGD, MomentumSGD, VanillaSGD

STEPS = 25


def gradients(steps=STEPS, shape=(4,), seed=1):
    return np.random.default_rng(seed).normal(size=(steps, *shape)).astype("float32")


def run_keras(opt, grads, w0):
    """Apply each gradient in turn; return the weight after every step (steps+1 rows)."""
    var = keras.Variable(np.array(w0, dtype="float32"))
    path = [keras.ops.convert_to_numpy(var).copy()]
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(g)], [var])
        path.append(keras.ops.convert_to_numpy(var).copy())
    return np.stack(path)


# -- NumPy references, written independently of the implementation ------------------------


def ref_lr(lr, decay, t):
    return lr / (1.0 + decay * t)


def ref_vanilla(grads, w0, lr, decay=0.0):
    w = np.array(w0, dtype=np.float64)
    path = [w.copy()]
    for t, g in enumerate(grads):
        w = w - ref_lr(lr, decay, t) * g
        path.append(w.copy())
    return np.stack(path)


def ref_momentum(grads, w0, lr, beta, decay=0.0, centered=False):
    w = np.array(w0, dtype=np.float64)
    m = np.zeros_like(w)
    path = [w.copy()]
    for t, g in enumerate(grads):
        m = beta * m + (1.0 - beta) * g
        step = m / (1.0 - beta ** (t + 1)) if centered else m
        w = w - ref_lr(lr, decay, t) * step
        path.append(w.copy())
    return np.stack(path)


W0 = [0.5, -1.0, 2.0, 0.0]


@pytest.mark.parametrize("decay", [0.0, 0.3])
def test_vanilla_sgd_matches_numpy(decay):
    g = gradients()
    got = run_keras(VanillaSGD(learning_rate=0.1, decay=decay), g, W0)
    np.testing.assert_allclose(got, ref_vanilla(g, W0, 0.1, decay), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta,decay", [(0.0, 0.0), (0.9, 0.0), (0.5, 0.2)])
def test_momentum_sgd_matches_numpy(beta, decay):
    g = gradients()
    got = run_keras(MomentumSGD(learning_rate=0.1, momentum=beta, decay=decay), g, W0)
    np.testing.assert_allclose(got, ref_momentum(g, W0, 0.1, beta, decay), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta,decay,centered", [(0.9, 0.0, True), (0.5, 0.2, True), (0.9, 0.0, False)])
def test_cmomentum_sgd_matches_numpy(beta, decay, centered):
    g = gradients()
    opt = CMomentumSGD(learning_rate=0.1, momentum=beta, decay=decay, centered=centered)
    got = run_keras(opt, g, W0)
    want = ref_momentum(g, W0, 0.1, beta, decay, centered=centered)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_slot_m_holds_the_moving_average():
    g = gradients()
    var = keras.Variable(np.array(W0, dtype="float32"))
    opt = MomentumSGD(learning_rate=0.1, momentum=0.8)
    m = np.zeros(4)
    for step in g:
        opt.apply([keras.ops.convert_to_tensor(step)], [var])
        m = 0.8 * m + 0.2 * step
    np.testing.assert_allclose(keras.ops.convert_to_numpy(opt.get_slot(var, "m")), m, rtol=1e-5, atol=1e-6)


# -- the tutorial's claims ------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_momentum_sgd_is_keras_sgd_with_scaled_learning_rate(beta):
    g = gradients(steps=40)
    ours = run_keras(MomentumSGD(learning_rate=0.05, momentum=beta), g, W0)
    theirs = run_keras(keras.optimizers.SGD(learning_rate=0.05 * (1 - beta), momentum=beta), g, W0)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6)


def test_under_a_constant_gradient_cmomentum_follows_vanilla_and_momentum_lags():
    g = np.ones((30, 4), dtype="float32")
    vanilla = run_keras(VanillaSGD(learning_rate=0.1), g, W0)
    centered = run_keras(CMomentumSGD(learning_rate=0.1, momentum=0.9), g, W0)
    plain = run_keras(MomentumSGD(learning_rate=0.1, momentum=0.9), g, W0)
    np.testing.assert_allclose(centered, vanilla, rtol=1e-6, atol=1e-6)
    travelled_plain = np.abs(plain[1:] - plain[0])
    travelled_vanilla = np.abs(vanilla[1:] - vanilla[0])
    assert np.all(travelled_plain < travelled_vanilla)
    # the lag is exactly the missing bias correction: sum of (1 - 0.9^k) steps of size lr
    k = np.arange(1, 31)
    np.testing.assert_allclose(travelled_plain[:, 0], 0.1 * np.cumsum(1 - 0.9**k), rtol=1e-5)


def test_centered_is_forced_off_without_momentum():
    opt = CMomentumSGD(momentum=0.0, centered=True)
    assert opt.centered is False
    assert opt.get_config()["centered"] is False
    assert CMomentumSGD(momentum=0.5).centered is True
    assert CMomentumSGD(momentum=0.5, centered=False).centered is False


def test_decay_follows_inverse_time():
    lr, decay = 0.2, 0.5
    opt = VanillaSGD(learning_rate=lr, decay=decay)
    g = np.ones((10, 1), dtype="float32")
    path = run_keras(opt, g, [0.0])
    applied = path[:-1, 0] - path[1:, 0]
    np.testing.assert_allclose(applied, [lr / (1 + decay * t) for t in range(10)], rtol=1e-6)
    np.testing.assert_allclose([opt.learning_rate_at(t) for t in range(10)], applied, rtol=1e-6)
    # after 10 steps the property shows the rate of step 10
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(opt.learning_rate)), lr / 6.0, rtol=1e-6)


def test_decay_composes_with_a_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9)
    opt = VanillaSGD(learning_rate=schedule, decay=0.5)
    path = run_keras(opt, np.ones((6, 1), dtype="float32"), [0.0])
    applied = path[:-1, 0] - path[1:, 0]
    want = [0.1 * 0.9**t / (1 + 0.5 * t) for t in range(6)]
    np.testing.assert_allclose(applied, want, rtol=1e-5)
    np.testing.assert_allclose([opt.learning_rate_at(t) for t in range(6)], want, rtol=1e-5)


def _applying(optimizer, variables):
    return lambda g: optimizer.apply(g, variables)  # the variables closed over, not arguments


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="compiled TensorFlow graphs (tf.function, XLA); the eager comparison with fast_paths on "
    "and off, on every backend, is tests/optimizers/test_fast_paths.py's",
)
@pytest.mark.parametrize("jit_compile", [False, True], ids=["tf-function", "xla"])
@pytest.mark.parametrize(
    "name, kernel",
    [
        ("momentum_sgd", "ResourceApplyMomentum"),
        ("cmomentum_sgd", "ResourceApplyMomentum"),
        ("vanilla_sgd", "ResourceApplyGradientDescent"),
    ],
)
def test_fused_kernel_path_is_bit_identical_to_the_keras_ops_path(name, kernel, jit_compile):
    """In a tf.function (with and without XLA) on TensorFlow's CPU, ema_momentum_step and
    sgd_step run as fused kernels; they change nothing."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    start = [rng.normal(size=s).astype(np.float32) for s in [(5, 3), (3,)]]
    grads = [[rng.normal(size=w.shape).astype(np.float32) for w in start] for _ in range(20)]
    results = {}
    for fast in (True, False):
        variables = [keras.Variable(w) for w in start]
        optimizer = example_optimizer(name, decay=0.01)
        optimizer.fast_paths = fast
        optimizer.build(variables)
        step = tf.function(_applying(optimizer, variables), jit_compile=jit_compile)
        for g in grads:
            step([keras.ops.convert_to_tensor(x) for x in g])
        graph = step.get_concrete_function([keras.ops.convert_to_tensor(x) for x in grads[0]]).graph
        assert (kernel in {op.type for op in graph.get_operations()}) == fast  # the kernel ran, or did not
        results[fast] = [keras.ops.convert_to_numpy(x) for x in variables + list(optimizer.variables)]
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)
