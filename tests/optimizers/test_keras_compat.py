"""The Keras adapter: each accessor against the installed Keras, and each internal taken away.

The first test of each pair asserts the real value on the current backend (CI runs this file
on TensorFlow, JAX and torch; an accessor specific to one backend is checked off it too). The
second simulates a Keras release that renamed or changed the internal, and expects the clear
error naming the accessor, the internal and the installed Keras version.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from conftest import BACKEND, regression_data, run_python, small_model

from kerasopt_plugins import MomentumSGD, VanillaSGD
from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.optimizers._keras_compat import KerasInternalsChanged


def changed(accessor: str, internal: str) -> str:
    """The `match=` pattern of the error `accessor` raises when `internal` is gone."""
    return (
        rf"_keras_compat\.{accessor}\(\) relies on the Keras internal {re.escape(internal)}.*"
        rf"installed Keras {re.escape(keras.__version__)}.*report this.*pin Keras"
    )


def owner(cls: type, name: str) -> type:
    """The class in `cls`'s MRO that defines `name` (where Keras would rename it)."""
    return next(k for k in cls.__mro__ if name in vars(k))


def variables(*shapes):
    return [keras.Variable(np.full(shape, i + 1.0, dtype="float32")) for i, shape in enumerate(shapes)]


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# -- the error itself ----------------------------------------------------------------------


def test_the_error_names_the_accessor_the_internal_the_keras_version_and_what_to_do(monkeypatch):
    optimizer = VanillaSGD(0.1)
    monkeypatch.delattr(optimizer, "_learning_rate")
    with pytest.raises(KerasInternalsChanged) as caught:
        _keras_compat.raw_learning_rate(optimizer)
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert "raw_learning_rate()" in message
    assert "Optimizer._learning_rate" in message
    assert f"installed Keras {keras.__version__}" in message
    assert "report this to the kerasopt_plugins maintainers" in message
    major, minor = keras.__version__.split(".")[:2]
    assert f'pip install "keras<{major}.{minor}"' in message
    assert isinstance(caught.value.__cause__, AttributeError)  # what Keras raised is kept


# -- variable_index --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: MomentumSGD(0.1, momentum=0.9), lambda: keras.optimizers.SGD(0.1)])
def test_variable_index_is_the_position_in_the_list_the_optimizer_was_built_with(make):
    optimizer = make()
    built = variables((2,), (3, 4), (5,))
    optimizer.build(built)
    for i, variable in enumerate(built):
        assert _keras_compat.variable_index(optimizer, variable) == i
    with pytest.raises(ValueError, match="was not built with variable"):
        _keras_compat.variable_index(optimizer, keras.Variable(np.zeros(2, dtype="float32")))


def test_variable_index_finds_the_slot_of_each_variable():
    optimizer = MomentumSGD(0.1, momentum=0.9)
    built = variables((2,), (3, 4), (5,))
    optimizer.build(built)
    optimizer.apply([keras.ops.ones(v.shape) for v in built], built)
    for variable in built:  # the "m" slot of each variable has its shape and has seen one gradient
        slot = optimizer.get_slot(variable, "m")
        assert tuple(slot.shape) == tuple(variable.shape)
        assert numpy(slot).any()


def test_variable_index_leaves_a_wrong_argument_to_the_caller():
    optimizer = VanillaSGD(0.1)
    optimizer.build(variables((2,)))
    with pytest.raises(Exception) as caught:  # KeyError -> ValueError, or the tensor's AttributeError
        _keras_compat.variable_index(optimizer, keras.ops.ones((2,)))
    assert not isinstance(caught.value, KerasInternalsChanged)


def test_variable_index_raises_clearly_when_keras_changes(monkeypatch):
    optimizer = VanillaSGD(0.1)
    built = variables((2,), (3,))
    optimizer.build(built)
    cls = owner(type(optimizer), "_get_variable_index")
    with monkeypatch.context() as patch:
        patch.delattr(cls, "_get_variable_index")
        with pytest.raises(KerasInternalsChanged, match=changed("variable_index", "Optimizer._get_variable_index")):
            _keras_compat.variable_index(optimizer, built[1])
    with monkeypatch.context() as patch:  # what the method reads was renamed
        patch.delattr(optimizer, "_trainable_variables_indices")
        with pytest.raises(KerasInternalsChanged, match=changed("variable_index", "Optimizer._get_variable_index")):
            _keras_compat.variable_index(optimizer, built[1])
    assert _keras_compat.variable_index(optimizer, built[1]) == 1  # restored


