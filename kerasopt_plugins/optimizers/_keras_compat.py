"""The one place that touches Keras internals that have no public replacement.

Every function here is covered by tests/optimizers/test_keras_compat.py, which fails loudly
when a Keras release renames or changes what it relies on.
"""

from __future__ import annotations

from typing import Any

import keras


def variable_index(optimizer: keras.optimizers.Optimizer, variable: Any) -> int:
    """Position of a model variable in the list the optimizer was built with.

    Keras's own optimizers look slots up the same way; on TensorFlow it also maps a
    per-replica component of a distributed variable to its container.
    """
    try:
        return optimizer._get_variable_index(variable)
    except KeyError:
        raise ValueError(
            f"{type(optimizer).__name__} was not built with variable "
            f"{getattr(variable, 'path', getattr(variable, 'name', variable))!r}"
        ) from None


def raw_learning_rate(optimizer: keras.optimizers.Optimizer) -> Any:
    """What the optimizer holds as its learning rate: a Variable, a schedule or a callable."""
    return optimizer._learning_rate


def live_optimizer_state(model: Any) -> list | None:
    """The optimizer's current values during `fit` on JAX, parallel to `model.optimizer.variables`.

    Keras's JAX trainer keeps the training state out of the Keras variables between steps and
    writes it back only at epoch end (`jax_state_sync`); until then `variable.value` is stale.
    Returns None when the variables are current (every other backend, or after a sync).
    """
    if getattr(model, "_jax_state_synced", True):
        return None
    state = getattr(model, "_jax_state", None) or {}
    return state.get("optimizer_variables")


def step_counter(optimizer: keras.optimizers.Optimizer) -> Any:
    """The variable counting every `apply` call: what Keras evaluates schedules at.

    Public `optimizer.iterations` is the same variable, except under gradient accumulation,
    where it is a tensor counting updates (`_iterations // gradient_accumulation_steps`).
    """
    return optimizer._iterations


def current_tf_strategy() -> Any:
    """The tf.distribute strategy in scope on the TensorFlow backend (None elsewhere).

    Does not import TensorFlow: if it is not imported yet, no strategy can be in scope.
    """
    import sys

    if keras.backend.backend() != "tensorflow" or "tensorflow" not in sys.modules:
        return None
    return sys.modules["tensorflow"].distribute.get_strategy()


def tf_resource_handle(variable: Any) -> Any:
    """The TensorFlow resource handle behind a Keras or tf.Variable (None if there is none)."""
    inner = getattr(variable, "value", variable) if isinstance(variable, keras.Variable) else variable
    return getattr(inner, "handle", None)


def tf_device_type(handle: Any) -> str | None:
    """"CPU", "GPU", ... for a TensorFlow resource handle's device (None if not placed)."""
    import tensorflow as tf

    device = getattr(handle, "device", "") or ""
    return tf.DeviceSpec.from_string(device).device_type if device else None


def current_tf_strategy_is_distributed() -> bool:
    """True inside a tf.distribute strategy other than the default one."""
    if current_tf_strategy() is None:
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy()


def in_stateless_scope() -> bool:
    """True inside a `keras.StatelessScope` (as in `optimizer.stateless_apply`).

    There a variable's value is a tensor the caller passed in, so it must not be updated in place.
    """
    from keras.src.backend.common import stateless_scope

    return stateless_scope.in_stateless_scope()


def torch_storage(variable: Any) -> Any:
    """The torch tensor that holds a Keras Variable's value on the torch backend (None if unset).

    `variable.value` returns the same tensor outside stateless and autocast scopes, after
    checks that cost ~2 µs per call; the in-place fast paths need the storage itself, once per
    variable and step, and check the scopes once per step.
    """
    return getattr(variable, "_value", None)
