"""What a comparison writes and how it runs (issue #16): the output folder holds this run's files
only, summary.json is strict JSON with the environment, Ctrl-C keeps what was computed,
progress reports, schedules and a global rate, and bad argument values refused up front."""

from __future__ import annotations

import csv
import json
import math

import keras
import numpy as np
import pytest

from kerasopt_plugins.compare import compare_optimizers
from kerasopt_plugins.compare.report import MANIFEST, write_report
from kerasopt_plugins.compare.runner import ComparisonInterrupted, Progress
from kerasopt_plugins.compare.specs import SpecError, make_schedule, schedule_names


def strict_json(text):
    """json.loads that refuses NaN and Infinity (Python's own parser accepts them; JSON does not)."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_an_output_folder_holds_only_this_runs_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    quadratic = compare_optimizers(["vanilla_sgd", "momentum_sgd:momentum=0.9"], problem="quadratic", steps=20)
    first = {p.name for p in write_report(quadratic, out)}
    assert "paths.png" in first
    assert set(strict_json((out / MANIFEST).read_text())["files"]) == first
    seed = compare_optimizers(["vanilla_sgd", "momentum_sgd:momentum=0.9"], problem="seed", steps=20)
    second = {p.name for p in write_report(seed, out)}
    assert "paths.png" not in second
    assert sorted(p.name for p in out.iterdir()) == sorted(second | {"notes.txt", MANIFEST})
    write_report(seed, out, plots=False)  # --no-plots: the earlier figures go too
    assert sorted(p.name for p in out.iterdir()) == sorted({"series.csv", "summary.json", "notes.txt", MANIFEST})
    assert (out / "notes.txt").read_text() == "mine"


def test_files_no_manifest_lists_are_never_removed(tmp_path):
    """A figure of the user's own called paths.png, a manifest naming a file elsewhere."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "paths.png").write_bytes(b"the user's own")
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    (out / MANIFEST).write_text(json.dumps({"files": ["../precious.txt", str(outside), "series.csv"]}))
    write_report(compare_optimizers(["vanilla_sgd"], problem="seed", steps=5), out, plots=False)
    assert (out / "paths.png").read_bytes() == b"the user's own" and outside.read_text() == "keep"


def test_summary_is_strict_json_with_nulls_for_nan_and_the_environment(tmp_path):
    result = compare_optimizers(["vanilla_sgd:learning_rate=1e30", "cocob"], problem="quadratic", steps=10, seed=7)
    write_report(result, tmp_path, plots=False, command=["kerasopt", "compare", "vanilla_sgd:learning_rate=1e30"])
    summary = strict_json((tmp_path / "summary.json").read_text())
    broken, cocob = summary["runs"]
    assert broken["status"] == "diverged" and broken["diverged_at"] == 1 and broken["steps_run"] == 2
    assert broken["final_loss"] is None and None in broken["final_params"]  # NaN/inf -> null
    assert cocob["status"] == "completed" and cocob["config"]["learning_rate"] is None
    environment = summary["environment"]
    assert environment["backend"] == keras.backend.backend()
    assert environment["versions"]["keras"] == keras.__version__
    assert environment["versions"]["numpy"] == np.__version__ and environment["versions"]["kerasopt_plugins"]
    assert summary["seed"] == 7 and summary["command"] == ["kerasopt", "compare", "vanilla_sgd:learning_rate=1e30"]
    assert summary["interrupted"] is False and summary["not_run"] == []
    rows = list(csv.DictReader(open(tmp_path / "series.csv")))
    assert [r["step"] for r in rows if r["optimizer"] == result.runs[0].label] == ["0", "1", "2"]  # stopped at inf


