"""OptimizerWrapper: a Keras optimizer that runs another one, then a step of its own.

The inner optimizer runs exactly as it would alone (its learning rate and schedule, clipping,
weight decay, EMA, gradient accumulation, sparse updates, its fast paths); after each update it
makes, the wrapper applies its own elementwise step to the variables and its slots
(`_elementwise.run`). Everything else is the inner optimizer's: `iterations`, `learning_rate`
(get and set), `finalize_variable_values`. This follows Keras's own `LossScaleOptimizer`: the
inner optimizer is at `inner_optimizer`, its variables are part of `variables` (so saving,
loading and JAX's stateless training carry them), and Keras's base options (clipnorm,
gradient_accumulation_steps, use_ema, ...) belong on the inner optimizer.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat, _sparse
from kerasopt_plugins.wrappers import _elementwise

#: Keras's base options, with the values that mean "not set" (what tfa's configs carry).
_BASE_OPTION_DEFAULTS = {
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "weight_decay": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
    "jit_compile": True,
    "decay": 0.0,
}


def resolve_optimizer(owner: str, optimizer: Any, custom_objects=None) -> keras.optimizers.Optimizer:
    """The inner optimizer from an instance, a name (``"adam"``, ``"radam"``) or a config dict."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        from kerasopt_plugins.registry import get_optimizer

        return get_optimizer(optimizer)
    if isinstance(optimizer, Mapping):
        from kerasopt_plugins.wrappers._configs import optimizer_from_config

        return optimizer_from_config(optimizer, custom_objects)
    raise TypeError(
        f"{owner}: optimizer must be a keras.optimizers.Optimizer, a name or a config dict, "
        f"got {optimizer!r}"
    )


