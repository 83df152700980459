"""PluginOptimizer's fast paths (fused kernels, in place, multi-tensor) change no bit of any update.

Every registered optimizer is trained twice on the same gradients, once with its fast paths
(`fused_kernels = True`: on torch the multi-tensor `update_step_group`, in-place updates and
a scratch buffer; on TensorFlow ResourceApplyMomentum) and once on the plain keras.ops path,
and the weights and slots must be equal bit for bit.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins import MomentumSGD, list_optimizers, optimizer_info
from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.optimizers.base import PluginOptimizer

# small variables (updated together on torch), one over the CPU "alone" size (65,536 elements,
# updated alone through the scratch buffer), a scalar, and a float16 group of their own
SHAPES = [(7, 5), (5,), (300, 300), (), (1, 1, 3)]
DTYPES = ["float32", "float32", "float32", "float32", "float16"]


def _make(name, **extra):
    hyper = optimizer_info(name).hyperparameters
    kwargs = {"learning_rate": 0.05, "decay": 0.01, **extra}
    if "momentum" in hyper:
        kwargs["momentum"] = 0.9
    return optimizer_info(name).cls(**kwargs)


def _data(steps=6, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s).astype(d) for s, d in zip(SHAPES, DTYPES)]
    grads = [[rng.normal(size=s).astype(d) for s, d in zip(SHAPES, DTYPES)] for _ in range(steps)]
    return start, grads


def _train(optimizer, start, grads):
    variables = [keras.Variable(w) for w in start]
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
    return [keras.ops.convert_to_numpy(v) for v in list(variables) + list(optimizer.variables)]


@pytest.mark.parametrize("name", list_optimizers())
def test_fast_paths_are_bit_identical_to_the_plain_path(name):
    start, grads = _data()
    results = {}
    for fused in (True, False):
        optimizer = _make(name)
        optimizer.fused_kernels = fused
        results[fused] = _train(optimizer, start, grads)
    for fast, plain in zip(results[True], results[False]):
        np.testing.assert_array_equal(fast, plain)
    assert not np.array_equal(results[True][2], start[2])  # it did train


@pytest.mark.parametrize("name", list_optimizers())
def test_update_step_group_equals_update_step_for_each_variable(name):
    """Called directly (on every backend), the group update computes what the loop computes."""
    if not optimizer_info(name).cls._group_path_defined():
        pytest.skip(f"{name} has no update_step_group")
    start, (g, *_) = _data()
    results = []
    for group in (True, False):
        optimizer = _make(name)
        variables = [keras.Variable(w) for w in start]
        optimizer.build(variables)
        optimizer.iterations.assign(3)
        grads = [keras.ops.convert_to_tensor(x) for x in g]
        rate = optimizer.learning_rate
        if group:
            optimizer.update_step_group(grads, variables, rate)
        else:
            optimizer.fused_kernels = False
            for gradient, variable in zip(grads, variables):
                optimizer.update_step(gradient, variable, rate)
        results.append([keras.ops.convert_to_numpy(v) for v in variables + list(optimizer.variables)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(BACKEND != "torch", reason="the group path runs on torch only")
def test_on_torch_the_group_path_replaces_the_per_variable_loop(monkeypatch):
    calls = []
    original = MomentumSGD.update_step
    monkeypatch.setattr(MomentumSGD, "update_step", lambda self, *a: calls.append(1) or original(self, *a))
    start, grads = _data(steps=2)
    _train(MomentumSGD(0.1, momentum=0.5), start, grads)
    assert calls == []
    plain = MomentumSGD(0.1, momentum=0.5)
    plain.fused_kernels = False
    _train(plain, start, grads)
    assert len(calls) == 2 * len(SHAPES)


class DoubledMomentum(MomentumSGD):
    """Changes update_step only: the inherited update_step_group must not run in its place."""

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, keras.ops.multiply(learning_rate, 2.0))


def test_a_subclass_that_changes_update_step_alone_keeps_its_rule():
    assert MomentumSGD._group_path_defined() and not DoubledMomentum._group_path_defined()
    start, grads = _data()
    doubled = _train(DoubledMomentum(0.05, momentum=0.9), start, grads)
    twice = MomentumSGD(0.1, momentum=0.9)
    twice.fused_kernels = False
    reference = _train(twice, start, grads)
    for a, b in zip(doubled[: len(SHAPES)], reference[: len(SHAPES)]):  # the weights
        np.testing.assert_allclose(a.astype("float64"), b.astype("float64"), rtol=1e-6, atol=1e-6)


def test_the_base_class_has_no_group_update_and_says_so():
    class Plain(PluginOptimizer):
        def update_step(self, gradient, variable, learning_rate):
            self.assign_sub(variable, keras.ops.multiply(gradient, learning_rate))

    assert not Plain._group_path_defined()
    with pytest.raises(NotImplementedError, match="Plain has no update_step_group"):
        Plain().update_step_group([], [], 0.1)
    variable = keras.Variable(np.ones(3, dtype="float32"))
    Plain(learning_rate=0.5).apply([keras.ops.ones((3,))], [variable])  # the loop runs it
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), [0.5, 0.5, 0.5])


def test_variable_groups_split_by_dtype_in_order():
    variables = [keras.Variable(np.zeros(2, dtype=d)) for d in ("float32", "float16", "float32")]
    groups = PluginOptimizer.variable_groups(["g0", "g1", "g2"], variables)
    assert [(dtype, grads) for dtype, grads, _ in groups] == [("float32", ["g0", "g2"]), ("float16", ["g1"])]
    assert groups[0][2] == [variables[0], variables[2]] and groups[1][2] == [variables[1]]


@pytest.mark.skipif(BACKEND == "tensorflow", reason="Keras has no stateless_apply on TensorFlow")
@pytest.mark.parametrize("name", list_optimizers())
def test_stateless_apply_leaves_the_callers_tensors_untouched(name):
    """In a StatelessScope a variable's value is the caller's tensor: no in-place update there."""
    start, grads = _data(steps=1)
    optimizer = _make(name)
    variables = [keras.Variable(w) for w in start]
    optimizer.build(variables)
    trainable = [keras.ops.convert_to_tensor(w) for w in start]
    state = [keras.ops.convert_to_tensor(keras.ops.convert_to_numpy(v)) for v in optimizer.variables]
    state_before = [keras.ops.convert_to_numpy(s).copy() for s in state]
    new_trainable, _ = optimizer.stateless_apply(state, [keras.ops.convert_to_tensor(g) for g in grads[0]], trainable)
    for given, original in zip(trainable, start):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(given), original)
    for given, original in zip(state, state_before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(given), original)
    for variable, original in zip(variables, start):  # the real variables are not touched either
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), original)
    # and the result is what apply() computes
    applied = _train(_make(name), start, grads)
    for new, want in zip(new_trainable, applied):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(new), want)


def test_keras_compat_in_stateless_scope():
    assert not _keras_compat.in_stateless_scope()
    with keras.StatelessScope():
        assert _keras_compat.in_stateless_scope()
    assert not _keras_compat.in_stateless_scope()


def test_fused_kernels_is_a_switch_on_class_and_instance():
    optimizer = kerasopt_plugins.VanillaSGD()
    assert optimizer.fused_kernels is True
    optimizer.fused_kernels = False
    assert kerasopt_plugins.VanillaSGD.fused_kernels is True
    assert "fused_kernels" not in optimizer.get_config()


@pytest.mark.parametrize("name", list_optimizers())
def test_numpy_float64_gradients_take_the_same_path_to_the_same_bits(name):
    start, grads = _data(steps=3)
    results = []
    for fused in (True, False):
        optimizer = _make(name)
        optimizer.fused_kernels = fused
        variables = [keras.Variable(w) for w in start[:3]]
        for g in grads:
            optimizer.apply([x.astype("float64") for x in g[:3]], variables)
        results.append([keras.ops.convert_to_numpy(v) for v in variables])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def _xla_fusions(make, shapes=((1000,), (20, 50), (7,))):
    """The fused kernels XLA compiles one apply() into: (output shape, operand count) per fusion."""
    import re

    import tensorflow as tf

    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=s).astype("float32")) for s in shapes]
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in shapes]
    optimizer = make()
    optimizer.build(variables)
    step = tf.function(lambda: optimizer.apply(grads, variables), jit_compile=True, autograph=False)
    step()
    hlo = step.experimental_get_compiler_ir()(stage="optimized_hlo")
    entry = hlo[hlo.index("ENTRY"):]
    fusions = re.findall(r"= (\S+) fusion\(([^)]*)\)", entry)
    return sorted((shape.split("{")[0], len(operands.split(","))) for shape, operands in fusions)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA programs of the TensorFlow backend")
@pytest.mark.parametrize("pair", ["momentum", "vanilla"])
def test_with_xla_the_update_compiles_to_the_same_kernels_as_keras_sgd(pair):
    """Same fusions, same operands: the plugin step moves exactly the bytes Keras's SGD moves."""
    if pair == "momentum":
        ours, theirs = (lambda: MomentumSGD(0.01, momentum=0.9)), (lambda: keras.optimizers.SGD(0.001, momentum=0.9))
    else:
        ours, theirs = (lambda: kerasopt_plugins.VanillaSGD(0.01)), (lambda: keras.optimizers.SGD(0.01))
    fusions = _xla_fusions(ours)
    assert fusions == _xla_fusions(theirs)
    assert len([f for f in fusions if f[0] != "s64[]"]) == (6 if pair == "momentum" else 3)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's fused training kernels")
