"""The runnable examples in docs/ run as a user would run them, in a fresh process."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_python

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.mark.slow
def test_watch_optimizer_state_example(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    script = EXAMPLES / "watch_optimizer_state.py"
    proc = run_python(
        f"import runpy, sys; sys.argv = [{str(script)!r}, {str(tmp_path)!r}]; runpy.run_path(sys.argv[0], run_name='__main__')",
        cwd=tmp_path,
    )
    assert "MomentumSGD: 160 steps" in proc.stdout and "Adam: 160 steps" in proc.stdout
    assert image.imread(tmp_path / "optimizer-state.png").shape[2] in (3, 4)
    header = (tmp_path / "MomentumSGD-slots.csv").read_text().splitlines()[0]
    assert header.startswith("iteration,epoch,m/") and len((tmp_path / "MomentumSGD-slots.csv").read_text().splitlines()) == 161


@pytest.mark.slow
def test_tfa_migration_example_trains_saves_and_reloads_in_a_fresh_process(tmp_path):
    script = EXAMPLES / "tfa_migration.py"
    proc = run_python(
        f"import runpy, sys; sys.argv = [{str(script)!r}, {str(tmp_path)!r}]; runpy.run_path(sys.argv[0], run_name='__main__')",
        cwd=tmp_path,
    )
    first, last = map(float, proc.stdout.split("loss ")[1].split("\n")[0].split(" -> "))
    assert last < 0.05 * first, proc.stdout
    assert "saved" in proc.stdout and "after 128 steps" in proc.stdout
    assert "kerasopt_plugins.optimizers.yogi.Yogi, beta1=0.900" in proc.stdout
    reloaded = run_python(
        f"""
        import keras, kerasopt_plugins
        model = keras.saving.load_model({str(tmp_path / "radam.keras")!r})
        config = model.optimizer.get_config()
        print(type(model.optimizer).__name__, int(model.optimizer.iterations),
              config["learning_rate"]["class_name"], config["weight_decay"])
        """,
        cwd=tmp_path,
    )
    assert reloaded.stdout.split() == [
        "RectifiedAdam", "128", "TriangularCyclicalLearningRate", "0.0001"
    ], reloaded.stdout


@pytest.mark.slow
def test_wrappers_example_trains_ranger_and_swa_and_their_files_reload(tmp_path):
    script = EXAMPLES / "wrappers.py"
    proc = run_python(
        f"import runpy, sys; sys.argv = [{str(script)!r}, {str(tmp_path)!r}]; runpy.run_path(sys.argv[0], run_name='__main__')",
        cwd=tmp_path,
    )
    assert "recomputed over 12 batches" in proc.stdout, proc.stdout
    reloaded = run_python(
        f"""
        import keras, kerasopt_plugins
        for name in ("ranger", "swa"):
            model = keras.saving.load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            opt = model.optimizer
            print(type(opt).__name__, type(opt.inner_optimizer).__name__, int(opt.iterations))
        """,
        cwd=tmp_path,
    )
    assert reloaded.stdout.split() == ["Lookahead", "RectifiedAdam", "120", "SWA", "SGD", "120"], reloaded.stdout
