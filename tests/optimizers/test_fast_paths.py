"""PluginOptimizer's fast paths compute what the plain keras.ops path computes.

Fast paths (`fast_paths = True`): on torch, packed execution of elementwise rules (_packed.py)
and in-place assignment, both bit-identical, and torch's fused multiply-add kernels behind
`ema_momentum_step` / `sgd_step` (at most 1 ulp per operation); on TensorFlow, the fused
training kernels behind those two (bit-identical). Every registered optimizer is trained with
and without them on the same gradients. JAX has no fast path (XLA compiles the keras.ops rule),
so there the comparison is skipped.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins import MomentumSGD, PluginOptimizer, list_optimizers, optimizer_info
from kerasopt_plugins.optimizers import _keras_compat

# With UNIT = 64 and CHUNK = 1000 on torch: (7, 5), (5,) and () share a pack, (1, 1, 3) float16
# is a pack of its own, (300, 300) runs in 90 chunks and (20, 4) in one.
SHAPES = [(7, 5), (5,), (300, 300), (), (1, 1, 3), (20, 4)]
DTYPES = ["float32", "float32", "float32", "float32", "float16", "float32"]


@pytest.fixture
def small_units(monkeypatch):
    """Packs of up to 64 elements and chunks of 1000, so small test variables exercise both."""
    if BACKEND == "torch":
        from kerasopt_plugins.optimizers import _packed

        monkeypatch.setattr(_packed, "UNIT", 64)
        monkeypatch.setattr(_packed, "CHUNK", 1000)


def _make(name, **extra):
    info = optimizer_info(name)
    return info.cls(**{**info.example_config, "decay": 0.01, **extra})


def _data(steps=4, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s).astype(d) for s, d in zip(SHAPES, DTYPES)]
    grads = [[rng.normal(size=s).astype(d) for s, d in zip(SHAPES, DTYPES)] for _ in range(steps)]
    return start, grads


def assert_same_update(fast, plain, steps):
    """Bit-identical, except on torch, whose fused multiply-adds may round each op differently:
    there within a few ulp per step of the array's scale (a wrong formula is off by far more)."""
    if BACKEND != "torch":
        np.testing.assert_array_equal(fast, plain)
        return
    scale = np.max(np.abs(plain.astype("float64")), initial=0.0)
    bound = 4 * steps * float(np.spacing(np.asarray(scale, dtype=plain.dtype)))
    np.testing.assert_allclose(fast.astype("float64"), plain.astype("float64"), rtol=0, atol=bound)


def _train(optimizer, start, grads, convert=True):
    variables = [keras.Variable(w) for w in start]
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(x) for x in g] if convert else g, variables)
    return [keras.ops.convert_to_numpy(v) for v in list(variables) + list(optimizer.variables)]


def _assert_same_both_ways(make, start, grads, before_step):
    """Train `make()` from `start` with and without fast paths and compare weights and slots.

    `before_step(t, optimizer, variables, gradients)` runs before step t (changing whatever the
    test changes between steps) and returns the gradients to apply.
    """
    results = []
    for fast in (True, False):
        optimizer = make()
        optimizer.fast_paths = fast
        variables = [keras.Variable(w) for w in start]
        for t, g in enumerate(grads):
            gradients = before_step(t, optimizer, variables, [keras.ops.convert_to_tensor(x) for x in g])
            optimizer.apply(gradients, variables)
        results.append([keras.ops.convert_to_numpy(v) for v in variables + list(optimizer.variables)])
    for a, b in zip(*results):
        assert_same_update(a, b, len(grads))


def _tf_kernels(optimizer, shapes=((3,),)):
    """TensorFlow's fused training kernels in the graph of one apply()."""
    import tensorflow as tf

    variables = [keras.Variable(np.ones(s, dtype="float32")) for s in shapes]
    optimizer.build(variables)
    step = tf.function(lambda g: optimizer.apply(g, variables), autograph=False)
    graph = step.get_concrete_function([tf.ones(s) for s in shapes]).graph
    return {op.type for op in graph.get_operations() if op.type.startswith("ResourceApply")}


