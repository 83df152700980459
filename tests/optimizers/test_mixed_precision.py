"""Mixed precision: slot dtypes as Keras's own optimizers make them, loss scaling, SlotLogger."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import example_optimizer, regression_data

from kerasopt_plugins import list_optimizers
from kerasopt_plugins.callbacks import SlotLogger


@pytest.fixture
def policy():
    before = keras.config.dtype_policy()
    yield lambda name: keras.config.set_dtype_policy(name)
    keras.config.set_dtype_policy(before)


def model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh", name="hidden"),
         keras.layers.Dense(1, name="out", dtype="float32")], name="net"
    )


@pytest.mark.parametrize("name", list_optimizers())
@pytest.mark.parametrize("dtype_policy", ["mixed_float16", "mixed_bfloat16"])
def test_fit_under_mixed_policy_matches_float32(policy, dtype_policy, name):
    x, y = regression_data(64)
    policy("float32")
    reference = model()
    reference.compile(example_optimizer(name), "mse")
    reference.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)

    policy(dtype_policy)
    mixed = model()
    optimizer = example_optimizer(name)
    if dtype_policy == "mixed_float16":
        # Keras would wrap it itself with an initial scale of 2**15, whose first steps overflow
        # and are skipped; a small scale keeps every step, so the float32 run is comparable.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=8.0)
    mixed.compile(optimizer, "mse")
    logger = SlotLogger(statistics=["l2"])
    mixed.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[logger])

    wrapped = isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    assert wrapped == (dtype_policy == "mixed_float16")
    inner = mixed.optimizer.inner_optimizer if wrapped else mixed.optimizer
    # master weights stay float32, and so do the slots — as for Keras's own SGD
    keras_sgd = keras.optimizers.SGD(0.01, momentum=0.9)
    keras_sgd.build(mixed.trainable_variables)
    for variable, sgd_slot in zip(mixed.trainable_variables, keras_sgd.momentums):
        assert variable.dtype == "float32"
        for slot in inner.slot_names:
            assert inner.get_slot(variable, slot).dtype == sgd_slot.dtype == "float32"
    # training matches float32 to the precision of the compute dtype
    for a, b in zip(mixed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, atol=3e-2 if dtype_policy == "mixed_bfloat16" else 5e-3)
    # the logger saw through the wrapper: a slot per variable, or only counts without slots
    assert [r["iteration"] for r in logger.records] == list(range(1, 9))  # no step skipped
    assert len(logger.records[0]) == 2 + len(inner.slot_names) * len(mixed.trainable_variables)


def test_keras_wraps_plugin_optimizers_for_mixed_float16_and_skipped_steps_are_not_counted(policy):
    policy("mixed_float16")
    x, y = regression_data(64)
    net = model()
    net.compile(example_optimizer("momentum_sgd"), "mse")  # Keras wraps it: initial scale 2**15
    logger, steps = SlotLogger(statistics=["l2"]), __import__("kerasopt_plugins").callbacks.IterationLogger()
    net.fit(x * 1e3, y * 1e3, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[logger, steps])
    assert isinstance(net.optimizer, keras.optimizers.LossScaleOptimizer)
    applied = int(keras.ops.convert_to_numpy(net.optimizer.inner_optimizer.iterations))
    assert applied < 8  # large losses at scale 2**15 overflow float16: those steps are skipped
    # the loggers report the inner optimizer's own count, read on the device at each step
    assert [r["iteration"] for r in steps.records][-1] == applied
    assert [r["iteration"] for r in logger.records] == [r["iteration"] for r in steps.records]


@pytest.mark.parametrize("name", list_optimizers())
def test_float16_variables_get_float16_slots_like_keras(name):
    variables = [keras.Variable(np.ones((3, 2)), dtype="float16"), keras.Variable(np.ones(2), dtype="float32")]
    optimizer = example_optimizer(name)
    optimizer.build(variables)
    keras_sgd = keras.optimizers.SGD(0.01, momentum=0.9)
    keras_sgd.build(variables)
    for variable, sgd_slot in zip(variables, keras_sgd.momentums):
        for slot in optimizer.slot_names:
            assert optimizer.get_slot(variable, slot).dtype == sgd_slot.dtype == variable.dtype
    optimizer.apply([keras.ops.ones((3, 2), "float16"), keras.ops.ones((2,))], variables)
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in variables)