# -- raw_learning_rate -----------------------------------------------------------------------


def test_raw_learning_rate_is_the_variable_schedule_or_callable_the_optimizer_holds():
    optimizer = VanillaSGD(0.25)
    raw = _keras_compat.raw_learning_rate(optimizer)
    assert isinstance(raw, keras.Variable)
    assert float(numpy(raw)) == np.float32(0.25)
    optimizer.learning_rate = 0.5  # the setter assigns to that same Variable
    assert _keras_compat.raw_learning_rate(optimizer) is raw
    assert float(numpy(raw)) == 0.5
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert _keras_compat.raw_learning_rate(VanillaSGD(schedule)) is schedule

    def rate():  # Keras also accepts a zero-argument callable
        return 0.125

    assert _keras_compat.raw_learning_rate(keras.optimizers.SGD(rate)) is rate


def test_raw_learning_rate_raises_clearly_when_keras_changes(monkeypatch):
    optimizer = VanillaSGD(0.25)
    with monkeypatch.context() as patch:
        patch.delattr(optimizer, "_learning_rate")
        with pytest.raises(KerasInternalsChanged, match=changed("raw_learning_rate", "Optimizer._learning_rate")):
            _keras_compat.raw_learning_rate(optimizer)
    with monkeypatch.context() as patch:  # holds something else (here a bare float)
        patch.setattr(optimizer, "_learning_rate", 0.25)
        with pytest.raises(KerasInternalsChanged, match=r"raw_learning_rate\(\).*holds float 0\.25"):
            _keras_compat.raw_learning_rate(optimizer)


# -- step_counter ----------------------------------------------------------------------------


def test_step_counter_is_iterations_without_gradient_accumulation():
    optimizer = VanillaSGD(0.1)
    built = variables((2,))
    optimizer.build(built)
    counter = _keras_compat.step_counter(optimizer)
    assert counter is optimizer.iterations
    for _ in range(3):
        optimizer.apply([keras.ops.ones((2,))], built)
    assert int(numpy(counter)) == 3


def test_step_counter_counts_every_apply_call_under_gradient_accumulation():
    optimizer = VanillaSGD(0.1, decay=0.5, gradient_accumulation_steps=2)
    built = variables((2,))
    optimizer.build(built)
    counter = _keras_compat.step_counter(optimizer)
    assert isinstance(counter, keras.Variable)
    for _ in range(5):
        optimizer.apply([keras.ops.ones((2,))], built)
    assert int(numpy(counter)) == 5
    assert int(numpy(optimizer.iterations)) == 2  # public: updates, not apply() calls
    # legacy decay reads the counter: the rate Keras's schedules would see at apply() call 5
    assert float(numpy(optimizer.learning_rate)) == pytest.approx(0.1 / (1 + 0.5 * 5), rel=1e-6)


def test_step_counter_raises_clearly_when_keras_changes(monkeypatch):
    optimizer = VanillaSGD(0.1)
    optimizer.build(variables((2,)))
    with monkeypatch.context() as patch:
        patch.delattr(optimizer, "_iterations")
        with pytest.raises(KerasInternalsChanged, match=changed("step_counter", "Optimizer._iterations")):
            _keras_compat.step_counter(optimizer)
    with monkeypatch.context() as patch:  # holds a count rather than the Variable
        patch.setattr(optimizer, "_iterations", 0)
        with pytest.raises(KerasInternalsChanged, match=r"step_counter\(\).*holds int, not a Variable"):
            _keras_compat.step_counter(optimizer)


# -- live_optimizer_state --------------------------------------------------------------------


