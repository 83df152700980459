"""The README's example works when pasted into a file, and its two commands are where CI reads them."""

from __future__ import annotations

import re
import shlex
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
    runs = []  # (KERAS_BACKEND, test paths) of each pytest run, in order; options such as -n 2 are free
    for command in extracted.split("&&"):
        words = shlex.split(command)
        if "pytest" not in words:
            continue
        python = words.index(".venv/bin/python")
        assert words[python + 1 : python + 3] == ["-m", "pytest"], command
        env = dict(w.split("=", 1) for w in words[:python])
        runs.append((env.get("KERAS_BACKEND", "tensorflow"), [w for w in words[python:] if w.startswith("tests")]))
    assert runs == [
        ("tensorflow", []),  # the whole suite first, on TensorFlow
        ("jax", ["tests/optimizers", "tests/callbacks", "tests/addons", "tests/wrappers"]),  # then the
        ("torch", ["tests/optimizers", "tests/callbacks", "tests/addons", "tests/wrappers"]),  # optimizer, callback, tfa, wrapper suites
    ], extracted
    assert "pip install" in extracted
