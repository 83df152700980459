"""Files and TensorBoard: streamed records parse, match `records`, survive an interrupted fit."""

from __future__ import annotations

import csv
import json
import math
import os
import sys

import keras
import numpy as np
import pytest
from conftest import regression_data
from probes import named_model

from kerasopt_plugins.callbacks import IterationLogger, LearningRateLogger, SlotLogger

LOGGERS = {
    "slots": lambda **kw: SlotLogger(statistics=("mean", "l2"), **kw),
    "learning_rate": lambda **kw: LearningRateLogger(**kw),
    "iterations": lambda **kw: IterationLogger(**kw),
}


def fit(callbacks, epochs=2, n=64):
    x, y = regression_data(n)
    model = named_model()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)
    return model


def read(path):
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("which", sorted(LOGGERS))
def test_file_holds_exactly_the_records(tmp_path, which, suffix):
    path = tmp_path / f"log{suffix}"
    logger = LOGGERS[which](path=path)
    fit([logger])
    on_disk = read(path)
    assert len(on_disk) == len(logger.records) == 8
    for disk, memory in zip(on_disk, logger.records):
        assert list(disk) == list(memory)  # same columns, same order
        for key, value in memory.items():
            assert disk[key] == value  # floats round-trip exactly through repr


def test_existing_file_is_never_overwritten_unless_asked(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("precious\n")
    with pytest.raises(ValueError, match=r"IterationLogger: path='.*log.csv' exists; pass if_exists='overwrite' or 'append'"):
        IterationLogger(path=path)
    assert path.read_text() == "precious\n"
    fit([IterationLogger(path=path, if_exists="overwrite")], epochs=1)
    assert [r["iteration"] for r in read(path)] == [1, 2, 3, 4]
    fit([IterationLogger(path=path, if_exists="append")], epochs=1)  # same columns: rows added
    assert len(read(path)) == 8
    with pytest.raises(ValueError, match=r"cannot append to '.*log.csv': its columns"):
        fit([LearningRateLogger(path=path, if_exists="append")], epochs=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"path": "log.txt"}, r"path='log.txt' must end in .csv or .jsonl, got '.txt'"),
        ({"path": "log.csv", "if_exists": "keep"}, r"if_exists must be one of .*got 'keep'"),
        ({"path": "notes.txt/log.csv"}, r"path='notes.txt/log.csv': 'notes.txt' is not a folder"),
        ({"tensorboard_dir": "notes.txt/tb"}, r"tensorboard_dir='notes.txt/tb': 'notes.txt' is not a folder"),
    ],
)
def test_bad_paths_are_refused_at_construction(tmp_path, monkeypatch, kwargs, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("a file where a folder would go")
    with pytest.raises(ValueError, match=match):
        LearningRateLogger(**kwargs)
    assert os.listdir(tmp_path) == ["notes.txt"]  # nothing was created


def test_missing_parent_folders_are_created_when_training_starts(tmp_path, monkeypatch):
    """As Keras's TensorBoard and CSVLogger do: 'tb3/raise' works without 'tb3'."""
    pytest.importorskip("tensorboard")
    monkeypatch.chdir(tmp_path)
    logger = LearningRateLogger(path="logs/run1/rates.csv", tensorboard_dir="tb3/raise")
    slots = SlotLogger(values_path="deep/er/slots.npz", statistics=("l2",))
    assert os.listdir(tmp_path) == []  # construction writes nothing
    fit([logger, slots], epochs=1)
    assert [r["iteration"] for r in read(tmp_path / "logs/run1/rates.csv")] == [1, 2, 3, 4]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb3/raise"))
    with np.load(tmp_path / "deep/er/slots.npz") as saved:
        assert list(saved["iteration"]) == [1, 2, 3, 4]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rerunning_a_script_replaces_its_own_log_by_default_and_nothing_else(tmp_path, suffix):
    path = tmp_path / f"log{suffix}"
    fit([IterationLogger(path=path)], epochs=1)
    fit([IterationLogger(path=path)], epochs=2)  # the same script again: no error, a fresh log
    assert [r["iteration"] for r in read(path)] == list(range(1, 9))
    other = tmp_path / f"data{suffix}"
    other.write_text("id,label\n1,cat\n" if suffix == ".csv" else '{"id": 1}\n')
    with pytest.raises(ValueError, match=r"exists; pass if_exists='overwrite' or 'append' to write to it \(it is not a log"):
        IterationLogger(path=other)
    with pytest.raises(ValueError, match=r"exists; pass if_exists='overwrite' or 'append' to write to it$"):
        IterationLogger(path=path, if_exists="error")  # the strict mode is still there
    values = tmp_path / "values.npz"
    fit([SlotLogger(values_path=values, statistics=("l2",))], epochs=1)
    SlotLogger(values_path=values)  # its own .npz is replaced too
    np.savez(tmp_path / "mine.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a log these loggers wrote"):
        SlotLogger(values_path=tmp_path / "mine.npz")


def test_unwritable_folder_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root can write anywhere: make the check answer as for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    with pytest.raises(ValueError, match=r"path='.*locked/log.csv': folder '.*locked' is not writable"):
        IterationLogger(path=locked / "log.csv")
    with pytest.raises(ValueError, match=r"tensorboard_dir='.*locked/tb': folder '.*locked' is not writable"):
        IterationLogger(tensorboard_dir=locked / "tb")


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_step, error):
        super().__init__()
        self.at_step, self.error, self.seen = at_step, error, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at_step:
            raise self.error


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["exception", "ctrl-c"])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_interrupted_fit_leaves_only_valid_lines(tmp_path, suffix, error):
    path = tmp_path / f"log{suffix}"
    logger = SlotLogger(path=path, statistics=("mean",))
    with pytest.raises(type(error)):
        fit([logger, Interrupt(6, error)], epochs=3)  # stops mid-epoch 1
    lines = path.read_text().splitlines()
    assert path.read_text().endswith("\n")
    rows = read(path)  # every line parses
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]  # the finished epoch
    logger.flush()  # after the interruption: the unfinished epoch's records too
    rows = read(path)
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert len(lines) == 4 + (suffix == ".csv")