def _packable(name) -> bool:
    """Packed execution runs the rule: elementwise, or elementwise but for per-variable sums."""
    optimizer = _make(name)
    return optimizer.elementwise or optimizer.per_variable_sums


def _skip_where_the_switch_does_nothing(name):
    if BACKEND == "jax":
        pytest.skip("JAX has no fast path: fast_paths on and off run the same program")
    if BACKEND == "tensorflow" and not _tf_kernels(_make(name)):
        pytest.skip(f"{name} calls no fused kernel on TensorFlow: on and off run the same graph")
    if BACKEND == "torch" and not _packable(name):
        pytest.skip(f"{name} is not elementwise: on torch only in-place assignment differs")


@pytest.mark.parametrize("name", list_optimizers())
def test_fast_paths_are_bit_identical_to_the_plain_path(name, small_units):
    _skip_where_the_switch_does_nothing(name)
    start, grads = _data()
    results = {}
    for fast in (True, False):
        optimizer = _make(name)
        optimizer.fast_paths = fast
        results[fast] = _train(optimizer, start, grads)
    for fast, plain in zip(results[True], results[False]):
        assert_same_update(fast, plain, len(grads))
    assert not np.array_equal(results[True][2], start[2])  # it did train


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution runs on torch only")
@pytest.mark.parametrize("name", [n for n in list_optimizers() if _packable(n)] + ["guide_adam"])
def test_packed_execution_is_bit_identical_to_one_call_per_variable(name, small_units, request):
    if name == "guide_adam":  # a user's rule written as the guide teaches (docs/examples)
        request.getfixturevalue("guide_adam")
    start, grads = _data()
    results = []
    for packed in (True, False):  # packs and chunks; Keras's loop, one call per variable
        optimizer = _make(name)
        if not packed:
            optimizer.elementwise = optimizer.per_variable_sums = False
        results.append(_train(optimizer, start, grads))
    for packed, alone in zip(*results):
        np.testing.assert_array_equal(packed, alone)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's fused multiply-add kernels")
def test_torch_fused_kernels_are_within_one_ulp_per_operation_of_the_plain_form():
    rng = np.random.default_rng(3)
    w0, m0, g = (rng.normal(size=10_000).astype("float32") for _ in range(3))
    results = {}
    for fast in (True, False):
        optimizer = MomentumSGD(0.1, momentum=0.9)
        optimizer.fast_paths = fast
        w, m = keras.Variable(w0), keras.Variable(m0)
        import torch

        with torch.no_grad():
            optimizer.ema_momentum_step(w, m, keras.ops.convert_to_tensor(g), 0.9, keras.ops.convert_to_tensor(0.1))
            v = keras.Variable(w0)
            optimizer.sgd_step(v, keras.ops.convert_to_tensor(g), keras.ops.convert_to_tensor(0.1))
        results[fast] = [keras.ops.convert_to_numpy(x) for x in (w, m, v)]
    # A fused a*b + c skips the rounding of a*b: it differs from the plain form by at most one
    # ulp of the product plus one of the result (ulps of the *result* can be many where c and
    # a*b cancel).
    ulp = lambda x: np.spacing(np.abs(x).astype("float32")).astype("float64")  # noqa: E731
    (w, m, v), (pw, pm, pv) = results[True], results[False]
    m_bound = ulp(0.1 * g) + ulp(pm)
    np.testing.assert_array_less(np.abs(m - pm.astype("float64")), m_bound + 1e-45)
    w_bound = 0.1 * m_bound + ulp(0.1 * pm) + ulp(pw)
    np.testing.assert_array_less(np.abs(w - pw.astype("float64")), w_bound + 1e-45)
    np.testing.assert_array_less(np.abs(v - pv.astype("float64")), ulp(0.1 * g) + ulp(pv) + 1e-45)
    assert any((a != b).any() for a, b in zip(results[True], results[False]))  # it is fused


@pytest.mark.parametrize("name", list_optimizers())
def test_numpy_float64_gradients_give_the_plain_paths_bits(name, small_units):
    """A gradient of another dtype than its variable runs by the plain path (the rule's casts decide)."""
    _skip_where_the_switch_does_nothing(name)
    start, grads = _data(steps=3)
    results = []
    for fast in (True, False):
        optimizer = _make(name)
        optimizer.fast_paths = fast
        results.append(_train(optimizer, start, [[x.astype("float64") for x in g] for g in grads], convert=False))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution runs on torch only")
