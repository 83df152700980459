"""SlotLogger: statistics (and optionally full values) of an optimizer's slots during `fit`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
from keras import ops

from kerasopt_plugins.callbacks import _base, _live, _sinks
from kerasopt_plugins.callbacks._base import logger
from kerasopt_plugins.callbacks._slots import find_slots
from kerasopt_plugins.optimizers._checks import check_integer


def _l2(x):
    return ops.sqrt(ops.sum(ops.square(x)))


STATISTICS = {
    "mean": ops.mean,
    "std": ops.std,
    "min": ops.min,
    "max": ops.max,
    "l2": _l2,
}
"""The statistics a `SlotLogger` can log (name -> function); each is computed over one slot
variable's elements (`SlotLogger` computes them for all variables at once, see `_Rows`)."""

#: What `epoch_logs` takes: "summary" (or True): one key per slot, "<slot>/l2", the L2 norm of
#: the slot over every tracked variable together; "per_variable": the records' keys; False.
EPOCH_LOGS = ("summary", "per_variable")


#: Per-row partial results a logged step computes on the device, in this order (see `_Rows`).
_PARTIALS = ("sum", "squares", "min", "max", "centre", "deviation", "centered")
_NEEDS = {"mean": ("sum",), "std": ("centre", "deviation", "centered"), "min": ("min",), "max": ("max",), "l2": ()}


