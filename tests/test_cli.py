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

    for name in ("trajectory.png", "loss.png", "slots.png"):
        assert matplotlib.image.imread(out / name).ndim == 3
    assert not (out / "learning_rate.png").exists()  # every rate is constant: no flat-line figure
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


# -- issue #16: errors that help, bugs that show, a fast start ---------------------------------


def test_version_and_one_line_argument_errors(kerasopt):
    import kerasopt_plugins

    result = kerasopt("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"kerasopt {kerasopt_plugins.__version__}"
    assert_usage_error(kerasopt("compare", "--steps", "abc"), "--steps must be a positive integer, got 'abc'")
    assert_usage_error(kerasopt("compare", "--learning-rate", "-1"), "--learning-rate must be a positive number, got '-1'")
    assert_usage_error(kerasopt(), "the following arguments are required: COMMAND")
    assert_usage_error(kerasopt("frobnicate"), "invalid choice: 'frobnicate'")


@pytest.mark.parametrize(
    "spec,match",
    [
        ("adamw:weight_decay=abc", "optimizer spec 'adamw:weight_decay=abc': weight_decay must be a number, got 'abc'"),
        ("momentum_sgd:clipvalue=abc", "optimizer spec 'momentum_sgd:clipvalue=abc': clipvalue must be a number, got 'abc'"),
        ("lion:beta_1=abc", "optimizer spec 'lion:beta_1=abc': beta_1 must be a number, got 'abc'"),
        ("adam:nosuch=1", "optimizer spec 'adam:nosuch=1': "),
    ],
)
def test_bad_values_are_one_line_before_any_training(kerasopt, tmp_path, spec, match):
    result = kerasopt("compare", "vanilla_sgd", spec, "--out", str(tmp_path / "out"))
    assert_usage_error(result, match)
    assert result.stdout == "" and "[1/" not in result.stderr and not (tmp_path / "out" / "summary.json").exists()


def test_a_bug_keeps_its_traceback(kerasopt, monkeypatch, tmp_path):
    """Only the usage errors the command raises itself are one-line exit-2 errors: a ValueError
    or TypeError from deeper down is a bug and propagates (the console script prints it, exit 1)."""
    from kerasopt_plugins import cli
    from kerasopt_plugins.compare import runner

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) deep inside")

    monkeypatch.setattr(runner, "_run_analytic", broken)
    with pytest.raises(TypeError, match="deep inside"):
        main(["compare", "vanilla_sgd", "--out", str(tmp_path), "--quiet"])
    monkeypatch.setattr(cli, "cmd_list", lambda args: (_ for _ in ()).throw(ValueError("a bug in list")))
    with pytest.raises(ValueError, match="a bug in list"):
        main(["list"])


@pytest.mark.slow
def test_help_and_version_answer_before_the_backend_is_imported(tmp_path):
    """`kerasopt --help` parses before importing Keras (it took 7-9 s): -X importtime lists every
    module imported; neither keras nor a backend may be among them. Also `python -m`."""
    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    for command in ([KERASOPT, "--help"], [KERASOPT, "compare", "--help"], [KERASOPT, "upgrade", "--help"], [KERASOPT, "--version"],
                    ["-m", "kerasopt_plugins", "--help"], [KERASOPT, "compare", "--steps", "abc"]):
        args = [sys.executable, "-X", "importtime", *command]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
        imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "import time:" in line}
        assert {"keras", "tensorflow", "jax", "torch", "numpy"}.isdisjoint(imported), (command, imported)
        assert proc.returncode == (2 if "abc" in command else 0), proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-m", "kerasopt_plugins", "list", "vanilla"], capture_output=True, text=True,
                          timeout=300, check=False, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("vanilla_sgd  (kerasopt_plugins"), proc.stderr