def test_on_torch_an_elementwise_rule_runs_once_per_unit(monkeypatch, small_units):
    calls = []
    original = MomentumSGD.update_step
    monkeypatch.setattr(MomentumSGD, "update_step", lambda self, g, v, lr: calls.append(tuple(v.shape)) or original(self, g, v, lr))
    start, grads = _data(steps=1)
    optimizer = MomentumSGD(0.1, momentum=0.5)
    _train(optimizer, start, grads)
    # one pack of 35 + 5 + 1 elements, one float16 pack of 3, chunks of the two large ones
    assert sorted(set(calls)) == [(3,), (41,), (80,), (1000,)]
    assert calls.count((1000,)) == 90 and len(calls) == 93
    # the workspace: per pack group, the largest pack's elements for the variable, the gradient
    # and the one slot; nothing for chunks (views of the variables' own storage)
    assert optimizer.workspace_bytes() == 3 * (41 * 4 + 3 * 2)
    plain = MomentumSGD(0.1, momentum=0.5)
    plain.fast_paths = False
    calls.clear()
    _train(plain, start, grads)
    assert len(calls) == len(SHAPES) and plain.workspace_bytes() == 0


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution runs on torch only")
def test_packed_execution_adds_no_optimizer_variable_and_saves_none(small_units, tmp_path):
    """The workspace's Keras Variables are not the optimizer's: not in `variables`, not saved."""
    start, grads = _data(steps=2)
    optimizer = MomentumSGD(0.1, momentum=0.5)
    variables = [keras.Variable(w) for w in start]
    optimizer.build(variables)
    before = [v.path for v in optimizer.variables]
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
    assert optimizer.workspace_bytes() > 0  # packs were made
    assert [v.path for v in optimizer.variables] == before
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=MomentumSGD(0.1, momentum=0.5), loss="mse")
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), verbose=0)
    saved = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    assert len(saved) == 2 + 2  # iterations, learning rate, a slot for the kernel and the bias
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    loaded = [keras.ops.convert_to_numpy(v) for v in restored.optimizer.variables]
    assert len(loaded) == len(saved)
    for a, b in zip(loaded, saved):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution runs on torch only")
@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_alternating_variable_subsets_reuse_their_plans(small_units, monkeypatch):
    """Keras drops variables whose gradient is None: apply() then sees another list each step."""
    from kerasopt_plugins.optimizers import _packed

    built, original = [], _packed.Plan.__init__
    monkeypatch.setattr(_packed.Plan, "__init__", lambda self, *a: built.append(1) or original(self, *a))

    def every_other_step_without_even_gradients(t, optimizer, variables, gradients):
        return [x if i % 2 or t % 2 == 0 else None for i, x in enumerate(gradients)]

    start, grads = _data(steps=6)
    _assert_same_both_ways(lambda: MomentumSGD(0.1, momentum=0.5), start, grads, every_other_step_without_even_gradients)
    assert len(built) == 2  # one plan per list, each made once


class NormScaled(PluginOptimizer):
    """Not elementwise: each variable's step is scaled by its own gradient norm."""

    def update_step(self, gradient, variable, learning_rate):
        norm = keras.ops.sqrt(keras.ops.sum(keras.ops.square(gradient)))
        self.assign_sub(variable, gradient * (learning_rate / (norm + 1e-12)))


def test_a_rule_that_is_not_elementwise_runs_per_variable_and_stays_right(small_units):
    start, grads = _data(steps=2)
    result = _train(NormScaled(learning_rate=0.5), start[:3], [g[:3] for g in grads])
    want = [w.astype("float64") for w in start[:3]]
    for g in grads:
        for i, gi in enumerate(g[:3]):
            want[i] = want[i] - gi * (0.5 / (np.sqrt(np.sum(gi.astype("float64") ** 2)) + 1e-12))
    for got, expected in zip(result, want):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution runs on torch only")
