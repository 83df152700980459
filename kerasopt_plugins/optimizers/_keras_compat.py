"""The one place that touches Keras internals that have no public replacement.

Each accessor raises `KerasInternalsChanged` (naming itself, the internal and the installed Keras
version) when the internal it relies on is missing or no longer what it was; a value that is
legitimately absent (a Variable not initialized yet, a JAX state already synced, another
backend) is still returned as None. tests/optimizers/test_keras_compat.py checks each accessor
against the installed Keras and simulates each internal going away. `current_tf_strategy`,
`current_tf_strategy_is_distributed` and `tf_device_type` touch no Keras internal (public
TensorFlow API only), so they have nothing to raise.
"""

from __future__ import annotations

import importlib
from typing import Any

import keras

_stateless_scope_missing = ""
try:  # imported by Keras itself; resolved here so `in_stateless_scope` costs one call
    _stateless_scope: Any = importlib.import_module("keras.src.backend.common.stateless_scope")
except ImportError as _err:  # reported by `in_stateless_scope` when it is called, not at import
    _stateless_scope = None
    _stateless_scope_missing = f"{type(_err).__name__}: {_err}"

# The keys of the JAX trainer's `_jax_state` (fit, evaluate, predict and the *_on_batch methods).
_JAX_STATE_KEYS = frozenset(
    {"trainable_variables", "non_trainable_variables", "optimizer_variables", "metrics_variables"}
)


class KerasInternalsChanged(RuntimeError):
    """A Keras internal that kerasopt_plugins relies on is missing or changed in the installed Keras."""


def _changed(accessor: str, internal: str, found: str = "") -> KerasInternalsChanged:
    version = keras.__version__
    parts = version.split(".")
    pin = f"keras<{parts[0]}.{parts[1]}" if len(parts) > 1 and parts[0].isdigit() and parts[1].isdigit() else "keras"
    return KerasInternalsChanged(
        f"kerasopt_plugins._keras_compat.{accessor}() relies on the Keras internal {internal}, "
        f"which is missing or changed in the installed Keras {version}"
        + (f" ({found})" if found else "")
        + f". Please report this to the kerasopt_plugins maintainers with your Keras version, and "
        f'pin Keras to a release kerasopt_plugins supports (e.g. pip install "{pin}") until it is fixed.'
    )


def _optimizer_attribute(optimizer: Any, name: str, accessor: str) -> Any:
    """`optimizer.<name>`; its absence on a Keras optimizer means Keras changed."""
    try:
        return getattr(optimizer, name)
    except AttributeError as err:
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise
        raise _changed(accessor, f"Optimizer.{name}", f"{type(err).__name__}: {err}") from err


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
    except AttributeError as err:
        # Only an attribute of the optimizer itself (the method, or what it reads) means Keras
        # changed; anything else (say a tensor passed for a variable) propagates as it was.
        if err.obj is not optimizer or not isinstance(optimizer, keras.optimizers.Optimizer):
            raise
        raise _changed(
            "variable_index", "Optimizer._get_variable_index(variable)", f"{type(err).__name__}: {err}"
        ) from err


def raw_learning_rate(optimizer: keras.optimizers.Optimizer) -> Any:
    """What the optimizer holds as its learning rate: a Variable, a schedule or a callable."""
    raw = _optimizer_attribute(optimizer, "_learning_rate", "raw_learning_rate")
    if not (isinstance(raw, (keras.Variable, keras.optimizers.schedules.LearningRateSchedule)) or callable(raw)):
        raise _changed(
            "raw_learning_rate",
            "Optimizer._learning_rate",
            f"it holds {type(raw).__name__} {raw!r}, not a Variable, LearningRateSchedule or callable",
        )
    return raw


