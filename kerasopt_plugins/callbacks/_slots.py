"""Finding an optimizer's per-variable state (its slots), for any Keras optimizer."""

from __future__ import annotations

from typing import Sequence

import keras

from kerasopt_plugins.optimizers import PluginOptimizer


def unwrap(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """See through wrappers such as `LossScaleOptimizer` to the optimizer that keeps the slots."""
    while isinstance(getattr(optimizer, "inner_optimizer", None), keras.optimizers.Optimizer):
        optimizer = optimizer.inner_optimizer
    return optimizer


def find_slots(optimizer: keras.optimizers.Optimizer, variables: Sequence) -> dict[str, list]:
    """Map each slot name to the slot variable of every model variable (None where it has none).

    `PluginOptimizer`s answer through their declared `slot_names`. Keras's own optimizers are
    matched by name: Keras calls the slot of variable ``a/b`` ``a_b_<slot>``; the longest such
    prefix with a matching shape wins.
    """
    optimizer = unwrap(optimizer)
    variables = list(variables)
    if isinstance(optimizer, PluginOptimizer) and optimizer.built:
        return {name: [optimizer.get_slot(v, name) for v in variables] for name in optimizer.slot_names}
    prefixes = sorted(
        ((v.path.replace("/", "_") + "_", i) for i, v in enumerate(variables)),
        key=lambda item: -len(item[0]),
    )
    slots: dict[str, list] = {}
    for opt_var in optimizer.variables:
        leaf = opt_var.path.split("/")[-1]
        for prefix, i in prefixes:
            if leaf.startswith(prefix) and tuple(opt_var.shape) == tuple(variables[i].shape):
                slots.setdefault(leaf[len(prefix):], [None] * len(variables))[i] = opt_var
                break
    return slots
