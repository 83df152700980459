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