def live_optimizer_state(model: Any) -> list | None:
    """The optimizer's current values during `fit` on JAX, parallel to `model.optimizer.variables`.

    Keras's JAX trainer keeps the training state out of the Keras variables between steps and
    writes it back only at epoch end (`jax_state_sync`); until then `variable.value` is stale.
    Returns None when the variables are current (every other backend, or after a sync) and
    when no optimizer state is in flight (during `evaluate` or `predict`).
    """
    if keras.backend.backend() != "jax" or not isinstance(model, keras.Model):
        return None
    try:
        if model._jax_state_synced:
            return None
        state = model._jax_state  # set after every step, before the batch callbacks run
    except AttributeError as err:
        raise _changed(
            "live_optimizer_state", "JAXTrainer._jax_state_synced / _jax_state", f"{type(err).__name__}: {err}"
        ) from err
    if not state:
        return None  # cleared (None) at the end of fit/evaluate/predict, as Keras's own sync reads it
    if not isinstance(state, dict) or not state.keys() <= _JAX_STATE_KEYS:
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise _changed(
            "live_optimizer_state",
            f"JAXTrainer._jax_state (a dict with keys among {sorted(_JAX_STATE_KEYS)})",
            f"found {found}",
        )
    variables = state.get("optimizer_variables")
    if variables is None:
        return None  # evaluate / predict: no optimizer state in flight
    if not isinstance(variables, (list, tuple)) or len(variables) != len(model.optimizer.variables):
        raise _changed(
            "live_optimizer_state",
            "JAXTrainer._jax_state['optimizer_variables'] (a list parallel to model.optimizer.variables)",
            f"found {type(variables).__name__}",
        )
    return variables


def step_counter(optimizer: keras.optimizers.Optimizer) -> Any:
    """The variable counting every `apply` call: what Keras evaluates schedules at.

    Public `optimizer.iterations` is the same variable, except under gradient accumulation,
    where it is a tensor counting updates (`_iterations // gradient_accumulation_steps`).
    """
    counter = _optimizer_attribute(optimizer, "_iterations", "step_counter")
    if not isinstance(counter, keras.Variable):
        raise _changed("step_counter", "Optimizer._iterations", f"it holds {type(counter).__name__}, not a Variable")
    return counter


def current_tf_strategy() -> Any:
    """The tf.distribute strategy in scope on the TensorFlow backend (None elsewhere).

    Does not import TensorFlow: if it is not imported yet, no strategy can be in scope.
    """
    import sys

    if keras.backend.backend() != "tensorflow" or "tensorflow" not in sys.modules:
        return None
    return sys.modules["tensorflow"].distribute.get_strategy()


def tf_resource_handle(variable: Any) -> Any:
    """The TensorFlow resource handle behind a Keras or tf.Variable (None if there is none).

    None for a Keras Variable off the TensorFlow backend, and on it where `variable.value` is a
    tensor rather than the tf.Variable (inside a `keras.StatelessScope` or an autocast scope,
    or before the variable is initialized).
    """
    if not isinstance(variable, keras.Variable):
        return getattr(variable, "handle", None)
    if keras.backend.backend() != "tensorflow":
        return None
    import sys

    tf = sys.modules["tensorflow"]  # imported by the TensorFlow backend
    inner = variable.value
    if isinstance(inner, tf.Variable):
        return getattr(inner, "handle", None)
    if isinstance(inner, tf.Tensor):
        return None
    raise _changed(
        "tf_resource_handle",
        "Variable.value on the TensorFlow backend (the tf.Variable that holds the value)",
        f"it is {type(inner).__name__}",
    )


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
    try:
        return _stateless_scope.in_stateless_scope()
    except AttributeError as err:  # the module (None) or its function is gone
        raise _changed(
            "in_stateless_scope",
            "keras.src.backend.common.stateless_scope.in_stateless_scope()",
            _stateless_scope_missing if _stateless_scope is None else f"{type(err).__name__}: {err}",
        ) from err


