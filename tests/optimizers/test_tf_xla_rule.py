"""TensorFlow without XLA: an elementwise rule's update runs as one XLA-compiled function.

Inside a `tf.function` that is not XLA-compiled (Keras's train function on a CPU), PluginOptimizer
traces the loop of a rule declared `elementwise` (or `per_variable_sums`) over the variables with
dense gradients into a nested
``tf.function(jit_compile=True)`` (_fast_paths.py, `_tf_xla_update`). What must hold: the graph
holds that call exactly where it applies; the results are those of the same rule compiled with
XLA bit for bit, and within a few ulp of the plain path (XLA contracts multiply-adds); sparse
gradients, eager calls, tf.distribute, rules using TensorFlow's fused kernels, rules that are
not elementwise and operations XLA cannot compile keep Keras's loop; `fast_paths = False`
switches it off.
"""

from __future__ import annotations

import contextlib
import logging

import keras
import numpy as np
import pytest
from conftest import BACKEND, example_optimizer

from kerasopt_plugins import PluginOptimizer, list_optimizers
from kerasopt_plugins.optimizers import _fast_paths

pytestmark = pytest.mark.skipif(BACKEND != "tensorflow", reason="the nested XLA function is TensorFlow's")

#: the size from which variables run compiled (65,536 elements); these tests lower it to 1, so
#: that small variables exercise the compiled path, except the one test of the threshold itself
SIZE_THRESHOLD = _fast_paths.XLA_MIN_ELEMENTS


@contextlib.contextmanager
def every_size():
    saved, _fast_paths.XLA_MIN_ELEMENTS = _fast_paths.XLA_MIN_ELEMENTS, 1
    try:
        yield
    finally:
        _fast_paths.XLA_MIN_ELEMENTS = saved


@pytest.fixture(autouse=True)
def _compile_every_size():
    with every_size():
        yield

SHAPES = [(7, 5), (5,), (300, 30), (), (1, 1, 3), (20, 4)]
DTYPES = ["float32", "float32", "float32", "float32", "float16", "float32"]

def _qualifies(name) -> bool:
    """Declared elementwise, or elementwise but for per-variable sums (NovoGrad)."""
    optimizer = example_optimizer(name)
    return optimizer.elementwise or optimizer.per_variable_sums


QUALIFYING = [n for n in list_optimizers() if _qualifies(n)]


def _data(steps=4, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s).astype(d) for s, d in zip(SHAPES, DTYPES)]
    grads = [[rng.normal(size=s).astype(d) for s, d in zip(SHAPES, DTYPES)] for _ in range(steps)]
    return start, grads


def _train(optimizer, start, grads, jit_compile=False):
    """`len(grads)` steps of ``tf.function(optimizer.apply)``; the variables and slots after them."""
    import tensorflow as tf

    variables = [keras.Variable(w) for w in start]
    optimizer.build(variables)  # else the first trace creates slots, and tf.function traces again
    step = tf.function(lambda g: optimizer.apply(g, variables), autograph=False, jit_compile=jit_compile)
    for g in grads:
        step([tf.constant(x) for x in g])
    return [keras.ops.convert_to_numpy(v) for v in variables + list(optimizer.variables)]


def _graph_ops(optimizer, gradients, variables):
    """(XLA-compiled calls, op types, assignments in the optimizer's name scope) in the graph of
    ``tf.function(optimizer.apply)``."""
    import tensorflow as tf

    optimizer.build(variables)
    step = tf.function(lambda g: optimizer.apply(g, variables), autograph=False)
    operations = step.get_concrete_function(gradients).graph.get_operations()
    calls = [
        op for op in operations
        if op.type == "StatefulPartitionedCall" and op.node_def.attr["_XlaMustCompile"].b
    ]
    # (Keras counts `iterations` outside the optimizer's name scope)
    scope = f"{optimizer.name}/"
    assignments = [op.type for op in operations if op.type.startswith("Assign") and op.name.startswith(scope)]
    return calls, {op.type for op in operations}, assignments


