"""A wrapper's own step, written once as statements over named lists, run the fast way on each backend.

A wrapper's rule (Lookahead's step back, an average's update) is elementwise and the same for
every variable, with scalars shared by all of them. It is written once, as a function
``rule(k, scalars)`` of a `Lists` ``k``, which holds the list of model variables
(``"variable"``) and one list per slot, by name, and updates them with a few statements:

    k.lerp(target, toward, weight)   target <- target - (target - toward) * weight
    k.decay(target, rate)            target <- target - target * rate
    k.copy(target, source)           target <- source

`run` applies it:

* torch: each statement is one in-place multi-tensor kernel over all variables
  (`torch._foreach_lerp_`, `_foreach_add_` with ``alpha``, `_foreach_copy_`): no per-variable
  Python loop, no temporaries, nothing copied back; a step whose condition is false runs
  nothing. A statement reads and writes its lists once: lerp 3 words per parameter (target and
  toward read, target written), decay 2, copy 2. torch computes lerp and decay with a fused
  multiply-add, so its results may differ from the other backends' in the last bit;
* TensorFlow: per variable inside the strategy's update context (`strategy.extended.update`,
  as Keras's TensorFlow optimizer updates its slots), so it runs under MirroredStrategy; a
  step whose condition is false skips the work: one `tf.while_loop` around all variables'
  updates runs them once or not at all (under XLA a `tf.cond` that assigns copies the
  variables every step; a loop updates them in place);
* JAX: per variable in keras.ops, traced into one program that XLA fuses; a condition is a
  conditional (`lax.cond`) that returns the new values or the old ones.

On TensorFlow and JAX the statements are computed exactly as written above, in keras.ops
(tensorflow-addons' arithmetic for Lookahead, MovingAverage and decoupled decay).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import keras
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat

#: rule(lists, scalars): statements on `lists` ("variable" and the slot names)
Rule = Callable[["Lists", Mapping[str, Any]], None]


class Lists:
    """The lists a rule updates, by name; each statement computes its target's new values in
    keras.ops (one call per array) and keeps them. `written`: the targets, first write first."""

    def __init__(self, lists: Mapping[str, Sequence]):
        self.lists = {name: list(values) for name, values in lists.items()}
        self.written: list[str] = []

    def _set(self, target: str, values: list) -> None:
        self.lists[target] = values
        if target not in self.written:
            self.written.append(target)

    def lerp(self, target: str, toward: str, weight) -> None:
        """target <- target - (target - toward) * weight (a step of size `weight` towards `toward`)."""
        self._set(target, [
            ops.subtract(t, ops.multiply(ops.subtract(t, x), ops.cast(weight, t.dtype)))
            for t, x in zip(self.lists[target], self.lists[toward])
        ])

    def decay(self, target: str, rate) -> None:
        """target <- target - target * rate."""
        self._set(target, [ops.subtract(t, ops.multiply(t, ops.cast(rate, t.dtype))) for t in self.lists[target]])

    def copy(self, target: str, source: str) -> None:
        """target <- source."""
        self._set(target, list(self.lists[source]))


class _TorchLists:
    """The same statements as in-place `torch._foreach_*` kernels on the variables' storage;
    the scalars are Python floats."""

    def __init__(self, torch, lists: Mapping[str, list]):
        self._torch = torch
        self.lists = lists

    def lerp(self, target, toward, weight):
        self._torch._foreach_lerp_(self.lists[target], self.lists[toward], weight)

    def decay(self, target, rate):
        values = self.lists[target]
        self._torch._foreach_add_(values, values, alpha=-rate)

    def copy(self, target, source):
        self._torch._foreach_copy_(self.lists[target], self.lists[source])


def run(
    optimizer: keras.optimizers.Optimizer,
    rule: Rule,
    variables: Sequence,
    slots: Mapping[str, Sequence],
    plan: Callable[[], tuple[Any, Mapping[str, Any]]],
    writes: Sequence[str],
) -> None:
    """Apply `rule` to `variables` and their `slots` ({name: list parallel to variables}).

    `writes` names what the rule writes: "variable" and/or slot names.

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
        _run_tensorflow(optimizer, rule, variables, slots, plan, tuple(writes))
    else:
        _run_traced(optimizer, rule, variables, slots, plan, tuple(writes))


def _new_values(rule, lists, scalars, writes) -> list[list]:
    """The rule's new values of each of `writes`, computed in keras.ops."""
    k = Lists(lists)
    rule(k, scalars)
    if sorted(k.written) != sorted(writes):
        raise RuntimeError(f"the rule wrote {k.written}, but declares it writes {list(writes)}")
    return [k.lists[name] for name in writes]


def _run_torch(rule, variables, slots, plan):
    import torch

    with torch.no_grad():
        condition, scalars = plan()
        if condition is not None and not bool(condition):
            return
        storage = _keras_compat.torch_storage
        lists = {"variable": [storage(v) for v in variables]}
        lists.update({name: [storage(s) for s in values] for name, values in slots.items()})
        floats = {k: float(ops.convert_to_numpy(v)) for k, v in scalars.items()}
        rule(_TorchLists(torch, lists), floats)


def _run_traced(optimizer, rule, variables, slots, plan, writes):
    condition, scalars = plan()
    old = {"variable": list(variables), **{n: list(s) for n, s in slots.items()}}

    def updated():
        return _new_values(rule, old, scalars, writes)

    def kept():
        return [[ops.convert_to_tensor(x) for x in old[n]] for n in writes]

    # a conditional (lax.cond), not `where`: a step that does not update costs next to nothing
    # (measured on JAX, Lookahead around Adam: 2.5-2.9x Adam's step with `where`, 1.1x this way)
    new = updated() if condition is None else ops.cond(condition, updated, kept)
    for name, values in zip(writes, new):
        for target, value in zip(old[name], values):
            optimizer.assign(target, value)


def _run_tensorflow(optimizer, rule, variables, slots, plan, writes):
    import tensorflow as tf

    def one_variable(local, i, scalars):
        # `local` is this device's copy of variables[i]; the slots read as this device's too
        own = {"variable": [local], **{n: [s[i]] for n, s in slots.items()}}
        for name, new in zip(writes, _new_values(rule, own, scalars, writes)):
            optimizer.assign(own[name][0], new[0])

    def in_cross_replica_context(strategy):
        condition, scalars = plan()

        def update_all():
            for i, variable in enumerate(variables):
                value = variable.value if isinstance(variable, keras.Variable) else variable
                strategy.extended.update(value, one_variable, args=(i, scalars), group=False)

        if condition is None:
            update_all()
            return
        # One loop that runs update_all once or not at all, for every variable together, not a
        # tf.cond: under XLA a conditional whose branches assign variables copies them every
        # step, and a loop updates them in place. Measured (Lookahead around Adam, syncing every
        # 6th step, BERT-base mix at 1/10 width, ratio to Adam): XLA 1.71 with a tf.cond per
        # variable (1.73 when it never syncs), 1.71 with one tf.cond, 1.20 with this loop;
        # tf.function without XLA 1.18 with a tf.cond per variable, 1.06-1.07 with one.
        times = ops.cast(condition, "int32")

        def body(done):
            update_all()
            return (done + 1,)

        tf.while_loop(lambda done: done < times, body, (tf.constant(0),))

    context = tf.distribute.get_replica_context()
    if context is None:  # already in the cross-replica context
        in_cross_replica_context(tf.distribute.get_strategy())
    else:
        context.merge_call(in_cross_replica_context)