def torch_storage(variable: Any) -> Any:
    """The torch tensor that holds a Keras Variable's value on the torch backend (None if unset).

    `variable.value` returns the same tensor outside stateless and autocast scopes, after
    checks that cost ~2 µs per call; the in-place fast paths need the storage itself, once per
    variable and step, and check the scopes once per step. None for a variable created in a
    `keras.StatelessScope` and not initialized yet. On the other backends it is likewise the
    object `variable.value` returns outside those scopes (a jax.Array, a tf.Variable).
    """
    try:
        return variable._value  # one attribute read: this runs per variable per step
    except AttributeError as err:
        if not isinstance(variable, keras.Variable):
            return None  # not a Keras Variable: no storage of its own, as before
        raise _changed("torch_storage", "Variable._value", f"{type(err).__name__}: {err}") from err


def torch_alias_variable(tensor: Any, name: str) -> Any:
    """A Keras Variable on the torch backend whose storage *is* `tensor` (no copy).

    Public constructor; what it relies on is that Keras's torch Variable keeps a
    `torch.nn.Parameter` given as its initializer instead of copying it ("Reuse same
    parameter" in `keras/src/backend/torch/core.py`). Checked on every call, so a Keras that
    copies raises here instead of letting updates go to a copy.
    """
    import torch

    parameter = torch.nn.Parameter(tensor, requires_grad=False)
    variable = keras.Variable(
        initializer=parameter,
        dtype=keras.backend.standardize_dtype(tensor.dtype),
        trainable=False,
        autocast=False,
        name=name,
    )
    if getattr(variable, "_value", None) is not parameter:
        raise _changed(
            "torch_alias_variable",
            "torch Variable._initialize keeping a Parameter initializer as its storage",
            f"found {type(getattr(variable, '_value', None)).__name__}",
        )
    return variable


def backend_optimizer_class(cls: type) -> type:
    """The class Keras instantiates for optimizer class `cls` on this backend.

    On torch, ``keras.optimizers.Adam(...)`` (and SGD, RMSprop, ...) makes an instance of a
    torch-specific subclass with multi-tensor kernels (`TorchOptimizer.__new__` swaps it in);
    a subclass of `cls` itself would not get them. Found by asking `__new__`, without running
    a constructor.
    """
    made = cls.__new__(cls)
    found = type(made)
    if not (isinstance(found, type) and issubclass(found, cls)):
        raise _changed("backend_optimizer_class", f"{cls.__name__}.__new__ returning a {cls.__name__}", repr(found))
    return found


def all_layers(layer: Any) -> list:
    """`layer` and every layer inside it, at any depth (also layers held as attributes of a
    custom layer, which public `model.layers` does not list): Keras's `_flatten_layers`."""
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        raise _changed("all_layers", "Layer._flatten_layers(include_self, recursive)")
    found = list(flatten(include_self=True, recursive=True))
    if not all(isinstance(x, keras.layers.Layer) for x in found):
        raise _changed("all_layers", "Layer._flatten_layers yielding layers", repr(found[:3]))
    return found


def nadam_u_product(optimizer: Any) -> Any:
    """The variable in which Keras's Nadam keeps the product of its momentum schedule (1.0 at
    first, times ``beta_1 * (1 - 0.5 * 0.96 ** (0.004 * t))`` at every step t): ``_u_product``,
    a scalar among `optimizer.variables` with no public name. Keras 2's legacy Nadam saved the
    same product as ``momentum_cache`` (kerasopt_plugins.legacy.load_model restores it here).

    Raises:
        TypeError: `optimizer` is not a `keras.optimizers.Nadam`.
        ValueError: it is not built yet (the variable is made by `build`).
    """
    if not isinstance(optimizer, keras.optimizers.Nadam):
        raise TypeError(f"nadam_u_product: expected a keras.optimizers.Nadam, got {optimizer!r}")
    if not optimizer.built:
        raise ValueError("nadam_u_product: the Nadam optimizer is not built yet (build it with the model's variables)")
    found = getattr(optimizer, "_u_product", None)
    if not isinstance(found, keras.Variable) or tuple(found.shape) != () or not any(v is found for v in optimizer.variables):
        raise _changed(
            "nadam_u_product",
            "Nadam._u_product (a scalar Variable among optimizer.variables)",
            f"found {type(found).__name__}",
        )
    return found