class _Reads(keras.callbacks.Callback):
    """At each batch end: the live state, its step count, and the iterations Variable's.

    It holds the model itself: on JAX, `Callback.model` syncs the trainer state into the
    Variables (as the package's callbacks avoid doing every step). Until a sync, the JAX
    trainer has purged the Variables' values, so they are not read there during training.
    """

    def __init__(self, model):
        super().__init__()
        self.target = model
        self.train, self.test = [], []

    def _read(self):
        optimizer = self.target.optimizer
        state = _keras_compat.live_optimizer_state(self.target)
        position = [id(v) for v in optimizer.variables].index(id(optimizer.iterations))
        if state is not None:
            return state, int(numpy(state[position])), None
        return state, None, int(numpy(optimizer.iterations))

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(self._read())

    def on_test_batch_end(self, batch, logs=None):
        self.test.append(self._read())


def test_live_optimizer_state_during_fit():
    x, y = regression_data(32)
    model = small_model()
    model.compile(MomentumSGD(0.01, momentum=0.9), "mse")
    reads = _Reads(model)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[reads], validation_data=(x[:8], y[:8]))
    assert len(reads.train) == 4
    if BACKEND == "jax":
        # in flight: the trainer's state, parallel to optimizer.variables, at this very step
        for step, (state, live, _) in enumerate(reads.train, start=1):
            assert state is not None
            assert len(state) == len(model.optimizer.variables)
            assert live == step
    else:
        # the Variables are current: nothing else to read
        assert [(state, current) for state, _, current in reads.train] == [(None, step) for step in range(1, 5)]
    # validation: no optimizer state in flight, and the Variables are current on every backend
    assert reads.test and all(state is None and current == 4 for state, _, current in reads.test)
    assert _keras_compat.live_optimizer_state(model) is None  # synced after fit
    assert int(numpy(model.optimizer.iterations)) == 4


def test_live_optimizer_state_is_none_outside_fit_and_for_other_objects():
    model = small_model()
    model.compile(VanillaSGD(0.01), "mse")
    assert _keras_compat.live_optimizer_state(model) is None
    assert _keras_compat.live_optimizer_state(object()) is None


def test_live_optimizer_state_raises_clearly_when_keras_changes(monkeypatch):
    model = small_model()
    model.compile(VanillaSGD(0.01), "mse")
    model.optimizer.build(model.trainable_variables)
    if BACKEND != "jax":  # no JAX trainer state is read there, so nothing can have changed
        monkeypatch.setattr(model, "_jax_state_synced", False, raising=False)
        monkeypatch.setattr(model, "_jax_state", {"renamed": []}, raising=False)
        assert _keras_compat.live_optimizer_state(model) is None
        return
    internal = "JAXTrainer._jax_state_synced / _jax_state"
    with monkeypatch.context() as patch:
        patch.delattr(model, "_jax_state_synced")
        with pytest.raises(KerasInternalsChanged, match=changed("live_optimizer_state", internal)):
            _keras_compat.live_optimizer_state(model)
    with monkeypatch.context() as patch:  # unsynced, but the state is not where it was
        patch.setattr(model, "_jax_state_synced", False)
        patch.delattr(model, "_jax_state", raising=False)
        with pytest.raises(KerasInternalsChanged, match=changed("live_optimizer_state", internal)):
            _keras_compat.live_optimizer_state(model)
        patch.setattr(model, "_jax_state", {"optimizer_state": list(model.optimizer.variables)}, raising=False)
        with pytest.raises(KerasInternalsChanged, match=r"live_optimizer_state\(\).*found \['optimizer_state'\]"):
            _keras_compat.live_optimizer_state(model)
        patch.setattr(model, "_jax_state", {"optimizer_variables": {"iteration": 0}})
        with pytest.raises(KerasInternalsChanged, match=r"live_optimizer_state\(\).*parallel to model\.optimizer"):
            _keras_compat.live_optimizer_state(model)
        # legitimately nothing: cleared state (end of fit), or no optimizer state (evaluate)
        patch.setattr(model, "_jax_state", None)
        assert _keras_compat.live_optimizer_state(model) is None
        patch.setattr(model, "_jax_state", {"trainable_variables": [], "metrics_variables": []})
        assert _keras_compat.live_optimizer_state(model) is None


# -- step counter read through the callbacks (the caller that needs a live value) ---------


