"""Reading optimizer state during `fit` without waiting for the device.

A logger captures device values at the steps it logs (a few small tensors made by one compiled
function) and keeps them pending; `fetch` brings all pending captures to the host in one
transfer per tensor kind, at epoch end or when the pending list grows. So a logger that logs
every N steps costs nothing on the other steps, and one that logs every step never makes the
host wait for the device inside an epoch.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import keras
import numpy as np
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat


def compile_capture(fn: Callable, fixed_signature: bool = False) -> Callable:
    """Compile `fn` (keras.ops on its arguments only) the way the backend runs small programs.

    With `fixed_signature` (always called with arguments of the same shapes and dtypes), the
    TensorFlow version calls the traced concrete function directly: that skips about 130 us of
    dispatch per call, which is most of a logged step's cost on a small model.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        function = tf.function(fn, autograph=False, reduce_retracing=True)
        if not fixed_signature:
            return function
        concrete = []

        def call(*args):
            if not concrete:
                concrete.append(function.get_concrete_function(*args))
            return concrete[0](*args)

        return call
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn  # torch and numpy run it eagerly


def snapshot(*values: Any) -> tuple:
    """Copies of `values` (tensors or variables) that later steps cannot change.

    The cheapest copy each backend allows, since a logger may take one every step:
    - TensorFlow: reading a resource variable gives a tensor that later assignments leave alone
      (TensorFlow copies on write), so a read is the snapshot (~40 us eager; an `identity` on
      top of it doubled that); a tensor is immutable already.
    - JAX: one compiled copy of all of them (~15 us; `jnp.copy` outside `jit` costs ~150 us).
      Needed: Keras's JAX trainer donates the state buffers to the next step (with XLA),
      which deletes them (tested).
    - torch: `clone` (variables are updated in place).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tuple(tf.convert_to_tensor(v) for v in values)
    if backend == "jax":
        return _jax_copy()(*values)
    return tuple(ops.copy(v) for v in values)


@functools.cache
def _jax_copy() -> Callable:
    return compile_capture(lambda *xs: tuple(ops.copy(x) for x in xs))  # jax.jit on JAX


class LiveReader:
    """Current values of chosen optimizer variables, on the device, during `fit`.

    On JAX the values come from the trainer's state (the Keras variables are stale until epoch
    end); elsewhere from the variables themselves. Torch updates variables in place, so values
    that must outlive the step are copied by the capture function, never here.
    """

    def __init__(self, model: keras.Model, variables: Sequence):
        self.model = model
        self.variables = list(variables)
        positions = {id(v): i for i, v in enumerate(model.optimizer.variables)}
        self._positions = [positions.get(id(v)) for v in self.variables]

    def values(self) -> list:
        state = _keras_compat.live_optimizer_state(self.model)
        out = []
        for variable, position in zip(self.variables, self._positions):
            if state is not None and position is not None:
                out.append(state[position])
            else:
                out.append(variable.value)
        return out


def fetch(captures: Sequence[Sequence[Any]]) -> list[np.ndarray]:
    """Bring pending captures to the host: one stacked transfer per field.

    `captures` is a list of tuples of device tensors with the same shapes field by field; the
    result holds, for each field, a NumPy array with the captures stacked on axis 0.
    """
    if not captures:
        return []
    fields = list(zip(*captures))
    return [np.asarray(ops.convert_to_numpy(ops.stack(list(field)))) for field in fields]