@pytest.mark.parametrize("name", ["novograd", "conditional_gradient"])
def test_a_rule_with_per_variable_sums_runs_once_per_pack_with_each_members_own_sum(name, monkeypatch):
    """At the real pack size: members of several hundred elements at unaligned offsets in the
    workspace (torch's vectorized sum), a scalar slot (NovoGrad's v) per member, and a variable
    of UNIT elements or more run whole, never in chunks (a chunk's sum is not the variable's)."""
    shapes = [(1000,), (37,), (64, 64), (999,), (20, 50), (), (300, 300)]
    rng = np.random.default_rng(5)
    start = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[rng.normal(size=s).astype("float32") for s in shapes] for _ in range(3)]
    cls = optimizer_info(name).cls
    calls = []
    original = cls.update_step
    monkeypatch.setattr(cls, "update_step", lambda self, g, v, lr: calls.append(tuple(v.shape)) or original(self, g, v, lr))
    results = []
    for packed in (True, False):
        optimizer = _make(name)
        optimizer.per_variable_sums = packed
        calls.clear()
        results.append(_train(optimizer, start, grads))
        if packed:  # one pack of all the small ones, the large one whole
            assert calls == [(1000 + 37 + 4096 + 999 + 1000 + 1,), (300, 300)] * len(grads)
        else:
            assert len(calls) == len(shapes) * len(grads)
    for packed, alone in zip(*results):
        np.testing.assert_array_equal(packed, alone)

@pytest.mark.skipif(BACKEND != "torch", reason="packed execution runs on torch only")
def test_new_weights_loaded_between_steps_are_used(small_units):
    """Packs copy from the storage each step, chunks are views of it: weights loaded in place,
    or a storage replaced (the plan is rebuilt), are what the next step updates."""
    import torch

    def load_then_replace(t, optimizer, variables, gradients):
        for i in (0, 2):  # a packed variable and a chunked one
            if t == 1:
                variables[i].assign(np.full(SHAPES[i], 0.5, dtype="float32"))
            if t == 2:  # Keras replaces a value's storage, e.g. on moving it
                variables[i]._value = torch.nn.Parameter(torch.ones(SHAPES[i]))
        return gradients

    start, grads = _data(steps=4)
    _assert_same_both_ways(lambda: MomentumSGD(0.1, momentum=0.9), start, grads, load_then_replace)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="Keras has no stateless_apply on TensorFlow")
@pytest.mark.parametrize("name", list_optimizers())
def test_stateless_apply_leaves_the_callers_tensors_untouched(name, small_units):
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
    applied = _train(_make(name), start, grads)  # and the result is what apply() computes
    for new, want in zip(new_trainable, applied):
        assert_same_update(keras.ops.convert_to_numpy(new), want, 1)


def test_fast_paths_is_a_switch_on_class_and_instance():
    optimizer = kerasopt_plugins.VanillaSGD()
    assert optimizer.fast_paths is True
    optimizer.fast_paths = False
    assert kerasopt_plugins.VanillaSGD.fast_paths is True
    assert "fast_paths" not in optimizer.get_config()


