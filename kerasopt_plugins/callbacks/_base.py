"""What the three loggers share: when to log, pending device captures, records, sinks."""

from __future__ import annotations

import collections
import logging
import os
import time
from pathlib import Path
from typing import Any

import keras

from kerasopt_plugins.callbacks import _live, _sinks
from kerasopt_plugins.callbacks._slots import may_skip_steps, unwrap
from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.optimizers._checks import check_integer

logger = logging.getLogger("kerasopt_plugins.callbacks")

# Pending captures are fetched at the latest after this many logged steps or seconds, so memory
# stays bounded and a file being streamed is never more than a few seconds behind.
FETCH_EVERY_CAPTURES = 512
FETCH_EVERY_SECONDS = 5.0

#: Compiled capture functions shared by every logger of this process (see `StepLogger.compiled`).
_SHARED: dict = {}
SHARED_MAX = 32


class StepLogger(keras.callbacks.Callback):
    """Base class: logs one record every `every` training steps.

    Subclasses say which keys a record has (`_start`), what to capture on the device at a
    logged step (`_capture`), how fetched captures become records (`_to_records`) and what
    goes into the epoch logs (`_epoch_logs`).

    The iteration of a logged step is the innermost optimizer's count (wrappers such as
    Lookahead and `LossScaleOptimizer` are seen through). It is counted on the host (start
    count + steps run) when no wrapper can skip a step, and checked against the optimizer's
    count at every epoch end; behind a wrapper that may skip steps (`LossScaleOptimizer`) it is
    read on the device.
    """

    #: Record fields not written to TensorBoard as scalars (the step is the iteration).
    _tensorboard_skip: tuple = ("iteration", "epoch", "batch")

    def __init__(
        self,
        every: int = 1,
        path: str | os.PathLike | None = None,
        if_exists: str = "replace_log",
        tensorboard_dir: str | os.PathLike | None = None,
        max_records: int | None = 100_000,
        epoch_logs: bool = True,
    ):
        super().__init__()
        owner = type(self).__name__
        self.epoch_logs = bool(epoch_logs)
        check_integer("every", every, low=1, owner=owner)
        check_integer("max_records", max_records, low=1, allow_none=True, owner=owner)
        self.every = int(every)
        self.max_records = max_records
        self.path = None if path is None else _sinks.check_file(owner, "path", path, if_exists, _sinks.SUFFIXES)
        self.if_exists = if_exists
        self._file = None if self.path is None else _sinks.RecordFile(owner, self.path, if_exists)
        self.tensorboard_dir = None
        self._tensorboard = None
        if tensorboard_dir is not None:
            self.tensorboard_dir = Path(tensorboard_dir)
            _sinks.check_writable_dir(owner, "tensorboard_dir", self.tensorboard_dir)
            self._tensorboard = _sinks.TensorBoardSink(owner, self.tensorboard_dir, self._tensorboard_skip)
        self._records: collections.deque = collections.deque(maxlen=max_records)
        self._pending: list[tuple[int, int, Any, tuple]] = []
        self._compiled: dict = {}
        self._count_on_host = True
        self._epoch = 0
        self._steps_seen = 0
        self._steps_before_epoch = 0
        self._last_fetch = time.monotonic()

    # -- what subclasses provide ---------------------------------------------------------------

    def _start(self) -> list[str]:
        raise NotImplementedError

    def _capture(self) -> tuple:
        raise NotImplementedError

    def _to_records(self, epochs: list[int], batches: list[int], iterations, fields: list) -> list[dict]:
        raise NotImplementedError

    def _epoch_logs(self) -> dict:
        return {}

    # -- records -------------------------------------------------------------------------------

    @property
    def records(self) -> list[dict]:
        """Every record kept so far (the newest `max_records`), oldest first."""
        self.flush()
        return list(self._records)

    def flush(self) -> None:
        """Fetch pending captures and write them to the file and TensorBoard now.

        Called at every epoch end and at train end; call it yourself after an interrupted
        `fit` (Keras skips `on_train_end` then) to get the records of the unfinished epoch.
        """
        if self._pending:
            pending, self._pending = self._pending, []
            epochs = [e for e, _, _, _ in pending]
            batches = [b for _, b, _, _ in pending]
            if self._count_on_host:
                iterations = [k for _, _, k, _ in pending]
            else:
                (iterations,) = _live.fetch([(k,) for _, _, k, _ in pending])
            fields = _live.fetch([c for _, _, _, c in pending])
            new = self._to_records(epochs, batches, [int(k) for k in iterations], fields)
            self._records.extend(new)
            if self._file is not None:
                self._file.write(new)
            if self._tensorboard is not None:
                self._tensorboard.write(new, self._histograms(new))
        if self._file is not None:
            self._file.flush()
        if self._tensorboard is not None:
            self._tensorboard.flush()
        self._last_fetch = time.monotonic()

    def _histograms(self, records: list[dict]) -> list:
        return []

    # -- Keras hooks -------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"{type(self).__name__}: the model has no Keras optimizer (got {optimizer!r}); "
                "compile it with one before fit"
            )
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self._count_on_host = not may_skip_steps(optimizer)
        self._counter = _keras_compat.step_counter(unwrap(optimizer))
        self._iterations = _live.LiveReader(self.model, [self._counter])
        self._iteration0 = int(keras.ops.convert_to_numpy(self._counter))
        keys = self._start()
        self._steps_seen = 0
        self._pending = []
        if self._file is not None:
            self._file.open(keys)
        if self._tensorboard is not None:
            self._tensorboard.open()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)
        self._steps_before_epoch = self._steps_seen

    def on_train_batch_end(self, batch, logs=None):
        # Keras passes the index of the execution's last step (steps_per_execution > 1); for a
        # short last execution it passes begin + steps_per_execution - 1, past the epoch's end.
        steps = (self.params or {}).get("steps")
        batch = int(batch) if not steps else min(int(batch), int(steps) - 1)
        done = self._steps_before_epoch + batch + 1
        previous, self._steps_seen = self._steps_seen, done
        if done // self.every == previous // self.every:
            return
        if self._count_on_host:
            iteration = self._iteration0 + done
        else:
            (iteration,) = _live.snapshot(*self._iterations.values())
        self._pending.append((self._epoch, batch, iteration, self._capture()))
        if (
            len(self._pending) >= FETCH_EVERY_CAPTURES
            or time.monotonic() - self._last_fetch > FETCH_EVERY_SECONDS
        ):
            self.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.flush()
        self._check_count()
        if logs is not None:
            logs.update(self._epoch_logs())

    def _check_count(self) -> None:
        """The host count must equal the optimizer's (variables are current at epoch end)."""
        if not self._count_on_host:
            return
        actual = int(keras.ops.convert_to_numpy(self._counter))
        if actual != self._iteration0 + self._steps_seen:
            logger.warning(
                "%s: optimizer.iterations is %d, expected %d from the steps run; something else "
                "changed it. Reading it on the device from now on.",
                type(self).__name__, actual, self._iteration0 + self._steps_seen,
            )
            self._count_on_host = False

    def compiled(self, key, make, fixed_signature: bool = False, shared: bool = False):
        """A compiled capture function, made once per `key` and reused by later `fit` calls.

        With `shared`, the function is kept for the whole process (the newest `SHARED_MAX`):
        a `key` that describes everything the function depends on (shapes, dtypes, options)
        lets a new logger on the same model skip the one-off trace and compile.
        """
        cache = _SHARED if shared else self._compiled
        key = (keras.backend.backend(), key) if shared else key
        if key not in cache:
            cache[key] = _live.compile_capture(make(), fixed_signature)
            while shared and len(cache) > SHARED_MAX:
                cache.pop(next(iter(cache)))
        return cache[key]

    def on_train_end(self, logs=None):
        self.flush()
        if self._file is not None:
            self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()

