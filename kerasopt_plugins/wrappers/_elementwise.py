"""A wrapper's own step, written once over lists of arrays and run the fast way on each backend.

A wrapper's rule (Lookahead's step back, an average's update) is elementwise and the same for
every variable, with scalars shared by all of them. It is written once, as a function of
`Lists` (arithmetic over lists of arrays), the lists of model variables and of each slot, and
the scalars; it returns the new values of whichever lists it changes. `run` applies it:

* torch: one `torch._foreach_*` kernel per operation over all variables (no per-variable Python
  loop, as Keras's own torch optimizers), and nothing at all on a step whose condition is
  false;
* TensorFlow: per variable inside the strategy's update context (`strategy.extended.update`,
  as Keras's TensorFlow optimizer updates its slots), so it runs under MirroredStrategy; a
  step whose condition is false skips the work (`tf.cond`);
* JAX: per variable in keras.ops, traced into one program that XLA fuses; a condition is a
  conditional (`lax.cond`) that returns the new values or the old ones.

The operations are the same, in the same order, on every backend.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import keras
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat

#: rule(lists, variables, slots, scalars) -> {"variable" or a slot name: new values}
Rule = Callable[["Lists", list, Mapping[str, list], Mapping[str, Any]], Mapping[str, list]]


class Lists:
    """Elementwise arithmetic over parallel lists of arrays (keras.ops, one call per array)."""

    @staticmethod
    def add(xs, ys):
        return [ops.add(x, y) for x, y in zip(xs, ys)]

    @staticmethod
    def sub(xs, ys):
        return [ops.subtract(x, y) for x, y in zip(xs, ys)]

    @staticmethod
    def scale(xs, s):
        return [ops.multiply(x, ops.cast(s, x.dtype)) for x in xs]

    @staticmethod
    def divide(xs, s):
        return [ops.divide(x, ops.cast(s, x.dtype)) for x in xs]


class _TorchLists:
    """The same arithmetic as one `torch._foreach_*` kernel per operation; scalars are floats."""

    def __init__(self, torch):
        self._torch = torch

    def add(self, xs, ys):
        return self._torch._foreach_add(xs, ys)

    def sub(self, xs, ys):
        return self._torch._foreach_sub(xs, ys)

    def scale(self, xs, s):
        return self._torch._foreach_mul(xs, s)

    def divide(self, xs, s):
        return self._torch._foreach_div(xs, s)


def run(
    optimizer: keras.optimizers.Optimizer,
    rule: Rule,
    variables: Sequence,
    slots: Mapping[str, Sequence],
    plan: Callable[[], tuple[Any, Mapping[str, Any]]],
    writes: Sequence[str],
) -> None:
    """Apply `rule` to `variables` and their `slots` ({name: list parallel to variables}).

    `writes` names what the rule returns: "variable" and/or slot names.

    `plan()` returns ``(condition, scalars)``: whether this step updates at all (a boolean
    scalar tensor, or None for always) and the scalars the rule reads (float32 scalars). It is
    called once, where the backend needs it (in the cross-replica context on TensorFlow).
    """
    if not variables:
        return
    backend = keras.backend.backend()
    if backend == "torch":
        _run_torch(rule, variables, slots, plan)
    elif backend == "tensorflow":
        _run_tensorflow(optimizer, rule, variables, slots, plan)
    else:
        _run_traced(optimizer, rule, variables, slots, plan, tuple(writes))


def _targets(variables, slots, name):
    return variables if name == "variable" else slots[name]


def _run_torch(rule, variables, slots, plan):
    import torch

    with torch.no_grad():
        condition, scalars = plan()
        if condition is not None and not bool(condition):
            return
        storage = _keras_compat.torch_storage
        tensors = [storage(v) for v in variables]
        slot_tensors = {n: [storage(s) for s in ss] for n, ss in slots.items()}
        floats = {k: float(ops.convert_to_numpy(v)) for k, v in scalars.items()}
        for name, values in rule(_TorchLists(torch), tensors, slot_tensors, floats).items():
            targets = tensors if name == "variable" else slot_tensors[name]
            torch._foreach_copy_(targets, values)


def _run_traced(optimizer, rule, variables, slots, plan, writes):
    condition, scalars = plan()
    old = {"variable": list(variables), **{n: list(s) for n, s in slots.items()}}

    def updated():
        values = rule(Lists, old["variable"], {n: old[n] for n in slots}, scalars)
        return [list(values[n]) for n in writes]

    def kept():
        return [[ops.convert_to_tensor(x) for x in old[n]] for n in writes]

    # a conditional (lax.cond), not `where`: a step that does not update costs next to nothing
    # (measured on JAX, Lookahead around Adam: 2.5-2.9x Adam's step with `where`, 1.1x this way)
    new = updated() if condition is None else ops.cond(condition, updated, kept)
    for name, values in zip(writes, new):
        for target, value in zip(old[name], values):
            optimizer.assign(target, value)


def _run_tensorflow(optimizer, rule, variables, slots, plan):
    import tensorflow as tf

    def one_variable(local, i, condition, scalars):
        # `local` is this device's copy of variables[i]; the slots read as this device's too
        def update():
            own = {n: [s[i]] for n, s in slots.items()}
            for name, new in rule(Lists, [local], own, scalars).items():
                target = local if name == "variable" else slots[name][i]
                optimizer.assign(target, new[0])
            return tf.constant(True)

        if condition is None:
            update()
        else:
            tf.cond(condition, update, lambda: tf.constant(False))

    def in_cross_replica_context(strategy):
        condition, scalars = plan()
        for i, variable in enumerate(variables):
            value = variable.value if isinstance(variable, keras.Variable) else variable
            strategy.extended.update(
                value, one_variable, args=(i, condition, scalars), group=False
            )

    context = tf.distribute.get_replica_context()
    if context is None:  # already in the cross-replica context
        in_cross_replica_context(tf.distribute.get_strategy())
    else:
        context.merge_call(in_cross_replica_context)
