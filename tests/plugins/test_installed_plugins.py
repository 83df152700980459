"""The whole path of an installed plugin, in fresh processes: the sample plugin (examples/
sample_plugin, pip-installed into a temporary folder, tests/plugins/conftest.py) is found through
its entry point by `import kerasopt_plugins` alone and works by name everywhere; its own
conformance test passes, and so does the test of a package fresh from `kerasopt new`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import run_python

pytestmark = pytest.mark.slow


def test_the_sample_plugin_works_by_name_everywhere_without_being_imported(plugin_env, tmp_path):
    """One process: registry, get_optimizer, keras.optimizers.get, compile and fit by name, save,
    `kerasopt list` (which names the distribution); a second one, `kerasopt inspect`, reloads the
    file with keras.saving.load_model after importing only kerasopt_plugins."""
    trained = run_python(
        """
        import json, sys
        import keras, numpy as np
        import kerasopt_plugins
        assert "kerasopt_sample_plugin" in sys.modules, "not loaded by its entry point"
        info = kerasopt_plugins.optimizer_info("qhm")
        assert "qhm" in kerasopt_plugins.list_optimizers()
        assert type(kerasopt_plugins.get_optimizer("qhm", nu=0.5)).__name__ == "QHM"
        assert type(keras.optimizers.get("qhm")) is info.cls
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = x.sum(axis=1, keepdims=True)
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="qhm", loss="mse")
        loss = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
        model.save("model.keras")
        slots = [np.asarray(v, dtype="float64") for v in model.optimizer.variables if v.path.endswith("_m")]
        print(json.dumps({
            "record": info.as_dict(), "loss": loss, "iterations": int(model.optimizer.iterations),
            "slot_means": sorted(float(a.mean()) for a in slots),
        }))
        from kerasopt_plugins.cli import main
        main(["list", "qhm"])
        """,
        cwd=tmp_path, env=plugin_env,
    )
    first, listing = trained.stdout.split("\n", 1)
    result = json.loads(first)
    record = result["record"]
    assert record["class"] == "kerasopt_sample_plugin.optimizer.QHM"
    assert (record["distribution"], record["distribution_version"]) == ("kerasopt-sample-plugin", "0.1.0")
    assert record["entry_point"] == "qhm = kerasopt_sample_plugin.optimizer:QHM"
    assert record["sparse"] == "dense" and record["elementwise"] is True
    assert record["hyperparameter_ranges"]["nu"] == "[0, 1]"
    assert record["reference"].startswith("Ma & Yarats (2019)")
    assert result["loss"][-1] < 0.5 * result["loss"][0], result["loss"]
    assert result["iterations"] == 12
    assert "qhm  (kerasopt_sample_plugin.optimizer.QHM; from kerasopt-sample-plugin 0.1.0)" in listing

    inspected = subprocess.run(
        [sys.executable, "-m", "kerasopt_plugins", "inspect", "model.keras", "--json"],
        cwd=tmp_path, env={**os.environ, **plugin_env}, capture_output=True, text=True, timeout=300,
    )
    assert inspected.returncode == 0, inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["optimizer"] == "kerasopt_sample_plugin.optimizer.QHM"
    assert report["state_loaded"] and report["iterations"] == 12
    assert report["config"]["nu"] == 0.7 and report["config"]["momentum"] == 0.999
    assert sorted(s["mean"] for s in report["slots"]) == result["slot_means"]  # bit for bit


def test_the_conformance_kit_passes_on_the_sample_and_on_a_new_scaffold(plugin_site, plugin_env, tmp_path):
    """Each package's own tests/test_optimizer.py (an OptimizerContract with a NumPy reference),
    run with pytest as its author runs it, on the installed packages. test_backends is left out
    for CI time: the kit's reloads on other backends are this project's contract suite's."""
    from kerasopt_plugins.testing import PROMISES

    tests = [plugin_site.parent / "build-sample_plugin" / "tests",
             plugin_site.parent / "kerasopt-scaffold-check" / "tests"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--import-mode=importlib",
         "-k", "not test_backends", *map(str, tests)],
        cwd=tmp_path, env={**os.environ, **plugin_env}, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    per_class = len(PROMISES) - 1  # every promise but backends
    assert f"{2 * per_class} passed" in proc.stdout, proc.stdout[-3000:]
