"""The `kerasopt` command, run through the installed console script as a user would."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import regression_data, small_model

from kerasopt_plugins import MomentumSGD
from kerasopt_plugins.cli import parse_spec

pytestmark = pytest.mark.slow

KERASOPT = shutil.which("kerasopt", path=os.path.dirname(sys.executable)) or shutil.which("kerasopt")


def kerasopt(*args, cwd=None):
    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    return subprocess.run([KERASOPT, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_usage_error(proc, match):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert lines[0].startswith("kerasopt: error: ") and match in lines[0], lines[0]


def test_compare_with_defaults_writes_the_seed_comparison(tmp_path):
    out = tmp_path / "cmp"
    proc = kerasopt("compare", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "vanilla_sgd(learning_rate=0.05)" in proc.stdout
    assert "momentum_sgd(learning_rate=0.05, momentum=0.9)" in proc.stdout
    import matplotlib.image

    for name in ("trajectory.png", "loss.png", "learning_rate.png"):
        assert matplotlib.image.imread(out / name).ndim == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problem"] == "seed" and len(summary["runs"]) == 3
    vanilla, momentum, centered = summary["runs"]
    assert vanilla["steps_to_tolerance"] == centered["steps_to_tolerance"] < momentum["steps_to_tolerance"]
    assert all(r["seconds"] > 0 for r in summary["runs"])
    with open(out / "series.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 151
    first = [r for r in rows if r["optimizer"].startswith("momentum_sgd")]
    assert float(first[1]["m_0"]) == pytest.approx(0.1, rel=1e-6)  # (1 - 0.9) * gradient 1.0


def test_compare_specs_and_problem(tmp_path):
    proc = kerasopt("compare", "adam:learning_rate=0.1", "momentum_sgd:momentum=0.5,learning_rate=0.02",
                    "--problem", "quadratic", "--steps", "30", "--out", str(tmp_path), "--no-plots")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["label"] for r in summary["runs"]] == ["adam(learning_rate=0.1)", "momentum_sgd(learning_rate=0.02, momentum=0.5)"]
    assert summary["steps"] == 30
    assert not (tmp_path / "trajectory.png").exists()


def test_list_shows_names_slots_and_hyperparameters():
    proc = kerasopt("list", "*momentum*")
    assert proc.returncode == 0, proc.stderr
    assert "cmomentum_sgd" in proc.stdout and "momentum_sgd" in proc.stdout and "vanilla_sgd" not in proc.stdout
    assert "slots: m" in proc.stdout and "centered=True" in proc.stdout


def test_inspect_a_saved_model(tmp_path):
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer=MomentumSGD(learning_rate=0.05, momentum=0.9), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    proc = kerasopt("inspect", str(tmp_path / "m.keras"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["optimizer"].endswith("MomentumSGD") and report["iterations"] == 4
    assert report["config"]["momentum"] == 0.9
    first = report["slots"][0]
    slot = np.asarray(model.optimizer.get_slot(model.trainable_variables[0], "m"))
    assert first["slot"] == "m" and model.trainable_variables[0].path.endswith(first["variable"])
    assert first["l2"] == pytest.approx(float(np.sqrt(np.sum(slot.astype(np.float64) ** 2))), rel=1e-6)
    table = kerasopt("inspect", str(tmp_path / "m.keras"))
    assert table.returncode == 0 and "iterations: 4" in table.stdout and first["variable"] in table.stdout


@pytest.mark.parametrize(
    "args,match",
    [
        (["compare", "cmomentum", "--out", "{tmp}"], "Did you mean 'cmomentum_sgd'"),
        (["compare", "momentum_sgd:momentum", "--out", "{tmp}"], "malformed optimizer spec"),
        (["compare", ":momentum=0.9", "--out", "{tmp}"], "it needs a name"),
        (["compare", "momentum_sgd:momentum=2", "--out", "{tmp}"], "momentum must be in [0, 1), got 2"),
        (["compare", "--problem", "moon", "--out", "{tmp}"], "unknown problem 'moon'"),
        (["compare", "--steps", "0", "--out", "{tmp}"], "--steps must be a positive integer"),
        (["compare", "--out", "/proc/kerasopt-cannot-write"], "cannot write to output directory"),
        (["inspect", "{tmp}/missing.keras"], "no such file"),
        (["inspect", "{tmp}/notes.txt"], "is not a Keras model file"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, match, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    proc = kerasopt(*[a.format(tmp=tmp_path) for a in args])
    assert_usage_error(proc, match)
    assert "Traceback" not in proc.stderr


def test_help_lists_examples_for_every_command():
    for command in ([], ["compare"], ["list"], ["inspect"]):
        proc = kerasopt(*command, "--help")
        assert proc.returncode == 0 and "examples:" in proc.stdout


def test_parse_spec():
    assert parse_spec("momentum_sgd:momentum=0.9,centered=false,name=x") == (
        "momentum_sgd", {"momentum": 0.9, "centered": False, "name": "x"})
    assert parse_spec("adam") == ("adam", {})