def test_tensorflow_fused_kernels_are_used_for_cpu_variables_only(monkeypatch):
    import tensorflow as tf

    class Handle:
        device = "/job:localhost/replica:0/task:0/device:GPU:0"

    assert _keras_compat.tf_device_type(Handle()) == "GPU"
    assert _keras_compat.tf_device_type(keras.Variable([1.0]).value.handle) == "CPU"

    def kernels(optimizer):
        variables = [keras.Variable(np.ones(3, dtype="float32"))]
        optimizer.build(variables)
        step = tf.function(lambda g: optimizer.apply(g, variables), autograph=False)
        graph = step.get_concrete_function([tf.ones(3)]).graph
        return {op.type for op in graph.get_operations() if op.type.startswith("ResourceApply")}

    assert kernels(MomentumSGD(0.1, momentum=0.5)) == {"ResourceApplyMomentum"}
    assert kernels(kerasopt_plugins.VanillaSGD(0.1)) == {"ResourceApplyGradientDescent"}
    monkeypatch.setattr(_keras_compat, "tf_device_type", lambda handle: "GPU")  # as if on a GPU
    assert kernels(MomentumSGD(0.1, momentum=0.5)) == set()
    assert kernels(kerasopt_plugins.VanillaSGD(0.1)) == set()


