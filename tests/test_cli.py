"""The `kerasopt` command: every case in-process through `kerasopt_plugins.cli.main(argv)`, and
one run of the installed console script, as a user would start it."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import regression_data, small_model

from kerasopt_plugins import MomentumSGD
from kerasopt_plugins.cli import main, parse_spec

KERASOPT = shutil.which("kerasopt", path=os.path.dirname(sys.executable)) or shutil.which("kerasopt")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def kerasopt(capsys):
    """`kerasopt ARGS...` run in this process: exit status (argparse's SystemExit included) and output."""

    def run(*args: str) -> Result:
        capsys.readouterr()  # drop what came before
        try:
            code = main(list(args))
        except SystemExit as exit_:  # --help, or an error argparse itself reports
            code = exit_.code
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def assert_usage_error(result, match):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("kerasopt: error: ") and match in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_installed_console_script_starts_quietly_and_exits_2_on_bad_input(tmp_path):
    """The one subprocess test: the entry point is installed, the exit status reaches the shell,
    and TensorFlow's start-up lines do not bury the one-line error (no TF_CPP_MIN_LOG_LEVEL set)."""
    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [KERASOPT, "compare", "cmomentum", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert_usage_error(proc, "Did you mean 'cmomentum_sgd'")
    assert proc.stdout == ""


def test_compare_with_defaults_writes_the_seed_comparison(kerasopt, tmp_path):
    out = tmp_path / "cmp"
    result = kerasopt("compare", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "vanilla_sgd(learning_rate=0.05)" in result.stdout
    assert "momentum_sgd(learning_rate=0.05, momentum=0.9)" in result.stdout
    import matplotlib.image

    for name in ("trajectory.png", "loss.png", "learning_rate.png"):
        assert matplotlib.image.imread(out / name).ndim == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problem"] == "seed" and len(summary["runs"]) == 3
    vanilla, momentum, centered = summary["runs"]
    assert vanilla["steps_to_tolerance"] == centered["steps_to_tolerance"] < momentum["steps_to_tolerance"]
    assert all(math.isfinite(r["seconds"]) for r in summary["runs"])  # reported, not judged
    with open(out / "series.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 151
    first = [r for r in rows if r["optimizer"].startswith("momentum_sgd")]
    assert float(first[1]["m_0"]) == pytest.approx(0.1, rel=1e-6)  # (1 - 0.9) * gradient 1.0


def test_compare_specs_and_problem(kerasopt, tmp_path):
    result = kerasopt("compare", "adam:learning_rate=0.1", "momentum_sgd:momentum=0.5,learning_rate=0.02",
                      "--problem", "quadratic", "--steps", "30", "--out", str(tmp_path), "--no-plots")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["label"] for r in summary["runs"]] == ["adam(learning_rate=0.1)", "momentum_sgd(learning_rate=0.02, momentum=0.5)"]
    assert summary["steps"] == 30
    assert not (tmp_path / "trajectory.png").exists()


def test_list_shows_names_slots_and_hyperparameters(kerasopt):
    result = kerasopt("list", "*momentum*")
    assert result.returncode == 0, result.stderr
    assert "cmomentum_sgd" in result.stdout and "momentum_sgd" in result.stdout and "vanilla_sgd" not in result.stdout
    assert "slots: m" in result.stdout and "centered=True" in result.stdout


def test_inspect_a_saved_model(kerasopt, tmp_path):
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer=MomentumSGD(learning_rate=0.05, momentum=0.9), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    result = kerasopt("inspect", str(tmp_path / "m.keras"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
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
def test_bad_input_exits_2_with_one_line(kerasopt, args, match, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    result = kerasopt(*[a.format(tmp=tmp_path) for a in args])
    assert_usage_error(result, match)
    assert result.stdout == ""


@pytest.mark.parametrize("command", [[], ["compare"], ["list"], ["inspect"]], ids=["kerasopt", "compare", "list", "inspect"])
def test_help_lists_examples_for_every_command(kerasopt, command):
    result = kerasopt(*command, "--help")
    assert result.returncode == 0 and "examples:" in result.stdout


def test_parse_spec():
    assert parse_spec("momentum_sgd:momentum=0.9,centered=false,name=x") == (
        "momentum_sgd", {"momentum": 0.9, "centered": False, "name": "x"})
    assert parse_spec("adam") == ("adam", {})


# -- wrapped optimizers (issue #13 item 5): compare specs with wrappers, inspect's nesting -------


def test_compare_wrapped_specs_labels_slots_and_rates(kerasopt, tmp_path):
    result = kerasopt("compare", "radam", "lookahead:sync_period=5,slow_step_size=0.8+radam",
                      "swa:average_period=4+lookahead+sgd:momentum=0.9,learning_rate=0.01",
                      "--problem", "quadratic", "--steps", "20", "--out", str(tmp_path), "--no-plots")
    assert result.returncode == 0, result.stderr
    labels = [
        "rectified_adam(learning_rate=0.03)",
        "lookahead(sync_period=5, slow_step_size=0.8)+rectified_adam(learning_rate=0.03)",
        "swa(average_period=4)+lookahead+sgd(learning_rate=0.01, momentum=0.9)",
    ]
    assert all(label in result.stdout for label in labels)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["label"] for r in summary["runs"]] == labels
    assert [r["optimizer"] for r in summary["runs"]] == ["rectified_adam", "lookahead+rectified_adam", "swa+lookahead+sgd"]
    assert summary["runs"][1]["config"]["sync_period"] == 5
    # RectifiedAdam alone and inside Lookahead agree until the first sync (after step 5)
    plain, wrapped = summary["runs"][0], summary["runs"][1]
    assert plain["final_params"] != wrapped["final_params"]
    with open(tmp_path / "series.csv") as handle:
        rows = list(csv.DictReader(handle))
    by_label = {label: [r for r in rows if r["optimizer"] == label] for label in labels}
    for k in range(5):
        assert by_label[labels[0]][k]["param_0"] == by_label[labels[1]][k]["param_0"]
    assert by_label[labels[0]][6]["param_0"] != by_label[labels[1]][6]["param_0"]
    # the slow weights start as the weights; the rate is the inner optimizer's
    assert by_label[labels[1]][0]["slow_0"] == by_label[labels[1]][0]["param_0"]
    assert by_label[labels[0]][0]["slow_0"] == ""
    assert {r["learning_rate"] for r in by_label[labels[2]][:-1]} == {repr(float(np.float32(0.01)))}
    assert all(by_label[labels[2]][0][c] != "" for c in ("average_0", "slow_0", "momentum_0"))


@pytest.mark.parametrize(
    "spec,match",
    [
        ("lookahead", "optimizer spec 'lookahead': 'lookahead' is a wrapper and needs an optimizer to wrap, e.g. lookahead+adam"),
        ("radam+lookahead", "optimizer spec 'radam+lookahead': 'radam' is not a wrapper"),
        ("lookahed+radam", "Did you mean 'lookahead'?"),
        ("lookahead:learning_rate=0.1+radam", "learning_rate belongs on the optimizer, the last level"),
        ("lookahead:sync_period=0+radam", "optimizer spec 'lookahead:sync_period=0+radam': Lookahead: sync_period must be an int >= 1, got 0"),
        ("swa:every=3+radam", "optimizer spec 'swa:every=3+radam': SWA() got an unexpected keyword argument 'every'"),
        ("lookahead+radm", "optimizer spec 'lookahead+radm': Unknown optimizer 'radm'. Did you mean 'radam'"),
        ("lookahead+radam:beta_1", "malformed optimizer spec 'lookahead+radam:beta_1': expected KEY=VALUE, got 'beta_1'"),
        ("lookahead++radam", "malformed optimizer spec 'lookahead++radam'"),
    ],
)
def test_bad_wrapped_specs_exit_2_with_one_line_naming_the_spec(kerasopt, tmp_path, spec, match):
    result = kerasopt("compare", "radam", spec, "--out", str(tmp_path / "out"))
    assert_usage_error(result, match)
    assert result.stdout == "" and "[1/" not in result.stderr  # refused before any training
    assert not (tmp_path / "out" / "summary.json").exists()


def test_compare_help_documents_the_wrapped_spec_syntax(kerasopt):
    result = kerasopt("compare", "--help")
    assert result.returncode == 0
    assert "lookahead:sync_period=5+radam" in result.stdout and "outermost first" in result.stdout
    assert "Wrappers: lookahead, swa, moving_average" in result.stdout


def _save_wrapped_model(path):
    from kerasopt_plugins import get_optimizer
    from kerasopt_plugins.wrappers import SWA, Lookahead

    x, y = regression_data()
    model = small_model()
    swa = SWA(get_optimizer("radam", learning_rate=0.01), average_period=2)
    optimizer = Lookahead(swa, sync_period=3, slow_step_size=0.25)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 8 steps
    model.save(path)
    return model, optimizer, swa


def test_inspect_shows_the_nesting_and_every_levels_slots(kerasopt, tmp_path):
    model, lookahead, swa = _save_wrapped_model(tmp_path / "w.keras")
    result = kerasopt("inspect", str(tmp_path / "w.keras"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["optimizer"].endswith("Lookahead") and report["inner_optimizer"].endswith("RectifiedAdam")
    assert report["iterations"] == 8
    assert [level["summary"] for level in report["levels"]] == [
        "Lookahead(sync_period=3, slow_step_size=0.25)",
        "SWA(start_averaging=0, average_period=2)",
        "RectifiedAdam(learning_rate=0.01)",
    ]
    assert [level["slots"] for level in report["levels"]] == [["slow"], ["average"], ["m", "v"]]
    assert "optimizer" not in report["levels"][0]["config"] and report["levels"][1]["config"]["average_period"] == 2
    variables = model.trainable_variables
    for entry in report["slots"]:
        owner = {"slow": lookahead, "average": swa}.get(entry["slot"])
        variable = next(v for v in variables if v.path.endswith(entry["variable"]))
        if owner is None:
            slot = model.optimizer.inner_optimizer.inner_optimizer.get_slot(variable, entry["slot"])
        else:
            slot = owner.get_slot(variable, entry["slot"])
        expected = np.sqrt(np.sum(np.asarray(slot, dtype=np.float64) ** 2))
        assert entry["l2"] == pytest.approx(float(expected), rel=1e-6), entry
        assert entry["level"] == {"slow": 0, "average": 1}.get(entry["slot"], 2)
    assert {e["slot"] for e in report["slots"]} == {"slow", "average", "m", "v"}


@pytest.mark.slow
def test_inspect_a_wrapped_model_in_a_fresh_process(tmp_path):
    """As a user runs it: the console script, a new interpreter, no custom objects."""
    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    _save_wrapped_model(tmp_path / "w.keras")
    proc = subprocess.run([KERASOPT, "inspect", str(tmp_path / "w.keras")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("nesting (outermost first):")
    nesting = [" ".join(line.split()) for line in lines[start + 1 : start + 4]]
    assert nesting == [
        "Lookahead(sync_period=3, slow_step_size=0.25) slots: slow",
        "> SWA(start_averaging=0, average_period=2) slots: average",
        "> RectifiedAdam(learning_rate=0.01) slots: m, v",
    ]
    assert lines[start + 2].index(">") < lines[start + 3].index(">")  # indented one level deeper each
    assert "iterations: 8" in lines and "config of SWA:" in lines and "    average_period: 2" in lines
    table = lines[lines.index(next(line for line in lines if line.startswith("slot "))):]
    assert table[0].split() == ["slot", "level", "variable", "shape", "mean", "std", "min", "max", "l2"]
    assert {row.split()[0] for row in table[2:]} == {"slow", "average", "m", "v"}
    assert {row.split()[1] for row in table[2:] if row.split()[0] == "average"} == {"SWA"}
