"""PluginOptimizer: what the TF 2.3 tutorial's OptimizerV2 gave authors, on Keras 3.

A subclass declares its slots by name and writes `update_step` with `keras.ops`; the base
class supplies the rest: ``lr=`` as an alias of ``learning_rate``, the legacy ``decay``
option, slot creation and lookup, argument checking from the constructor's annotations, and a
`get_config` that covers every constructor argument under its own name.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable, Mapping, Union

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.optimizers._checks import (
    BASE_OPTIONS,
    check_integer,
    check_learning_rate,
    check_number,
    with_type_checks,
)
from kerasopt_plugins.optimizers._fast_paths import FastPaths
from kerasopt_plugins.registry import hyperparameter_defaults, registered_name

__all__ = [
    "LearningRate",
    "PluginOptimizer",
    "check_number",
    "deserialize_schedule",
    "serialize_schedule",
]

LearningRate = Union[numbers.Real, LearningRateSchedule, Callable[[], Any]]
"""The type a `learning_rate` argument takes: a number, a Keras schedule or a zero-argument callable."""



def _keras_options() -> frozenset[str]:
    """Keras's own constructor options (clipnorm, use_ema, name, ...) that pass via **kwargs.

    Read from the first class in the MRO whose constructor names them (backend classes such
    as TFOptimizer take ``*args, **kwargs``), so a Keras release that adds one is followed.
    """
    for klass in keras.optimizers.Optimizer.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        if "learning_rate" in params:
            return frozenset(
                n for n, p in params.items()
                if n not in ("self", "learning_rate") and p.kind is p.POSITIONAL_OR_KEYWORD
            )
    raise ImportError("kerasopt_plugins: cannot find keras.optimizers.Optimizer's constructor")


_KERAS_OPTIONS = _keras_options()
#: The keys Keras's own `get_config` writes (PluginOptimizer.get_config adds the others).
_KERAS_CONFIG_KEYS = _KERAS_OPTIONS | {"learning_rate"}
_KERAS_LEARNING_RATE = keras.optimizers.Optimizer.learning_rate  # the property object

def _check_base_options(options: Mapping[str, Any]) -> None:
    """Refuse a base option of the wrong kind or out of range (`BASE_OPTIONS`), naming it and the value."""
    for key, (kind, bounds) in BASE_OPTIONS.items():
        value = options.get(key)
        if kind == "number" and value is not None:
            check_number(key, value, **bounds)
        elif kind == "int":
            check_integer(key, value, allow_none=True, **bounds)
        elif kind == "bool" and key in options and not isinstance(value, bool):
            raise TypeError(f"{key} must be True or False, got {value!r} of type {type(value).__name__}")
        elif kind == "str" and value is not None and not isinstance(value, str):
            raise TypeError(f"{key} must be a str or None, got {value!r} of type {type(value).__name__}")


class PluginOptimizer(FastPaths, keras.optimizers.Optimizer):
    """Base class for kerasopt_plugins optimizers.

    Subclasses set `slot_names`, write `update_step(gradient, variable, learning_rate)` with
    `keras.ops`, and fetch state with `get_slot(variable, name)`. Constructor arguments are
    checked against their annotations; check values with `check_number` before calling
    ``super().__init__``, then store each one under its own name.

    Args:
        learning_rate: a finite number >= 0, a `LearningRateSchedule` or a zero-argument
            callable (what Keras accepts). Default 0.01.
        decay: legacy time decay (>= 0): step t (steps already applied) uses
            ``learning_rate(t) / (1 + decay * t)``. Default 0.0.
        **kwargs: Keras's base options (`clipnorm`, `weight_decay`, `use_ema`, `name`, ...).

    Keyword Args:
        lr: accepted as an alias of `learning_rate`, as TF 2.x optimizers did.
    """

    slot_names: tuple[str, ...] = ()
    """Names of the per-variable state created by `build`, in creation order."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__kerasopt_type_checked__", False):
            cls.__init__ = with_type_checks(init, from_keras=_KERAS_CONFIG_KEYS)
        names = cls.slot_names
        if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise TypeError(f"{cls.__name__}.slot_names must be a tuple of identifiers, got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"{cls.__name__}.slot_names has duplicates: {names!r}")

    def __init__(self, learning_rate: LearningRate = 0.01, decay: numbers.Real = 0.0, **kwargs):
        # `lr=` was turned into `learning_rate=` by the outermost constructor call (_checks.py)
        unknown = sorted(set(kwargs) - _KERAS_OPTIONS)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        _check_base_options(kwargs)
        learning_rate = check_learning_rate(learning_rate)  # what Keras takes; 0.0 included
        lr_as_given = learning_rate if isinstance(learning_rate, float) else None
        decay = check_number("decay", decay, low=0.0)
        if kwargs.get("name") is None:
            kwargs["name"] = registered_name(type(self))
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.decay = decay
        self._lr_as_given = lr_as_given
        self._slots: dict[str, list] = {}
        self._strategy = _keras_compat.current_tf_strategy()

    # -- learning rate -----------------------------------------------------------------------

    def _decayed(self, base: Any, step: Any) -> Any:
        if getattr(self, "decay", 0.0) == 0.0:
            return base
        base = ops.convert_to_tensor(base)
        step = ops.cast(step, base.dtype)
        return ops.divide(base, ops.add(ops.multiply(step, self.decay), 1.0))

    def _get_current_learning_rate(self):
        # Keras's hook behind `learning_rate` (update steps, weight decay on every backend; the
        # torch backend's weight decay calls it directly), so legacy decay applies everywhere.
        base = super()._get_current_learning_rate()
        if getattr(self, "decay", 0.0) == 0.0:
            return base  # no decay: no extra op in the update's graph
        # the clock Keras's schedules use: every apply() call, also under gradient accumulation
        return self._decayed(base, _keras_compat.step_counter(self))

    @property
    def learning_rate(self):
        """The rate the next step applies: the schedule at `iterations`, with legacy decay."""
        return _KERAS_LEARNING_RATE.fget(self)

    @learning_rate.setter
    def learning_rate(self, value):
        # Checked as the constructor checks it, so whatever is set comes back from get_config
        # in a form from_config (and load_model) accepts.
        if hasattr(value, "dtype") and not isinstance(value, numbers.Real) and not callable(value):
            value = float(ops.convert_to_numpy(value))  # a tensor or array, as Keras takes
        value = check_learning_rate(value)
        raw = _keras_compat.raw_learning_rate(self)
        if isinstance(value, float) and not isinstance(raw, (keras.Variable, LearningRateSchedule)):
            raise TypeError(
                f"{type(self).__name__}: its learning_rate is a callable ({raw!r}), which holds "
                f"no value, so it cannot be set to {value!r}; set a callable or a schedule, or "
                "create the optimizer with a number as learning_rate"
            )
        _KERAS_LEARNING_RATE.fset(self, value)
        self._lr_as_given = value if isinstance(value, float) else None

    def learning_rate_at(self, step: int) -> float:
        """The learning rate that step `step` (0-based count of steps already applied) uses.

        Evaluates the schedule (or the current base rate) at `step` and applies `decay`, with
        the same float32 arithmetic as the update itself.
        """
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step must be a non-negative int, got {step!r}")
        raw = _keras_compat.raw_learning_rate(self)
        if isinstance(raw, LearningRateSchedule):
            base = raw(step)
        else:  # a Variable, or a zero-argument callable as Keras allows
            base = raw() if callable(raw) and not hasattr(raw, "assign") else raw
        return float(ops.convert_to_numpy(self._decayed(base, step)))

    # -- slots -------------------------------------------------------------------------------

    scalar_slots: tuple[str, ...] = ()
    """Slots (a subset of `slot_names`) holding one scalar per variable rather than one value
    per element, such as NovoGrad's second moment of the whole variable's gradient."""

    def slot_initializer(self, name: str) -> Any:
        """The initializer `build` gives slot `name`: "zeros" unless a subclass says otherwise
        (tfa's Yogi starts `v` at its initial_accumulator_value); any Keras initializer."""
        return "zeros"

    def build(self, variables):
        """Create the slots of every trainable variable: one value per element for each name
        in `slot_names`, one scalar for each name also in `scalar_slots`, initialised by
        `slot_initializer`.

        Uses Keras's `add_optimizer_variables` and `add_variable`, so a variable with
        `overwrite_with_gradient` gets no slots (None), as in Keras's own optimizers. Building
        again does nothing.
        """
        if self.built:
            return
        strategy = _keras_compat.current_tf_strategy()
        if strategy is not None and strategy is not self._strategy:
            raise ValueError(
                f"{type(self).__name__} was created outside the tf.distribute strategy it is being "
                f"built under ({type(strategy).__name__}); create the optimizer inside "
                "`with strategy.scope():`, where the model is created and compiled"
            )
        super().build(variables)
        full = [n for n in self.slot_names if n not in self.scalar_slots]
        slots = {}
        if full:
            initializers = [self.slot_initializer(n) for n in full]
            slots = dict(zip(full, self.add_optimizer_variables(variables, full, initializers)))
        for name in self.slot_names:
            if name not in slots:
                slots[name] = [self._scalar_slot(v, name) for v in variables]
        self._slots = {name: slots[name] for name in self.slot_names}

    def _scalar_slot(self, variable, name: str):
        if getattr(variable, "overwrite_with_gradient", False):
            return None  # as add_optimizer_variables does
        return self.add_variable(
            shape=(),
            dtype=variable.dtype,
            initializer=self.slot_initializer(name),
            name=f"{variable.path.replace('/', '_')}_{name}",
        )

    def get_slot(self, variable, name: str):
        """The slot `name` (one of `slot_names`) that belongs to model variable `variable`."""
        if name not in self.slot_names:
            raise ValueError(
                f"{type(self).__name__} has no slot {name!r}; its slots are {self.slot_names!r}"
            )
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} has no slots yet: build it first "
                "(optimizer.build(model.trainable_variables), or train a step)"
            )
        plan = self.__dict__.get("_kerasopt_plan")  # packed execution's units (torch)
        if plan is not None:
            unit_slots = plan.slots_of.get(id(variable))
            if unit_slots is not None:
                return unit_slots[name]
        return self._slots[name][_keras_compat.variable_index(self, variable)]

    # -- one step ----------------------------------------------------------------------------

    elementwise: bool = False
    """Declare True when the rule is elementwise: each element of the new variable and slots
    depends only on the same element of the gradient, the variable and the slots, and on
    scalars shared by all variables (hyperparameters, the learning rate, `iterations`); the
    rule reads state only through `get_slot` and never uses a variable's shape or name. On
    torch the rule then runs once per pack of small variables or chunk of a large one
    (packed execution, _packed.py) instead of once per variable, with the same results."""

    per_variable_sums: bool = False
    """Declare True when the rule would be elementwise but for sums over each whole variable,
    all taken with `variable_sum`, and state in `scalar_slots` (NovoGrad's squared gradient
    norm): on torch its variables of fewer than `_packed.UNIT` elements then run packed too,
    with the same results; larger ones one call each."""

    def variable_sum(self, x, variable):
        """The sum of all elements of `x`, computed from the gradient `update_step` was given
        for `variable`: a scalar, or in a pack of small variables (see `per_variable_sums`), each
        member's own sum, repeated over that member's elements, which broadcasts the same way."""
        plan = self.__dict__.get("_kerasopt_plan")
        unit = None if plan is None else plan.packs.get(id(variable))
        if unit is None:
            return ops.sum(x)
        from kerasopt_plugins.optimizers import _packed

        return _packed.member_sums(unit, x)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if keras.backend.backend() == "tensorflow":
            # an elementwise rule traced without XLA runs XLA-compiled (_fast_paths.py); the
            # rest (sparse gradients, eager calls, ...) goes through Keras's loop
            grads, trainable_variables = self._tf_xla_update(grads, trainable_variables, learning_rate)
            if not grads:
                return None
        if keras.backend.backend() != "torch":
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import torch

        # Keras's torch optimizers update under no_grad; its generic loop does not, so every
        # keras.ops call in update_step would be recorded for autograd.
        with torch.no_grad():
            # not inside a stateless scope (values are the caller's tensors) nor while
            # torch.compile traces the step (jit_compile=True), which fuses the rule itself
            packable = self.elementwise or self.per_variable_sums
            packed = packable and self.fast_paths and not torch.compiler.is_compiling()
            if packed and not _keras_compat.in_stateless_scope():
                from kerasopt_plugins.optimizers import _packed

                return _packed.update(self, list(grads), list(trainable_variables), learning_rate)
            return super()._backend_update_step(grads, trainable_variables, learning_rate)

    owns_weight_decay: bool = False
    """Declare True when `weight_decay` is the rule's own hyperparameter (tensorflow-addons'
    meaning, applied in `update_step`): Keras's own weight-decay pass (``w -= lr * wd * w``
    before every step) then leaves the variables alone."""

    def _apply_weight_decay(self, variables):
        # Keras's hook for its weight_decay option, called by apply() on every backend
        if not self.owns_weight_decay:
            super()._apply_weight_decay(variables)

    def workspace_bytes(self) -> int:
        """Bytes this optimizer holds outside `optimizer.variables`: packed execution's workspace.

        On torch, for an elementwise rule: per (dtype, device) group, the largest pack's
        elements (fewer than `_packed.UNIT`, 65,536) for the variable, the gradient and each
        slot, for each of the (at most `_packed.MAX_PLANS`) variable lists `apply` was given.
        0 elsewhere and before the first step.
        """
        plans = self.__dict__.get("_kerasopt_plans", {})
        return sum(plan.workspace_bytes for plan in plans.values())

    # -- config ------------------------------------------------------------------------------

    schedule_arguments: tuple[str, ...] = ("learning_rate",)
    """Constructor arguments that may hold a `LearningRateSchedule` (or a zero-argument
    callable): `get_config` serializes them and `from_config` turns them back."""

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Build the optimizer from `get_config`'s dict, or from one Keras 2 or tfa wrote.

        Beyond this package's own configs, accepts what Keras 2 and tensorflow-addons 0.23
        wrote: the ``is_legacy_optimizer`` flag (dropped), schedules in Keras 2's serialized
        form, and a nested Keras schedule saved with ``"name": None`` (Keras 3 would load it,
        then fail when it is called). The given dict is not modified.
        """
        config = dict(config)
        config.pop("is_legacy_optimizer", None)
        for key in cls.schedule_arguments:
            if isinstance(config.get(key), Mapping):
                config[key] = deserialize_schedule(config[key], custom_objects)
        return cls(**config)

    def get_config(self):
        config = super().get_config()
        raw = _keras_compat.raw_learning_rate(self)
        if self._lr_as_given is not None and isinstance(raw, keras.Variable):
            # Report the number the user wrote (0.01), not its float32 image (0.0099999997...),
            # unless the rate was changed in a way that bypassed the setter.
            current = float(ops.convert_to_numpy(raw))
            if float(ops.convert_to_numpy(ops.cast(self._lr_as_given, raw.dtype))) == current:
                config["learning_rate"] = self._lr_as_given
        for name in hyperparameter_defaults(type(self)):
            if name not in config:
                config[name] = getattr(self, name)
        for name in self.schedule_arguments:
            if name != "learning_rate":  # Keras's own get_config serializes that one
                config[name] = serialize_schedule(getattr(self, name))
        return config


def serialize_schedule(value: Any) -> Any:
    """A schedule-or-number argument for a config: a number as it is, a schedule or a callable
    serialized (what `deserialize_schedule` reads back)."""
    if isinstance(value, LearningRateSchedule):
        return keras.optimizers.schedules.serialize(value)
    if callable(value):
        return keras.saving.serialize_keras_object(value)
    return value


def deserialize_schedule(config: Mapping[str, Any], custom_objects=None) -> Any:
    """A learning-rate (or weight-decay) schedule or callable from its serialized form.

    Reads Keras 3's form and Keras 2's (a built-in schedule named by its bare class name). A
    Keras 2 config may carry ``"name": None`` inside (tfa's saved optimizers do); it is left
    out, so the schedule gets its class's default name.
    """
    config = dict(config)
    inner = config.get("config")
    if isinstance(inner, Mapping) and "name" in inner and inner["name"] is None:
        config["config"] = {k: v for k, v in inner.items() if k != "name"}
    return keras.saving.deserialize_keras_object(
        config, custom_objects=custom_objects, module_objects=_SCHEDULES
    )


#: Keras's built-in schedules by class name, for configs that name one without its module.
_SCHEDULES = {
    name: obj
    for name, obj in vars(keras.optimizers.schedules).items()
    if isinstance(obj, type) and issubclass(obj, LearningRateSchedule)
}


PluginOptimizer.__init__ = with_type_checks(PluginOptimizer.__init__, from_keras=_KERAS_CONFIG_KEYS)
