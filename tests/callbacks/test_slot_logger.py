"""SlotLogger: every logged number against NumPy on the slot arrays read at that step."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest
from conftest import example_optimizer, regression_data
from probes import StateProbe, named_model, needs_steps_per_execution, numpy_stats

from kerasopt_plugins import get_optimizer, list_optimizers
from kerasopt_plugins.callbacks import STATISTICS, SlotLogger, _live
from kerasopt_plugins.callbacks.slot_logger import _Rows


def builtin_optimizers():
    return {
        "keras_sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        "keras_adam": lambda: keras.optimizers.Adam(0.01),
        "keras_rmsprop_momentum": lambda: keras.optimizers.RMSprop(0.01, momentum=0.5),
        "keras_adagrad": lambda: keras.optimizers.Adagrad(0.05),
    }


OPTIMIZERS = {**{name: (lambda n=name: example_optimizer(n)) for name in list_optimizers()}, **builtin_optimizers()}


def fit(optimizer, callbacks, epochs=2, jit_compile=False, steps_per_execution=1, n=64, batch_size=16):
    x, y = regression_data(n)
    model = named_model()
    model.compile(optimizer, "mse", jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)
    return model, history


def assert_matches_probe(logger, probe, every=1):
    by_iteration = {step["iteration"]: step for step in probe.steps}
    assert logger.records, "nothing was logged"
    for record in logger.records:
        step = by_iteration[record["iteration"]]
        stat_keys = [k for k in record if k not in ("iteration", "epoch")]
        expected_keys = {f"{name}/{stat}" for name in step["slots"] for stat in logger.statistics}
        assert set(stat_keys) == expected_keys
        for name, array in step["slots"].items():
            reference = numpy_stats(array)
            # a float32 sum errs by ~eps * log2(n) * sum|x| whatever its order: a mean near zero
            # of large elements is only known to that absolute precision (CoCoB's gradient sums)
            mean_atol = max(1e-7, 1e-6 * float(np.mean(np.abs(array))))
            for stat in logger.statistics:
                np.testing.assert_allclose(
                    record[f"{name}/{stat}"], reference[stat], rtol=2e-6,
                    atol=mean_atol if stat == "mean" else 1e-7, err_msg=f"{name}/{stat}",
                )


# jit_compile=True: XLA on TensorFlow and JAX, torch.compile on torch
@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager-fn", "jit"])
@pytest.mark.parametrize("which", sorted(OPTIMIZERS))
def test_every_statistic_matches_numpy_at_every_step(which, jit_compile):
    logger, probe = SlotLogger(), StateProbe()
    fit(OPTIMIZERS[which](), [logger, probe], jit_compile=jit_compile)
    assert [r["iteration"] for r in logger.records] == list(range(1, 9))
    assert [r["epoch"] for r in logger.records] == [0] * 4 + [1] * 4
    assert_matches_probe(logger, probe)
    if not probe.steps[-1]["slots"]:  # an optimizer without slots (VanillaSGD): nothing but counts
        assert all(set(r) == {"iteration", "epoch"} for r in logger.records)
    else:  # the slots moved: a logger that read zeros (stale state) would fail here
        assert any(abs(v) > 0 for k, v in logger.records[-1].items() if k.endswith("/l2"))


def test_every_n_logs_exact_iterations_and_per_variable_epoch_logs_are_stable():
    logger, probe = SlotLogger(every=3, statistics=("l2", "max"), epoch_logs="per_variable"), StateProbe()
    _, history = fit(keras.optimizers.Adam(0.01), [logger, probe], epochs=3)
    assert [r["iteration"] for r in logger.records] == [3, 6, 9, 12]
    assert_matches_probe(logger, probe)
    keys = [k for k in logger.records[0] if k not in ("iteration", "epoch")]
    for key in keys:
        assert len(history.history[key]) == 3
    # epoch logs hold the values at the epoch's end (iteration 4, 8, 12)
    end_of_epoch = {s["iteration"]: s for s in probe.steps}
    for epoch, iteration in enumerate([4, 8, 12]):
        for name, array in end_of_epoch[iteration]["slots"].items():
            np.testing.assert_allclose(history.history[f"{name}/l2"][epoch], numpy_stats(array)["l2"], rtol=2e-6)


def test_keras_csv_logger_gets_the_slot_columns_from_the_first_epoch(tmp_path):
    # never logs a step: the epoch keys still appear
    logger = SlotLogger(every=1000, statistics=("mean",), epoch_logs="per_variable")
    out = tmp_path / "epochs.csv"
    fit(keras.optimizers.SGD(0.05, momentum=0.9), [logger, keras.callbacks.CSVLogger(str(out))], epochs=2)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and logger.records == []
    assert "momentum/net/hidden/kernel/mean" in rows[0]
    assert all(np.isfinite(float(row["momentum/net/hidden/kernel/mean"])) for row in rows)


def test_default_epoch_logs_are_one_global_norm_per_slot(tmp_path):
    """SlotLogger() must not flood History, CSVLogger and the progress bar: one key per slot,
    the slot's L2 norm over every variable, equal to NumPy's on the arrays at the epoch's end."""
    logger, probe = SlotLogger(every=1000), StateProbe()
    out = tmp_path / "epochs.csv"
    _, history = fit(keras.optimizers.Adam(0.01), [logger, probe, keras.callbacks.CSVLogger(str(out))], epochs=2)
    assert sorted(history.history) == ["loss", "momentum/l2", "velocity/l2"]
    columns = {k for k in list(csv.DictReader(out.open()))[0] if not k.startswith("val_")}  # Keras adds val_*
    assert columns == {"epoch", "loss", "momentum/l2", "velocity/l2"}
    end_of_epoch = {s["iteration"]: s["slots"] for s in probe.steps}
    for epoch, iteration in enumerate([4, 8]):
        for slot in ("momentum", "velocity"):
            arrays = [a for key, a in end_of_epoch[iteration].items() if key.startswith(f"{slot}/")]
            expected = np.sqrt(sum(float(np.sum(np.asarray(a, dtype=np.float64) ** 2)) for a in arrays))
            assert expected > 0
            np.testing.assert_allclose(history.history[f"{slot}/l2"][epoch], expected, rtol=2e-6)
    quiet = SlotLogger(epoch_logs=False)
    _, history = fit(keras.optimizers.Adam(0.01), [quiet], epochs=1)
    assert sorted(history.history) == ["loss"] and quiet.records