def test_ctrl_c_keeps_every_finished_run_and_the_part_of_the_current_one(tmp_path, monkeypatch):
    from kerasopt_plugins.compare import runner

    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)  # a report at every step
    seen = []

    def progress(p: Progress):
        seen.append(p)
        if p.index == 1 and p.step >= 30 and not p.done:
            raise KeyboardInterrupt

    specs = ["vanilla_sgd", "momentum_sgd:momentum=0.9", "cmomentum_sgd:momentum=0.9"]
    with pytest.raises(ComparisonInterrupted) as stop:
        compare_optimizers(specs, problem="rosenbrock", steps=1500, progress=progress)
    result = stop.value.result
    assert isinstance(stop.value, KeyboardInterrupt)
    assert len(result.runs) == 2 and result.interrupted and len(result.planned) == 3
    first, second = result.runs
    assert first.status == "completed" and first.steps_run == 1500
    assert second.interrupted and second.status == "interrupted" and 30 <= second.steps_run < 1500
    assert len(second.loss) == second.steps_run + 1 and np.all(np.isfinite(second.loss))
    paths = write_report(result, tmp_path)
    summary = strict_json((tmp_path / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["not_run"] == [specs_label("cmomentum_sgd")]
    assert [r["status"] for r in summary["runs"]] == ["completed", "interrupted"]
    assert {p.name for p in paths} >= {"trajectory.png", "loss.png", "paths.png"}
    # progress: a start, reports during the run with steps done, and a done event per run
    first_events = [p for p in seen if p.index == 0]
    assert first_events[0].step == 0 and first_events[-1].done and first_events[-1].step == 1500
    assert any(0 < p.step < 1500 for p in first_events)


def specs_label(name):
    return {"cmomentum_sgd": "cmomentum_sgd(learning_rate=0.001, momentum=0.9, centered=True)"}[name]


def test_a_schedule_and_a_global_learning_rate_from_specs():
    result = compare_optimizers(["vanilla_sgd", "sgd:learning_rate=0.2"], problem="seed", steps=20,
                                learning_rate=0.1, schedule="cosine_decay:alpha=0.1")
    plain, keras_sgd = result.runs
    expected = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=20, alpha=0.1)
    np.testing.assert_allclose(plain.learning_rate, [float(expected(k)) for k in range(20)], rtol=1e-6)
    assert keras_sgd.learning_rate[0] == pytest.approx(0.2)  # a spec's own rate is the schedule's start
    assert plain.label == "vanilla_sgd(learning_rate=CosineDecay(0.1))"
    assert result.learning_rate == 0.1 and result.schedule == "cosine_decay:alpha=0.1"
    moves = -np.diff(plain.params[:21, 0])
    np.testing.assert_allclose(moves, plain.learning_rate, rtol=1e-5)  # the rate each step applied


def test_schedule_names_and_errors():
    assert {"cosine_decay", "exponential_decay", "triangular_cyclical_learning_rate"} <= set(schedule_names())
    assert type(make_schedule("cosine", 0.1, 10)).__name__ == "CosineDecay"  # the short form
    for text, match in [
        ("nosuch", r"--schedule 'nosuch': unknown schedule 'nosuch'; choose from cosine_decay"),
        ("exponential_decay", r"ExponentialDecay needs decay_rate"),
        ("cosine_decay:alpha=x", r"alpha must be a number, got 'x'"),
        ("cosine_decay:beta=1", r"CosineDecay has no argument 'beta'"),
    ]:
        with pytest.raises(SpecError, match=match):
            compare_optimizers(["adam"], problem="seed", steps=3, schedule=text)


def test_the_cli_help_lists_every_schedule():
    from kerasopt_plugins.cli import SCHEDULES

    assert sorted(SCHEDULES.split(", ")) == sorted(n for n in schedule_names() if n != "piecewise_constant_decay")


@pytest.mark.parametrize(
    "spec,match",
    [
        ("adamw:weight_decay=abc", r"optimizer spec 'adamw:weight_decay=abc': weight_decay must be a number, got 'abc'"),
        ("momentum_sgd:clipvalue=abc", r"optimizer spec 'momentum_sgd:clipvalue=abc': clipvalue must be a number, got 'abc'"),
        ("lion:beta_1=abc", r"optimizer spec 'lion:beta_1=abc': beta_1 must be a number, got 'abc'"),
        ("sgd:nesterov=1", r"nesterov must be true or false, got 1"),
        ("adam:clipnorm=true", r"clipnorm must be a number, got true"),
        ("adam:gradient_accumulation_steps=2.5", r"gradient_accumulation_steps must be an integer, got 2.5"),
        ("lookahead:sync_period=abc+adam", r"\(level 'lookahead:sync_period=abc'\): sync_period must be a number"),
        ("radam:learning_rate=fast", r"learning_rate must be a number, got 'fast'"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_before_any_training(spec, match):
    calls = []
    with pytest.raises(SpecError, match=match):
        compare_optimizers(["adam", spec], problem="seed", steps=3, progress=calls.append)
    assert calls == []


def test_bad_learning_rate_and_steps():
    for value in (0, -1.0, math.nan, True):
        with pytest.raises(ValueError, match="learning_rate must be a positive number"):
            compare_optimizers(["adam"], learning_rate=value)
