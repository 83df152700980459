"""Packed execution on torch: an elementwise rule runs once per unit of many elements, not once per variable.

Keras calls `update_step` once per variable. TensorFlow and JAX trace that loop into one
program; torch runs it eagerly, so a model with hundreds of small variables pays Python and
one kernel launch per variable and per operation of the rule. For a rule declared
``elementwise = True`` (each output element depends only on the same element of the gradient,
the variable and its slots, and on scalars shared by all variables), PluginOptimizer instead cuts
the variables of each (dtype, device) group into *units* and calls the rule once per unit:

* variables of fewer than `UNIT` elements are packed: their values, gradients and slots are
  copied into one flat workspace (one multi-tensor copy per array), the rule runs once on it,
  and the results are copied back;
* a larger variable runs as it is, one call of the rule: there a launch costs nothing next to
  the memory traffic.

The rule sees Keras Variables throughout: a pack's variable and slots are Keras Variables whose
storage is the workspace (`_keras_compat.torch_alias_variable`), and `PluginOptimizer.get_slot`
maps a pack's variable to its slots. The operations are the rule's own,
in the same order, so results are bit-identical to the per-variable path (tested for every
registered elementwise optimizer). The workspace is bounded: fewer than `UNIT` elements per
array (the variable, the gradient, each slot) and group; `PluginOptimizer.workspace_bytes()`
reports it.

Imported only on the torch backend, from inside the methods that need it.
"""

from __future__ import annotations

import math

import torch

from kerasopt_plugins.optimizers import _keras_compat

#: Variables of fewer elements are packed, up to this many per pack (256 KiB of float32: a
#: pack's arrays and the rule's temporaries stay in cache).
UNIT = 1 << 16


class _Pack:
    """One call of the rule over several small variables, through the workspace."""

    __slots__ = ("indices", "variable", "slots", "gradient", "members", "member_slots", "views")

    def __init__(self, indices, variable, slots, gradient, members, member_slots, views):
        self.indices = indices  # positions in the variable list
        self.variable = variable  # the Keras Variable the rule updates (workspace storage)
        self.slots = slots  # {slot name: Keras Variable over the workspace}
        self.gradient = gradient  # the flat workspace gradient
        self.members = members  # the packed model variables
        self.member_slots = member_slots  # {slot name: their slots}
        self.views = views  # {array: workspace views shaped like each member}


class Plan:
    """How one list of variables is cut into packs; built on first use, kept while valid."""

    def __init__(self, optimizer, variables):
        self.key = tuple(map(id, variables))
        self.slot_table = optimizer._slots  # a rebuilt optimizer has a new table
        self.packs: list[_Pack] = []
        self.loose: list[int] = []  # large variables: one call of the rule each
        self.workspace_bytes = 0
        names = optimizer.slot_names
        slots = [{n: optimizer.get_slot(v, n) for n in names} for v in variables]
        groups: dict[tuple, list[int]] = {}
        for i, variable in enumerate(variables):
            tensor = _keras_compat.torch_storage(variable)
            if tensor.numel() < UNIT:
                groups.setdefault((tensor.dtype, tensor.device), []).append(i)
            else:
                self.loose.append(i)
        for (dtype, device), members in groups.items():
            self._pack(variables, slots, members, dtype, device, names)
        self.slots_of = {id(pack.variable): pack.slots for pack in self.packs}

    def _pack(self, variables, slots, members, dtype, device, names):
        sizes = {i: math.prod(variables[i].shape) for i in members}
        packs, current, total = [], [], 0
        for i in members:  # in order: fill each pack up to UNIT elements
            if current and total + sizes[i] > UNIT:
                packs.append(current)
                current, total = [], 0
            current.append(i)
            total += sizes[i]
        packs.append(current)
        capacity = max(sum(sizes[i] for i in p) for p in packs)
        arrays = ("variable", "gradient", *names)
        buffers = {a: torch.empty(capacity, dtype=dtype, device=device) for a in arrays}
        self.workspace_bytes += sum(b.numel() * b.element_size() for b in buffers.values())
        alias = _keras_compat.torch_alias_variable
        for k, pack in enumerate(packs):
            n = sum(sizes[i] for i in pack)
            views, offset = {a: [] for a in arrays}, 0
            for i in pack:
                for a in arrays:
                    views[a].append(buffers[a][offset : offset + sizes[i]].view(variables[i].shape))
                offset += sizes[i]
            self.packs.append(
                _Pack(
                    tuple(pack),
                    alias(buffers["variable"][:n], f"pack_{k}"),
                    {name: alias(buffers[name][:n], f"pack_{k}_{name}") for name in names},
                    buffers["gradient"][:n],
                    [variables[i] for i in pack],
                    {name: [slots[i][name] for i in pack] for name in names},
                    views,
                )
            )

    def valid(self, optimizer, variables) -> bool:
        """The same variable list and slot table as when the plan was made."""
        return self.key == tuple(map(id, variables)) and self.slot_table is optimizer._slots


def plan_for(optimizer, variables) -> Plan:
    plan = optimizer.__dict__.get("_kerasopt_plan")  # not a tracked attribute
    if plan is None or not plan.valid(optimizer, variables):
        plan = optimizer.__dict__["_kerasopt_plan"] = Plan(optimizer, variables)
    return plan


@torch.no_grad()
def update(optimizer, gradients, variables, learning_rate) -> None:
    """Run `optimizer.update_step` over `variables`, pack by pack (see the module docstring)."""
    plan = plan_for(optimizer, variables)
    storage = _keras_compat.torch_storage
    loose = list(plan.loose)
    for pack in plan.packs:
        grads = [gradients[i] for i in pack.indices]
        dtype = pack.gradient.dtype
        if not all(isinstance(g, torch.Tensor) and g.dtype == dtype for g in grads):
            loose.extend(pack.indices)  # a gradient of another dtype: the rule's casts decide
            continue
        arrays = {"variable": [storage(v) for v in pack.members], "gradient": grads}
        for name, owners in pack.member_slots.items():
            arrays[name] = [storage(s) for s in owners]
        for name, tensors in arrays.items():
            torch._foreach_copy_(pack.views[name], tensors)
        optimizer.update_step(pack.gradient, pack.variable, learning_rate)
        for name, tensors in arrays.items():
            if name != "gradient":
                torch._foreach_copy_(tensors, pack.views[name])
    for i in loose:
        optimizer.update_step(gradients[i], variables[i], learning_rate)
