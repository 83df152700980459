"""compare_optimizers: the tutorial's claims in the runner's data, identical starts, exact series."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kerasopt_plugins import CMomentumSGD
from kerasopt_plugins.compare import PROBLEMS, compare_optimizers
from kerasopt_plugins.compare.report import write_report

SEED_SPECS = ["vanilla_sgd", ("momentum_sgd", {"momentum": 0.9}), ("cmomentum_sgd", {"momentum": 0.9})]


@pytest.fixture(scope="module")
def seed_result():
    return compare_optimizers(SEED_SPECS, problem="seed")


def test_seed_comparison_shows_what_the_tutorial_describes(seed_result):
    vanilla, momentum, centered = (r.params[:, 0] for r in seed_result.runs)
    lr = PROBLEMS["seed"].learning_rate
    crossing = int(np.flatnonzero(vanilla <= 0)[0])  # first step at or past the optimum
    # CMomentumSGD follows VanillaSGD exactly until the optimum is crossed ...
    np.testing.assert_allclose(centered[: crossing + 1], vanilla[: crossing + 1], rtol=1e-6, atol=1e-6)
    # ... MomentumSGD lags from the first step on ...
    assert np.all(momentum[1 : crossing + 1] > vanilla[1 : crossing + 1])
    # ... and overshoots the optimum by more than vanilla SGD's step, oscillating loosely
    assert momentum.min() < -2 * lr
    assert vanilla.min() >= -lr * (1 + 1e-5)
    # VanillaSGD ends within one step size of the optimum
    assert abs(vanilla[-1]) <= lr * (1 + 1e-5)


def test_every_optimizer_starts_identically(seed_result):
    starts = [r.params[0] for r in seed_result.runs]
    for s in starts:
        np.testing.assert_array_equal(s, PROBLEMS["seed"].initial)
    assert all(r.params.shape == (151, 1) and r.loss.shape == (151,) for r in seed_result.runs)


def test_slot_series_is_the_moving_average_of_the_gradients(seed_result):
    momentum = seed_result.runs[1]
    grads = np.sign(momentum.params[:-1, 0])
    m, expected = 0.0, [0.0]
    for g in grads:
        m = 0.9 * m + 0.1 * g
        expected.append(m)
    np.testing.assert_allclose(momentum.slots["m"][:, 0], expected, rtol=1e-5, atol=1e-6)


def test_learning_rate_series_is_the_rate_each_step_applied():
    result = compare_optimizers([("vanilla_sgd", {"learning_rate": 0.1, "decay": 0.5})], problem="seed", steps=10)
    run = result.runs[0]
    np.testing.assert_allclose(run.learning_rate, [0.1 / (1 + 0.5 * t) for t in range(10)], rtol=1e-6)
    np.testing.assert_allclose(-np.diff(run.params[:, 0]), run.learning_rate, rtol=1e-5)
    reference = CMomentumSGD(learning_rate=0.1, decay=0.5)
    np.testing.assert_allclose(run.learning_rate, [reference.learning_rate_at(t) for t in range(10)], rtol=0)


def test_builtins_instances_and_dicts_are_accepted():
    import keras

    result = compare_optimizers(
        ["adam", keras.optimizers.SGD(learning_rate=0.01), {"class_name": "momentum_sgd", "config": {"momentum": 0.5}}],
        problem="quadratic",
        steps=20,
    )
    assert [r.name for r in result.runs] == ["adam", "sgd", "momentum_sgd"]
    assert set(result.runs[0].slots) == {"momentum", "velocity"}
    assert result.runs[2].label == "momentum_sgd(learning_rate=0.03, momentum=0.5)"


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"optimizers": ["nosuch"]}, ValueError, "Unknown optimizer 'nosuch'"),
        ({"optimizers": ["adam"], "problem": "moon"}, ValueError, "unknown problem 'moon'; choose from seed"),
        ({"optimizers": ["adam"], "steps": 0}, ValueError, "steps must be a positive int, got 0"),
        ({"optimizers": []}, ValueError, "non-empty list"),
        ({"optimizers": [("momentum_sgd", {"momentum": 2.0})]}, ValueError, r"momentum must be in \[0, 1\)"),
    ],
)
def test_bad_input_is_refused_before_any_training(kwargs, error, match):
    with pytest.raises(error, match=match):
        compare_optimizers(**kwargs)


def test_two_dimensional_problems_and_their_report(tmp_path):
    result = compare_optimizers(["vanilla_sgd", "cmomentum_sgd"], problem="rosenbrock", steps=50)
    assert result.runs[0].params.shape == (51, 2)
    paths = write_report(result, tmp_path)
    names = sorted(p.name for p in paths)
    # no learning_rate.png: both rates are constant (a flat line); slots.png: cmomentum_sgd's m
    assert names == ["loss.png", "paths.png", "series.csv", "slots.png", "summary.json", "trajectory.png"]
    import matplotlib.image

    for p in paths:
        if p.suffix == ".png":
            image = matplotlib.image.imread(p)
            assert image.ndim == 3 and image.shape[0] > 100


def test_digits_needs_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'kerasopt_plugins\[digits\]'"):
        compare_optimizers(["vanilla_sgd"], problem="digits", steps=2)


@pytest.mark.slow
def test_digits_trains_and_tracks_slot_norms():
    pytest.importorskip("sklearn")
    result = compare_optimizers(["vanilla_sgd", ("momentum_sgd", {"momentum": 0.9})], problem="digits", steps=60, seed=3)
    vanilla, momentum = result.runs
    np.testing.assert_array_equal(vanilla.params[0], momentum.params[0])  # identical initial weights
    assert vanilla.loss[-1] < vanilla.loss[0]
    assert momentum.slots["m"].shape == (61, 1) and momentum.slots["m"][0, 0] == 0.0 and momentum.slots["m"][-1, 0] > 0
