"""extend_with_decoupled_weight_decay: tfa's decoupled decay for Keras's and this package's optimizers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins.addons import optimizers as tfa_optimizers
from kerasopt_plugins.wrappers import Lookahead, extend_with_decoupled_weight_decay

RNG = np.random.default_rng(11)
INIT = {"dense/kernel": RNG.normal(size=(3, 2)).astype("float32"), "dense/bias": RNG.normal(size=(2,)).astype("float32")}
GRADS = [{k: RNG.normal(size=v.shape).astype("float32") for k, v in INIT.items()} for _ in range(8)]


def run(optimizer, grads=GRADS):
    variables = []
    for path, value in INIT.items():
        layer, name = path.split("/")
        with keras.name_scope(layer):
            variables.append(keras.Variable(value.copy(), name=name))
    assert [v.path for v in variables] == list(INIT)
    for step in grads:
        optimizer.apply([keras.ops.convert_to_tensor(step[v.path]) for v in variables], variables)
    return [v.numpy() for v in variables]


def test_extended_sgd_is_tfas_sgdw():
    SGDW = extend_with_decoupled_weight_decay(keras.optimizers.SGD)
    extended = run(SGDW(0.05, learning_rate=0.1, momentum=0.9))
    port = run(tfa_optimizers.SGDW(weight_decay=0.05, learning_rate=0.1, momentum=0.9))
    for a, b in zip(extended, port):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_decay_is_not_scaled_by_the_learning_rate_and_comes_before_the_step():
    # Adam's step does not depend on w, so w_t = (1 - wd) * w_{t-1} + (Adam's step)
    AdamWD = extend_with_decoupled_weight_decay(keras.optimizers.Adam)
    decayed = run(AdamWD(0.1, learning_rate=1e-3), grads=GRADS[:1])
    plain = run(keras.optimizers.Adam(1e-3), grads=GRADS[:1])
    for init, a, b in zip(INIT.values(), decayed, plain):
        np.testing.assert_allclose(a, b - np.float32(0.1) * init, rtol=1e-6, atol=1e-7)


def test_excluded_variables_follow_the_plain_optimizer_exactly():
    AdamWD = extend_with_decoupled_weight_decay(keras.optimizers.Adam)
    decayed = run(AdamWD(0.1, learning_rate=0.01, exclude_from_weight_decay=["bias"]))
    plain = run(keras.optimizers.Adam(0.01))
    np.testing.assert_array_equal(decayed[1], plain[1])  # dense/bias: excluded
    assert not np.allclose(decayed[0], plain[0], rtol=1e-3)


def test_a_weight_decay_schedule_is_read_at_the_steps_already_applied():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    SGDWD = extend_with_decoupled_weight_decay(keras.optimizers.SGD)
    zero = [{k: np.zeros_like(v) for k, v in INIT.items()} for _ in range(3)]
    got = run(SGDWD(schedule, learning_rate=0.1), grads=zero)
    factor = np.float32(1.0)
    for t in range(3):  # wd(t) = 0.2 * 0.5**t, with zero gradients only the decay moves w
        factor *= np.float32(1) - np.float32(0.2 * 0.5**t)
    for init, value in zip(INIT.values(), got):
        np.testing.assert_allclose(value, init * factor, rtol=1e-6)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
def test_a_sparse_gradient_decays_its_rows_once_and_leaves_the_others():
    import tensorflow as tf

    SGDWD = extend_with_decoupled_weight_decay(keras.optimizers.SGD)
    optimizer = SGDWD(0.5, learning_rate=0.1)
    table = keras.Variable(np.ones((4, 2), "float32"), name="table")
    grad = tf.IndexedSlices(tf.constant([[1.0, 1.0], [2.0, 2.0]]), tf.constant([1, 1]), tf.constant([4, 2]))
    optimizer.apply([grad], [table])
    # row 1: decayed once (1 - 0.5 = 0.5), then the summed gradient 3: 0.5 - 0.1 * 3 = 0.2
    np.testing.assert_allclose(table.numpy(), [[1, 1], [0.2, 0.2], [1, 1], [1, 1]], rtol=1e-6)


def test_plugin_optimizers_extend_too_and_keep_their_own_arguments():
    MomentumSGDW = extend_with_decoupled_weight_decay(kerasopt_plugins.MomentumSGD)
    optimizer = MomentumSGDW(0.01, learning_rate=0.1, momentum=0.8)
    config = optimizer.get_config()
    assert (config["weight_decay"], config["momentum"], config["exclude_from_weight_decay"]) == (0.01, 0.8, None)
    again = type(optimizer).from_config(config)
    assert again.get_config() == config
    run(optimizer)


def test_extending_is_cached_registered_and_done_for_keras_and_package_classes_at_import():
    AdamWD = extend_with_decoupled_weight_decay(keras.optimizers.Adam)
    assert extend_with_decoupled_weight_decay(keras.optimizers.Adam) is AdamWD
    assert AdamWD.__name__ == "AdamWithDecoupledWeightDecay"
    for builtin in ("SGD", "Adam", "RMSprop", "Lion", "Nadam", "MomentumSGD", "Yogi"):
        name = f"kerasopt_plugins>{builtin}WithDecoupledWeightDecay"
        assert keras.saving.get_registered_object(name) is not None, name
    assert keras.saving.get_registered_name(AdamWD) == "kerasopt_plugins>AdamWithDecoupledWeightDecay"
    # on torch the class keeps Keras's multi-tensor Adam kernels
    assert isinstance(AdamWD(0.1), type(keras.optimizers.Adam()))


@pytest.mark.parametrize(
    "base, error, match",
    [
        (tfa_optimizers.SGDW, ValueError, "SGDW has decoupled weight decay already"),
        (Lookahead, ValueError, "Lookahead wraps another optimizer; extend the inner optimizer's class"),
        ("adam", TypeError, "base_optimizer must be a keras.optimizers.Optimizer subclass, got 'adam'"),
    ],
)
def test_what_cannot_be_extended_is_refused(base, error, match):
    with pytest.raises(error, match=match):
        extend_with_decoupled_weight_decay(base)


def test_bad_weight_decay_is_refused_at_construction():
    AdamWD = extend_with_decoupled_weight_decay(keras.optimizers.Adam)
    with pytest.raises(ValueError, match="weight_decay"):
        AdamWD(-0.1)
    with pytest.raises(TypeError, match="exclude_from_weight_decay must be a list"):
        AdamWD(0.1, exclude_from_weight_decay="bias")


def test_tfa_configs_of_an_extended_class_whose_base_is_unknown_say_what_to_do():
    config = {"class_name": "OptimizerWithDecoupledWeightDecay", "config": {"name": "MyAdam", "weight_decay": 0.1}}
    with pytest.raises(ValueError, match=r"with name 'MyAdam', which is not a Keras optimizer class.*custom_object_scope"):
        keras.optimizers.deserialize(config)
    with keras.saving.custom_object_scope(
        {"OptimizerWithDecoupledWeightDecay": extend_with_decoupled_weight_decay(keras.optimizers.Adam)}
    ):
        optimizer = keras.optimizers.deserialize(config)
    assert float(optimizer.weight_decay) == 0.1 and optimizer.name == "MyAdam"
