"""What `OptimizerV2` needs around it: its error, the hooks it refuses, apply_state, TF access.

TensorFlow is imported only when a function here runs (`tf_module`), never at import: importing
kerasopt_plugins.legacy must work on every backend.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any

import keras
import numpy as np


class UnsupportedFeatureError(NotImplementedError):
    """An OptimizerV2 feature that `OptimizerV2` on Keras 3 does not offer (the message says what to use)."""


def unsupported(feature: str, instead: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(
        f"{feature} is an OptimizerV2 feature that kerasopt_plugins.legacy.OptimizerV2 does not "
        f"support on Keras 3: {instead}"
    )


def keras_option_defaults() -> dict[str, Any]:
    """Keras's base optimizer options (clipnorm, use_ema, ...) with their defaults."""
    for klass in keras.optimizers.Optimizer.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None and "learning_rate" in inspect.signature(init).parameters:
            return {
                n: p.default
                for n, p in inspect.signature(init).parameters.items()
                if n not in ("self", "learning_rate", "name") and p.kind is p.POSITIONAL_OR_KEYWORD
            }
    raise ImportError("kerasopt_plugins.legacy: cannot find keras.optimizers.Optimizer's constructor")


KERAS_OPTIONS = keras_option_defaults()
KERAS_LEARNING_RATE = keras.optimizers.Optimizer.learning_rate  # the property object
KERAS_RATE = object()  # `_hyper["learning_rate"]`: the rate lives in Keras's own learning_rate

#: OptimizerV2 methods that Keras 2's apply_gradients called and Keras 3's `apply` does not: an
#: override would be silently ignored, so constructing such a subclass raises instead.
UNCALLED_HOOKS = {
    "_prepare": "override _prepare_local(var_device, var_dtype, apply_state) instead",
    "_create_all_weights": "create slots in _create_slots(var_list) (build calls it once)",
    "_transform_unaggregated_gradients": "transform the gradients before apply_gradients",
    "_aggregate_gradients": "Keras 3 sums gradients across replicas itself",
    "_transform_gradients": (
        "transform the gradients before apply_gradients; clip with the clipnorm, clipvalue or "
        "global_clipnorm arguments"
    ),
    "_distributed_apply": "write the update in _resource_apply_dense / _resource_apply_sparse",
    "_apply_dense": "TF1's reference variables are gone; implement _resource_apply_dense",
    "_apply_sparse": "TF1's reference variables are gone; implement _resource_apply_sparse",
    "_apply_sparse_duplicate_indices": "override _resource_apply_sparse_duplicate_indices",
    "_create_slots_for_sharded_variables": "sharded variables are not supported",
    "_restore_slot_variable": "Keras 3 saves and loads slots with the model (model.save / load_model)",
    "_create_or_restore_slot_variable": "Keras 3 saves and loads slots with the model (model.save / load_model)",
}


def tf_module():
    return sys.modules.get("tensorflow") or __import__("tensorflow")


def tf_variable(variable: Any) -> Any:
    """The `tf.Variable` behind a Keras Variable (a tf.Variable is returned as it is)."""
    if not isinstance(variable, keras.Variable):
        return variable
    inner = variable.value
    if not isinstance(inner, tf_module().Variable):
        raise RuntimeError(  # noqa: TRY004 - a state of Keras, not a wrong argument
            f"the Keras variable {variable.path!r} reads as a tensor here (inside a "
            "keras.StatelessScope or an autocast scope), so OptimizerV2 code cannot assign to it"
        )
    return inner


def is_tensor_like(value: Any) -> bool:
    return isinstance(value, (keras.Variable, np.ndarray, np.generic)) or tf_module().is_tensor(value)


def as_numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def to_python(value: Any) -> Any:
    array = as_numpy(value)
    return array.item() if array.ndim == 0 else array.tolist()


@functools.cache
def takes_apply_state(function: Any) -> bool:
    # as OptimizerV2 decided: only a named (positional-or-keyword) `apply_state` is passed
    parameter = inspect.signature(function).parameters.get("apply_state")
    return parameter is not None and parameter.kind is parameter.POSITIONAL_OR_KEYWORD


class ApplyState(dict):
    """`apply_state` of one step: ``{(var_device, var_dtype): {"lr_t": ..., ...}}``.

    An entry is made by `_prepare_local` the first time a (device, dtype) is looked up in the
    step, so a per-replica device under tf.distribute gets its own entry as in OptimizerV2.
    """

    def __init__(self, optimizer: Any):
        super().__init__()
        self.optimizer = optimizer

    def __missing__(self, key):
        device, dtype = key
        self[key] = {}
        with tf_module().device(device):
            self.optimizer._prepare_local(device, dtype, self)
        return self[key]

    def get(self, key, default=None):
        # Keras 2's own optimizers read ``(apply_state or {}).get((device, dtype))``, where every
        # key of the step was already there
        if isinstance(key, tuple) and len(key) == 2:
            return self[key]
        return super().get(key, default)


class VariableList(list):
    """`optimizer.variables`, also callable as OptimizerV2's ``variables()`` was."""

    def __call__(self):
        return self