class _Rows:
    """The slot arrays laid out as the rows of one matrix; statistics as per-row partials.

    Each array is flattened and zero-padded to whole rows of `width` elements, and all of them
    are concatenated into one (rows, width) matrix, so a logged step runs the same handful of
    row reductions whatever the model: sum, sum of squares, min, max and, for `std`, the row
    mean c, sum(x - c) and sum((x - c)^2) (two passes, as NumPy), each only where a statistic
    needs it. The host combines each array's rows at fetch time (NumPy, float64, rounded to
    float32 at the end like the slots): sums add up, min and max of the rows, and the rows'
    squared deviations merge as in Chan et al.'s parallel variance.

    One program of a few operations, instead of reductions per variable or per shape, keeps the
    one-off trace and compile short (XLA's CPU compile time grows with every distinct reduction:
    0.6-0.7 s for a 12-layer MLP's 48 slot variables grouped by shape), and the few kernels per
    step keep a logged step cheap on eager torch. The width of a row is the power of two that
    minimises padded elements plus a cost per row (rows are what a step keeps until fetched).
    """

    def __init__(self, statistics: Sequence[str], sizes: Sequence[int]):
        self.statistics = tuple(statistics)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.width = self._width(self.sizes)
        per_array = -(-self.sizes // self.width)  # rows of each array (ceil)
        self.starts = np.cumsum(per_array) - per_array
        self.rows = int(per_array.sum())
        self.pads = (per_array * self.width - self.sizes).tolist()
        # elements per row: full rows, and each array's last row holds what is left
        counts = np.full(self.rows, self.width, dtype=np.int64)
        counts[self.starts + per_array - 1] = self.sizes - (per_array - 1) * self.width
        self.counts = counts
        needed = {"squares"}.union(*(_NEEDS[stat] for stat in self.statistics))
        self.partials = tuple(name for name in _PARTIALS if name in needed)

    @staticmethod
    def _width(sizes: np.ndarray) -> int:
        """The power of two that minimises padded elements + a cost per row (what is fetched)."""
        best = None
        for power in range(4, 25):
            width = 2**power
            rows = int((-(-sizes // width)).sum())
            cost = rows * (width + 64)
            if best is None or cost < best[0]:
                best = (cost, width)
            if width >= sizes.max(initial=1):
                break
        return best[1]

    def device_function(self):
        """keras.ops function of the arrays → float32 (len(partials), rows)."""
        width, rows, pads, partials = self.width, self.rows, self.pads, self.partials
        counts = ops.convert_to_tensor(self.counts.astype("float32")[:, None])
        zeros = {pad: ops.zeros((pad,), "float32") for pad in set(pads) if pad}
        # made once here, not per call (torch runs the function eagerly): 1 on the elements, 0 on
        # the padding, and +inf on the padding, so that min and max skip it
        padding = np.arange(width)[None, :] >= self.counts[:, None]
        keep = ops.convert_to_tensor((~padding).astype("float32"))
        inf = ops.convert_to_tensor(np.where(padding, np.inf, 0.0).astype("float32"))

        def capture(values):
            pieces = []
            for value, pad in zip(values, pads):
                if keras.backend.standardize_dtype(value.dtype) != "float32":
                    value = ops.cast(value, "float32")
                pieces.append(ops.reshape(value, (-1,)))
                if pad:
                    pieces.append(zeros[pad])
            block = ops.reshape(ops.concatenate(pieces) if len(pieces) > 1 else pieces[0], (rows, width))
            out = {"squares": ops.sum(ops.square(block), axis=1)}
            if "min" in partials:
                out["min"] = ops.min(block + inf, axis=1)
            if "max" in partials:
                out["max"] = ops.max(block - inf, axis=1)
            if {"sum", "centre"} & set(partials):
                out["sum"] = ops.sum(block, axis=1, keepdims=True)
            if "centre" in partials:  # two passes: the row mean c, then the deviations from it
                centre = out["sum"] / counts
                out["centre"] = centre
                deviation = (block - centre) * keep
                out["deviation"] = ops.sum(deviation, axis=1)
                out["centered"] = ops.sum(ops.square(deviation), axis=1)
            return ops.concatenate([ops.reshape(out[name], (1, rows)) for name in partials])

        return capture

    def combine(self, partials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, len(partials), rows) fetched partials → each array's statistics (n, arrays,
        len(statistics)) and sums of squares (n, arrays), float64."""
        part = {name: partials[:, i].astype(np.float64) for i, name in enumerate(self.partials)}
        starts, sizes = self.starts, self.sizes
        squares = np.add.reduceat(part["squares"], starts, axis=1)
        columns = []
        for stat in self.statistics:
            if stat == "mean":
                columns.append(np.add.reduceat(part["sum"], starts, axis=1) / sizes)
            elif stat == "std":
                # a row's mean is c + sum(x - c) / n (exact where c, rounded, is off), its sum of
                # squared deviations from that mean sum (x - c)^2 - (sum (x - c))^2 / n; the rows
                # of an array then merge as in Chan et al.'s parallel variance
                row_mean = part["centre"] + part["deviation"] / self.counts
                mean = np.add.reduceat(row_mean * self.counts, starts, axis=1) / sizes
                of_row = np.repeat(np.arange(len(sizes)), np.diff(np.append(starts, self.rows)))
                own = np.maximum(part["centered"] - np.square(part["deviation"]) / self.counts, 0.0)
                spread = own + self.counts * np.square(row_mean - mean[:, of_row])
                columns.append(np.sqrt(np.add.reduceat(spread, starts, axis=1) / sizes))
            elif stat == "min":
                columns.append(np.minimum.reduceat(part["min"], starts, axis=1))
            elif stat == "max":
                columns.append(np.maximum.reduceat(part["max"], starts, axis=1))
            else:  # l2
                columns.append(np.sqrt(squares))
        # float32, as the slots: the same numbers the per-variable float32 reductions gave
        return np.stack(columns, axis=-1).astype(np.float32), squares.astype(np.float32)


class SlotLogger(_base.StepLogger):
    """Log statistics of the optimizer's slots (momentum, velocity, ...) every `every` steps.

    Works with any Keras optimizer: a `PluginOptimizer` through its declared `slot_names`,
    Keras's own optimizers by matching their variables to the model's. Wrappers are seen
    through, and their own slots are logged too: ``Lookahead(SWA(Adam()))`` gives Adam's
    "momentum" and "velocity", SWA's "average" and Lookahead's "slow" (a name two levels share
    is logged as "<slot>.<n>" for all but the innermost of them, n levels out; see `find_slots`).
    Each logged step is one record, with every statistic of every slot of every variable (the
    full detail, also what `path` and `tensorboard_dir` receive)::

        {"iteration": 12, "epoch": 0, "m/sequential/dense/kernel/mean": 0.013, ...}

    The epoch logs (History, CSVLogger, the progress bar) get only a summary by default: one
    key per slot, ``"<slot>/l2"``, the slot's L2 norm over all the tracked variables together
    (Adam: ``momentum/l2``, ``velocity/l2``), the same keys from the first epoch on.

    Statistics are computed on the device by one compiled function (a few row reductions over
    all the slots laid out as one matrix; each variable's rows are combined on the host) and
    fetched in batches, so steps that are not logged cost nothing and logged ones never wait
    for the device.

    Args:
        slots: slot names (keys) to log (default: all the optimizer and its wrappers have).
        variables: regular expression searched in each model variable's path (default: all).
        statistics: any of "mean", "std", "min", "max", "l2" (default: all five).
        every: log every this many training steps (default 1).
        path: stream records to this `.csv` or `.jsonl` file.
        if_exists: when `path` (or `values_path`) exists: "replace_log" (default) replaces a
            log these loggers wrote (re-running a script) and refuses any other file; "error",
            "overwrite" or "append".
        tensorboard_dir: write each statistic as a per-step TensorBoard scalar here.
        max_records: keep at most this many records in memory (oldest dropped; None: all).
        values: also keep the full slot arrays of variables with at most `values_max_size`
            elements at each logged step (in `values()`, and saved to `values_path`).
        values_max_size: size limit for `values` (default 10,000 elements per variable).
        values_path: `.npz` file written at train end with the kept arrays and iterations.
        histograms: with `tensorboard_dir`, also write a histogram of each kept slot array.
        epoch_logs: what goes into the epoch logs (History, CSVLogger, the progress bar):
            "summary" or True (default): ``"<slot>/l2"`` per slot; "per_variable": every record
            key (``"<slot>/<path>/<stat>"``, many keys on a deep model); False: nothing.
    """

    def __init__(
        self,
        slots: Sequence[str] | None = None,
        variables: str | None = None,
        statistics: Sequence[str] = tuple(STATISTICS),
        every: int = 1,
        path: str | os.PathLike | None = None,
        if_exists: str = "replace_log",
        tensorboard_dir: str | os.PathLike | None = None,
        max_records: int | None = 100_000,
        values: bool = False,
        values_max_size: int = 10_000,
        values_path: str | os.PathLike | None = None,
        histograms: bool = False,
        epoch_logs: bool | str = "summary",
    ):
        owner = type(self).__name__
        if epoch_logs is True:
            epoch_logs = "summary"
        if epoch_logs not in (*EPOCH_LOGS, False, None):
            raise ValueError(f"{owner}: epoch_logs must be one of {EPOCH_LOGS}, True or False, got {epoch_logs!r}")
        if isinstance(slots, str):
            slots = (slots,)
        if slots is not None and (not slots or not all(isinstance(s, str) and s for s in slots)):
            raise ValueError(f"{owner}: slots must be a non-empty list of slot names, got {slots!r}")
        if variables is not None:
            try:
                re.compile(variables)
            except (re.error, TypeError) as error:
                raise ValueError(f"{owner}: variables={variables!r} is not a regular expression: {error}") from None
        if isinstance(statistics, str):
            statistics = (statistics,)
        unknown = [s for s in statistics if s not in STATISTICS]
        if unknown or not statistics:
            raise ValueError(
                f"{owner}: statistics must be a non-empty subset of {tuple(STATISTICS)}, got {tuple(statistics)!r}"
            )
        check_integer("values_max_size", values_max_size, low=1, owner=owner)
        if histograms and tensorboard_dir is None:
            raise ValueError(f"{owner}: histograms=True needs tensorboard_dir")
        if values_path is not None:
            values = True
            values_path = _sinks.check_file(owner, "values_path", values_path, if_exists, (".npz",))
        super().__init__(every, path, if_exists, tensorboard_dir, max_records, bool(epoch_logs))
        self.epoch_log_mode = epoch_logs or None
        self.slots = None if slots is None else tuple(slots)
        self.variables = variables
        self.statistics = tuple(dict.fromkeys(statistics))
        self.keep_values = bool(values) or bool(histograms)
        self.values_max_size = int(values_max_size)
        self.values_path = values_path
        self.histograms = bool(histograms)
        self._value_arrays: list[dict[str, np.ndarray]] = []
        # per epoch: the largest difference between replicas' copies of a slot (tf.distribute)
        self.replica_max_abs_diff: list[float] = []

    # -- selection ---------------------------------------------------------------------------

    def _select(self):
        model_vars = self.model.trainable_variables
        found = find_slots(self.model.optimizer, model_vars)
        owner = type(self).__name__
        if self.slots is not None:
            missing = [s for s in self.slots if s not in found]
            if missing:
                raise ValueError(
                    f"{owner}: slots={list(self.slots)!r}: {type(self.model.optimizer).__name__} has no "
                    f"slot {missing[0]!r}; its slots are {sorted(found)!r}"
                )
        pattern = None if self.variables is None else re.compile(self.variables)
        chosen = []  # (slot, model variable, slot variable)
        for slot in self.slots or sorted(found):
            for variable, slot_variable in zip(model_vars, found[slot]):
                if slot_variable is None or (pattern and not pattern.search(variable.path)):
                    continue
                chosen.append((slot, variable.path, slot_variable))
        if self.variables is not None and not chosen:
            raise ValueError(
                f"{owner}: variables={self.variables!r} matches none of the model's variables "
                f"{[v.path for v in model_vars][:8]!r}"
            )
        return chosen

    def _start(self) -> list[str]:
        chosen = self._select()
        self.tracked = [(slot, path) for slot, path, _ in chosen]
        self._stat_keys = [f"{slot}/{path}/{stat}" for slot, path in self.tracked for stat in self.statistics]
        slot_vars = [v for _, _, v in chosen]
        self._value_positions = [
            i for i, v in enumerate(slot_vars) if self.keep_values and int(np.prod(v.shape)) <= self.values_max_size
        ]
        self._value_keys = [f"{self.tracked[i][0]}/{self.tracked[i][1]}" for i in self._value_positions]
        self._reader = _live.LiveReader(self.model, slot_vars)
        positions = tuple(self._value_positions)
        sizes = [int(np.prod(v.shape)) for v in slot_vars]
        self._rows = _Rows(self.statistics, sizes)
        rows = self._rows

        def make():
            reduce = rows.device_function() if slot_vars else None
            empty = (len(rows.partials), 0)

            def capture(*values):
                partials = reduce(values) if values else ops.zeros(empty, "float32")
                return (partials,) + tuple(ops.copy(values[i]) for i in positions)

            return capture

        values = self._reader.values()
        key = (
            "SlotLogger", self.statistics, positions,
            tuple((tuple(v.shape), str(v.dtype), type(v).__name__) for v in values),
        )
        self._capture_fn = self.compiled(key, make, fixed_signature=True, shared=True)
        self._summary_keys = list(dict.fromkeys(f"{slot}/l2" for slot, _ in self.tracked))
        return ["iteration", "epoch", *self._stat_keys]

    def _capture(self) -> tuple:
        return tuple(self._capture_fn(*self._reader.values()))

    def _to_records(self, epochs, batches, iterations, fields) -> list[dict]:
        partials, kept = fields[0], fields[1:]
        tables = self._rows.combine(partials)[0].reshape(len(partials), -1) if self.tracked else None
        records = []
        for row, (epoch, iteration) in enumerate(zip(epochs, iterations)):
            record = {"iteration": int(iteration), "epoch": epoch}
            if tables is not None:
                record.update(zip(self._stat_keys, tables[row].tolist()))
            records.append(record)
            if self.keep_values:
                arrays = {key: kept[j][row] for j, key in enumerate(self._value_keys)}
                self._value_arrays.append({"iteration": int(iteration), **arrays})
        if self.max_records is not None:
            del self._value_arrays[: max(0, len(self._value_arrays) - self.max_records)]
        return records

    def _histograms(self, records):
        if not self.histograms:
            return []
        new = self._value_arrays[-len(records):] if records else []
        return [(entry["iteration"], key, entry[key]) for entry in new for key in self._value_keys]

    def _check_replicas(self) -> None:
        """Under tf.distribute, every replica's copy of a slot must hold the same values."""
        if keras.backend.backend() != "tensorflow":
            return
        worst = 0.0
        for variable in self._reader.variables:
            copies = getattr(getattr(variable, "value", None), "values", None)  # MirroredVariable
            if not isinstance(copies, tuple) or len(copies) < 2:
                continue
            first = np.asarray(copies[0].numpy())
            for other in copies[1:]:
                worst = max(worst, float(np.max(np.abs(np.asarray(other.numpy()) - first), initial=0.0)))
        self.replica_max_abs_diff.append(worst)
        if worst > 0:
            logger.warning("%s: replicas' slot copies differ by up to %g", type(self).__name__, worst)

    def on_epoch_end(self, epoch, logs=None):
        self._check_replicas()
        super().on_epoch_end(epoch, logs)

    def _epoch_logs(self) -> dict:
        if self.epoch_log_mode is None:
            return {}
        if not self.tracked:
            return {}
        partials = np.asarray(ops.convert_to_numpy(self._capture()[0]))[None]
        table, squares = self._rows.combine(partials)
        if self.epoch_log_mode == "per_variable":
            return dict(zip(self._stat_keys, table[0].reshape(-1).tolist()))
        squares = squares[0]
        totals = dict.fromkeys(self._summary_keys, 0.0)
        for (slot, _), square in zip(self.tracked, squares):
            totals[f"{slot}/l2"] += float(square)
        return {key: float(np.sqrt(total)) for key, total in totals.items()}

    # -- full values -------------------------------------------------------------------------

    def values(self) -> dict[str, np.ndarray]:
        """The kept slot arrays: "iteration" → (n,), "<slot>/<path>" → (n, *shape)."""
        if not self.keep_values:
            raise ValueError(f"{type(self).__name__}: construct it with values=True to keep slot arrays")
        self.flush()
        entries = self._value_arrays
        out = {"iteration": np.array([e["iteration"] for e in entries], dtype=np.int64)}
        for key in getattr(self, "_value_keys", []):
            out[key] = np.stack([e[key] for e in entries]) if entries else np.zeros((0,))
        return out

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.values_path is not None:
            Path(self.values_path).parent.mkdir(parents=True, exist_ok=True)
            np.savez(Path(self.values_path), **self.values())