def _value_now(variable) -> Any:
    """The variable's value now, in a buffer of its own (JAX donates the variable's and the
    slot's), read eagerly even while TensorFlow traces the step that builds the optimizer
    (Keras builds it there; a slot must start from the value, not from an operation of the
    step, and XLA cannot lift a variable whose initial value reads another)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():
            return tf.identity(variable.value)
    return ops.copy(variable.value)


def _starting_at(value):
    def initializer(shape, dtype):
        return ops.cast(value, dtype)

    return initializer


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class of the wrappers: the inner optimizer's step, then the wrapper's own.

    A subclass names its per-variable state in `slot_names`, says how each slot starts
    (`slot_starts_from_variable`), and writes `_own_step_plan(updates)`, which returns whether
    its step applies after this update and the step's scalars (`updates` is the number of
    updates the inner optimizer has made, this one included), and `_own_rule(k, scalars)`,
    the step itself as statements on named lists (see `_elementwise`).
    """

    wrapper_name: str | None = None
    """The name specs and tools use (``"lookahead"``); None on bases that are not wrappers."""
    slot_names: tuple[str, ...] = ()
    own_step_writes: tuple[str, ...] = ()
    """What `_own_rule` writes: "variable" and/or slot names."""
    slot_starts_from_variable: bool = False
    """True: a slot starts as a copy of its variable (Lookahead's slow weights); False: zeros."""

    def __init__(self, optimizer, name: str | None = None, **kwargs):
        owner = type(self).__name__
        for key, value in kwargs.items():
            if key not in _BASE_OPTION_DEFAULTS:
                raise TypeError(f"{owner}() got an unexpected keyword argument {key!r}")
            if value != _BASE_OPTION_DEFAULTS[key]:
                raise ValueError(
                    f"{owner}: {key}={value!r} belongs on the inner optimizer "
                    f"(e.g. {owner}(keras.optimizers.Adam({key}={value!r}))); the wrapper "
                    "runs the inner optimizer's step as it is"
                )
        inner = resolve_optimizer(owner, optimizer)
        # The learning rate is the inner optimizer's: a callable, so no variable of our own.
        super().__init__(learning_rate=self._inner_learning_rate, name=name or owner)
        self.inner_optimizer = inner
        self._slots: dict[str, list] = {}

    # -- what is the inner optimizer's ---------------------------------------------------

    def _inner_learning_rate(self):
        return self.inner_optimizer.learning_rate

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def loss_scale_factor(self):
        inner = self.__dict__.get("inner_optimizer")
        return None if inner is None else inner.loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        # Keras's base constructor sets None before there is an inner optimizer; later, what
        # LossScaleOptimizer and MultiOptimizer set is the inner optimizer's, which unscales
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.loss_scale_factor = value
        elif value is not None:
            raise ValueError(f"{type(self).__name__}: loss_scale_factor belongs on the inner optimizer")

    @property
    def variables(self):
        return self._variables[:] + self.inner_optimizer.variables

    def set_weights(self, weights):
        own = len(self._variables)
        super().set_weights(list(weights)[:own])
        self.inner_optimizer.set_weights(list(weights)[own:])

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    # -- state ---------------------------------------------------------------------------

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        super().build(var_list)
        for name in self.slot_names:
            slots = []
            for variable in var_list:
                if getattr(variable, "overwrite_with_gradient", False):
                    slots.append(None)  # no state, as Keras's optimizers keep none for them
                    continue
                initializer = "zeros"
                if self.slot_starts_from_variable:
                    initializer = _starting_at(_value_now(variable))
                slots.append(self.add_variable_from_reference(variable, name=name, initializer=initializer))
            self._slots[name] = slots

    def get_slot(self, variable, name: str):
        """The slot `name` (one of `slot_names`) of model variable `variable`."""
        if name not in self.slot_names:
            raise ValueError(f"{type(self).__name__} has no slot {name!r}; its slots are {self.slot_names!r}")
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} has no slots yet: build it first "
                "(optimizer.build(model.trainable_variables), or train a step)"
            )
        return self._slots[name][_keras_compat.variable_index(self, variable)]

    # -- one step ------------------------------------------------------------------------

    def apply(self, grads, trainable_variables=None):
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"{type(self).__name__}: pass the variables with the first gradients, or "
                    "build the optimizer first (optimizer.build(trainable_variables))"
                )
            variables = self._trainable_variables
        else:
            variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"{type(self).__name__}: {len(grads)} gradients for {len(variables)} variables"
            )
        # the inner step gets each sparse gradient with its repeated rows summed, as Keras 2
        # (and tfa's wrappers) gave them: the step of the gradient itself (see _sparse)
        grads = [_sparse.summed_duplicates(g) for g in grads]
        self.inner_optimizer.apply(grads, trainable_variables)
        own = [
            i for i, (g, v) in enumerate(zip(grads, variables))
            if g is not None and self._slots[self.slot_names[0]][_keras_compat.variable_index(self, v)] is not None
        ] if self.slot_names else []
        if not own:
            return
        chosen = [variables[i] for i in own]
        slots = {n: [self.get_slot(v, n) for v in chosen] for n in self.slot_names}

        def plan():
            inner = self.inner_optimizer
            updates = inner.iterations
            condition, scalars = self._own_step_plan(updates)
            steps = inner.gradient_accumulation_steps
            if steps:  # the inner optimizer only updates on every `steps`-th call
                updated = ops.equal(ops.mod(_keras_compat.step_counter(inner), steps), 0)
                condition = updated if condition is None else ops.logical_and(updated, condition)
            return condition, scalars

        with keras.name_scope(self.name, caller=self):
            _elementwise.run(self, self._own_rule, chosen, slots, plan, self.own_step_writes)

    def _own_step_plan(self, updates) -> tuple[Any, Mapping[str, Any]]:
        """(condition or None, {scalar name: float32 scalar}) after the inner's `updates`-th update."""
        raise NotImplementedError

    @staticmethod
    def _own_rule(k, scalars) -> None:
        """The wrapper's step: statements on `k` (an `_elementwise.Lists`), e.g.
        ``k.lerp("average", "variable", scalars["rate"])``."""
        raise NotImplementedError

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError(f"{type(self).__name__} applies its inner optimizer's step")

    # -- config --------------------------------------------------------------------------

    def _own_config(self) -> dict:
        return {}

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            **self._own_config(),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Build the wrapper from `get_config`'s dict, or from one tensorflow-addons 0.23 wrote
        (Keras 2's base options at their defaults are accepted and dropped)."""
        config = dict(config)
        config.pop("is_legacy_optimizer", None)
        optimizer = resolve_optimizer(cls.__name__, config.pop("optimizer"), custom_objects)
        return cls(optimizer, **config)
