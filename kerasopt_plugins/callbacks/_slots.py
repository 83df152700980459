"""Finding an optimizer's per-variable state (its slots), for any Keras optimizer.

An optimizer may wrap others (`inner_optimizer`): kerasopt_plugins' wrappers (Lookahead, SWA,
MovingAverage), Keras's `LossScaleOptimizer`, nested in any order. Each of those *levels* may
keep slots of its own; `find_slots` returns all of them, under keys that do not collide:

- a slot is found under its own name (``"momentum"``, ``"slow"``, ``"average"``) when no other
  level has a slot of that name;
- when several levels have one, the innermost of them keeps the bare name and each other one
  is found as ``"<name>.<n>"``, n being how many levels out from the innermost optimizer it
  sits (``Lookahead(Lookahead(Adam()))``: ``"slow"`` for the inner Lookahead's, ``"slow.2"``
  for the outer one's). So an optimizer's own keys never change when it is wrapped.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras

from kerasopt_plugins.optimizers import PluginOptimizer
from kerasopt_plugins.wrappers import OptimizerWrapper


def levels(optimizer: keras.optimizers.Optimizer) -> list[keras.optimizers.Optimizer]:
    """The optimizer and every optimizer it wraps (through `inner_optimizer`), outermost first."""
    chain = [optimizer]
    while isinstance(getattr(chain[-1], "inner_optimizer", None), keras.optimizers.Optimizer):
        chain.append(chain[-1].inner_optimizer)
    return chain


def unwrap(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """See through wrappers (Lookahead, SWA, `LossScaleOptimizer`, ...) to the optimizer that
    makes the steps: the innermost one, whose learning rate and step count are the ones applied."""
    return levels(optimizer)[-1]


def may_skip_steps(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether a level above the innermost optimizer may skip calling it (`LossScaleOptimizer`
    skips steps with non-finite gradients). kerasopt_plugins' wrappers never do."""
    return not all(isinstance(level, OptimizerWrapper) for level in levels(optimizer)[:-1])


@dataclasses.dataclass(frozen=True)
class SlotGroup:
    """One slot name of one level, for every model variable.

    Attributes:
        key: what `find_slots` and the loggers call it (see the module docstring).
        name: the slot's name at its level (``"slow"``).
        level: the level's position in `levels(optimizer)` (0: the outermost).
        optimizer: the level that keeps the slot.
        variables: the slot variable of each model variable (None where it has none).
    """

    key: str
    name: str
    level: int
    optimizer: keras.optimizers.Optimizer
    variables: list


def _matched_by_name(own_variables: Sequence, variables: list) -> dict[str, list]:
    """Keras names the slot of variable ``a/b`` ``a_b_<slot>``; the longest such prefix with a
    matching shape wins."""
    prefixes = sorted(
        ((v.path.replace("/", "_") + "_", i) for i, v in enumerate(variables)),
        key=lambda item: -len(item[0]),
    )
    slots: dict[str, list] = {}
    for opt_var in own_variables:
        leaf = opt_var.path.split("/")[-1]
        for prefix, i in prefixes:
            if leaf.startswith(prefix) and tuple(opt_var.shape) == tuple(variables[i].shape):
                slots.setdefault(leaf[len(prefix):], [None] * len(variables))[i] = opt_var
                break
    return slots


def _own_slots(chain: list, index: int, variables: list) -> dict[str, list]:
    optimizer = chain[index]
    if isinstance(optimizer, (PluginOptimizer, OptimizerWrapper)) and optimizer.built:
        return {name: [optimizer.get_slot(v, name) for v in variables] for name in optimizer.slot_names}
    own = list(optimizer.variables)
    if index + 1 < len(chain):  # a wrapper's `variables` include its inner optimizer's
        inner = {id(v) for v in chain[index + 1].variables}
        own = [v for v in own if id(v) not in inner]
    return _matched_by_name(own, variables)


def slot_groups(optimizer: keras.optimizers.Optimizer, variables: Sequence) -> list[SlotGroup]:
    """Every slot of every level, outermost level first, each under its key."""
    chain = levels(optimizer)
    variables = list(variables)
    found = [(index, name, slots) for index in range(len(chain)) for name, slots in _own_slots(chain, index, variables).items()]
    holders: dict[str, list[int]] = {}
    for index, name, _ in found:
        holders.setdefault(name, []).append(index)
    groups = []
    for index, name, slots in found:
        bare = len(holders[name]) == 1 or index == max(holders[name])
        key = name if bare else f"{name}.{len(chain) - 1 - index}"
        groups.append(SlotGroup(key, name, index, chain[index], slots))
    return groups


def find_slots(optimizer: keras.optimizers.Optimizer, variables: Sequence) -> dict[str, list]:
    """Map each slot key to the slot variable of every model variable (None where it has none).

    `PluginOptimizer`s and kerasopt_plugins' wrappers answer through their declared
    `slot_names`. Keras's own optimizers are matched by name: Keras calls the slot of variable
    ``a/b`` ``a_b_<slot>``; the longest such prefix with a matching shape wins. Wrapped
    optimizers are seen through, and each wrapper's own slots are included (``"slow"`` for
    Lookahead, ``"average"`` for SWA and MovingAverage; keys as in the module docstring).
    """
    return {group.key: group.variables for group in slot_groups(optimizer, variables)}
