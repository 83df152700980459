"""The loggers see through Lookahead, SWA and MovingAverage (nested, inside a LossScaleOptimizer):
the inner optimizer's slots, rate and count, and each wrapper's own slots under stable keys.

The witness reads each wrapper's slots with its own `get_slot` and the inner optimizer's
straight from its attributes (tests/probes.py), after Keras's own state sync on JAX.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import regression_data
from probes import StateProbe, assert_rates_equal, named_model, numpy_stats

from kerasopt_plugins import MomentumSGD, VanillaSGD
from kerasopt_plugins.callbacks import (
    IterationLogger,
    LearningRateLogger,
    SlotLogger,
    find_slots,
    levels,
    unwrap,
)
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage


class WrapperProbe(StateProbe):
    """StateProbe plus, after every step, each wrapper's slots (``{key: wrapper}`` says which
    wrapper a key belongs to) and the model's weights."""

    def __init__(self, wrappers: dict):
        super().__init__()
        self.wrappers = wrappers

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)  # syncs the JAX state first
        step = self.steps[-1]
        step["weights"] = {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in self.model.trainable_variables}
        for key, wrapper in self.wrappers.items():
            name = key.split(".")[0]
            for variable in self.model.trainable_variables:
                slot = wrapper.get_slot(variable, name)
                step["slots"][f"{key}/{variable.path}"] = np.array(keras.ops.convert_to_numpy(slot))


def fit(optimizer, callbacks, epochs=2, jit_compile=False, n=64):
    x, y = regression_data(n)
    model = named_model()
    model.compile(optimizer, "mse", jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)
    return model, history


PATHS = ("net/hidden/kernel", "net/hidden/bias", "net/out/kernel", "net/out/bias")


def assert_matches_probe(logger, probe, slots):
    """Every record has exactly `slots` x the model's variables x the statistics, each equal to
    NumPy's statistic of the witness's array at that iteration."""
    by_iteration = {step["iteration"]: step for step in probe.steps}
    assert logger.records, "nothing was logged"
    for record in logger.records:
        step = by_iteration[record["iteration"]]
        expected_keys = {f"{s}/{p}/{stat}" for s in slots for p in PATHS for stat in logger.statistics}
        assert set(record) - {"iteration", "epoch"} == expected_keys
        for slot in slots:
            for path in PATHS:
                reference = numpy_stats(step["slots"][f"{slot}/{path}"])
                for stat in logger.statistics:
                    np.testing.assert_allclose(
                        record[f"{slot}/{path}/{stat}"], reference[stat], rtol=2e-6, atol=1e-7,
                        err_msg=f"{slot}/{path}/{stat} at iteration {record['iteration']}",
                    )


# jit_compile=True: XLA on TensorFlow and JAX, torch.compile on torch
@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager-fn", "jit"])
def test_nested_wrappers_log_the_inner_slots_and_each_wrappers_own(jit_compile):
    swa = SWA(keras.optimizers.Adam(0.01), start_averaging=0, average_period=2)
    lookahead = Lookahead(swa, sync_period=3, slow_step_size=0.5)
    logger, probe = SlotLogger(), WrapperProbe({"average": swa, "slow": lookahead})
    _, history = fit(lookahead, [logger, probe], jit_compile=jit_compile)
    assert [r["iteration"] for r in logger.records] == list(range(1, 9))
    assert_matches_probe(logger, probe, ["average", "momentum", "slow", "velocity"])
    by_iteration = {s["iteration"]: s for s in probe.steps}
    for path in PATHS:
        # the facts that tell the two wrapper slots apart: SWA's first snapshot (0-based step 0)
        # is the weights after the first step; Lookahead's sync (step 3) sets the weights to slow
        first = numpy_stats(by_iteration[1]["weights"][path])
        assert logger.records[0][f"average/{path}/mean"] == pytest.approx(first["mean"], rel=2e-6, abs=1e-7)
        synced = numpy_stats(by_iteration[3]["weights"][path])
        assert logger.records[2][f"slow/{path}/l2"] == pytest.approx(synced["l2"], rel=2e-6)
        assert logger.records[1][f"slow/{path}/l2"] != pytest.approx(numpy_stats(by_iteration[2]["weights"][path])["l2"])
    # the epoch logs carry every level's summary key from the first epoch on: one norm per slot
    assert sorted(history.history) == ["average/l2", "loss", "momentum/l2", "slow/l2", "velocity/l2"]
    assert all(len(values) == 2 for values in history.history.values())


def test_a_name_two_levels_share_is_qualified_for_the_outer_level():
    inner = Lookahead(MomentumSGD(learning_rate=0.05, momentum=0.9), sync_period=2, slow_step_size=0.5)
    outer = Lookahead(inner, sync_period=3, slow_step_size=0.25)
    logger, probe = SlotLogger(statistics=("mean", "l2")), WrapperProbe({"slow": inner, "slow.2": outer})
    fit(outer, [logger, probe])
    assert_matches_probe(logger, probe, ["m", "slow", "slow.2"])
    # the two slow weights differ: a logger that swapped or merged them fails above or here
    last = logger.records[-1]
    assert last["slow/net/out/kernel/l2"] != pytest.approx(last["slow.2/net/out/kernel/l2"], rel=1e-4)
    assert list(find_slots(outer, [])) == ["slow.2", "slow", "m"]  # outermost level first