@pytest.mark.parametrize("name", list_optimizers())
def test_a_hyperparameter_changed_between_steps_is_used_at_the_next_step(name, small_units):
    _skip_where_the_switch_does_nothing(name)

    def change_the_rate(t, optimizer, variables, gradients):
        if t == 2:
            optimizer.learning_rate = 0.0123
        return gradients

    start, grads = _data(steps=4)
    _assert_same_both_ways(lambda: _make(name), start, grads, change_the_rate)


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
@pytest.mark.parametrize("pair", ["momentum", "vanilla", "adam"])
def test_with_xla_the_update_compiles_to_the_same_kernels_as_keras(pair, request):
    """Same fusions, same operands: the plugin step moves exactly the bytes its Keras twin moves."""
    if pair == "momentum":
        ours, theirs = (lambda: MomentumSGD(0.01, momentum=0.9)), (lambda: keras.optimizers.SGD(0.001, momentum=0.9))
    elif pair == "vanilla":
        ours, theirs = (lambda: kerasopt_plugins.VanillaSGD(0.01)), (lambda: keras.optimizers.SGD(0.01))
    else:  # the guide's Adam, a rule written once in keras.ops
        guide_adam = request.getfixturevalue("guide_adam")
        ours, theirs = (lambda: guide_adam(0.01)), (lambda: keras.optimizers.Adam(0.01))
    fusions = _xla_fusions(ours)
    assert fusions == _xla_fusions(theirs)
    assert len([f for f in fusions if f[0] != "s64[]"]) == {"momentum": 6, "vanilla": 3, "adam": 10}[pair]


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's fused training kernels")
def test_tensorflow_fused_kernels_are_used_for_cpu_variables_only(monkeypatch):
    class Handle:
        device = "/job:localhost/replica:0/task:0/device:GPU:0"

    assert _keras_compat.tf_device_type(Handle()) == "GPU"
    assert _keras_compat.tf_device_type(keras.Variable([1.0]).value.handle) == "CPU"
    assert _tf_kernels(MomentumSGD(0.1, momentum=0.5)) == {"ResourceApplyMomentum"}
    assert _tf_kernels(kerasopt_plugins.VanillaSGD(0.1)) == {"ResourceApplyGradientDescent"}
    monkeypatch.setattr(_keras_compat, "tf_device_type", lambda handle: "GPU")  # as if on a GPU
    assert _tf_kernels(MomentumSGD(0.1, momentum=0.5)) == set()
    assert _tf_kernels(kerasopt_plugins.VanillaSGD(0.1)) == set()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
@pytest.mark.parametrize("name", list_optimizers())
def test_indexed_slices_gradients_are_scattered_never_densified(name):
    """An Embedding's gradient (IndexedSlices) updates the touched rows of the table only."""
    import tensorflow as tf

    rows, width, touched = 1000, 8, [3, 17, 17, 512]
    table = keras.Variable(np.ones((rows, width), dtype="float32"))
    optimizer = _make(name)
    optimizer.build([table])
    gradient = tf.IndexedSlices(tf.ones((len(touched), width)), tf.constant(touched), tf.constant([rows, width]))
    step = tf.function(lambda g: optimizer.apply([g], [table]), autograph=False)
    graph = step.get_concrete_function(gradient).graph
    op_types = {op.type for op in graph.get_operations()}
    assert any(t.startswith(("ResourceScatter", "TensorScatter")) for t in op_types), sorted(op_types)
    # no dense gradient: summing repeated rows (as tfa's ports do) yields one row per index
    densified = [
        op.type for op in graph.get_operations()
        if op.type in ("UnsortedSegmentSum", "ScatterNd") and op.outputs[0].shape[:1] == [rows]
    ]
    assert not densified, densified
    step(gradient)
    changed = np.flatnonzero((keras.ops.convert_to_numpy(table) != 1.0).any(axis=1))
    assert changed.tolist() == [3, 17, 512]  # slots start at zero: only touched rows move at first
    if optimizer_info(name).slot_names:
        return  # a slot decays every row each step (as Keras's SGD(momentum)): the rule is dense
    assert not any(t.startswith("ResourceApply") for t in op_types), sorted(op_types)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
@pytest.mark.parametrize("name", list_optimizers())
def test_indexed_slices_fast_and_plain_paths_give_the_same_bits(name):
    """Three steps with duplicate rows (Keras 3 does not sum them): the sparse fast path adds
    the same values into the same rows in the same roundings as the plain scatter."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    start = rng.normal(size=(50, 4)).astype("float32")
    steps = [(tf.constant(rng.normal(size=(5, 4)).astype("float32")), tf.constant([1, 7, 7, 30, 49])) for _ in range(3)]
    results = []
    for fast in (True, False):
        optimizer = _make(name)
        optimizer.fast_paths = fast
        table = keras.Variable(start)
        optimizer.build([table])
        step = tf.function(lambda g: optimizer.apply([g], [table]), autograph=False)
        for values, rows in steps:
            step(tf.IndexedSlices(values, rows, tf.constant([50, 4])))
        results.append([keras.ops.convert_to_numpy(v) for v in [table, *optimizer.variables]])
    for fast, plain in zip(*results):
        np.testing.assert_array_equal(fast, plain)
    assert not np.array_equal(results[0][0], start)
