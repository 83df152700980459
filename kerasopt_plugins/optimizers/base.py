"""PluginOptimizer: what the TF 2.3 tutorial's OptimizerV2 gave authors, on Keras 3.

A subclass declares its slots by name and writes `update_step` with `keras.ops`; the base
class supplies the rest: ``lr=`` as an alias of ``learning_rate``, the legacy ``decay``
option, slot creation and lookup, argument checking from the constructor's annotations, and a
`get_config` that covers every constructor argument under its own name.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import numbers
import typing
from typing import Any, Union

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.registry import hyperparameter_defaults, registered_name

__all__ = ["LearningRate", "PluginOptimizer", "check_number"]

#: The type a `learning_rate` argument takes: a number or a Keras schedule.
LearningRate = Union[numbers.Real, LearningRateSchedule]



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
_KERAS_LEARNING_RATE = keras.optimizers.Optimizer.learning_rate  # the property object


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return `value` as a float after checking it is a finite number inside the bounds.

    Raises:
        TypeError: `value` is not a real number (a bool is refused too).
        ValueError: it is NaN, infinite or out of bounds; the message names `name` and `value`.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return number


def _describe_type(hint: Any) -> str:
    if typing.get_origin(hint) is Union:
        return " or ".join(_describe_type(h) for h in typing.get_args(hint))
    names = {
        numbers.Real: "a real number",
        bool: "a bool",
        str: "a str",
        int: "an int",
        type(None): "None",
        LearningRateSchedule: "a keras LearningRateSchedule",
    }
    return names.get(hint, getattr(hint, "__name__", repr(hint)))


def _allows_bool(hint: Any) -> bool:
    if hint in (bool, Any, object):
        return True
    return typing.get_origin(hint) is Union and any(_allows_bool(h) for h in typing.get_args(hint))


def _with_type_checks(init):
    """Wrap a constructor so its annotated arguments are checked with typeguard on every call.

    typeguard's `@typechecked` needs the module's source (it fails for code typed at a prompt)
    and raises `TypeCheckError`, which is not a `TypeError`; checking the bound arguments with
    `typeguard.check_type` has neither problem.
    """
    signature = inspect.signature(init)
    hints: dict[str, Any] | None = None

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        nonlocal hints
        import typeguard  # noqa: PLC0415 - kept out of `import kerasopt_plugins`

        if hints is None:
            hints = typing.get_type_hints(init)
        bound = signature.bind(self, *args, **kwargs)
        for name, value in bound.arguments.items():
            hint = hints.get(name)
            param = signature.parameters[name]
            if hint is None or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            try:
                typeguard.check_type(value, hint)
                ok = not isinstance(value, bool) or _allows_bool(hint)
            except typeguard.TypeCheckError:
                ok = False
            if not ok:
                raise TypeError(
                    f"{type(self).__name__}: argument {name!r} must be {_describe_type(hint)}, "
                    f"got {value!r} of type {type(value).__name__}"
                )
        return init(self, *args, **kwargs)

    checked.__kerasopt_type_checked__ = True
    return checked


class PluginOptimizer(keras.optimizers.Optimizer):
    """Base class for kerasopt_plugins optimizers.

    Subclasses set `slot_names`, write `update_step(gradient, variable, learning_rate)` with
    `keras.ops`, and fetch state with `get_slot(variable, name)`. Constructor arguments are
    checked against their annotations; check values with `check_number` before calling
    ``super().__init__``, then store each one under its own name.

    Args:
        learning_rate: a positive finite number or a `LearningRateSchedule`. Default 0.01.
        decay: legacy time decay (>= 0): step t (steps already applied) uses
            ``learning_rate(t) / (1 + decay * t)``. Default 0.0.
        lr: accepted as an alias of `learning_rate`, as TF 2.x optimizers did.
        **kwargs: Keras's base options (`clipnorm`, `weight_decay`, `use_ema`, `name`, ...).
    """

    #: Names of the per-variable state created by `build`, in creation order.
    slot_names: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__kerasopt_type_checked__", False):
            cls.__init__ = _with_type_checks(init)
        names = cls.slot_names
        if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise TypeError(f"{cls.__name__}.slot_names must be a tuple of identifiers, got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"{cls.__name__}.slot_names has duplicates: {names!r}")

    def __init__(self, learning_rate: LearningRate = 0.01, decay: numbers.Real = 0.0, **kwargs):
        cls_name = type(self).__name__
        alias = kwargs.pop("lr", None)
        if alias is not None:
            default = inspect.signature(type(self).__init__).parameters["learning_rate"].default
            if learning_rate != default and alias != learning_rate:
                raise ValueError(
                    f"{cls_name}: got learning_rate={learning_rate!r} and its alias lr={alias!r}; "
                    "pass only one"
                )
            learning_rate = alias
        unknown = sorted(set(kwargs) - _KERAS_OPTIONS)
        if unknown:
            raise TypeError(f"{cls_name}() got an unexpected keyword argument {unknown[0]!r}")
        lr_as_given = None
        if not isinstance(learning_rate, LearningRateSchedule):
            learning_rate = lr_as_given = check_number("learning_rate", learning_rate, low=0.0, low_open=True)
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
        _KERAS_LEARNING_RATE.fset(self, value)
        as_given = isinstance(value, numbers.Real) and not isinstance(value, bool)
        self._lr_as_given = float(value) if as_given else None

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

    # -- fused update paths ------------------------------------------------------------------

    #: Use a backend's fast path where it computes exactly the same update: TensorFlow's fused
    #: ResourceApplyMomentum for `ema_momentum_step`; on torch, in-place updates (products in a
    #: reused scratch buffer), multi-tensor `torch._foreach_*` kernels for the small variables
    #: of a group, and `update_step_group` in place of per-variable `update_step`. Set False on a
    #: class or an instance to run the plain keras.ops path; tests check both are bit-identical.
    fused_kernels: bool = True

    def ema_momentum_step(self, variable, average, gradient, beta, learning_rate) -> None:
        """``m <- beta*m + (1 - beta)*g; w <- w - learning_rate*m`` for slot `average` = m.

        The common core of momentum-style optimizers, in one pass over the memory where the
        backend has a fused kernel for it (TensorFlow, with and without XLA), in place on torch,
        else with keras.ops.
        Rounding is the same either way: (1 - beta)*g, then beta*m + that, then w - lr*m.
        """
        if self._torch_ema_momentum([variable], [average], [gradient], beta, learning_rate):
            return
        dtype = variable.dtype
        scaled = ops.multiply(ops.cast(gradient, dtype), ops.cast(1.0 - beta, dtype))
        beta = ops.cast(beta, dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        if self.fused_kernels and keras.backend.backend() == "tensorflow":
            handles = (_keras_compat.tf_resource_handle(variable), _keras_compat.tf_resource_handle(average))
            if None not in handles and not _keras_compat.current_tf_strategy_is_distributed():
                import tensorflow as tf

                tf.raw_ops.ResourceApplyMomentum(
                    var=handles[0], accum=handles[1], lr=learning_rate, grad=scaled, momentum=beta,
                    use_locking=False, use_nesterov=False,
                )
                return
        self.assign(average, ops.add(ops.multiply(average, beta), scaled))
        self.assign_sub(variable, ops.multiply(average, learning_rate))

    def assign_add(self, variable, value):
        if not self._torch_in_place(variable, value, "add_"):
            super().assign_add(variable, value)

    def assign_sub(self, variable, value):
        if not self._torch_in_place(variable, value, "sub_"):
            super().assign_sub(variable, value)

    # -- multi-tensor path -------------------------------------------------------------------

    def update_step_group(self, gradients, variables, learning_rate) -> None:
        """Optional: `update_step` for many variables at once (the multi-tensor path).

        A subclass that writes it with the group helpers (`variable_groups`, `get_slots`,
        `ema_momentum_steps`, `sgd_steps`) gets, on torch, one kernel launch per operation for
        all its small variables instead of one per variable, and no per-variable Python. It
        must compute exactly what `update_step` computes for each variable (test it bit for bit
        against ``fused_kernels = False``). It runs on torch when `fused_kernels` is on, and only
        if it is defined at least as deep in the class hierarchy as `update_step`: a subclass
        that changes `update_step` alone still runs its own rule, one variable at a time.
        TensorFlow and JAX trace the update into one program, where grouping in Python gains
        nothing, so they always run `update_step`.
        """
        raise NotImplementedError(f"{type(self).__name__} has no update_step_group")

    @staticmethod
    def variable_groups(gradients, variables) -> list[tuple[str, list, list]]:
        """Split parallel lists into ``(dtype, gradients, variables)`` groups of one variable dtype.

        An update casts its scalars to the variable's dtype, so a group update computes them
        once per group, where `update_step` computes them once per variable.
        """
        groups: dict[str, tuple[list, list]] = {}
        for gradient, variable in zip(gradients, variables):
            grads, members = groups.setdefault(variable.dtype, ([], []))
            grads.append(gradient)
            members.append(variable)
        return [(dtype, grads, members) for dtype, (grads, members) in groups.items()]

    def get_slots(self, variables, name: str) -> list:
        """``get_slot(v, name)`` for each of `variables`."""
        return [self.get_slot(v, name) for v in variables]

    def ema_momentum_steps(self, variables, averages, gradients, beta, learning_rate) -> None:
        """`ema_momentum_step` for parallel lists; multi-tensor on torch, a loop elsewhere."""
        if not self._torch_ema_momentum(variables, averages, gradients, beta, learning_rate):
            for variable, average, gradient in zip(variables, averages, gradients):
                self.ema_momentum_step(variable, average, gradient, beta, learning_rate)

    def sgd_steps(self, variables, gradients, learning_rate) -> None:
        """``w <- w - cast(g)*cast(learning_rate)`` for parallel lists, cast to each w's dtype.

        The same roundings as ``assign_sub(w, cast(g) * cast(learning_rate))`` per variable;
        multi-tensor on torch, that loop elsewhere.
        """
        tensors = self._torch_tensors(variables)
        if tensors is not None:
            from kerasopt_plugins.optimizers import _torch_paths

            (ws,), scalar = tensors, self._scalar_caster(variables)
            return _torch_paths.sgd(ws, self._torch_gradients(gradients, ws), scalar(learning_rate), self._scratch())
        for variable, gradient in zip(variables, gradients):
            dtype = variable.dtype
            self.assign_sub(variable, ops.multiply(ops.cast(gradient, dtype), ops.cast(learning_rate, dtype)))

    # -- torch plumbing ----------------------------------------------------------------------

    @classmethod
    def _group_path_defined(cls) -> bool:
        def owner(name):  # position in the MRO of the class that defines `name`
            return next(i for i, k in enumerate(cls.__mro__) if name in k.__dict__)

        group = owner("update_step_group")
        return group < cls.__mro__.index(PluginOptimizer) and group <= owner("update_step")

    def _torch_fast_paths_on(self) -> bool:
        return (
            self.fused_kernels
            and keras.backend.backend() == "torch"
            and not _keras_compat.in_stateless_scope()
        )

    def _torch_tensors(self, *lists) -> list | None:
        """Each list's torch storage, if the torch fast paths apply to all of it, else None.

        They apply on torch with `fused_kernels` on, outside a `keras.StatelessScope` (where a
        variable's value is the caller's tensor, which must not change), to Keras Variables of
        one dtype (slots are updated in place, so they are never converted).
        """
        if not self._torch_fast_paths_on():
            return None
        if not all(isinstance(v, keras.Variable) for v in itertools.chain(*lists)):
            return None
        tensors = [[v.value for v in values] for values in lists]
        dtype = tensors[0][0].dtype if tensors and tensors[0] else None
        if dtype is None or any(t.dtype != dtype for t in itertools.chain(*tensors)):
            return None
        return tensors

    @staticmethod
    def _scalar_caster(variables):
        dtype = variables[0].dtype

        def scalar(x):  # a 0-d tensor of the variables' dtype, exactly as the keras.ops path casts
            return ops.cast(x, dtype)

        return scalar

    @staticmethod
    def _torch_gradients(gradients, like) -> list:
        import torch

        dtype = like[0].dtype
        return [
            (g if g.dtype == dtype else g.to(dtype)) if isinstance(g, torch.Tensor) else ops.cast(g, dtype)
            for g in gradients
        ]

    def _scratch(self):
        scratch = self.__dict__.get("_kerasopt_scratch")  # not a tracked attribute
        if scratch is None:
            from kerasopt_plugins.optimizers import _torch_paths

            shapes = [v.shape for v in getattr(self, "_trainable_variables", ())]
            scratch = self.__dict__["_kerasopt_scratch"] = _torch_paths.Scratch(_torch_paths.capacity_hint(shapes))
        return scratch

    def _torch_ema_momentum(self, variables, averages, gradients, beta, learning_rate) -> bool:
        tensors = self._torch_tensors(variables, averages)
        if tensors is None:
            return False
        from kerasopt_plugins.optimizers import _torch_paths

        ws, ms = tensors
        scalar = self._scalar_caster(variables)
        _torch_paths.ema_momentum(
            ws, ms, self._torch_gradients(gradients, ws),
            scalar(1.0 - beta), scalar(beta), scalar(learning_rate), self._scratch(),
        )
        return True

    def _torch_in_place(self, variable, value, method: str) -> bool:
        # Keras's torch Variable computes `w - v` into a new tensor and copies it back (two
        # passes); the in-place op does the same single rounding in one pass.
        tensors = self._torch_tensors([variable])
        if tensors is None:
            return False
        import torch

        target = tensors[0][0]
        if not isinstance(value, torch.Tensor) or value.dtype != target.dtype or value.shape != target.shape:
            return False
        with torch.no_grad():
            getattr(target, method)(value)
        return True

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Keras's torch optimizers run their updates under no_grad; the generic loop does not,
        # so on torch every keras.ops call in update_step would be recorded for autograd.
        if keras.backend.backend() == "torch":
            import torch

            with torch.no_grad():
                if self._torch_fast_paths_on() and self._group_path_defined():
                    return self.update_step_group(list(grads), list(trainable_variables), learning_rate)
                return super()._backend_update_step(grads, trainable_variables, learning_rate)
        return super()._backend_update_step(grads, trainable_variables, learning_rate)

    # -- slots -------------------------------------------------------------------------------

    def build(self, variables):
        """Create one zero-initialised slot per declared name for every trainable variable."""
        strategy = _keras_compat.current_tf_strategy()
        if strategy is not None and strategy is not self._strategy:
            raise ValueError(
                f"{type(self).__name__} was created outside the tf.distribute strategy it is being "
                f"built under ({type(strategy).__name__}); create the optimizer inside "
                "`with strategy.scope():`, where the model is created and compiled"
            )
        super().build(variables)
        slots: dict[str, list] = {name: [] for name in self.slot_names}
        for variable in variables:
            for name in self.slot_names:
                if getattr(variable, "overwrite_with_gradient", False):
                    slots[name].append(None)
                else:
                    slots[name].append(self.add_variable_from_reference(variable, name=name))
        self._slots = slots

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
        return self._slots[name][_keras_compat.variable_index(self, variable)]

    # -- config ------------------------------------------------------------------------------

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
        return config


PluginOptimizer.__init__ = _with_type_checks(PluginOptimizer.__init__)