def test_a_deep_model_keeps_the_epoch_logs_and_the_progress_line_short(capsys):
    """The issue's case: a 12-layer MLP with Adam had 241 keys in History and a 12,447-character
    progress line; the summary is two keys, and the records keep every statistic."""
    layers = [keras.Input((4,))] + [keras.layers.Dense(8, activation="tanh") for _ in range(11)] + [keras.layers.Dense(1)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    x, y = regression_data(64)
    logger = SlotLogger()
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=2, callbacks=[logger])
    assert sorted(history.history) == ["loss", "momentum/l2", "velocity/l2"]
    longest = max(len(line) for line in capsys.readouterr().out.splitlines())
    assert longest < 200, longest
    assert len(logger.records[0]) == 2 + 2 * 24 * 5  # iteration, epoch + every statistic of every slot


@pytest.mark.parametrize("value", ["everything", 3])
def test_bad_epoch_logs_is_refused(value):
    with pytest.raises(ValueError, match=r"epoch_logs must be one of \('summary', 'per_variable'\), True or False"):
        SlotLogger(epoch_logs=value)


@needs_steps_per_execution
def test_steps_per_execution_logs_each_execution_with_its_exact_iteration():
    logger, probe = SlotLogger(), StateProbe()
    # 5 batches per epoch (the last one short), 2 steps per execution: executions end at steps 2, 4, 5
    fit(keras.optimizers.SGD(0.05, momentum=0.9), [logger, probe], steps_per_execution=2, n=72, epochs=2)
    assert [r["iteration"] for r in logger.records] == [2, 4, 5, 7, 9, 10]
    assert [s["iteration"] for s in probe.steps] == [2, 4, 5, 7, 9, 10]
    assert_matches_probe(logger, probe)


