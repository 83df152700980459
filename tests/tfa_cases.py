"""What the two tensorflow-addons replay suites share (tests/addons/test_tfa_parity.py and
tests/wrappers/test_tfa_parity.py): a golden case's gradient and trajectory for this backend.

On TensorFlow a sparse case feeds `IndexedSlices` with repeated indices and is compared with
tfa's sparse trajectory; JAX and torch hand dense gradients to an optimizer, so there the same
case feeds the summed dense gradient and is compared with tfa's run on that dense gradient.
"""

from __future__ import annotations

import keras
import numpy as np

BACKEND = keras.backend.backend()


def gradient(grad, dense_shape, *, as_tensor: bool = False):
    """A case's gradient for this backend: IndexedSlices on TensorFlow, else summed dense.

    A dense gradient is a float32 NumPy array, or a backend tensor with `as_tensor`.
    """
    dense = None
    if not isinstance(grad, dict):
        dense = np.asarray(grad, np.float32)
    else:
        values = np.asarray(grad["values"], np.float32)
        indices = np.asarray(grad["indices"], np.int64)
        if BACKEND == "tensorflow":
            import tensorflow as tf

            return tf.IndexedSlices(
                tf.constant(values), tf.constant(indices), tf.constant(dense_shape, tf.int64)
            )
        dense = np.zeros(dense_shape, np.float32)
        np.add.at(dense, indices, values)
    return keras.ops.convert_to_tensor(dense) if as_tensor else dense


def history_for_backend(case):
    """The trajectory to compare with: tfa's run on the summed dense gradient for a sparse case
    off TensorFlow, else tfa's own."""
    if case["problem"]["kind"] == "sparse" and BACKEND != "tensorflow":
        return case["dense_history"]
    return case["history"]