def test_averages_of_two_levels_and_keys_that_do_not_change_when_wrapped_again():
    moving = MovingAverage(keras.optimizers.SGD(0.05, momentum=0.5), average_decay=0.5)
    swa = SWA(moving, average_period=1)
    logger, probe = SlotLogger(statistics=("max",)), WrapperProbe({"average": moving, "average.2": swa})
    fit(swa, [logger, probe], epochs=1)
    assert_matches_probe(logger, probe, ["average", "average.2", "momentum"])
    # MovingAverage alone keeps the same keys for its slots
    alone = SlotLogger(statistics=("max",))
    fit(MovingAverage(keras.optimizers.SGD(0.05, momentum=0.5), average_decay=0.5), [alone], epochs=1)
    assert {k.split("/")[0] for k in alone.records[0]} - {"iteration", "epoch"} == {"average", "momentum"}


def test_loss_scale_optimizer_around_a_wrapper_is_seen_through_and_counted_on_the_device():
    lookahead = Lookahead(MomentumSGD(learning_rate=0.05, momentum=0.9), sync_period=2)
    scaled = keras.optimizers.LossScaleOptimizer(lookahead)
    assert [type(o).__name__ for o in levels(scaled)] == ["LossScaleOptimizer", "Lookahead", "MomentumSGD"]
    assert isinstance(unwrap(scaled), MomentumSGD)
    slots, steps, probe = SlotLogger(), IterationLogger(), WrapperProbe({"slow": lookahead})
    fit(scaled, [slots, steps, probe], epochs=1)
    assert not slots._count_on_host and steps.records[-1]["iteration"] == 4
    assert_matches_probe(slots, probe, ["m", "slow"])


def test_selecting_a_wrapper_slot_and_an_unknown_one():
    swa = SWA(keras.optimizers.Adam(0.01), average_period=1)
    logger, probe = SlotLogger(slots=["average"], variables="/out/"), WrapperProbe({"average": swa})
    fit(Lookahead(swa), [logger, probe], epochs=1)
    assert logger.tracked == [("average", "net/out/kernel"), ("average", "net/out/bias")]
    assert {k.split("/")[0] for k in logger.records[0]} - {"iteration", "epoch"} == {"average"}
    with pytest.raises(
        ValueError,
        match=r"Lookahead has no slot 'm'; its slots are \['average', 'momentum', 'slow', 'velocity'\]",
    ):
        fit(Lookahead(SWA(keras.optimizers.Adam(0.01))), [SlotLogger(slots=["m"])], epochs=1)


def test_the_file_has_the_wrapper_columns_from_the_first_line(tmp_path):
    path = tmp_path / "slots.jsonl"
    logger = SlotLogger(statistics=("l2",), path=path)
    fit(Lookahead(keras.optimizers.SGD(0.05), sync_period=2), [logger], epochs=1)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == logger.records and len(lines) == 4
    assert sorted(lines[0]) == sorted(["iteration", "epoch", *(f"slow/{p}/l2" for p in PATHS)])


def test_learning_rate_logger_logs_the_inner_schedule_through_nested_wrappers():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    logger, probe = LearningRateLogger(), StateProbe()
    _, history = fit(Lookahead(SWA(keras.optimizers.Adam(schedule), average_period=2), sync_period=2), [logger, probe], epochs=3)
    rates = np.array([r["learning_rate"] for r in logger.records])
    k = np.arange(1, 13)
    np.testing.assert_array_equal([r["iteration"] for r in logger.records], k)
    np.testing.assert_allclose(rates, 0.1 * 0.5 ** ((k - 1) / 3), rtol=1e-6)
    assert_rates_equal(rates, probe.rates_before)  # what `wrapper.learning_rate` read before each step
    np.testing.assert_allclose(history.history["learning_rate"], rates[[3, 7, 11]], rtol=0)


def test_learning_rate_logger_applies_the_inner_legacy_decay_and_other_callbacks_changes():
    logger = LearningRateLogger()
    fit(MovingAverage(VanillaSGD(learning_rate=0.1, decay=0.05)), [logger], epochs=3)
    k = np.arange(12, dtype=np.float32)
    np.testing.assert_allclose(
        [r["learning_rate"] for r in logger.records], np.float32(0.1) / (1 + np.float32(0.05) * k), rtol=1e-7
    )
    # LearningRateScheduler sets `wrapper.learning_rate`, which is the inner optimizer's
    logger, probe = LearningRateLogger(), StateProbe()
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.2 / (epoch + 1))
    fit(SWA(keras.optimizers.SGD(0.2)), [scheduler, logger, probe], epochs=3)
    rates = np.array([r["learning_rate"] for r in logger.records])
    assert_rates_equal(rates, probe.rates_before)
    np.testing.assert_allclose(rates, np.float32(0.2) / (np.arange(12) // 4 + 1), rtol=1e-6)


def test_iteration_logger_counts_the_inner_optimizers_steps_on_the_host():
    x, y = regression_data(40)  # 3 batches of 16, 16, 8
    model = named_model()
    optimizer = Lookahead(SWA(keras.optimizers.SGD(0.01, momentum=0.9)), sync_period=2)
    model.compile(optimizer, "mse")
    logger, probe = IterationLogger(), StateProbe()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[logger, probe], shuffle=False)
    assert logger._count_on_host  # kerasopt_plugins' wrappers never skip a step
    assert logger.records == [{"iteration": i + 1, "epoch": i // 3, "batch": i % 3} for i in range(6)]
    assert [s["iteration"] for s in probe.steps] == [r["iteration"] for r in logger.records]
    assert history.history["iterations"] == [3, 6]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[logger], shuffle=False)
    assert [r["iteration"] for r in logger.records[-3:]] == [7, 8, 9]
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 9