@pytest.mark.skipif(BACKEND != "torch", reason="torch storage")
def test_keras_compat_torch_storage_is_the_variables_value():
    variable = keras.Variable(np.ones(3, dtype="float32"))
    assert _keras_compat.torch_storage(variable) is variable.value


def test_a_hyperparameter_changed_between_steps_is_used_at_the_next_step():
    """The fast paths keep converted scalars: they must follow the attribute's new value."""
    start, grads = _data(steps=6)
    results = []
    for fused in (True, False):
        optimizer = MomentumSGD(0.05, momentum=0.9)
        optimizer.fused_kernels = fused
        variables = [keras.Variable(w) for w in start]
        for t, g in enumerate(grads):
            if t == 3:
                optimizer.momentum = 0.5
            optimizer.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
        results.append([keras.ops.convert_to_numpy(v) for v in variables])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    unchanged = _train(MomentumSGD(0.05, momentum=0.9), start, grads)
    assert not np.array_equal(results[0][0], unchanged[0])


def test_sgd_steps_keep_the_sign_of_zero_of_their_rate():
    """0.0 and -0.0 are equal as numbers, not as bits: w - g*(-0.0) and w - g*0.0 differ for w = -0.0.

    The fast paths keep converted Python floats; they must give the plain path's bits. (The
    plain path's own answer depends on the backend: TensorFlow's eager scalar cache hands out
    the first of 0.0 / -0.0 it saw for both.)
    """
    results = {}
    for fused in (True, False):
        optimizer = kerasopt_plugins.VanillaSGD()
        optimizer.fused_kernels = fused
        signs = []
        for rate in (0.0, -0.0, 0.0, -0.0):
            variable = keras.Variable(np.array([-0.0, 0.0], dtype="float32"))
            optimizer.sgd_steps([variable], [keras.ops.convert_to_tensor(np.ones(2, dtype="float32"))], rate)
            signs.append(np.signbit(keras.ops.convert_to_numpy(variable)).tolist())
        results[fused] = signs
    assert results[True] == results[False]
    if BACKEND == "torch":  # no scalar cache in Keras's torch conversion: the IEEE answer
        assert results[True] == [[True, False], [False, False]] * 2