def test_selection_by_slot_and_variable_pattern():
    logger, probe = SlotLogger(slots=["velocity"], variables=r"/out/", statistics=["mean", "l2"]), StateProbe()
    fit(keras.optimizers.Adam(0.01), [logger, probe], epochs=1)
    keys = sorted(k for k in logger.records[0] if k not in ("iteration", "epoch"))
    assert keys == [
        f"velocity/net/out/{leaf}/{stat}" for leaf in ("bias", "kernel") for stat in ("l2", "mean")
    ]
    assert logger.tracked == [("velocity", "net/out/kernel"), ("velocity", "net/out/bias")]


def test_full_values_are_the_slot_arrays_bit_for_bit(tmp_path):
    path = tmp_path / "slots.npz"
    logger, probe = SlotLogger(values_path=path, values_max_size=4, every=2), StateProbe()
    fit(get_optimizer("momentum_sgd", momentum=0.9), [logger, probe])
    values = logger.values()
    # kernel (4x3 = 12 elements) is over the limit; the others are kept
    assert sorted(values) == ["iteration", "m/net/hidden/bias", "m/net/out/bias", "m/net/out/kernel"]
    by_iteration = {s["iteration"]: s for s in probe.steps}
    np.testing.assert_array_equal(values["iteration"], [2, 4, 6, 8])
    for row, iteration in enumerate(values["iteration"]):
        for key in ("m/net/hidden/bias", "m/net/out/kernel"):
            np.testing.assert_array_equal(values[key][row], by_iteration[iteration]["slots"][key])
    with np.load(path) as saved:
        assert sorted(saved.files) == sorted(values)
        for key in values:
            np.testing.assert_array_equal(saved[key], values[key])


def test_loss_scale_optimizer_is_seen_through():
    inner = get_optimizer("cmomentum_sgd", momentum=0.9)
    logger, probe = SlotLogger(), StateProbe()
    fit(keras.optimizers.LossScaleOptimizer(inner), [logger, probe], epochs=1)
    assert_matches_probe(logger, probe)
    assert any(k.startswith("m/") for k in logger.records[0])


