"""Writing a ComparisonResult to disk: every series as CSV, summary.json, the figures."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from kerasopt_plugins.compare.runner import ComparisonResult

__all__ = ["check_writable", "write_report", "write_series_csv", "write_summary"]


def check_writable(out_dir: str | os.PathLike) -> Path:
    """Create `out_dir` if needed and prove a file can be written there, before any work.

    Raises `OSError` naming the directory. Existing files are left alone.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output path {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".kerasopt-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"cannot write to output directory {str(out)!r}: {err.strerror or err}") from None
    return out


def write_series_csv(result: ComparisonResult, path: Path) -> Path:
    """One row per optimizer and step: params, loss, the rate applied, slot values."""
    dims = result.runs[0].params.shape[1]
    slot_columns = sorted({f"{k}_{i}" for r in result.runs for k, v in r.slots.items() for i in range(v.shape[1])})
    header = ["optimizer", "step", *(f"param_{d}" for d in range(dims)), "loss", "learning_rate", *slot_columns]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for run in result.runs:
            for k in range(result.steps + 1):
                row = {"optimizer": run.label, "step": k, "loss": repr(float(run.loss[k]))}
                row.update({f"param_{d}": repr(float(run.params[k, d])) for d in range(dims)})
                row["learning_rate"] = repr(float(run.learning_rate[k])) if k < result.steps else ""
                for key, values in run.slots.items():
                    row.update({f"{key}_{i}": repr(float(values[k, i])) for i in range(values.shape[1])})
                writer.writerow([row.get(column, "") for column in header])
    return path


def write_summary(result: ComparisonResult, path: Path) -> Path:
    path.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return path


def write_report(result: ComparisonResult, out_dir: str | os.PathLike, plots: bool = True) -> list[Path]:
    """Write series.csv, summary.json and (with `plots`) the PNG figures; return the paths."""
    out = check_writable(out_dir)
    paths = [write_series_csv(result, out / "series.csv"), write_summary(result, out / "summary.json")]
    if plots:
        from kerasopt_plugins.compare.plotting import save_all  # noqa: PLC0415

        paths += save_all(result, out)
    return paths
