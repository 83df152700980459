"""IterationLogger: exact step counts, across epochs, fit calls and a reload in a fresh process."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import regression_data, run_python
from probes import StateProbe, named_model, needs_steps_per_execution

from kerasopt_plugins import get_optimizer
from kerasopt_plugins.callbacks import IterationLogger


def test_records_count_every_step_and_continue_across_fit_calls():
    x, y = regression_data(40)  # 3 batches of 16, 16, 8
    model = named_model()
    model.compile(get_optimizer("cmomentum_sgd", momentum=0.9), "mse")
    logger, probe = IterationLogger(), StateProbe()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[logger, probe], shuffle=False)
    assert logger.records == [
        {"iteration": i + 1, "epoch": i // 3, "batch": i % 3} for i in range(6)
    ]
    assert [s["iteration"] for s in probe.steps] == [r["iteration"] for r in logger.records]
    assert history.history["iterations"] == [3, 6]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[logger], shuffle=False)
    assert [r["iteration"] for r in logger.records[-3:]] == [7, 8, 9]


@needs_steps_per_execution
def test_steps_per_execution_and_every():
    x, y = regression_data(40)
    model = named_model()
    model.compile(keras.optimizers.SGD(0.01), "mse", steps_per_execution=2)
    logger = IterationLogger()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger], shuffle=False)
    # 5 batches per epoch, executions end at batches 1, 3, 4
    assert logger.records == [
        {"iteration": 2, "epoch": 0, "batch": 1},
        {"iteration": 4, "epoch": 0, "batch": 3},
        {"iteration": 5, "epoch": 0, "batch": 4},
        {"iteration": 7, "epoch": 1, "batch": 1},
        {"iteration": 9, "epoch": 1, "batch": 3},
        {"iteration": 10, "epoch": 1, "batch": 4},
    ]
    every = IterationLogger(every=4)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[every], shuffle=False)
    # executions end at this fit's steps 2, 4, 5, 7, 9, 10; logged: those that reach or pass a
    # multiple of 4 (step 4, and step 9 which includes step 8), at iterations 10 + 4 and 10 + 9
    assert [r["iteration"] for r in every.records] == [14, 19]


@pytest.mark.slow
def test_iterations_continue_after_reload_in_a_fresh_process(tmp_path):
    x, y = regression_data(32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    model = named_model()
    model.compile(get_optimizer("momentum_sgd", momentum=0.9), "mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 8 steps
    model.save(tmp_path / "model.keras")
    out = run_python(
        f"""
        import json, keras, numpy as np
        import kerasopt_plugins
        from kerasopt_plugins.callbacks import IterationLogger
        model = keras.saving.load_model({str(tmp_path / 'model.keras')!r})
        logger = IterationLogger(path={str(tmp_path / 'steps.jsonl')!r})
        x, y = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r})
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
        print(json.dumps(logger.records))
        """
    )
    records = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["iteration"] for r in records] == [9, 10, 11, 12]
    on_disk = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert on_disk == records


def test_gradient_accumulation_counts_every_step_like_keras_schedules():
    x, y = regression_data(64)
    model = named_model()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model.compile(keras.optimizers.SGD(schedule, gradient_accumulation_steps=2), "mse")
    from kerasopt_plugins.callbacks import LearningRateLogger

    steps, rates, probe = IterationLogger(), LearningRateLogger(), StateProbe()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[steps, rates, probe], shuffle=False)
    assert [r["iteration"] for r in steps.records] == list(range(1, 9))
    assert history.history["iterations"] == [4, 8]
    # the rate each call applied is the schedule at the calls before it (Keras's clock)
    np.testing.assert_allclose([r["learning_rate"] for r in rates.records], [0.1 * 0.5 ** (k / 2) for k in range(8)], rtol=1e-6)
    np.testing.assert_allclose([r["learning_rate"] for r in rates.records], probe.rates_before, rtol=1e-6)