def test_tensorboard_scalars_and_histograms(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    slot_dir, lr_dir = tmp_path / "slots", tmp_path / "lr"
    slots = SlotLogger(statistics=("l2",), tensorboard_dir=slot_dir, histograms=True, every=2)
    rates = LearningRateLogger(tensorboard_dir=lr_dir)
    fit([slots, rates])
    events = EventAccumulator(str(slot_dir), size_guidance={"tensors": 0}).Reload()
    key = "momentum/net/hidden/kernel/l2"
    scalars = {e.step: float(np.asarray(tf_value(e))) for e in events.Tensors(key)}
    assert scalars == pytest.approx({r["iteration"]: r[key] for r in slots.records}, rel=1e-7)
    histogram_steps = [e.step for e in events.Tensors("momentum/net/hidden/kernel")]
    assert histogram_steps == [2, 4, 6, 8]
    lr_events = EventAccumulator(str(lr_dir), size_guidance={"tensors": 0}).Reload()
    assert [e.step for e in lr_events.Tensors("learning_rate")] == list(range(1, 9))
    rates_read = [float(np.asarray(tf_value(e))) for e in lr_events.Tensors("learning_rate")]
    assert rates_read == pytest.approx([r["learning_rate"] for r in rates.records], rel=1e-7)


def test_iteration_logger_writes_per_step_scalars_to_tensorboard(tmp_path):
    """docs/callbacks.md promises per-step scalars: iteration, epoch and batch at each step."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = IterationLogger(tensorboard_dir=tmp_path / "tb", every=2)
    fit([steps], epochs=2)
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0}).Reload()
    assert sorted(events.Tags()["tensors"]) == ["batch", "epoch", "iteration"]
    for key in ("iteration", "epoch", "batch"):
        logged = {e.step: float(np.asarray(tf_value(e))) for e in events.Tensors(key)}
        assert logged == {r["iteration"]: float(r[key]) for r in steps.records}, key
    assert [r["iteration"] for r in steps.records] == [2, 4, 6, 8]


def tf_value(event):
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(event.tensor_proto)


def test_missing_tensorboard_is_a_clear_error_at_construction(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard → ModuleNotFoundError
    with pytest.raises(ValueError, match=r"SlotLogger: tensorboard_dir needs TensorFlow and the tensorboard package"):
        SlotLogger(tensorboard_dir=tmp_path / "tb")


def test_nan_is_written_as_a_string_in_jsonl(tmp_path):
    from kerasopt_plugins.callbacks._sinks import RecordFile

    sink = RecordFile("T", tmp_path / "x.jsonl", "error")
    sink.open(["iteration", "v"])
    sink.write([{"iteration": 1, "v": math.nan}, {"iteration": 2, "v": math.inf}])
    sink.close()
    assert [json.loads(line)["v"] for line in (tmp_path / "x.jsonl").read_text().splitlines()] == ["nan", "inf"]
