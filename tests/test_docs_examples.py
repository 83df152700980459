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
