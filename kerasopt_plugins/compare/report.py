"""Writing a ComparisonResult to disk: every series as CSV, summary.json, the figures.

The output folder holds one comparison: `write_report` records the files it writes in a
manifest (`MANIFEST`) and, on the next run into the same folder, removes the files the previous
run wrote that this one did not (a `paths.png` left from a 2-D problem, figures after
``--no-plots``). It never touches a file that no manifest lists: a user's own files stay.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Sequence

from kerasopt_plugins.compare.runner import ComparisonResult

__all__ = ["MANIFEST", "check_writable", "write_report", "write_series_csv", "write_summary"]

#: The file in the output folder listing what the last `write_report` there wrote.
MANIFEST = ".kerasopt-compare-manifest.json"


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


def _cell(value: float) -> str:
    return repr(float(value))


def write_series_csv(result: ComparisonResult, path: Path) -> Path:
    """One row per optimizer and step run: params, loss, the rate applied, slot values.

    Columns ``param_<d>`` are the tracked parameters (`result.tracked` names them); a run that
    stopped early (diverged to NaN, or interrupted) has rows up to its last step only.
    """
    dims = result.runs[0].params.shape[1] if result.runs else 0
    slot_columns = list(dict.fromkeys(f"{k}_{i}" for r in result.runs for k, v in r.slots.items() for i in range(v.shape[1])))
    header = ["optimizer", "step", *(f"param_{d}" for d in range(dims)), "loss", "learning_rate", *slot_columns]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for run in result.runs:
            for k in range(run.steps_run + 1):
                row = {"optimizer": run.label, "step": k, "loss": _cell(run.loss[k])}
                row.update({f"param_{d}": _cell(run.params[k, d]) for d in range(dims)})
                row["learning_rate"] = _cell(run.learning_rate[k]) if k < run.steps_run else ""
                for key, values in run.slots.items():
                    row.update({f"{key}_{i}": _cell(values[k, i]) for i in range(values.shape[1])})
                writer.writerow([row.get(column, "") for column in header])
    return path


def write_summary(result: ComparisonResult, path: Path, command: Sequence[str] | None = None) -> Path:
    """summary.json: `result.summary()` plus the command line; strict JSON (NaN/inf are null)."""
    summary = result.summary()
    summary["command"] = None if command is None else [str(word) for word in command]
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return path


def _previous_files(out: Path) -> list[str]:
    try:
        listed = json.loads((out / MANIFEST).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    # plain names of this folder only: a manifest never sends a removal elsewhere
    return [n for n in listed if isinstance(n, str) and n and Path(n).name == n and n not in (".", "..", MANIFEST)]


def write_report(
    result: ComparisonResult,
    out_dir: str | os.PathLike,
    plots: bool = True,
    command: Sequence[str] | None = None,
) -> list[Path]:
    """Write series.csv, summary.json and (with `plots`) the figures; return the paths written.

    Files an earlier `write_report` wrote into `out_dir` and this one did not are removed
    (see the module docstring); the manifest then lists this run's files.
    """
    out = check_writable(out_dir)
    previous = _previous_files(out)
    paths = [write_series_csv(result, out / "series.csv"), write_summary(result, out / "summary.json", command)]
    if plots:
        from kerasopt_plugins.compare.plotting import save_all  # noqa: PLC0415

        paths += save_all(result, out)
    written = {p.name for p in paths}
    for name in previous:
        stale = out / name
        if name not in written and stale.is_file() and not stale.is_symlink():
            stale.unlink()
    (out / MANIFEST).write_text(json.dumps({"written_by": "kerasopt compare", "files": sorted(written)}, indent=2) + "\n")
    return paths
