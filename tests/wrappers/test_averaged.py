"""Using the average: assign_average_vars, averaged_weights(), swap_weights, AverageModelCheckpoint,
and batch-norm statistics recomputed for the averaged weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import regression_data

from kerasopt_plugins.callbacks import AverageModelCheckpoint
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage, recompute_batch_norm


def bn_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(5, activation="tanh"),
        keras.layers.Dense(1),
    ])


def trained(optimizer, epochs=2, callbacks=(), **fit):
    x, y = regression_data(n=32)
    model = bn_model()
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, shuffle=False, callbacks=list(callbacks), **fit)
    return model, history


def weights(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def averages(model):
    optimizer = model.optimizer
    return [np.array(optimizer.get_slot(v, "average").numpy()) for v in model.trainable_variables]


def test_assign_average_vars_copies_the_averages_into_the_trained_variables_only():
    model, _ = trained(SWA(keras.optimizers.SGD(0.05), average_period=3))
    statistics = weights(model.non_trainable_variables)
    model.optimizer.assign_average_vars(model.variables)  # tfa users passed model.variables
    for got, want in zip(weights(model.trainable_variables), averages(model)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(weights(model.non_trainable_variables), statistics):
        np.testing.assert_array_equal(got, want)


def test_variables_the_optimizer_does_not_train_are_refused():
    model, _ = trained(MovingAverage(keras.optimizers.SGD(0.05)))
    with pytest.raises(ValueError, match="none of the 2 variables given is one this optimizer trains"):
        model.optimizer.assign_average_vars(model.non_trainable_variables)


@pytest.mark.parametrize("make", [lambda: SWA(keras.optimizers.SGD(0.05), average_period=2),
                                  lambda: MovingAverage(keras.optimizers.Adam(0.01), average_decay=0.9)])
def test_averaged_weights_puts_the_averages_in_and_the_exact_weights_back(make):
    model, _ = trained(make())
    before = weights(model.trainable_variables)
    with model.optimizer.averaged_weights():
        for got, want in zip(weights(model.trainable_variables), averages(model)):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(weights(model.trainable_variables), before):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(RuntimeError, match="inside"):
        with model.optimizer.averaged_weights():
            raise RuntimeError("inside")
    for got, want in zip(weights(model.trainable_variables), before):
        np.testing.assert_array_equal(got, want)


def test_swap_weights_exchanges_exactly_and_twice_restores():
    model, _ = trained(MovingAverage(keras.optimizers.SGD(0.05), average_decay=0.8))
    w, a = weights(model.trainable_variables), averages(model)
    model.optimizer.swap_weights()
    for got, want in zip(weights(model.trainable_variables) + averages(model), a + w):
        np.testing.assert_array_equal(got, want)
    model.optimizer.swap_weights()
    for got, want in zip(weights(model.trainable_variables) + averages(model), w + a):
        np.testing.assert_array_equal(got, want)


def test_average_model_checkpoint_saves_and_evaluates_the_averages_and_training_goes_on_untouched(tmp_path):
    x, y = regression_data(n=16, seed=3)
    path = tmp_path / "average.keras"
    callback = AverageModelCheckpoint(False, str(path), validation_data=(x, y))
    model, history = trained(SWA(keras.optimizers.SGD(0.05), average_period=2), callbacks=[callback])
    plain, _ = trained(SWA(keras.optimizers.SGD(0.05), average_period=2))
    for got, want in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(got, want)  # the callback left training alone
    saved = keras.saving.load_model(path)
    for got, want in zip(weights(saved.trainable_variables), averages(model)):
        np.testing.assert_array_equal(got, want)
    with model.optimizer.averaged_weights():
        loss = model.evaluate(x, y, verbose=0)
    assert history.history["average_val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert len(history.history["average_val_loss"]) == 2


def test_average_model_checkpoint_with_update_weights_trains_on_from_the_averages(tmp_path):
    callback = AverageModelCheckpoint(True, str(tmp_path / "m.keras"), monitor="loss")
    model, _ = trained(MovingAverage(keras.optimizers.SGD(0.05), average_decay=0.5), epochs=1, callbacks=[callback])
    for got, want in zip(weights(model.trainable_variables), averages(model)):
        np.testing.assert_array_equal(got, want)


def test_average_model_checkpoint_needs_an_averaging_optimizer_and_epoch_saves(tmp_path):
    with pytest.raises(ValueError, match="save_freq must be 'epoch', got 5"):
        AverageModelCheckpoint(False, str(tmp_path / "m.keras"), save_freq=5)
    with pytest.raises(ValueError, match="needs a model compiled with an SWA or MovingAverage optimizer"):
        trained(Lookahead(keras.optimizers.SGD(0.05)), epochs=1, callbacks=[AverageModelCheckpoint(False, str(tmp_path / "m.keras"))])


def test_recompute_batch_norm_gives_the_mean_of_the_batch_statistics():
    model, _ = trained(SWA(keras.optimizers.SGD(0.05), average_period=2))
    bn = model.layers[0]
    x = np.random.default_rng(5).normal(2.0, 3.0, size=(40, 4)).astype("float32")
    count = recompute_batch_norm(model, x, batch_size=16)  # batches of 16, 16 and 8
    assert count == 3
    batches = [x[:16], x[16:32], x[32:]]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([b.var(0) for b in batches], 0), rtol=1e-5)
    assert bn.momentum == 0.99


def test_recompute_batch_norm_reads_datasets_and_refuses_what_it_cannot_do():
    model = bn_model()
    x, y = regression_data(n=24)
    assert recompute_batch_norm(model, [(x[:12], y[:12]), (x[12:], y[12:])]) == 2
    assert recompute_batch_norm(model, [x[:8], x[8:16], x[16:]], steps=2) == 2
    no_bn = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="has no BatchNormalization layer"):
        recompute_batch_norm(no_bn, x)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        recompute_batch_norm(model, x, batch_size=0)
    before = weights(model.non_trainable_variables)
    with pytest.raises(ValueError, match="data gave no batch"):
        recompute_batch_norm(model, [])
    for got, want in zip(weights(model.non_trainable_variables), before):
        np.testing.assert_array_equal(got, want)