def test_iteration_logger_still_reads_the_step_counter_during_fit():
    from kerasopt_plugins.callbacks import IterationLogger

    x, y = regression_data(32)
    model = small_model()
    model.compile(VanillaSGD(0.01, gradient_accumulation_steps=2), "mse")
    logger = IterationLogger()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert [r["iteration"] for r in logger.records] == [1, 2, 3, 4]  # apply() calls, not updates


# -- tf_resource_handle ----------------------------------------------------------------------


def test_tf_resource_handle():
    variable = keras.Variable(np.ones(3, dtype="float32"))
    assert _keras_compat.tf_resource_handle(np.ones(3)) is None  # nothing behind an array
    if BACKEND != "tensorflow":
        assert _keras_compat.tf_resource_handle(variable) is None
        return
    import tensorflow as tf

    handle = _keras_compat.tf_resource_handle(variable)
    assert handle is variable.value.handle
    assert handle.dtype == tf.resource
    assert _keras_compat.tf_device_type(handle) == "CPU"
    plain = tf.Variable([1.0, 2.0])
    assert _keras_compat.tf_resource_handle(plain) is plain.handle
    # a tensor stands in for the variable: nothing to update in place
    with keras.StatelessScope(state_mapping=[(variable, tf.zeros(3))]):
        assert _keras_compat.tf_resource_handle(variable) is None


def test_tf_resource_handle_raises_clearly_when_keras_changes(monkeypatch):
    variable = keras.Variable(np.ones(3, dtype="float32"))
    monkeypatch.setattr(variable, "_value", np.ones(3, dtype="float32"))  # no tf.Variable any more
    if BACKEND != "tensorflow":  # the value of a Variable there is no TensorFlow object anyway
        assert _keras_compat.tf_resource_handle(variable) is None
        return
    with pytest.raises(
        KerasInternalsChanged, match=changed("tf_resource_handle", "Variable.value on the TensorFlow backend")
    ):
        _keras_compat.tf_resource_handle(variable)


# -- in_stateless_scope ----------------------------------------------------------------------


def test_in_stateless_scope_is_true_exactly_inside_a_stateless_scope():
    assert _keras_compat.in_stateless_scope() is False
    with keras.StatelessScope():
        assert _keras_compat.in_stateless_scope() is True
        with keras.StatelessScope():
            assert _keras_compat.in_stateless_scope() is True
        assert _keras_compat.in_stateless_scope() is True
    assert _keras_compat.in_stateless_scope() is False


@pytest.mark.skipif(BACKEND == "tensorflow", reason="Keras has no stateless_apply on TensorFlow")
def test_in_stateless_scope_is_true_inside_stateless_apply():
    seen = []

    class Probe(keras.optimizers.SGD):
        def update_step(self, gradient, variable, learning_rate):
            seen.append(_keras_compat.in_stateless_scope())
            super().update_step(gradient, variable, learning_rate)

    optimizer = Probe(0.1)
    built = variables((2,))
    optimizer.build(built)
    optimizer.stateless_apply([v.value for v in optimizer.variables], [keras.ops.ones((2,))], [v.value for v in built])
    optimizer.apply([keras.ops.ones((2,))], built)
    assert seen == [True, False]


def test_in_stateless_scope_raises_clearly_when_keras_changes(monkeypatch):
    from keras.src.backend.common import stateless_scope

    monkeypatch.delattr(stateless_scope, "in_stateless_scope")
    with pytest.raises(
        KerasInternalsChanged,
        match=changed("in_stateless_scope", "keras.src.backend.common.stateless_scope.in_stateless_scope()"),
    ):
        _keras_compat.in_stateless_scope()


@pytest.mark.slow
def test_a_missing_stateless_scope_module_fails_at_use_not_at_import():
    proc = run_python(
        """
        import sys
        import keras
        import keras.src.backend.common as common
        del common.stateless_scope  # as if a Keras release moved the module
        sys.modules["keras.src.backend.common.stateless_scope"] = None
        import kerasopt_plugins  # still imports
        from kerasopt_plugins.optimizers import _keras_compat
        try:
            _keras_compat.in_stateless_scope()
        except _keras_compat.KerasInternalsChanged as err:
            print("RAISED", err)
        """
    )
    assert "RAISED" in proc.stdout
    assert re.search(
        changed("in_stateless_scope", "keras.src.backend.common.stateless_scope.in_stateless_scope()"), proc.stdout
    )
    assert "ModuleNotFoundError" in proc.stdout  # the import's failure, kept in the message


