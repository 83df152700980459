"""Decoupled weight decay as tensorflow-addons' SGDW and AdamW applied it.

Before the optimizer's own update, every decayed variable moves ``w <- w - wd * w``: the decay
is not scaled by the learning rate (Keras 3's ``weight_decay`` option is: ``w -= lr * wd * w``).
``wd`` is a number, a `LearningRateSchedule` evaluated at ``iterations`` (steps already applied)
or a zero-argument callable. With a sparse gradient only the touched rows decay, each once.
`exclude_from_weight_decay` patterns are regular expressions searched in the variable's path
(``"dense/kernel"``), as tfa searched them in the TensorFlow variable name (``"dense/kernel:0"``).
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.optimizers import _sparse
from kerasopt_plugins.optimizers._checks import check_learning_rate

__all__ = [
    "check_patterns",
    "check_weight_decay",
    "decay_before_update",
    "excluded",
    "no_weight_decay",
    "weight_decay_at",
]


def check_weight_decay(value: Any) -> Any:
    """A number >= 0 (as a float), a schedule or a zero-argument callable, else an error."""
    return check_learning_rate(value, name="weight_decay")


def check_patterns(value: Optional[Sequence[str]]) -> Optional[list[str]]:
    """`exclude_from_weight_decay`: None or a list of regular expressions (each compiles)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            "exclude_from_weight_decay must be a list of regular expressions (str), "
            f"got {value!r}"
        )
    for pattern in value:
        if not isinstance(pattern, str):
            raise TypeError(
                f"exclude_from_weight_decay must hold str patterns, got {pattern!r} in {value!r}"
            )
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(
                f"exclude_from_weight_decay: {pattern!r} is not a regular expression ({err})"
            ) from None
    return list(value)


def _path(variable: Any) -> str:
    # a Keras Variable has a path; on TensorFlow update_step sees the tf.Variable under it,
    # named after that path plus ":0"
    path = getattr(variable, "path", None)
    if path is None:
        path = re.sub(r":\d+$", "", variable.name)
    return path


def excluded(optimizer: Any, variable: Any) -> bool:
    """True when a pattern of ``optimizer.exclude_from_weight_decay`` matches the variable's path."""
    patterns = optimizer.exclude_from_weight_decay
    return bool(patterns) and any(re.search(p, _path(variable)) for p in patterns)


def weight_decay_at(optimizer: Any, dtype: Any) -> Any:
    """The optimizer's `weight_decay` now: a schedule at `iterations`, a callable called, cast."""
    value = optimizer.weight_decay
    if isinstance(value, LearningRateSchedule):
        value = value(optimizer.iterations)
    elif callable(value):
        value = value()
    return ops.cast(value, dtype)


def no_weight_decay(value: Any) -> bool:
    """tfa's ``weight_decay == 0``: a schedule or a callable always counts as decay."""
    return not callable(value) and value == 0.0


def decay_before_update(optimizer: Any, variable: Any, indices: Any = None) -> None:
    """``w <- w - wd * w`` on `variable` (on its rows `indices` only, for a sparse gradient:
    the indices `_sparse.sparse_rows` gave), unless a pattern of
    ``optimizer.exclude_from_weight_decay`` matches the variable's path."""
    if excluded(optimizer, variable):
        return
    if no_weight_decay(optimizer.weight_decay):
        return  # no op in the graph for the common "no decay" case
    rate = weight_decay_at(optimizer, variable.dtype)
    if indices is None:
        optimizer.assign_sub(variable, ops.multiply(rate, variable))
    else:
        touched = _sparse.gather_rows(variable, indices)
        optimizer.assign_sub(variable, _sparse.rows(ops.multiply(rate, touched), indices))
