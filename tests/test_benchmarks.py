"""The benchmark scripts keep working: each runs in --smoke mode and writes a well-formed result.

No timing is asserted anywhere: only that the numbers exist, are finite and are consistent.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, out: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke", "--out", str(out), *extra],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (path,) = out.glob("*.json")
    payload = json.loads(path.read_text())
    assert payload["machine"]["keras"] and payload["machine"]["cpu_count"] >= 1
    return payload


@pytest.mark.slow
def test_callback_overhead_smoke(tmp_path):
    results = run("callback_overhead.py", tmp_path)["results"]
    assert set(results) == {
        "no_callback", "noop_batch_callback", "slot_logger_every_100", "slot_logger_every_1",
        "learning_rate_logger_every_1", "iteration_logger_every_1",
    }
    for name, row in results.items():
        assert row["runs"] == 2 and row["min_s"] <= row["median_s"] <= row["max_s"]
        if name != "no_callback":
            assert math.isfinite(row["ratio_of_medians"]) and (row["target"] is None or row["target"] > 1)


@pytest.mark.slow
def test_step_time_smoke(tmp_path):
    rows = run("step_time.py", tmp_path, "--layouts", "one_big,bert_base")["results"]
    cases = {(r["layout"], r["mode"], r["case"]) for r in rows}
    assert ("bert_base", rows[0]["mode"], "momentum_sgd") in cases
    for row in rows:
        words = {"vanilla_sgd": 3, "keras_sgd": 3, "copy": row["words"]}.get(row["case"], 5)
        assert row["words"] == words and row["bytes_per_step"] == words * 4 * row["parameters"]
        assert math.isfinite(row["gb_per_s"]) and row["gb_per_s"] > 0
        if row["case"] == "momentum_sgd":
            assert row["twin"] == "keras_sgd_momentum" and math.isfinite(row["ratio_of_medians"])
            assert row["state_bytes"] == 4 * row["parameters"]  # one float32 slot per parameter
    assert {r["variables"] for r in rows if r["layout"] == "bert_base"} == {197}


@pytest.mark.slow
def test_import_time_smoke(tmp_path):
    result = run("import_time.py", tmp_path)["results"]
    assert result["importtime_beyond_keras_ms"]["median"] > 0


@pytest.mark.slow
def test_fit_time_smoke(tmp_path):
    rows = run("fit_time.py", tmp_path)["results"]
    assert set(rows) == {"momentum_sgd", "keras_sgd_momentum", "vanilla_sgd", "keras_sgd"}
    assert rows["momentum_sgd"]["twin"] == "keras_sgd_momentum" and math.isfinite(rows["momentum_sgd"]["ratio_of_medians"])