def _dense_case():
    import tensorflow as tf

    return [tf.ones((3, 2))], [keras.Variable(np.ones((3, 2), dtype="float32"))]


def assert_within_xla_contraction(fast, plain, steps):
    """XLA fuses ``a*b + c`` into one rounding on a CPU: a few ulp of the array's scale per step
    from the plain path (measured: at most 3 after 5 steps); a wrong formula is off by far more."""
    scale = np.max(np.abs(plain.astype("float64")), initial=0.0)
    bound = 4 * steps * float(np.spacing(np.asarray(scale, dtype=plain.dtype)))
    np.testing.assert_allclose(fast.astype("float64"), plain.astype("float64"), rtol=0, atol=bound)


def _compiled(name) -> bool:
    return bool(_graph_ops(example_optimizer(name), *_dense_case())[0])


#: the rules that run compiled: all that qualify but those using TensorFlow's fused kernels
with every_size():
    COMPILED = [n for n in QUALIFYING if _compiled(n)] if BACKEND == "tensorflow" else []


def test_only_variables_of_the_threshold_size_run_compiled(monkeypatch):
    """Small variables are launch-bound: they keep Keras's loop, and the model compiles nothing
    for them (most models' biases, every variable of most tests' models); from 65,536 elements
    up the rule runs compiled."""
    import tensorflow as tf

    monkeypatch.setattr(_fast_paths, "XLA_MIN_ELEMENTS", SIZE_THRESHOLD)
    big, small = (256, SIZE_THRESHOLD // 256), (SIZE_THRESHOLD - 1,)
    variables = [keras.Variable(np.ones(big, "float32")), keras.Variable(np.ones(small, "float32"))]
    gradients = [tf.ones(big), tf.ones(small)]
    calls, _, _ = _graph_ops(example_optimizer("yogi"), gradients, variables)
    assert len(calls) == 1
    assert [tuple(t.shape) for t in calls[0].inputs if t.dtype != tf.resource] == [(), big]
    calls, _, assignments = _graph_ops(example_optimizer("yogi"), gradients[1:], variables[1:])
    assert not calls and assignments


@pytest.mark.parametrize("name", list_optimizers())
def test_the_step_holds_an_xla_call_exactly_where_it_applies(name):
    optimizer = example_optimizer(name)
    calls, op_types, assignments = _graph_ops(optimizer, *_dense_case())
    kernels = {t for t in op_types if t.startswith("ResourceApply")}
    if not _qualifies(name):
        assert not calls, f"{name} is not elementwise: Keras's loop"
        assert assignments
    elif kernels:  # MomentumSGD, VanillaSGD: TensorFlow's fused kernels are one pass already
        assert not calls, kernels
    else:
        assert len(calls) == 1, op_types
        assert not assignments  # the rule's are inside the call
    switched_off = example_optimizer(name)
    switched_off.fast_paths = False
    assert not _graph_ops(switched_off, *_dense_case())[0]


def test_the_issues_ports_and_the_guides_adam_run_compiled(guide_adam):
    # the rules issue #12 measured at 1.36-1.47x Adam without XLA, and a user's rule written as
    # the guide teaches (docs/examples/guide_adam.py declares elementwise)
    for optimizer in [example_optimizer(n) for n in ("yogi", "adabelief", "rectified_adam")] + [guide_adam(0.01)]:
        assert len(_graph_ops(optimizer, *_dense_case())[0]) == 1, type(optimizer).__name__
    start, grads = _data(steps=3)
    plain = guide_adam(0.01)
    plain.fast_paths = False
    for ours, compiled in zip(_train(guide_adam(0.01), start, grads), _train(plain, start, grads, jit_compile=True)):
        np.testing.assert_array_equal(ours, compiled)


@pytest.mark.parametrize("name", COMPILED)
def test_results_are_the_xla_compiled_rules_bits(name):
    """The same bits as the rule with fast paths off inside ``tf.function(jit_compile=True)``,
    and within the contraction bound of the plain path without XLA."""
    start, grads = _data()
    nested = _train(example_optimizer(name, decay=0.01), start, grads)
    results = {}
    for jit_compile in (True, False):
        plain = example_optimizer(name, decay=0.01)
        plain.fast_paths = False
        results[jit_compile] = _train(plain, start, grads, jit_compile=jit_compile)
    for ours, compiled, plain in zip(nested, results[True], results[False]):
        np.testing.assert_array_equal(ours, compiled)
        assert_within_xla_contraction(ours, plain, len(grads))
    assert not np.array_equal(nested[2], start[2])  # it did train


@pytest.mark.parametrize("name", COMPILED)
def test_inside_an_xla_compiled_function_the_result_is_unchanged(name):
    start, grads = _data(steps=2)
    results = []
    for fast in (True, False):
        optimizer = example_optimizer(name)
        optimizer.fast_paths = fast
        results.append(_train(optimizer, start, grads, jit_compile=True))
    for ours, plain in zip(*results):
        np.testing.assert_array_equal(ours, plain)


@pytest.mark.parametrize("name", QUALIFYING)
def test_indexed_slices_stay_sparse_beside_compiled_dense_gradients(name):
    """An Embedding's gradient keeps Keras's loop (scattered into its rows, outside the compiled
    function), bit for bit as without it, while the dense variable beside it runs compiled."""
    import tensorflow as tf

    rows, width = 1000, 4
    rng = np.random.default_rng(2)
    table0, dense0 = rng.normal(size=(rows, width)).astype("float32"), rng.normal(size=(6, 3)).astype("float32")
    steps = [
        (tf.constant(rng.normal(size=(4, width)).astype("float32")), tf.constant([3, 17, 17, 512]),
         tf.constant(rng.normal(size=(6, 3)).astype("float32")))
        for _ in range(3)
    ]
    results = {}
    for fast in (True, False):
        optimizer = example_optimizer(name)
        optimizer.fast_paths = fast
        table, dense = keras.Variable(table0), keras.Variable(dense0)
        optimizer.build([table, dense])
        step = tf.function(lambda g: optimizer.apply(g, [table, dense]), autograph=False)
        for values, indices, dense_gradient in steps:
            step([tf.IndexedSlices(values, indices, tf.constant([rows, width])), dense_gradient])
        sparse_gradient = tf.IndexedSlices(steps[0][0], steps[0][1], tf.constant([rows, width]))
        graph = step.get_concrete_function([sparse_gradient, steps[0][2]]).graph
        results[fast] = [keras.ops.convert_to_numpy(v) for v in [table, dense, *optimizer.variables]]
        calls = [op for op in graph.get_operations() if op.node_def.attr["_XlaMustCompile"].b]
        assert len(calls) == (1 if fast and name in COMPILED else 0)
        if calls:
            # the call's inputs: the learning rate and the one dense gradient, nothing of the table's
            assert [tuple(t.shape) for t in calls[0].inputs if t.dtype != tf.resource] == [(), (6, 3)]
        assert any(op.type.startswith(("ResourceScatter", "TensorScatter")) for op in graph.get_operations())
        densified = [
            op.type for op in graph.get_operations()
            if op.type in ("UnsortedSegmentSum", "ScatterNd") and op.outputs[0].shape[:1] == [rows]
        ]
        assert not densified, densified
    fast, plain = results[True], results[False]
    np.testing.assert_array_equal(fast[0], plain[0])  # the table: Keras's loop either way
    for ours, theirs in zip(fast[1:], plain[1:]):
        assert_within_xla_contraction(ours, theirs, len(steps))


def test_eager_apply_keeps_kerass_loop(monkeypatch):
    """One compile per eager call would cost more than it saves: no nested function there."""
    traced = []
    monkeypatch.setattr(_fast_paths, "_xla_update_function", lambda *a: traced.append(a))
    start, grads = _data(steps=2)
    results = []
    for fast in (True, False):
        optimizer = example_optimizer("yogi")
        optimizer.fast_paths = fast
        variables = [keras.Variable(w) for w in start]
        for g in grads:
            optimizer.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
        results.append([keras.ops.convert_to_numpy(v) for v in variables + list(optimizer.variables)])
    assert not traced
    for ours, plain in zip(*results):
        np.testing.assert_array_equal(ours, plain)


def test_fit_without_xla_runs_the_compiled_rule(monkeypatch):
    from conftest import regression_data, small_model

    made = []
    original = _fast_paths._xla_update_function
    monkeypatch.setattr(_fast_paths, "_xla_update_function", lambda o, v: made.append(len(v)) or original(o, v))
    x, y = regression_data(64)
    weights = {}
    for fast in (True, False):
        model = small_model()
        optimizer = example_optimizer("rectified_adam")
        optimizer.fast_paths = fast
        model.compile(optimizer, "mse", jit_compile=False)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        weights[fast] = model.get_weights()
    # the probe (one variable per dtype: all float32), then the whole loop, in the trace that
    # runs (tf.function traces again after a first trace that creates variables)
    assert made[-2:] == [1, len(model.trainable_variables)]
    for ours, plain in zip(weights[True], weights[False]):
        np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["yogi", "adabelief"])