def test_list_filters_by_word_and_shows_wrappers_and_keras_builtins(kerasopt):
    result = kerasopt("list", "momentum")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith((" ", "\n"))]
    assert "momentum_sgd" in names and "cmomentum_sgd" in names and "vanilla_sgd" not in names
    adam = kerasopt("list", "ADAM").stdout
    assert "rectified_adam" in adam and "lazy_adam" in adam  # substring, any case
    assert "Keras built-ins (compare and compile accept these names too):" in adam
    builtins = adam.split("Keras built-ins")[1]
    assert "adam  " in builtins and "(keras.optimizers.Adam; built-in)" in builtins and "adamw" in builtins
    assert "lossscaleoptimizer" not in kerasopt("list").stdout.lower().split("keras built-ins")[1]
    wrappers = kerasopt("list", "look").stdout
    assert "lookahead  (kerasopt_plugins.wrappers.lookahead.Lookahead; wrapper)" in wrappers
    pattern = kerasopt("list", "*_sgd").stdout
    assert "vanilla_sgd" in pattern and "lookahead" not in pattern
    assert kerasopt("list", "zzz").stdout.startswith("no optimizer matches 'zzz'")


def test_ctrl_c_writes_what_was_finished_and_exits_130(kerasopt, monkeypatch, tmp_path):
    from kerasopt_plugins import cli
    from kerasopt_plugins.compare import runner

    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)

    class CtrlC(cli.ProgressPrinter):
        def __call__(self, p):
            super().__call__(p)
            if p.index == 1 and p.step == 40 and not p.done:
                raise KeyboardInterrupt

    monkeypatch.setattr(cli, "ProgressPrinter", CtrlC)
    out = tmp_path / "out"
    result = kerasopt("compare", "--out", str(out))
    assert result.returncode == 130
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"kerasopt: interrupted in momentum_sgd(learning_rate=0.05, momentum=0.9) after step 40 of 150: "
                    f"1 of 3 optimizers finished; wrote what was computed to {out}")
    assert "Traceback" not in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [r["steps_run"] for r in summary["runs"]] == [150, 40] and summary["interrupted"] is True
    assert summary["not_run"] == ["cmomentum_sgd(learning_rate=0.05, momentum=0.9, centered=True)"]
    assert (out / "trajectory.png").exists()


