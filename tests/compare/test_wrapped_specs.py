"""compare_optimizers with wrapped optimizers: the spec syntax, the series against NumPy
references of Lookahead and SWA, labels, slot series of every level, and errors naming the spec."""

from __future__ import annotations

import csv
import json
import math

import keras
import numpy as np
import pytest

from kerasopt_plugins.compare import PROBLEMS, compare_optimizers
from kerasopt_plugins.compare.report import write_report
from kerasopt_plugins.compare.specs import SpecError, format_spec, parse_spec, wrapper_names
from kerasopt_plugins.wrappers import SWA, Lookahead, MovingAverage


def test_the_spec_syntax():
    assert parse_spec("adam") == [("adam", {})]
    assert parse_spec("lookahead:sync_period=5,slow_step_size=0.25+radam:learning_rate=0.01") == [
        ("lookahead", {"sync_period": 5, "slow_step_size": 0.25}),
        ("radam", {"learning_rate": 0.01}),
    ]
    # a '+' inside a number is part of it; nesting, outermost first
    assert parse_spec("swa:average_period=2+lookahead+sgd:learning_rate=1e+3,nesterov=true") == [
        ("swa", {"average_period": 2}),
        ("lookahead", {}),
        ("sgd", {"learning_rate": 1000.0, "nesterov": True}),
    ]
    assert parse_spec("MovingAverage:num_updates=none+adam")[0] == ("MovingAverage", {"num_updates": None})
    spec = "moving_average:average_decay=0.9,dynamic_decay=true,num_updates=none+adam:learning_rate=0.1"
    assert format_spec(parse_spec(spec)) == spec
    assert wrapper_names() == ["lookahead", "moving_average", "swa"]


def lookahead_reference(steps, lr, k, alpha):
    """Lookahead around plain SGD on the seed problem (gradient sign(w)), in float32."""
    w = slow = np.float32(PROBLEMS["seed"].initial[0])
    params, slows = [w], [slow]
    for t in range(1, steps + 1):
        w = np.float32(w - np.float32(lr) * np.sign(w))
        if t % k == 0:
            slow = np.float32(slow + np.float32(alpha) * (w - slow))
            w = slow
        params.append(w)
        slows.append(slow)
    return np.array(params), np.array(slows)


