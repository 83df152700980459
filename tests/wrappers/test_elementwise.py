"""The wrappers' own step (`_elementwise`): its arithmetic, and how each backend runs it.

Speed itself is measured in benchmarks/step_time.py (``--pairs wrappers``); here: the facts
that make it fast and that would break silently (torch: one in-place multi-tensor kernel per
statement on the variables' own storage; TensorFlow: one loop around all variables' updates,
no conditional that assigns).
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
from conftest import BACKEND

from kerasopt_plugins.wrappers import SWA, Lookahead, _elementwise

RNG = np.random.default_rng(3)
SHAPES = [(5,), (3, 4), (2, 2, 2)]


def arrays():
    return [RNG.normal(size=s).astype("float32") for s in SHAPES]


def test_the_statements_in_keras_ops_are_tfas_arithmetic_bit_for_bit():
    t, x = arrays(), arrays()
    k = _elementwise.Lists({"t": [keras.ops.convert_to_tensor(a) for a in t], "x": [keras.ops.convert_to_tensor(a) for a in x]})
    k.lerp("t", "x", np.float32(0.3))
    lerped = [a - (a - b) * np.float32(0.3) for a, b in zip(t, x)]  # tfa's Lookahead / MovingAverage
    for got, want in zip(k.lists["t"], lerped):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)
    k.decay("x", np.float32(0.01))
    for got, want in zip(k.lists["x"], x):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want - want * np.float32(0.01))
    k.copy("x", "t")
    assert all(a is b for a, b in zip(k.lists["x"], k.lists["t"])) and k.written == ["t", "x"]


def test_a_rule_that_writes_what_it_did_not_declare_is_refused():
    def rule(k, scalars):
        k.lerp("average", "variable", scalars["rate"])
        k.copy("variable", "average")

    lists = {"variable": [keras.ops.ones((2,))], "average": [keras.ops.zeros((2,))]}
    with pytest.raises(RuntimeError, match=r"wrote \['average', 'variable'\], but declares it writes \['average'\]"):
        _elementwise._new_values(rule, lists, {"rate": 0.5}, ("average",))


@pytest.mark.skipif(BACKEND != "torch", reason="torch's multi-tensor kernels")
def test_on_torch_each_statement_is_one_in_place_kernel_on_the_variables_storage(monkeypatch):
    import torch

    from kerasopt_plugins.optimizers import _keras_compat

    calls = []  # the torch kernels _elementwise calls (the inner optimizer's are not counted)

    def spy(name, kernel):
        def called(*args, **kwargs):
            if sys._getframe(1).f_globals.get("__name__") == _elementwise.__name__:
                calls.append((name, args))
            return kernel(*args, **kwargs)

        return called

    for name in dir(torch):
        if name.startswith("_foreach_"):
            monkeypatch.setattr(torch, name, spy(name, getattr(torch, name)))

    init = arrays()
    vs = [keras.Variable(a.copy()) for a in init]
    optimizer = Lookahead(keras.optimizers.SGD(0.1), sync_period=2, slow_step_size=0.25)
    grads = [keras.ops.convert_to_tensor(g) for g in arrays()]
    optimizer.apply(grads, vs)
    assert calls == []  # no sync after the first update: nothing runs
    fast = [np.array(v.numpy()) for v in vs]
    optimizer.apply(grads, vs)
    fast = [f - np.float32(0.1) * keras.ops.convert_to_numpy(g) for f, g in zip(fast, grads)]
    assert [name for name, _ in calls] == ["_foreach_lerp_", "_foreach_copy_"]
    storage = [_keras_compat.torch_storage(v) for v in vs]
    slow = [_keras_compat.torch_storage(optimizer.get_slot(v, "slow")) for v in vs]
    (_, (lerp_targets, lerp_toward, weight)), (_, (copy_targets, copy_sources)) = calls
    assert all(a is b for a, b in zip(lerp_targets, slow)) and all(a is b for a, b in zip(lerp_toward, storage))
    assert all(a is b for a, b in zip(copy_targets, storage)) and all(a is b for a, b in zip(copy_sources, slow))
    assert weight == 0.25
    for v, s0, f in zip(vs, init, fast):  # torch's lerp rounds once (a fused multiply-add)
        np.testing.assert_allclose(v.numpy(), s0 + np.float32(0.25) * (f - s0), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(v.numpy(), optimizer.get_slot(v, "slow").numpy())


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow graphs")
@pytest.mark.parametrize("make", [
    lambda: Lookahead(keras.optimizers.Adam(0.01)),
    lambda: SWA(keras.optimizers.Adam(0.01), average_period=3),
])
def test_on_tensorflow_a_conditional_step_is_one_loop_for_all_variables_and_no_cond(make):
    # under XLA a tf.cond whose branches assign copies the variables every step (see
    # _elementwise); XLA's results with the loop: test_fit_with_and_without_jit_gives_the_same_weights
    import tensorflow as tf

    def op_types(optimizer):
        vs = [keras.Variable(a) for a in arrays()]
        grads = [tf.constant(g) for g in arrays()]
        optimizer.build(vs)
        graph = tf.function(lambda: optimizer.apply(grads, vs), autograph=False).get_concrete_function().graph
        return [op.type for op in graph.get_operations()]

    plain, wrapped = op_types(keras.optimizers.Adam(0.01)), op_types(make())
    for kind in ("If", "StatelessIf", "While", "StatelessWhile"):
        added = wrapped.count(kind) - plain.count(kind)
        assert added == (1 if kind == "While" else 0), (kind, added)
