"""_live.snapshot: the per-step copy the loggers keep must not change after the step."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasopt_plugins.callbacks import _live


def test_snapshot_of_a_variable_is_unchanged_by_later_assignments():
    variable = keras.Variable(np.arange(4, dtype="float32"))
    rate = keras.Variable(np.float32(0.5))
    kept, kept_rate = _live.snapshot(variable.value, rate.value)
    variable.assign_add(np.ones(4, "float32"))  # in place on torch and TensorFlow
    variable.assign(np.full(4, 7.0, "float32"))
    rate.assign(0.25)
    np.testing.assert_array_equal(ops.convert_to_numpy(kept), np.arange(4, dtype="float32"))
    assert float(ops.convert_to_numpy(kept_rate)) == 0.5
    assert float(ops.convert_to_numpy(rate)) == 0.25


def test_snapshot_survives_the_donation_of_the_buffer_it_copied():
    if keras.backend.backend() != "jax":
        import pytest

        pytest.skip("buffer donation is JAX's (Keras's JAX trainer donates its state to each step)")
    import jax
    import jax.numpy as jnp

    state = jnp.arange(3, dtype="float32")
    (kept,) = _live.snapshot(state)
    assert kept.unsafe_buffer_pointer() != state.unsafe_buffer_pointer()  # a copy, not the buffer
    jax.jit(lambda x: x + 1, donate_argnums=0)(state)
    assert state.is_deleted()
    np.testing.assert_array_equal(np.asarray(kept), [0.0, 1.0, 2.0])