def test_lookahead_series_follow_the_numpy_reference_and_the_inner_rate():
    result = compare_optimizers(["lookahead:sync_period=4,slow_step_size=0.25+vanilla_sgd"], problem="seed", steps=60)
    run = result.runs[0]
    params, slows = lookahead_reference(60, 0.05, 4, 0.25)
    np.testing.assert_allclose(run.params[:, 0], params, rtol=1e-6, atol=1e-6)
    assert set(run.slots) == {"slow"}
    np.testing.assert_allclose(run.slots["slow"][:, 0], slows, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run.loss, np.abs(params), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(run.learning_rate, np.float32(0.05))
    assert run.name == "lookahead+vanilla_sgd"
    assert run.label == "lookahead(sync_period=4, slow_step_size=0.25)+vanilla_sgd(learning_rate=0.05)"
    assert run.config["sync_period"] == 4 and run.config["optimizer"]["class_name"] == "VanillaSGD"


def test_the_applied_rate_is_the_inner_optimizers_with_its_decay():
    result = compare_optimizers(["lookahead:sync_period=3+vanilla_sgd:learning_rate=0.1,decay=0.5"], problem="seed", steps=10)
    run = result.runs[0]
    np.testing.assert_allclose(run.learning_rate, [0.1 / (1 + 0.5 * t) for t in range(10)], rtol=1e-6)
    # between syncs the weight moves by the rate applied (w > 0 throughout: gradient +1)
    moves = -np.diff(run.params[:, 0])
    for t in (0, 1, 3, 4, 6, 7):
        assert moves[t] == pytest.approx(run.learning_rate[t], rel=1e-5)


def test_swa_keeps_the_inner_trajectory_and_its_average_is_the_mean_of_the_snapshots():
    start, period, steps = 3, 4, 30
    plain, swa = compare_optimizers(
        ["momentum_sgd:momentum=0.9", f"swa:start_averaging={start},average_period={period}+momentum_sgd:momentum=0.9"],
        problem="quadratic", steps=steps,
    ).runs
    np.testing.assert_array_equal(swa.params, plain.params)  # SWA never changes the weights
    np.testing.assert_array_equal(swa.slots["m"], plain.slots["m"])
    expected = np.zeros_like(swa.slots["average"])
    average, count = np.zeros(2), 0
    for t in range(steps):
        if t >= start and (t - start) % period == 0:
            average = (average * count + plain.params[t + 1]) / (count + 1)
            count += 1
        expected[t + 1] = average
    np.testing.assert_allclose(swa.slots["average"], expected, rtol=1e-5, atol=1e-6)
    assert count == 7 and swa.label == "swa(start_averaging=3, average_period=4)+momentum_sgd(learning_rate=0.03, momentum=0.9)"


def test_nested_specs_record_every_levels_slots_and_reach_the_report(tmp_path):
    result = compare_optimizers(
        ["moving_average:average_decay=0.5+lookahead:sync_period=2+adam:learning_rate=0.1", "adam:learning_rate=0.1"],
        problem="quadratic", steps=12,
    )
    nested, plain = result.runs
    assert nested.name == "moving_average+lookahead+adam"
    assert nested.label == "moving_average(average_decay=0.5)+lookahead(sync_period=2)+adam(learning_rate=0.1)"
    assert set(nested.slots) == {"average", "slow", "momentum", "velocity"}
    # between syncs Lookahead is Adam itself: the first step is plain Adam's
    np.testing.assert_allclose(nested.params[1], plain.params[1], rtol=1e-6)
    assert not np.allclose(nested.params[2], plain.params[2])  # the sync after step 2
    np.testing.assert_allclose(nested.slots["slow"][2], nested.params[2], rtol=1e-6)  # w = slow at a sync
    # MovingAverage with decay 0.5 from the initial weights: a = a - (a - w) / 2 after each step
    average = nested.params[0].copy()
    for k in range(1, 13):
        average = average - (average - nested.params[k]) * 0.5
        np.testing.assert_allclose(nested.slots["average"][k], average, rtol=1e-5, atol=1e-6)
    write_report(result, tmp_path, plots=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"][0]["label"] == nested.label and summary["runs"][0]["optimizer"] == nested.name
    with open(tmp_path / "series.csv") as handle:
        rows = list(csv.DictReader(handle))
    first = [r for r in rows if r["optimizer"] == nested.label]
    assert len(first) == 13 and float(first[2]["slow_1"]) == pytest.approx(nested.slots["slow"][2, 1])
    assert all(r["slow_0"] == "" for r in rows if r["optimizer"] == plain.label)


def test_instances_and_the_list_form_are_described_like_specs():
    result = compare_optimizers(
        [
            Lookahead(keras.optimizers.SGD(0.1), sync_period=3),
            [("swa", {"average_period": 2}), ("sgd", {"momentum": 0.5})],
            MovingAverage(SWA(keras.optimizers.Adam(0.01))),
        ],
        problem="quadratic", steps=5,
    )
    assert [r.label for r in result.runs] == [
        "lookahead(sync_period=3)+sgd(learning_rate=0.1)",
        "swa(average_period=2)+sgd(learning_rate=0.03, momentum=0.5)",
        "moving_average+swa+adam(learning_rate=0.01)",
    ]
    assert set(result.runs[2].slots) == {"average", "average.2", "momentum", "velocity"}


def test_an_inner_optimizer_without_a_learning_rate_gives_nan_rates():
    run = compare_optimizers(["lookahead+cocob"], problem="quadratic", steps=4).runs[0]
    assert all(math.isnan(r) for r in run.learning_rate)
    assert {"slow", "reward"} <= set(run.slots)


@pytest.mark.parametrize(
    "spec,error,match",
    [
        ("lookahead", SpecError, r"'lookahead' is a wrapper and needs an optimizer to wrap, e\.g\. lookahead\+adam"),
        ("swa:average_period=2+lookahead", SpecError, r"e\.g\. swa:average_period=2\+lookahead\+adam"),
        ("radam+adam", SpecError, r"'radam\+adam': 'radam' is not a wrapper.*wrappers: lookahead, moving_average, swa"),
        ("lookahed+adam", SpecError, r"Did you mean 'lookahead'\?"),
        ("lookahead:learning_rate=0.1+adam", SpecError, r"learning_rate belongs on the optimizer, the last level"),
        ("lookahead:sync_period=0+adam", ValueError, r"spec 'lookahead:sync_period=0\+adam': Lookahead: sync_period must be an int >= 1, got 0"),
        ("lookahead:period=5+adam", TypeError, r"spec 'lookahead:period=5\+adam': Lookahead\(\) got an unexpected keyword argument 'period'"),
        ("lookahead+nosuch", ValueError, r"spec 'lookahead\+nosuch': Unknown optimizer 'nosuch'"),
        ("lookahead+momentum_sgd:momentum=2", ValueError, r"spec 'lookahead\+momentum_sgd:momentum=2': .*momentum must be in \[0, 1\)"),
        ("+adam", SpecError, r"malformed optimizer spec '\+adam' \(level ''\): it needs a name"),
        ("lookahead+adam:beta_1", SpecError, r"malformed optimizer spec 'lookahead\+adam:beta_1': expected KEY=VALUE"),
    ],
)
def test_bad_specs_are_refused_before_any_training_naming_the_spec(spec, error, match):
    with pytest.raises(error, match=match):
        compare_optimizers(["adam", spec], problem="quadratic", steps=3)


@pytest.mark.slow
def test_digits_trains_a_wrapped_optimizer_and_tracks_every_levels_slot_norms():
    pytest.importorskip("sklearn")
    plain, wrapped = compare_optimizers(
        ["momentum_sgd:momentum=0.9", "lookahead:sync_period=5+momentum_sgd:momentum=0.9"], problem="digits", steps=20, seed=3
    ).runs
    # identical until the first sync (after step 5): loss[k] is step k's minibatch loss
    np.testing.assert_allclose(wrapped.loss[:5], plain.loss[:5], rtol=1e-6)
    assert wrapped.loss[5] != pytest.approx(plain.loss[5], rel=1e-4)
    assert set(wrapped.slots) == {"m", "slow"} and wrapped.slots["slow"].shape == (21, 1)
    assert wrapped.slots["slow"][0, 0] > 0  # the slow weights start as the weights, not at zero
    assert wrapped.loss[-1] < wrapped.loss[0]
    np.testing.assert_array_equal(wrapped.learning_rate, plain.learning_rate)
