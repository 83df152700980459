"""Shared test helpers: small real models, fresh Python processes, registry examples and hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasopt_plugins  # noqa: E402,F401  (registers the optimizers before any test module imports)
from kerasopt_plugins import registry  # noqa: E402

BACKEND = keras.backend.backend()


def computed_once(tmp_path_factory, name: str, compute):
    """`compute()` (a JSON-serialisable value) run once per test session even under pytest-xdist:
    the first worker to get here computes and stores it in the session's shared temporary root;
    the others wait for it and read it back. For costly fixtures (training in fresh processes,
    installing packages), which xdist would otherwise run once per worker. (`--dist=loadgroup`
    cannot keep a module on one worker here: with pytest 9.2 xdist's loadgroup silently stops
    grouping, pytest-dev/pytest-xdist#1386.)"""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return compute()
    from filelock import FileLock

    path = tmp_path_factory.getbasetemp().parent / f"computed-once-{name}.json"
    with FileLock(f"{path}.lock"):
        if path.is_file():
            return json.loads(path.read_text())
        value = compute()
        path.write_text(json.dumps(value))
        return value


def run_python(code: str, *, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run `code` in a fresh interpreter; return CompletedProcess, raising with its output on failure."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"fresh process failed ({proc.returncode}):\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr[-6000:]}"
        )
    return proc


def regression_data(n: int = 32, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1)) + 0.1).astype("float32")
    return x, y


def example_optimizer(name: str, **extra) -> keras.optimizers.Optimizer:
    """Registered optimizer `name` built from its record's `example_config`, updated by `extra`.

    The one way a test parametrized over the registry makes an optimizer: what exercises its
    state (momentum > 0, ...) is declared once, at registration, not re-decided here.
    """
    info = registry.optimizer_info(name)
    return info.cls(**{**info.example_config, **extra})


def small_model(features: int = 4, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((features,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)]
    )


@pytest.fixture
def clean_registry():
    """Registrations made inside a test are undone after it."""
    before = set(registry.list_optimizers())
    yield
    for name in set(registry.list_optimizers()) - before:
        registry.unregister_optimizer(name)


def dump_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


@pytest.fixture
def guide_adam():
    """docs/examples/guide_adam.py's GuideAdam, registered for the test and unregistered after it.

    Not registered for the whole session: the tests parametrized over the registry reload
    models in fresh processes, where only kerasopt_plugins' own optimizers are importable.
    """
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "docs" / "examples" / "guide_adam.py"
    spec = importlib.util.spec_from_file_location("guide_adam", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["guide_adam"] = module
    spec.loader.exec_module(module)
    yield module.GuideAdam
    registry.unregister_optimizer("guide_adam")
    del sys.modules["guide_adam"]


# The kit's OptimizerContract tests that start processes (a fresh process of this backend, one per
# other backend): a few seconds each, so they belong to the slow set here ("pytest -m 'not slow'"
# is the quick loop). The kit itself cannot mark them: an author's project may not register
# a "slow" marker.
_PROCESS_PROMISES = ("test_fresh_process", "test_backends")


def pytest_collection_modifyitems(config, items):
    from kerasopt_plugins.testing import OptimizerContract

    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, OptimizerContract) and item.originalname in _PROCESS_PROMISES:
            item.add_marker(pytest.mark.slow)