@pytest.mark.slow
def test_ctrl_c_on_a_real_run(tmp_path):
    """SIGINT to the console script in the middle of a long run: exit 130, one line, files."""
    import signal
    import time

    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    out = tmp_path / "out"
    proc = subprocess.Popen([KERASOPT, "compare", "--problem", "rosenbrock", "--steps", "1000000", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # "[1/3] vanilla_sgd(...)": training has started
    assert first.startswith("[1/3] vanilla_sgd"), first
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("kerasopt: interrupted in vanilla_sgd(learning_rate=0.001) after step ")
    assert "Traceback" not in stderr and stdout == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"][0]["status"] == "interrupted" and summary["runs"][0]["steps_run"] > 0


def test_progress_lines(capsys):
    import io

    from kerasopt_plugins.cli import ProgressPrinter
    from kerasopt_plugins.compare.runner import Progress

    log = io.StringIO()
    printer = ProgressPrinter(log, every_s=0.0)
    printer(Progress(0, 2, "adam(learning_rate=0.1)", 0, 1000, 0.0))
    printer(Progress(0, 2, "adam(learning_rate=0.1)", 500, 1000, 2.0))
    printer(Progress(0, 2, "adam(learning_rate=0.1)", 1000, 1000, 4.0, done=True))
    assert log.getvalue().splitlines() == [
        "[1/2] adam(learning_rate=0.1)",
        "[1/2] adam(learning_rate=0.1): 500/1000 steps, 250 steps/s, 2 s left",
        "[1/2] adam(learning_rate=0.1): 1000 steps in 4.0 s",
    ]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    printer = ProgressPrinter(screen)
    printer(Progress(1, 2, "sgd", 10, 100, 1.0))
    printer(Progress(1, 2, "sgd", 100, 100, 2.0, done=True))
    assert screen.getvalue() == "\r\x1b[K[2/2] sgd: 10/100 steps, 10 steps/s, 9 s left\r\x1b[K[2/2] sgd: 100 steps in 2.0 s\n"


def test_compare_takes_a_schedule_and_a_learning_rate(kerasopt, tmp_path):
    result = kerasopt("compare", "vanilla_sgd", "adam", "--problem", "quadratic", "--steps", "30",
                      "--learning-rate", "0.1", "--schedule", "cosine_decay", "--out", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["learning_rate"] == 0.1 and summary["schedule"] == "cosine_decay"
    assert (tmp_path / "learning_rate.png").exists() and result.stderr == ""
    assert_usage_error(kerasopt("compare", "--schedule", "cosine_dekay", "--out", str(tmp_path)), "Did you mean 'cosine_decay'?")


# -- inspect: files it cannot read, mixed precision ---------------------------------------------


def test_inspect_names_what_a_path_is(kerasopt, tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "old.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    (tmp_path / "m.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    for name, match in [
        ("folder", "is a folder; inspect reads a .keras file"),
        ("saved", "is a TensorFlow SavedModel folder"),
        ("old.h5", "is an HDF5 file, but not a model file that Keras 2 wrote"),  # Keras 2's: tests/legacy/test_cli.py
        ("m.weights.h5", "is a weights file (.weights.h5) without the optimizer's config"),
    ]:
        assert_usage_error(kerasopt("inspect", str(tmp_path / name)), match)


def _mixed_model(path):
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x, y = regression_data()
        model = small_model()
        model.compile(optimizer="momentum_sgd", loss="mse")  # Keras wraps it in a LossScaleOptimizer
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(path)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def test_inspect_a_mixed_precision_model_shows_its_real_state(kerasopt, tmp_path):
    """Keras saves compile(optimizer="momentum_sgd") without the LossScaleOptimizer it added and,
    loaded under the default float32 policy, skips the state with a warning: inspect reloads it
    under the policy it was trained with, and shows the real iterations and slots."""
    import keras

    model = _mixed_model(tmp_path / "mp.keras")
    inner = model.optimizer.inner_optimizer
    report = json.loads(kerasopt("inspect", str(tmp_path / "mp.keras"), "--json").stdout)
    assert report["state_loaded"] is True and report["loaded_under_policy"] == "mixed_float16"
    assert report["iterations"] == int(keras.ops.convert_to_numpy(model.optimizer.iterations)) > 0
    assert report["inner_optimizer"].endswith("MomentumSGD")
    for entry in report["slots"]:
        variable = next(v for v in model.trainable_variables if v.path.endswith(entry["variable"]))
        expected = np.sqrt(np.sum(np.asarray(inner.get_slot(variable, "m"), dtype=np.float64) ** 2))
        assert entry["l2"] == pytest.approx(float(expected), rel=1e-6) and expected > 0
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    text = kerasopt("inspect", str(tmp_path / "mp.keras")).stdout
    assert "loaded under the dtype policy it was trained with (mixed_float16)" in text


def test_inspect_says_so_when_keras_did_not_load_the_state(kerasopt, tmp_path, monkeypatch):
    from kerasopt_plugins import cli

    _mixed_model(tmp_path / "mp.keras")
    monkeypatch.setattr(cli, "_saved_mixed_policy", lambda path: None)  # no way to reload it
    result = kerasopt("inspect", str(tmp_path / "mp.keras"))
    assert result.returncode == 0
    assert "optimizer state: NOT LOADED. Keras did not load the optimizer's saved state: Skipping variable loading" in result.stdout
    assert "iterations: 0" not in result.stdout and "mean" not in result.stdout  # no zeros shown as state
    report = json.loads(kerasopt("inspect", str(tmp_path / "mp.keras"), "--json").stdout)
    assert report["state_loaded"] is False and report["iterations"] is None and report["slots"] == []


# -- issue #15 item 3: --import MODULE and $KERASOPT_IMPORT --------------------------------------

USER_MODULE = '''
from keras import ops

from kerasopt_plugins import PluginOptimizer, register_optimizer


@register_optimizer("{name}")
class {cls}(PluginOptimizer):
    """Steps by the sign of a moving average of the gradient."""

    slot_names = ("m",)

    def __init__(self, learning_rate=0.01, momentum: float = 0.9, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum

    def update_step(self, gradient, variable, learning_rate):
        m = self.get_slot(variable, "m")
        self.assign(m, self.momentum * m + ops.multiply(gradient, 1 - self.momentum))
        self.assign_sub(variable, ops.cast(learning_rate, variable.dtype) * ops.sign(m))
'''


@pytest.fixture
def user_modules(tmp_path, monkeypatch, clean_registry):
    """Write modules into tmp_path (the current folder); forget them afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    written = []

    def write(module, text):
        (tmp_path / f"{module}.py").write_text(text)
        written.append(module)
        return tmp_path / f"{module}.py"

    yield write
    for module in written:
        sys.modules.pop(module, None)


def test_import_a_module_by_name_for_compare_and_list(kerasopt, user_modules, tmp_path):
    user_modules("my_optimizers_a", USER_MODULE.format(name="sign_mom_a", cls="SignMomA"))
    before = kerasopt("compare", "sign_mom_a", "--out", str(tmp_path / "o"), "--quiet")
    assert_usage_error(before, "Unknown optimizer 'sign_mom_a'")
    result = kerasopt("compare", "sign_mom_a", "adam", "--import", "my_optimizers_a", "--problem", "quadratic",
                      "--steps", "10", "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "sign_mom_a(learning_rate=0.03)" in result.stdout
    listing = kerasopt("list", "sign_mom", "--import", "my_optimizers_a")
    assert listing.stdout.startswith("sign_mom_a  (my_optimizers_a.SignMomA)")


def test_import_a_py_file_and_the_environment_variable(kerasopt, user_modules, tmp_path, monkeypatch):
    path = user_modules("my_optimizers_b", USER_MODULE.format(name="sign_mom_b", cls="SignMomB"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a path works from any folder
    assert kerasopt("list", "sign_mom_b", "--import", str(path)).stdout.startswith("sign_mom_b  (my_optimizers_b.SignMomB)")
    user_modules("my_optimizers_c", USER_MODULE.format(name="sign_mom_c", cls="SignMomC"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERASOPT_IMPORT", "my_optimizers_c, json")
    assert kerasopt("list", "sign_mom_c").stdout.startswith("sign_mom_c  (my_optimizers_c.SignMomC)")


@pytest.mark.parametrize(
    "text,argument,match",
    [
        ("raise RuntimeError('boom')\n", "broken_mod", "--import broken_mod failed: RuntimeError: boom (at "),
        ("import dependency_that_is_missing\n", "broken_mod",
         "--import broken_mod failed: ModuleNotFoundError: No module named 'dependency_that_is_missing'"),
        (None, "no_such_module_here", "--import no_such_module_here: no module named 'no_such_module_here'"),
        (None, "missing/file.py", "--import missing/file.py: no such file"),
        (None, "not a name", "--import 'not a name': not a module name or a .py file"),
    ],
)
def test_a_module_that_cannot_be_imported_is_one_line_naming_it(kerasopt, user_modules, text, argument, match):
    if text is not None:
        user_modules("broken_mod", text)
    result = kerasopt("list", "--import", argument)
    assert_usage_error(result, match)


def test_the_environment_variable_is_named_in_its_errors(kerasopt, user_modules, monkeypatch):
    monkeypatch.setenv("KERASOPT_IMPORT", "no_such_module_env")
    assert_usage_error(kerasopt("list"), "KERASOPT_IMPORT no_such_module_env: no module named 'no_such_module_env'")


@pytest.mark.slow
def test_inspect_a_model_trained_with_a_user_optimizer_in_a_fresh_process(tmp_path):
    """The issue's case: `kerasopt inspect adabelief.keras --import my_optimizers`."""
    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    (tmp_path / "my_optimizers.py").write_text(USER_MODULE.format(name="sign_mom_d", cls="SignMomD"))
    from conftest import run_python

    run_python(
        """
        import keras, numpy as np
        import my_optimizers
        x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sign_mom_d", loss="mse")
        model.fit(x, x.sum(1, keepdims=True), batch_size=8, epochs=1, verbose=0)
        model.save("user.keras")
        """,
        cwd=tmp_path,
    )
    without = subprocess.run([KERASOPT, "inspect", "user.keras"], capture_output=True, text=True, cwd=tmp_path,
                             timeout=300, check=False)
    assert_usage_error(without, "cannot load 'user.keras' as a Keras model")
    proc = subprocess.run([KERASOPT, "inspect", "user.keras", "--import", "my_optimizers"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "optimizer: my_optimizers.SignMomD" in proc.stdout and "iterations: 4" in proc.stdout
