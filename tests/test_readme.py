"""The README's example works when pasted into a file, and its two commands are where CI reads them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_python

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_readme_example_runs_in_a_fresh_process(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) == 1, "README should hold exactly one Python example"
    out = run_python(blocks[0], cwd=tmp_path)
    name, iterations = out.stdout.split()
    assert name == "SignMomentum" and int(iterations) > 0
    assert (tmp_path / "signum.keras").exists()


def test_ci_reads_both_commands_from_the_readme():
    script = ROOT / ".ci" / "run"
    for which in ("main", "test"):
        assert f"<!-- command: {which} -->" in README
    extracted = subprocess.run(
        ["bash", "-c", f'source <(sed -n "/^readme_command()/,/^}}/p" {script}); readme_command test'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert ".venv/bin/python -m pytest &&" in extracted  # the whole suite first, on TensorFlow
    for backend in ("jax", "torch"):  # then the optimizer and callback suites on the others
        assert f"KERAS_BACKEND={backend} .venv/bin/python -m pytest tests/optimizers tests/callbacks" in extracted
    assert "pip install" in extracted
