"""Keras's base optimizer options pass through a PluginOptimizer: each against NumPy.

The reference re-implements the documented Keras 3 semantics around MomentumSGD's own rule
(m <- b m + (1 - b) g; w <- w - lr_t m, lr_t = lr / (1 + decay t)):
clipping first, then decoupled weight decay w <- w - w wd lr_t, then the update; gradient
accumulation applies the mean of N gradients every N-th step; EMA follows each step.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from kerasopt_plugins import MomentumSGD
from kerasopt_plugins.compare import specs
from kerasopt_plugins.optimizers import _checks, base
from kerasopt_plugins.optimizers._checks import check_integer

LR, BETA, DECAY, STEPS = 0.1, 0.9, 0.01, 12
SHAPES = [(3, 4), (4,)]


def gradients(seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(scale=3.0, size=s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]


def run_keras(**options):
    rng = np.random.default_rng(1)
    start = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    variables = [keras.Variable(w) for w in start]
    optimizer = MomentumSGD(learning_rate=LR, momentum=BETA, decay=DECAY, **options)
    for grads in gradients():
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    optimizer.test_variables = variables
    return start, [keras.ops.convert_to_numpy(v) for v in variables], optimizer


def reference(start, clip=lambda gs: gs, weight_decay=0.0, accumulate=1, ema=None):
    w = [x.astype(np.float64) for x in start]
    m = [np.zeros_like(x) for x in w]
    acc = [np.zeros_like(x) for x in w]
    average = [x.copy() for x in w]
    for t, grads in enumerate(gradients()):
        grads = [g.astype(np.float64) for g in grads]
        if (t + 1) % accumulate:
            acc = [a + g for a, g in zip(acc, grads)]
        else:
            grads = [(g + a) / accumulate for g, a in zip(grads, acc)]
            acc = [np.zeros_like(a) for a in acc]
            lr_t = LR / (1 + DECAY * t)
            grads = clip(grads)
            w = [x - x * weight_decay * lr_t for x in w]
            m = [BETA * mi + (1 - BETA) * g for mi, g in zip(m, grads)]
            w = [x - lr_t * mi for x, mi in zip(w, m)]
        if ema is not None:
            momentum = ema if t > 0 else 0.0
            average = [momentum * a + (1 - momentum) * x for a, x in zip(average, w)]
    return w, average


def clip_norm(c):
    return lambda gs: [g * c / max(np.linalg.norm(g), c) for g in gs]


def clip_global(c):
    def clip(gs):
        norm = np.sqrt(sum(np.sum(g * g) for g in gs))
        return [g * c / max(norm, c) for g in gs]

    return clip


@pytest.mark.parametrize(
    "options, clip",
    [
        ({"clipnorm": 1.0}, clip_norm(1.0)),
        ({"global_clipnorm": 2.0}, clip_global(2.0)),
        ({"clipvalue": 0.5}, lambda gs: [np.clip(g, -0.5, 0.5) for g in gs]),
    ],
    ids=["clipnorm", "global_clipnorm", "clipvalue"],
)
def test_gradient_clipping(options, clip):
    start, got, _ = run_keras(**options)
    want, _ = reference(start, clip=clip)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    # and the clipping mattered: without it the result differs
    unclipped, _ = reference(start)
    assert not np.allclose(got[0], unclipped[0], rtol=1e-3)


def test_weight_decay_is_decoupled_and_uses_the_decayed_rate():
    start, got, _ = run_keras(weight_decay=0.05)
    want, _ = reference(start, weight_decay=0.05)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)


def test_gradient_accumulation_updates_every_nth_step_with_the_mean():
    start, got, optimizer = run_keras(gradient_accumulation_steps=3)
    want, _ = reference(start, accumulate=3)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    # Keras's public count is of updates; decay runs on every call, the clock schedules use
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == STEPS // 3


def test_ema_of_weights():
    start, got, optimizer = run_keras(use_ema=True, ema_momentum=0.8)
    want, average = reference(start, ema=0.8)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    optimizer.finalize_variable_values(optimizer.test_variables)  # public: weights <- their EMA
    kept = [keras.ops.convert_to_numpy(v) for v in optimizer.test_variables]
    for k, a in zip(kept, average):
        np.testing.assert_allclose(k, a, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("options, error, message", [
    ({"clipvalue": "abc"}, TypeError, "clipvalue must be a real number, got 'abc'"),
    ({"clipnorm": -1.0}, ValueError, r"clipnorm must be in \[0, inf\), got -1.0"),
    ({"global_clipnorm": float("nan")}, ValueError, "global_clipnorm"),
    ({"weight_decay": "0.1"}, TypeError, "weight_decay must be a real number, got '0.1'"),
    ({"ema_momentum": 1.5, "use_ema": True}, ValueError, r"ema_momentum must be in \[0, 1\], got 1.5"),
    ({"loss_scale_factor": 0.0}, ValueError, r"loss_scale_factor must be in \(0, inf\), got 0.0"),
    ({"gradient_accumulation_steps": 2.5}, TypeError, "gradient_accumulation_steps must be an int or None, got 2.5 of type float"),
    ({"gradient_accumulation_steps": True}, TypeError, "gradient_accumulation_steps must be an int or None, got True of type bool"),
    ({"ema_overwrite_frequency": "10", "use_ema": True}, TypeError, "ema_overwrite_frequency must be an int or None, got '10' of type str"),
    ({"use_ema": "yes"}, TypeError, "use_ema must be True or False, got 'yes'"),
    ({"name": 3}, TypeError, "name must be a str or None, got 3 of type int"),
])
def test_a_bad_base_option_is_refused_at_construction(options, error, message):
    # Keras 3 stores these unchecked; unchecked, clipvalue="abc" failed only at the first step
    with pytest.raises(error, match=message):
        MomentumSGD(learning_rate=LR, **options)


def test_good_base_options_are_kept_as_given():
    optimizer = MomentumSGD(learning_rate=LR, clipvalue=1, gradient_accumulation_steps=np.int64(3), use_ema=True,
                            ema_momentum=0.5)
    config = optimizer.get_config()
    assert (config["clipvalue"], config["gradient_accumulation_steps"], config["ema_momentum"]) == (1, 3, 0.5)
    assert type(config["clipvalue"]) is int


def test_the_cli_checks_the_base_options_from_the_same_table():
    assert specs.BASE_OPTIONS is _checks.BASE_OPTIONS is base.BASE_OPTIONS
    # every option of the table is one Keras's base constructor takes; a Keras release that adds
    # one shows here (jit_compile's kind is read off its default, True)
    assert set(_checks.BASE_OPTIONS) <= base._KERAS_OPTIONS
    assert base._KERAS_OPTIONS - set(_checks.BASE_OPTIONS) <= {"jit_compile"}


# -- check_integer: the integer check of constructors, wrappers and callbacks -------------------


@pytest.mark.parametrize("value", [0, 7, np.int64(7), np.int32(-3), np.uint8(200)])
def test_check_integer_returns_an_integer_unchanged(value):
    got = check_integer("steps", value)
    assert got is value


@pytest.mark.parametrize("value, kind", [
    (True, "bool"), (np.bool_(True), "bool"), ("3", "str"), (3.0, "float"), (np.float32(3.0), "float32"),
    (None, "NoneType"), ([3], "list"),
])
def test_check_integer_refuses_a_non_integer_with_a_type_error(value, kind):
    with pytest.raises(TypeError, match=rf"^steps must be an int, got {re.escape(repr(value))} of type {kind}$"):
        check_integer("steps", value)


def test_check_integer_allows_none_only_when_asked():
    assert check_integer("steps", None, low=1, allow_none=True) is None
    with pytest.raises(TypeError, match=r"^steps must be an int or None, got 'x' of type str$"):
        check_integer("steps", "x", allow_none=True)
    with pytest.raises(ValueError, match=r"^steps must be an int >= 1 or None, got 0$"):
        check_integer("steps", 0, low=1, allow_none=True)


@pytest.mark.parametrize("value, bounds, message", [
    (0, {"low": 1}, r"steps must be an int >= 1, got 0"),
    (np.int64(-1), {"low": 0}, r"steps must be an int >= 0, got np.int64\(-1\)"),
    (11, {"high": 10}, r"steps must be an int <= 10, got 11"),
    (11, {"low": 1, "high": 10}, r"steps must be an int in \[1, 10\], got 11"),
    (0, {"low": 1, "high": 10}, r"steps must be an int in \[1, 10\], got 0"),
])
def test_check_integer_refuses_a_value_out_of_range(value, bounds, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_integer("steps", value, **bounds)
    with pytest.raises(ValueError, match=f"^Lookahead: {message}$"):
        check_integer("steps", value, owner="Lookahead", **bounds)


def test_check_integer_accepts_its_bounds():
    assert [check_integer("steps", v, low=1, high=3) for v in (1, 2, 3)] == [1, 2, 3]
