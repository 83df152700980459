"""Sparse gradients, as Keras 2 and tensorflow-addons handed them to a rule.

On TensorFlow, Keras 3 passes an embedding's gradient to `update_step` as a `tf.IndexedSlices`
whose indices may repeat (one entry per lookup). Keras 2 summed the repeated rows first, so a
port that matches tensorflow-addons does too: `sparse_rows` gives the summed rows, and `rows`
builds the update that `assign`, `assign_add` and `assign_sub` scatter into those rows only.
JAX and torch always hand dense gradients, so there `sparse_rows` is None.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["assign_rows", "gather_rows", "rows", "sparse_rows", "summed_duplicates", "take_rows"]


def sparse_rows(gradient: Any) -> tuple[Any, Any] | None:
    """``(values, indices)`` of a sparse gradient, each row once; None for a dense gradient.

    Repeated indices are summed (``values[i]`` is the sum of every row listed for
    ``indices[i]``), in the order of first appearance, as Keras 2 did before calling
    ``_resource_apply_sparse``.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not isinstance(gradient, tf.IndexedSlices):
        return None
    unique, positions = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(unique)[0])
    return values, unique


def summed_duplicates(gradient: Any) -> Any:
    """A sparse gradient with its repeated rows summed (still sparse), as Keras 2 handed it to
    an optimizer; any other gradient as it is. Keras 3's optimizers take repeated rows one by
    one, so a rule that squares the gradient (Adam's second moment) squares each part instead
    of their sum, and differs from the same gradient made dense."""
    found = sparse_rows(gradient)
    if found is None:
        return gradient
    import tensorflow as tf

    values, indices = found
    return tf.IndexedSlices(values, indices, gradient.dense_shape)


def rows(values: Any, indices: Any) -> Any:
    """An update of rows `indices` only, for `assign`, `assign_add` or `assign_sub`.

    Only meaningful where `sparse_rows` returned the indices (TensorFlow).
    """
    import tensorflow as tf

    return tf.IndexedSlices(values, indices)


def gather_rows(x: Any, indices: Any) -> Any:
    """Rows `indices` of a variable (or tensor), reading only those rows.

    Only meaningful where `sparse_rows` returned the indices (TensorFlow). `ops.take` on a
    variable reads all of it first, and a variable that a scatter has updated is in
    copy-on-read mode there, so that read copies the whole table every step.
    """
    import tensorflow as tf

    if isinstance(x, keras.Variable):
        x = x.value
    return tf.gather(x, indices)


def take_rows(x: Any, indices: Any) -> Any:
    """`x` itself for a dense gradient (`indices` None), else its rows `indices`."""
    return x if indices is None else gather_rows(x, indices)


def assign_rows(optimizer: Any, target: Any, value: Any, indices: Any) -> None:
    """``optimizer.assign(target, value)``, into the rows `indices` only if they are given."""
    optimizer.assign(target, value if indices is None else rows(value, indices))
