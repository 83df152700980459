"""Where records go besides memory: streamed .csv / .jsonl files and TensorBoard.

Files are checked when the callback is constructed (the nearest existing folder is writable, an
existing file is replaced only if it is a log these loggers wrote, unless `if_exists` says
otherwise) and written whole lines at a time, so a run that stops at any point leaves a file
whose every line is valid. Missing parent folders are created when training starts, as Keras's
`TensorBoard` and `CSVLogger` do.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Iterable, Sequence

#: What to do with an existing file: "replace_log" (the default) replaces a log these loggers
#: wrote before (re-running a script) and refuses any other file; "error" refuses any
#: non-empty file; "overwrite" replaces any file; "append" adds to it (same columns).
IF_EXISTS = ("replace_log", "error", "overwrite", "append")
SUFFIXES = (".csv", ".jsonl")


def _owner_error(owner: str, message: str) -> ValueError:
    return ValueError(f"{owner}: {message}")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_writable_dir(owner: str, argument: str, directory: Path) -> None:
    """Refuse a folder that cannot be created or written, before any training. Missing parents
    are fine (they are created at train begin) when the nearest existing one is writable."""
    if directory.exists() and not directory.is_dir():
        raise _owner_error(owner, f"{argument}={str(directory)!r} exists and is not a folder")
    existing = _nearest_existing(directory if directory.exists() else directory.parent)
    if not existing.is_dir():
        raise _owner_error(owner, f"{argument}={str(directory)!r}: {str(existing)!r} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _owner_error(owner, f"{argument}={str(directory)!r}: folder {str(existing)!r} is not writable")


def is_log(path: Path) -> bool:
    """Whether `path` holds a log one of these loggers wrote: a CSV whose header starts with
    "iteration", JSON lines whose first record has an "iteration", an .npz of slot values
    with an "iteration" array. (What the default `if_exists="replace_log"` replaces.)"""
    try:
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                return "iteration.npy" in archive.namelist()
        with open(path, encoding="utf-8", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile):
        return False
    if path.suffix == ".csv":
        return next(csv.reader([first]), [""])[:1] == ["iteration"]
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "iteration" in record


def check_file(owner: str, argument: str, path: Any, if_exists: str, suffixes: Sequence[str]) -> Path:
    """Validate an output file argument; return it as a Path. Writes nothing."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{owner}: argument {argument!r} must be a str or path, got {type(path).__name__}")
    path = Path(path)
    if path.suffix not in suffixes:
        raise _owner_error(
            owner, f"{argument}={str(path)!r} must end in {' or '.join(suffixes)}, got {path.suffix or 'no suffix'!r}"
        )
    if if_exists not in IF_EXISTS:
        raise _owner_error(owner, f"if_exists must be one of {IF_EXISTS}, got {if_exists!r}")
    if path.exists():
        if path.is_dir():
            raise _owner_error(owner, f"{argument}={str(path)!r} is a folder")
        refuse = path.stat().st_size > 0 and (if_exists == "error" or (if_exists == "replace_log" and not is_log(path)))
        if refuse:
            why = "" if if_exists == "error" else " (it is not a log these loggers wrote, so it is not replaced by default)"
            raise _owner_error(
                owner,
                f"{argument}={str(path)!r} exists; pass if_exists='overwrite' or 'append' to write to it{why}",
            )
        if not os.access(path, os.W_OK):
            raise _owner_error(owner, f"{argument}={str(path)!r} is not writable")
    else:
        existing = _nearest_existing(path.parent)
        if not existing.is_dir():
            raise _owner_error(owner, f"{argument}={str(path)!r}: {str(existing)!r} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise _owner_error(owner, f"{argument}={str(path)!r}: folder {str(existing)!r} is not writable")
    return path


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": JSON has no literal for them
    return value


class RecordFile:
    """A .csv or .jsonl file that records are appended to, whole lines at a time."""

    def __init__(self, owner: str, path: Path, if_exists: str):
        self.owner = owner
        self.path = path
        self.if_exists = if_exists
        self.kind = path.suffix
        self._file: io.TextIOBase | None = None
        self._keys: list[str] | None = None
        self._lines: list[str] = []

    def open(self, keys: Sequence[str]) -> None:
        """Open for this training run; `keys` are the columns every record will have."""
        keys = list(keys)
        append = self.if_exists == "append" or self._keys is not None  # a second fit() appends
        if append and self.kind == ".csv" and self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as existing:
                header = next(csv.reader(existing), [])
            if header != keys:
                raise _owner_error(
                    self.owner,
                    f"cannot append to {str(self.path)!r}: its columns {header[:4]}… differ from "
                    f"this run's {keys[:4]}…",
                )
            write_header = False
        else:
            write_header = self.kind == ".csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if append else "w", newline="", encoding="utf-8")
        self._keys = keys
        if write_header:
            self._lines.append(self._csv_line(keys))
            self.flush()

    def _csv_line(self, values: Iterable[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def write(self, records: Iterable[dict]) -> None:
        for record in records:
            if self.kind == ".csv":
                self._lines.append(self._csv_line(record.get(k, "") for k in self._keys))
            else:
                self._lines.append(json.dumps({k: _json_value(v) for k, v in record.items()}) + "\n")

    def flush(self) -> None:
        if self._file is None or not self._lines:
            return
        self._file.write("".join(self._lines))  # one write: no line is ever left half on disk
        self._file.flush()
        self._lines = []

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


def summary_module(owner: str):
    """`tf.summary`, or a clear error naming what is missing."""
    try:
        import tensorboard  # noqa: F401  (tf.summary's writers live in this package)
        import tensorflow as tf
    except ModuleNotFoundError as error:
        raise _owner_error(
            owner,
            f"tensorboard_dir needs TensorFlow and the tensorboard package ({error.name!r} is not "
            "installed): pip install 'kerasopt_plugins[tensorflow,tensorboard]'",
        ) from None
    return tf.summary


class TensorBoardSink:
    """Per-step scalars (and optional histograms) in a TensorBoard event file."""

    def __init__(self, owner: str, directory: Path, skip: Sequence[str] = ("iteration", "epoch", "batch")):
        self.owner = owner
        self.directory = directory
        self.skip = tuple(skip)
        self._summary = summary_module(owner)
        self._writer = None

    def open(self) -> None:
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = self._summary.create_file_writer(str(self.directory))

    def write(self, records: Iterable[dict], histograms: Iterable[tuple[int, str, Any]] = ()) -> None:
        """Each record's fields except `skip` as scalars at step = its "iteration"."""
        with self._writer.as_default():
            for record in records:
                step = int(record["iteration"])
                for key, value in record.items():
                    if key not in self.skip and isinstance(value, (int, float)):
                        self._summary.scalar(key, value, step=step)
            for step, name, values in histograms:
                self._summary.histogram(name, values, step=step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