def test_gradient_accumulation_and_loss_scaling_run_it_inside_their_conditionals(name, monkeypatch):
    """Keras applies under gradient accumulation, and LossScaleOptimizer's inner optimizer, in a
    branch of a conditional: the nested function is traced there."""
    made = []
    original = _fast_paths._xla_update_function
    monkeypatch.setattr(_fast_paths, "_xla_update_function", lambda o, v: made.append(len(v)) or original(o, v))
    start, grads = _data(steps=4)
    results = {}
    for fast in (True, False):
        accumulating = example_optimizer(name, gradient_accumulation_steps=2)
        scaled = keras.optimizers.LossScaleOptimizer(example_optimizer(name), initial_scale=8.0)
        accumulating.fast_paths = scaled.inner_optimizer.fast_paths = fast
        results[fast] = _train(accumulating, start, grads) + _train(scaled, start, [[8 * x for x in g] for g in grads])
    # for each: the probe (float32 and float16 variables), then the whole loop
    assert made == [2, len(SHAPES), 2, len(SHAPES)]
    for ours, plain in zip(results[True], results[False]):
        assert_within_xla_contraction(ours, plain, len(grads))


def test_a_distributed_strategy_keeps_kerass_loop(monkeypatch):
    """Keras's TensorFlow optimizer updates a distributed variable through the strategy."""
    import tensorflow as tf
    from conftest import regression_data, small_model

    made = []
    monkeypatch.setattr(_fast_paths, "_xla_update_function", lambda *a: made.append(a))
    x, y = regression_data(32)
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = small_model()
        model.compile(example_optimizer("yogi"), "mse", jit_compile=False)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert not made
    assert not any(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


class HostSign(PluginOptimizer):
    """An elementwise rule with an operation XLA cannot compile (a NumPy call on the host)."""

    elementwise = True

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        sign = tf.numpy_function(np.sign, [gradient], gradient.dtype, stateful=False)
        self.assign_sub(variable, keras.ops.multiply(tf.reshape(sign, tf.shape(gradient)), learning_rate))


def test_a_rule_xla_cannot_compile_falls_back_to_kerass_loop(caplog):
    import tensorflow as tf

    optimizer = HostSign(learning_rate=0.5)
    with caplog.at_level(logging.INFO, logger=_fast_paths.__name__):
        calls, op_types, _ = _graph_ops(optimizer, *_dense_case())
    assert not calls and "PyFuncStateless" in op_types
    messages = [r.getMessage() for r in caplog.records]
    assert any("HostSign: the update runs without XLA" in m and "PyFunc" in m for m in messages), messages
    variable = keras.Variable(np.array([1.0, 2.0, 3.0], dtype="float32"))
    optimizer = HostSign(learning_rate=0.5)
    optimizer.build([variable])
    tf.function(lambda g: optimizer.apply([g], [variable]), autograph=False)(tf.constant([-2.0, 0.0, 4.0]))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), [1.5, 2.0, 2.5])
