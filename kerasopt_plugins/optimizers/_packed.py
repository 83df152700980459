"""Packed execution on torch: an elementwise rule runs once per pack or chunk, not once per variable.

Keras calls `update_step` once per variable. TensorFlow and JAX trace that loop into one
program; torch runs it eagerly, so a model with hundreds of small variables pays Python and one
kernel launch per variable and per operation of the rule, and a rule written in keras.ops
allocates a full-size temporary per operation (for a large variable: megabytes, page faults and
a pass over memory each). For a rule declared ``elementwise = True`` (each output element
depends only on the same element of the gradient, the variable and its slots, and on scalars
shared by all variables), PluginOptimizer groups the variables by dtype and device and calls the
rule once per unit:

* variables of fewer than `UNIT` elements are packed: their values, gradients and slots are
  copied into one flat workspace (one multi-tensor copy per array), the rule runs once on it,
  and the results are copied back;
* on a CPU, a variable of at least `UNIT` elements runs in chunks of `CHUNK` elements, views of
  its own storage (no copy), so the rule's temporaries stay small and in cache;
* elsewhere (a GPU), a large variable runs as it is.

A rule declared ``per_variable_sums = True`` (elementwise but for sums over a whole variable,
taken with `PluginOptimizer.variable_sum`, and one-number-per-variable `scalar_slots`, as
NovoGrad's norm) runs packed too: in a pack, `variable_sum` gives each member's own sum
repeated over its elements (`member_sums`), and a scalar slot is held repeated the same way
(copied back from its first element). Its variables of `UNIT` elements or more run one call
each: a chunk holds part of a variable.

The rule sees Keras Variables throughout: a unit's variable and slots are Keras Variables whose
storage is the workspace or the chunk (`_keras_compat.torch_alias_variable`), and
`PluginOptimizer.get_slot` maps a unit's variable to its slots. The operations are the rule's
own, in the same order, so results are bit-identical to one call per variable (tested for
every registered elementwise optimizer). The workspace is bounded: fewer than `UNIT` elements
per array (the variable, the gradient, each slot) and group; `PluginOptimizer.workspace_bytes()`
reports it. Chunks are views, not copies.

Imported only on the torch backend, from inside the methods that need it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import torch

from kerasopt_plugins.optimizers import _keras_compat

#: Variables of fewer elements are packed, up to this many per pack (256 KiB of float32: a
#: pack's arrays and the rule's temporaries stay in cache).
UNIT = 1 << 16
#: Larger variables on a CPU run in chunks of this many elements (4 MiB of float32): the rule's
#: temporaries are reused from the allocator's free lists instead of mapped anew each step,
#: while a call per chunk costs little next to the chunk's memory traffic.
CHUNK = 1 << 20


@dataclasses.dataclass(slots=True)
class _Unit:
    """One call of the rule: a Keras variable and its slots over the workspace or a chunk."""

    indices: tuple  # positions in the variable list
    variable: Any  # the Keras Variable the rule updates
    slots: dict  # {slot name: Keras Variable}
    chunk: tuple | None = None  # (start, stop) in a large variable's storage; None for a pack
    gradient: Any = None  # a pack's flat workspace gradient
    members: list = dataclasses.field(default_factory=list)  # a pack's variables
    member_slots: dict = dataclasses.field(default_factory=dict)  # {slot name: their slots}
    views: dict = dataclasses.field(default_factory=dict)  # {array: views shaped like each member}
    results: dict = dataclasses.field(default_factory=dict)  # {array: where each member's result is}
    sizes: tuple = ()  # a pack's members' element counts
    repeats: Any = None  # the same, as a tensor (member_sums)


class Plan:
    """How one list of variables is cut into units; built on first use, kept while valid."""

    def __init__(self, optimizer, variables):
        storage = _keras_compat.torch_storage
        self.slot_table = optimizer._slots  # a rebuilt optimizer has a new table
        self.units: list[_Unit] = []
        self.loose: list[int] = []  # large variables off the CPU: one call of the rule each
        self.workspace_bytes = 0
        self._aliased: list[tuple] = []  # (Keras variable, the storage its chunks are views of)
        names = optimizer.slot_names
        slots = [{n: optimizer.get_slot(v, n) for n in names} for v in variables]
        # a chunk is part of a variable: a per-variable sum or a scalar slot needs all of it
        chunks = optimizer.elementwise and not optimizer.scalar_slots
        groups: dict[tuple, list[int]] = {}
        for i, variable in enumerate(variables):
            tensor = storage(variable)
            owners = {"variable": variable, **slots[i]}
            if tensor.numel() < UNIT:
                groups.setdefault((tensor.dtype, tensor.device), []).append(i)
            elif chunks and tensor.device.type == "cpu" and all(storage(o).is_contiguous() for o in owners.values()):
                self._chunk(i, owners)
            else:
                self.loose.append(i)
        for (dtype, device), members in groups.items():
            self._pack(variables, slots, members, dtype, device, names, optimizer.scalar_slots)
        self.slots_of = {id(unit.variable): unit.slots for unit in self.units}
        self.packs = {id(unit.variable): unit for unit in self.units if unit.chunk is None}

    def _chunk(self, i, owners):
        flats = {}
        for name, owner in owners.items():
            tensor = _keras_compat.torch_storage(owner)
            self._aliased.append((owner, tensor))
            flats[name] = tensor.view(-1)
        size = flats["variable"].numel()
        alias = _keras_compat.torch_alias_variable
        for start in range(0, size, CHUNK):
            stop = min(start + CHUNK, size)
            arrays = {name: alias(flat[start:stop], f"chunk_{i}_{start}_{name}") for name, flat in flats.items()}
            variable = arrays.pop("variable")
            self.units.append(_Unit((i,), variable, arrays, chunk=(start, stop)))

    def _pack(self, variables, slots, members, dtype, device, names, scalar_names):
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
            results = {a: views[a] for a in arrays if a != "gradient" and a not in scalar_names}
            for a in set(scalar_names) & set(names):  # repeated over the member; its first read back
                starts = itertools.accumulate((sizes[i] for i in pack[:-1]), initial=0)
                results[a] = [buffers[a][start] for start in starts]
            for i in pack:
                for a in arrays:
                    views[a].append(buffers[a][offset : offset + sizes[i]].view(variables[i].shape))
                offset += sizes[i]
            self.units.append(
                _Unit(
                    tuple(pack),
                    alias(buffers["variable"][:n], f"pack_{k}"),
                    {name: alias(buffers[name][:n], f"pack_{k}_{name}") for name in names},
                    gradient=buffers["gradient"][:n],
                    members=[variables[i] for i in pack],
                    member_slots={name: [slots[i][name] for i in pack] for name in names},
                    views=views,
                    results=results,
                    sizes=tuple(sizes[i] for i in pack),
                    repeats=torch.tensor([sizes[i] for i in pack], device=device),
                )
            )

    def valid(self, optimizer) -> bool:
        """The same slot table, and the same storage under every chunk (the variable list is
        the key the plan is kept under)."""
        storage = _keras_compat.torch_storage
        return self.slot_table is optimizer._slots and all(
            storage(owner) is tensor for owner, tensor in self._aliased
        )


#: Plans kept per optimizer, one per variable list: `apply` on alternating subsets (gradients
#: that are None on some steps, which Keras filters out) reuses them instead of rebuilding.
MAX_PLANS = 4


def plan_for(optimizer, variables) -> Plan:
    """The plan for `variables`, made active (`get_slot` reads the active plan's units)."""
    plans = optimizer.__dict__.setdefault("_kerasopt_plans", {})  # not a tracked attribute
    key = tuple(map(id, variables))
    plan = plans.pop(key, None)
    if plan is None or not plan.valid(optimizer):
        plan = Plan(optimizer, variables)
    plans[key] = plan  # most recently used last
    while len(plans) > MAX_PLANS:
        del plans[next(iter(plans))]
    optimizer.__dict__["_kerasopt_plan"] = plan
    return plan


@torch.no_grad()
def update(optimizer, gradients, variables, learning_rate) -> None:
    """Run `optimizer.update_step` over `variables`, unit by unit (see the module docstring)."""
    plan = plan_for(optimizer, variables)
    storage = _keras_compat.torch_storage
    loose = list(plan.loose)
    for unit in plan.units:
        grads = [gradients[i] for i in unit.indices]
        dtype = storage(unit.variable).dtype
        if not all(isinstance(g, torch.Tensor) and g.dtype == dtype for g in grads):
            # a gradient of another dtype: the rule's own casts decide, one variable at a time
            if unit.chunk is None or unit.chunk[0] == 0:
                loose.extend(unit.indices)
            continue
        if unit.chunk is not None:
            start, stop = unit.chunk
            optimizer.update_step(grads[0].reshape(-1)[start:stop], unit.variable, learning_rate)
            continue
        arrays = {"variable": [storage(v) for v in unit.members], "gradient": grads}
        for name, owners in unit.member_slots.items():
            arrays[name] = [storage(s) for s in owners]
        for name, tensors in arrays.items():
            torch._foreach_copy_(unit.views[name], tensors)  # a scalar slot is broadcast
        optimizer.update_step(unit.gradient, unit.variable, learning_rate)
        for name, views in unit.results.items():
            torch._foreach_copy_(arrays[name], views)
    for i in loose:
        optimizer.update_step(gradients[i], variables[i], learning_rate)


def member_sums(unit, x):
    """Each member's sum of `x` (shaped like the pack) repeated over that member's elements.

    Each sum is torch's sum of the member's own elements, so it has the bits of the sum one
    call per variable takes (alignment in the workspace does not change them: tested).
    """
    sums = torch.stack([part.sum() for part in x.reshape(-1).split(unit.sizes)])
    return torch.repeat_interleave(sums, unit.repeats, output_size=x.numel()).view(x.shape)
