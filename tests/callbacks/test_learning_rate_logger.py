"""LearningRateLogger: the rate each step applied, against closed forms and a synchronous probe."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import regression_data
from probes import StateProbe, assert_rates_equal, named_model, needs_steps_per_execution

from kerasopt_plugins import MomentumSGD, VanillaSGD
from kerasopt_plugins.callbacks import LearningRateLogger


def fit(optimizer, callbacks, epochs=3, steps_per_execution=1, n=64, jit_compile=False):
    x, y = regression_data(n)
    model = named_model()
    model.compile(optimizer, "mse", steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return model, model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)


# jit_compile=True: XLA on TensorFlow and JAX, torch.compile on torch
@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager-fn", "jit"])
def test_legacy_decay_follows_the_closed_form(jit_compile):
    logger = LearningRateLogger()
    _, history = fit(VanillaSGD(learning_rate=0.1, decay=0.05), [logger], jit_compile=jit_compile)
    iterations = np.array([r["iteration"] for r in logger.records])
    np.testing.assert_array_equal(iterations, np.arange(1, 13))
    expected = np.float32(0.1) / (1 + np.float32(0.05) * (iterations - 1).astype(np.float32))
    np.testing.assert_allclose([r["learning_rate"] for r in logger.records], expected, rtol=1e-7)
    # epoch logs: the rate of each epoch's last step (4, 8, 12), not the next step's
    np.testing.assert_allclose(history.history["learning_rate"], expected[[3, 7, 11]], rtol=1e-7)


def test_keras_schedule_matches_the_closed_form_and_the_rate_read_before_each_step():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    logger, probe = LearningRateLogger(), StateProbe()
    fit(keras.optimizers.Adam(schedule), [logger, probe])
    rates = np.array([r["learning_rate"] for r in logger.records])
    k = np.arange(1, 13)
    np.testing.assert_allclose(rates, 0.1 * 0.5 ** ((k - 1) / 3), rtol=1e-6)
    # The schedule evaluated inside a compiled function (ours, and the train step's) may differ
    # from the same schedule run eagerly (the probe) in the last bits of float32's pow.
    assert_rates_equal(rates, probe.rates_before)


def test_changes_by_other_callbacks_show_from_the_step_they_apply():
    # LearningRateScheduler sets the rate at each epoch begin; legacy decay still applies on top.
    logger, probe = LearningRateLogger(), StateProbe()
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.2 / (epoch + 1))
    fit(MomentumSGD(learning_rate=0.2, momentum=0.5, decay=0.1), [scheduler, logger, probe])
    rates = np.array([r["learning_rate"] for r in logger.records])
    assert_rates_equal(rates, probe.rates_before)
    k = np.arange(12)
    base = np.float32(0.2) / (k // 4 + 1).astype(np.float32)
    np.testing.assert_allclose(rates, base / (1 + np.float32(0.1) * k.astype(np.float32)), rtol=1e-6)


def test_reduce_lr_on_plateau_is_seen():
    logger, probe = LearningRateLogger(), StateProbe()
    # min_delta so large that almost no epoch counts as an improvement: the rate halves at epoch ends
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    fit(keras.optimizers.SGD(0.08), [plateau, logger, probe], epochs=3)
    rates = [r["learning_rate"] for r in logger.records]
    assert_rates_equal(rates, probe.rates_before)
    per_epoch = [set(np.float32(rates[e * 4 : e * 4 + 4])) for e in range(3)]
    assert all(len(s) == 1 for s in per_epoch)  # changes only between epochs
    assert float(rates[-1]) < 0.08 and set(np.float32(rates)) <= {np.float32(0.08), np.float32(0.04), np.float32(0.02)}


@needs_steps_per_execution
def test_steps_per_execution_records_the_last_step_of_each_execution():
    schedule = keras.optimizers.schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01)
    logger = LearningRateLogger()
    fit(keras.optimizers.SGD(schedule), [logger], steps_per_execution=3, epochs=2)
    k = np.array([r["iteration"] for r in logger.records])
    np.testing.assert_array_equal(k, [3, 4, 7, 8])
    expected = [float(schedule(int(i) - 1)) for i in k]
    np.testing.assert_allclose([r["learning_rate"] for r in logger.records], expected, rtol=1e-6)


def test_every_n_and_bad_arguments():
    logger = LearningRateLogger(every=5)
    fit(keras.optimizers.SGD(0.1), [logger])
    assert [r["iteration"] for r in logger.records] == [5, 10]
    with pytest.raises(ValueError, match=r"LearningRateLogger: every must be an int >= 1, got -1"):
        LearningRateLogger(every=-1)
    with pytest.raises(TypeError, match=r"'path' must be a str or path, got int"):
        LearningRateLogger(path=3)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.01), {"momentum": 0.9, "weight_decay": 0.01}),
        (lambda: keras.optimizers.Adam(0.01, beta_1=0.8), {"beta_1": 0.8}),
        (lambda: keras.optimizers.RMSprop(0.01, momentum=0.5), {"momentum": 0.5}),
        (lambda: MomentumSGD(0.05, momentum=0.7), {"momentum": 0.7}),
        (lambda: VanillaSGD(0.05), {}),
    ],
    ids=["sgd", "adam", "rmsprop", "momentum_sgd", "vanilla_sgd"],
)
def test_momentum_beta_and_weight_decay_are_logged_per_step_where_the_optimizer_has_them(make, expected):
    """As Lightning's LearningRateMonitor(log_momentum, log_weight_decay): the keys are fixed from
    the first record, with the values the optimizer's step uses."""
    logger = LearningRateLogger()
    model, _ = fit(make(), [logger], epochs=1)
    assert [list(r) for r in logger.records] == [["iteration", "learning_rate", *expected]] * 4
    for name, value in expected.items():
        assert {r[name] for r in logger.records} == {value}
        assert float(getattr(model.optimizer, name)) == value
    quiet = LearningRateLogger(log_momentum=False, log_weight_decay=False)
    fit(make(), [quiet], epochs=1)
    assert set(quiet.records[0]) == {"iteration", "learning_rate"}


class VariableMomentumSGD(keras.optimizers.Optimizer):
    """SGD whose `momentum` factor is a variable (a rule the test can change between epochs)."""

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentum = self.add_variable(shape=(), initializer="ones", name="momentum_factor")

    def update_step(self, gradient, variable, learning_rate):
        self.assign_sub(variable, gradient * keras.ops.cast(learning_rate * self.momentum, variable.dtype))


def test_a_momentum_held_in_a_variable_is_read_at_every_logged_step():
    class Lower(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.momentum.assign(0.5)

    logger = LearningRateLogger(log_weight_decay=False)
    fit(VariableMomentumSGD(0.1), [Lower(), logger], epochs=2)
    assert [r["momentum"] for r in logger.records] == [1.0] * 4 + [0.5] * 4
