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


WORDS = {"momentum": 5, "vanilla": 3, "adam": 7}  # words read + written per parameter, per pair
PAIR_OF = {
    "momentum_sgd": "momentum", "keras_sgd_momentum": "momentum", "optax_sgd_momentum": "momentum",
    "vanilla_sgd": "vanilla", "keras_sgd": "vanilla", "guide_adam": "adam", "keras_adam": "adam",
}
SLOTS = {"momentum_sgd": 1, "keras_sgd_momentum": 1, "vanilla_sgd": 0, "keras_sgd": 0, "guide_adam": 2, "keras_adam": 2}


def check_step_time_rows(rows):
    """What every step_time row must satisfy, whatever the layout, mode or backend."""
    for row in rows:
        words = row["words"] if row["case"] == "copy" else WORDS[PAIR_OF[row["case"]]]
        assert row["words"] == words and row["bytes_per_step"] == words * 4 * row["elements"]
        assert 0 < row["elements"] <= row["parameters"]
        assert math.isfinite(row["gb_per_s"]) and row["gb_per_s"] > 0
        assert row["workspace_bytes"] >= 0 and row["state_bytes"] >= 0
        if row["case"] in SLOTS:
            # float32 slots, one per parameter each: Keras's and ours alike
            assert row["state_bytes"] == SLOTS[row["case"]] * 4 * row["parameters"]
        if row["case"] in ("momentum_sgd", "vanilla_sgd", "guide_adam"):
            assert row["twin"] == {"momentum_sgd": "keras_sgd_momentum", "vanilla_sgd": "keras_sgd",
                                   "guide_adam": "keras_adam"}[row["case"]]
            assert math.isfinite(row["ratio_of_medians"]) and row["round_ratio_min"] <= row["round_ratio_max"]


@pytest.mark.slow
def test_step_time_smoke(tmp_path):
    rows = run("step_time.py", tmp_path, "--layouts", "one_big,bert_base", "--pairs", "momentum,vanilla")["results"]
    cases = {(r["layout"], r["mode"], r["case"]) for r in rows}
    assert ("bert_base", rows[0]["mode"], "momentum_sgd") in cases
    check_step_time_rows(rows)
    assert all(r["elements"] == r["parameters"] and r["gradient"] == "dense" for r in rows)
    assert {r["variables"] for r in rows if r["layout"] == "bert_base"} == {197}


@pytest.mark.slow
def test_step_time_smoke_adam_and_sparse_embedding(tmp_path):
    rows = run("step_time.py", tmp_path, "--layouts", "one_big,sparse_embedding")["results"]
    check_step_time_rows(rows)
    modes = {r["mode"] for r in rows}
    for layout in ("one_big", "sparse_embedding"):
        for mode in modes:
            got = {r["case"] for r in rows if (r["layout"], r["mode"]) == (layout, mode)}
            assert {"momentum_sgd", "keras_sgd_momentum", "vanilla_sgd", "keras_sgd", "guide_adam",
                    "keras_adam", "copy"} <= got
    sparse = [r for r in rows if r["layout"] == "sparse_embedding"]
    assert {(r["variables"], r["parameters"] % 30522) for r in sparse} == {(1, 0)}  # one 30522-row table
    width = sparse[0]["parameters"] // 30522
    for row in sparse:
        if row["gradient"] == "IndexedSlices":  # TensorFlow: a plain step needs the 64 touched rows only
            assert row["elements"] == (64 * width if PAIR_OF.get(row["case"]) == "vanilla" else row["parameters"])
        else:
            assert row["gradient"].startswith("dense") and row["elements"] == row["parameters"]


@pytest.mark.slow
def test_import_time_smoke(tmp_path):
    result = run("import_time.py", tmp_path)["results"]
    assert result["importtime_beyond_keras_ms"]["median"] > 0


FIT_CASES = {"momentum_sgd", "keras_sgd_momentum", "vanilla_sgd", "keras_sgd", "guide_adam", "keras_adam"}


@pytest.mark.slow
@pytest.mark.parametrize("model, pairs, cases", [
    ("embedding", "momentum,vanilla,adam", FIT_CASES),
    ("mlp", "adam", {"guide_adam", "keras_adam"}),
])
def test_fit_time_smoke(tmp_path, model, pairs, cases):
    rows = run("fit_time.py", tmp_path, "--model", model, "--pairs", pairs)["results"]
    assert set(rows) == cases
    for name, row in rows.items():
        assert row["model"] == model and row["runs"] == 2 and row["min_s"] <= row["median_s"] <= row["max_s"]
        assert row["state_bytes"] == SLOTS[name] * 4 * row["parameters"] and row["workspace_bytes"] >= 0
    assert rows["guide_adam"]["twin"] == "keras_adam" and math.isfinite(rows["guide_adam"]["ratio_of_medians"])
    if "momentum_sgd" in rows:
        assert rows["momentum_sgd"]["twin"] == "keras_sgd_momentum" and math.isfinite(rows["momentum_sgd"]["ratio_of_medians"])


@pytest.mark.slow
def test_step_time_smoke_every_tfa_port_and_every_wrapper_against_adam(tmp_path):
    """`--pairs ports` times every registered tensorflow-addons port beside Keras's Adam, with
    the bytes its own slots move and its state measured: no hand-kept list of ports;
    `--pairs wrappers` each wrapper around Keras's Adam beside Adam alone (one run for both)."""
    import kerasopt_plugins

    ports = {
        n for n in kerasopt_plugins.list_optimizers()
        if any(k.startswith("Addons>") for k in kerasopt_plugins.optimizer_info(n).legacy_keys)
    }
    wrappers = {"lookahead", "swa", "moving_average", "decoupled_adam"}
    assert len(ports) >= 2
    rows = run("step_time.py", tmp_path, "--layouts", "one_big", "--pairs", "ports,wrappers")["results"]
    for mode in {r["mode"] for r in rows}:
        assert {r["case"] for r in rows if r["mode"] == mode} == ports | wrappers | {"keras_adam", "copy"}
    for row in rows:
        if row["case"] in ports:
            assert row["twin"] == "keras_adam" and math.isfinite(row["ratio_of_medians"])
            slots = row["state_bytes"] // (4 * row["parameters"])
            assert row["words"] == 3 + 2 * slots and row["bytes_per_step"] == row["words"] * 4 * row["elements"]
        if row["case"] in wrappers:
            assert row["twin"] == "keras_adam" and math.isfinite(row["ratio_of_medians"])
            assert row["words"] > 7
