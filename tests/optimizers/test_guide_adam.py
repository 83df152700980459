"""The guide's Adam (docs/examples/guide_adam.py): written once in keras.ops, Keras's Adam's numbers.

It is the benchmarks' "guide's Adam" and the proof that a rule written as
docs/writing-optimizers.md teaches, plus `elementwise = True`, gets the fast paths: here it must
compute what `keras.optimizers.Adam` computes, through packed execution on torch too.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import BACKEND, run_python

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "guide_adam.py"


def test_it_takes_the_steps_of_keras_adam(guide_adam, monkeypatch):
    if BACKEND == "torch":  # small packs, so the test's variables are packed
        from kerasopt_plugins.optimizers import _packed

        monkeypatch.setattr(_packed, "UNIT", 64)
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (300,), (), (20, 4)]
    start = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[rng.normal(size=s).astype("float32") for s in shapes] for _ in range(6)]
    results = []
    for make in (lambda: guide_adam(0.01), lambda: keras.optimizers.Adam(0.01)):
        optimizer = make()
        variables = [keras.Variable(w) for w in start]
        for g in grads:
            optimizer.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
        results.append([keras.ops.convert_to_numpy(v) for v in variables])
    for ours, theirs, first in zip(*results, start):
        assert not np.array_equal(ours, first)
        if BACKEND == "torch":  # Keras's torch Adam runs its own multi-tensor kernels (alpha= forms)
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        else:  # the same keras.ops operations in the same order
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.slow
def test_the_example_script_runs_and_a_saved_model_reloads(tmp_path):
    """As a user runs it, then loads its model in a process that imports the example first."""
    proc = run_python(f"import runpy; runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')", cwd=tmp_path)
    first, last = (float(x) for x in proc.stdout.split("loss ")[1].split(" -> "))
    assert last < 0.2 * first
    proc = run_python(
        f"""
        import importlib.util, sys, keras
        spec = importlib.util.spec_from_file_location("guide_adam", {str(EXAMPLE)!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules["guide_adam"] = module
        spec.loader.exec_module(module)  # the module that defines the optimizer, imported first
        model = keras.saving.load_model("guide_adam.keras")
        print(type(model.optimizer).__name__, int(model.optimizer.iterations), model.optimizer.learning_rate_at(0))
        """,
        cwd=tmp_path,
    )
    name, iterations, rate = proc.stdout.split()[-3:]
    assert (name, iterations) == ("GuideAdam", "160") and float(rate) == pytest.approx(0.01)