# -- torch_storage ---------------------------------------------------------------------------


def test_torch_storage_is_the_tensor_variable_value_returns():
    variable = keras.Variable(np.ones(3, dtype="float32"))
    storage = _keras_compat.torch_storage(variable)
    assert storage is variable.value  # outside the scopes, on every backend
    assert _keras_compat.torch_storage(np.ones(3)) is None  # not a Keras Variable
    if BACKEND != "torch":
        return
    import torch

    assert isinstance(storage, torch.Tensor)
    with torch.no_grad():
        storage.add_(2.0)  # what the in-place fast paths do
    np.testing.assert_array_equal(numpy(variable), [3.0, 3.0, 3.0])
    # in a stateless scope `value` is the caller's tensor; the storage is still the variable's
    with keras.StatelessScope(state_mapping=[(variable, torch.zeros(3))]):
        assert _keras_compat.torch_storage(variable) is storage
        assert variable.value is not storage


def test_torch_storage_is_none_for_a_variable_not_initialized_yet():
    with keras.StatelessScope():
        variable = keras.Variable(initializer="zeros", shape=(3,))
        assert _keras_compat.torch_storage(variable) is None
    assert _keras_compat.torch_storage(variable) is variable.value  # initialized on leaving


def test_torch_storage_raises_clearly_when_keras_changes(monkeypatch):
    variable = keras.Variable(np.ones(3, dtype="float32"))
    monkeypatch.delattr(variable, "_value")
    with pytest.raises(KerasInternalsChanged, match=changed("torch_storage", "Variable._value")):
        _keras_compat.torch_storage(variable)


# -- torch_alias_variable -------------------------------------------------------------------


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution's workspace variables are torch's")
def test_torch_alias_variable_shares_the_tensors_storage():
    import torch

    workspace = torch.zeros(10)
    variable = _keras_compat.torch_alias_variable(workspace[2:5], "alias")
    assert variable.dtype == "float32" and tuple(variable.shape) == (3,) and not variable.trainable
    variable.assign(np.array([1.0, 2.0, 3.0], dtype="float32"))  # Keras's own assign
    np.testing.assert_array_equal(workspace.numpy(), [0, 0, 1, 2, 3, 0, 0, 0, 0, 0])
    workspace[3] = 7.0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), [1.0, 7.0, 3.0])


@pytest.mark.skipif(BACKEND != "torch", reason="packed execution's workspace variables are torch's")
def test_torch_alias_variable_raises_when_keras_copies_the_initializer(monkeypatch):
    import torch
    from keras.src.backend.torch import core

    original = core.Variable._initialize
    monkeypatch.setattr(core.Variable, "_initialize", lambda self, value: original(self, value.detach().clone()))
    with pytest.raises(_keras_compat.KerasInternalsChanged, match=r"torch_alias_variable.*Keras " + keras.__version__):
        _keras_compat.torch_alias_variable(torch.zeros(4), "alias")


def test_backend_optimizer_class_is_the_class_keras_instantiates():
    from kerasopt_plugins import VanillaSGD
    from kerasopt_plugins.optimizers import _keras_compat

    for cls in (keras.optimizers.Adam, keras.optimizers.SGD, keras.optimizers.Lamb, VanillaSGD):
        found = _keras_compat.backend_optimizer_class(cls)
        assert issubclass(found, cls)
        assert type(cls()) is found


def test_all_layers_finds_layers_held_as_attributes_of_a_custom_layer():
    from kerasopt_plugins.optimizers import _keras_compat

    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.norm = keras.layers.BatchNormalization()

        def call(self, x):
            return self.norm(x)

    block = Block()
    model = keras.Sequential([keras.Input((3,)), block, keras.layers.Dense(1)])
    found = _keras_compat.all_layers(model)
    assert model in found and block in found and block.norm in found
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in found) == 1