def test_max_records_keeps_the_newest():
    logger = SlotLogger(max_records=3, statistics=("mean",), values=True)
    fit(keras.optimizers.SGD(0.05, momentum=0.9), [logger], epochs=2)
    assert [r["iteration"] for r in logger.records] == [6, 7, 8]
    np.testing.assert_array_equal(logger.values()["iteration"], [6, 7, 8])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"statistics": ["median"]}, ValueError, r"statistics must be a non-empty subset .*'median'"),
        ({"statistics": []}, ValueError, "statistics must be a non-empty subset"),
        ({"every": 0}, ValueError, r"^SlotLogger: every must be an int >= 1, got 0$"),
        ({"every": 2.5}, TypeError, r"^SlotLogger: every must be an int, got 2.5 of type float$"),
        ({"every": True}, TypeError, r"^SlotLogger: every must be an int, got True of type bool$"),
        ({"every": "2"}, TypeError, r"^SlotLogger: every must be an int, got '2' of type str$"),
        ({"max_records": 0}, ValueError, r"^SlotLogger: max_records must be an int >= 1 or None, got 0$"),
        ({"max_records": 1.0}, TypeError, r"^SlotLogger: max_records must be an int or None, got 1.0 of type float$"),
        ({"variables": "dense("}, ValueError, r"variables='dense\(' is not a regular expression"),
        ({"slots": []}, ValueError, "slots must be a non-empty list"),
        ({"histograms": True}, ValueError, "histograms=True needs tensorboard_dir"),
        ({"values_max_size": 0}, ValueError, r"^SlotLogger: values_max_size must be an int >= 1, got 0$"),
        ({"values_path": "slots.txt"}, ValueError, r"values_path='slots.txt' must end in .npz"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        SlotLogger(**kwargs)


def test_unknown_slot_or_unmatched_pattern_fails_before_the_first_step():
    probe = StateProbe()
    with pytest.raises(ValueError, match=r"Adam has no slot 'm'; its slots are \['momentum', 'velocity'\]"):
        fit(keras.optimizers.Adam(0.01), [SlotLogger(slots=["m"]), probe], epochs=1)
    with pytest.raises(ValueError, match=r"variables='conv' matches none of the model's variables"):
        fit(keras.optimizers.Adam(0.01), [SlotLogger(variables="conv"), probe], epochs=1)
    assert probe.steps == []  # refused in on_train_begin: no step ran


def test_a_new_logger_on_the_same_model_reuses_the_compiled_capture():
    """The one-off trace and compile is paid once per process and slot layout, not per logger;
    another layout (other statistics) gets its own function. Values stay exact (the probe)."""
    model, _ = fit(keras.optimizers.Adam(0.01), [SlotLogger(statistics=("l2", "std"))], epochs=1)
    again, probe = SlotLogger(statistics=("l2", "std")), StateProbe()
    model.fit(*regression_data(64), batch_size=16, epochs=1, verbose=0, callbacks=[again, probe], shuffle=False)
    first = SlotLogger(statistics=("l2", "std"))
    first.set_model(model)
    first.on_train_begin()
    assert first._capture_fn is again._capture_fn
    other = SlotLogger(statistics=("mean",))
    other.set_model(model)
    other.on_train_begin()
    assert other._capture_fn is not again._capture_fn
    assert_matches_probe(again, probe)


def hard_arrays():
    """Arrays that break careless per-row statistics: several rows and a partial last row, a
    single element, a constant, |mean| >> std, tiny and huge scales, float16, an empty-free mix."""
    rng = np.random.default_rng(3)
    arrays = [
        rng.normal(size=(300, 7)),  # spans rows, partial last row
        np.array([-161.21832], dtype=np.float32),  # one element: std exactly 0
        np.full((64,), 0.5),  # constant: std exactly 0
        1000.0 + 1e-3 * rng.normal(size=(40, 40)),  # |mean| >> std
        1e-7 * rng.normal(size=(5,)),
        1e6 * rng.normal(size=(3, 3, 3)),
        rng.normal(size=(2049,)).astype(np.float16),  # cast to float32 on the device
    ]
    return [np.asarray(a, dtype=a.dtype if a.dtype == np.float16 else np.float32) for a in arrays]


@pytest.mark.parametrize("statistics", [tuple(STATISTICS), ("std",), ("min", "l2")], ids=["all", "std", "min-l2"])
def test_row_partials_combine_to_each_arrays_statistics(statistics):
    """The per-row partials a logged step computes, combined on the host, equal NumPy's float64
    statistics of each whole array (the reductions of every backend's compiled function)."""
    arrays = hard_arrays()
    rows = _Rows(statistics, [a.size for a in arrays])
    assert rows.rows < sum(a.size for a in arrays) / 8  # rows, not elements, are fetched
    capture = _live.compile_capture(lambda *v: rows.device_function()(v), fixed_signature=True)
    partials = np.asarray(keras.ops.convert_to_numpy(capture(*[keras.ops.convert_to_tensor(a) for a in arrays])))
    assert partials.shape == (len(rows.partials), rows.rows)
    table, squares = rows.combine(np.stack([partials, partials]))  # two steps at once
    assert table.shape == (2, len(arrays), len(statistics)) and squares.shape == (2, len(arrays))
    np.testing.assert_array_equal(table[0], table[1])
    for i, array in enumerate(arrays):
        reference = numpy_stats(array.astype(np.float32))
        np.testing.assert_allclose(squares[0, i], reference["l2"] ** 2, rtol=2e-6)
        for j, stat in enumerate(statistics):
            np.testing.assert_allclose(
                table[0, i, j], reference[stat], rtol=2e-6, atol=1e-6 * np.abs(array.astype(np.float64)).mean() if stat == "mean" else 0,
                err_msg=f"array {i} {stat}",
            )
        if i in (1, 2) and "std" in statistics:
            assert table[0, i, statistics.index("std")] == 0.0
