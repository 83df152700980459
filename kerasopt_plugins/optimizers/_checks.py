"""Argument checking for optimizer constructors: the value checks and the annotation checks.

`PluginOptimizer` wraps every subclass constructor with `with_type_checks`. The outermost
constructor call of a construction (the one the user made) does the work, once: it resolves
``lr=``, checks every argument the caller passed against the annotation of the constructor in
the MRO that names it (typeguard), runs the constructors, and then reports any argument that
`get_config` could not read back. `check_number`, `check_integer` and `check_learning_rate`
are what constructors call for the value checks (bounds, finiteness) that a type cannot express;
`BASE_OPTIONS` is the one table of Keras's base options and the kind of value each takes.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import numbers
import threading
import types
import typing
import weakref
from typing import Any, Mapping, Union

from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.registry import hyperparameter_defaults, note_range, own_constructors

__all__ = [
    "BASE_OPTIONS",
    "BaseOption",
    "check_epsilon",
    "check_integer",
    "check_learning_rate",
    "check_number",
    "with_type_checks",
]

logger = logging.getLogger(__name__)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    owner: str | None = None,
) -> float:
    """Return `value` as a float after checking it is a finite number inside the bounds.

    `owner` (a class name), when given, starts the message: ``"Lookahead: slow_step_size ..."``.

    Raises:
        TypeError: `value` is not a real number (a bool is refused too).
        ValueError: it is NaN, infinite or out of bounds; the message names `name` and `value`.
    """
    note_range(name, low, high, low_open, high_open)  # OptimizerInfo.hyperparameter_ranges
    where = "" if owner is None else f"{owner}: "
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}{name} must be a real number, got {value!r} of type {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}{name} must be a finite number, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{where}{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return number


def check_integer(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    allow_none: bool = False,
    owner: str | None = None,
) -> Any:
    """Return `value` unchanged after checking it is an integer in ``[low, high]``.

    An int or a NumPy integer passes as it is (nothing the user wrote is altered); None passes
    where `allow_none`. `owner` (a class name), when given, starts the message.

    Raises:
        TypeError: `value` is not an integer: a bool, a float (``2.0`` too) or a str is refused.
        ValueError: it is out of bounds; the message names `name` and `value`.
    """
    note_range(name, low, high, False, False)  # OptimizerInfo.hyperparameter_ranges
    if value is None and allow_none:
        return value
    where = "" if owner is None else f"{owner}: "
    or_none = " or None" if allow_none else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}{name} must be an int{or_none}, got {value!r} of type {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            wanted = f">= {low}"
        elif low is None:
            wanted = f"<= {high}"
        else:
            wanted = f"in [{low}, {high}]"
        raise ValueError(f"{where}{name} must be an int {wanted}{or_none}, got {value!r}")
    return value


class BaseOption(typing.NamedTuple):
    """One of Keras's base options: the kind of value it takes and, for a number, its bounds."""

    kind: str  # "number", "int", "bool" or "str"
    bounds: Mapping[str, Any] = types.MappingProxyType({})  # check_number's / check_integer's


#: Keras's base options, which every optimizer takes (through its constructor or **kwargs). Read
#: by `PluginOptimizer`'s construction check and by `kerasopt compare`'s check of a spec before
#: anything is built (Keras's built-ins too; their defaults are None, so the kind cannot be read
#: off them). Keras 3 stores the numbers unchecked (`clipvalue="abc"` failed only at the first
#: training step); Keras 2's OptimizerV2 refused a negative clip value too.
BASE_OPTIONS: Mapping[str, BaseOption] = types.MappingProxyType({
    "clipnorm": BaseOption("number", {"low": 0.0}),
    "clipvalue": BaseOption("number", {"low": 0.0}),
    "global_clipnorm": BaseOption("number", {"low": 0.0}),
    "weight_decay": BaseOption("number", {"low": 0.0}),
    "ema_momentum": BaseOption("number", {"low": 0.0, "high": 1.0}),
    "loss_scale_factor": BaseOption("number", {"low": 0.0, "low_open": True}),
    "ema_overwrite_frequency": BaseOption("int"),  # Keras checks the range of these two
    "gradient_accumulation_steps": BaseOption("int"),
    "use_ema": BaseOption("bool"),
    "name": BaseOption("str"),
})


def check_epsilon(value: Any, name: str = "epsilon") -> float:
    """A finite `epsilon` > 0, as a float.

    tensorflow-addons 0.23 (and Keras 2) silently replaced 0 with 1e-7 (``epsilon or 1e-7``);
    its ports refuse 0 with that fact in the message rather than alter what the user wrote.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0:
        raise ValueError(
            f"{name} must be > 0, got {value!r}: tensorflow-addons 0.23 silently used 1e-7 "
            f"instead of 0 (`{name} or 1e-7`); pass {name}=1e-7 for tfa's numbers"
        )
    return check_number(name, value, low=0.0, low_open=True)


def check_learning_rate(value: Any, name: str = "learning_rate") -> Any:
    """Return a learning rate as Keras's optimizers take it, after checking it.

    A finite number >= 0 comes back as a float (0.0 included: a scheduler may set it); a
    `LearningRateSchedule` and a zero-argument callable come back unchanged.

    Raises:
        TypeError: anything else (a bool, a str, a callable that needs arguments).
        ValueError: a negative, NaN or infinite number.
    """
    if isinstance(value, LearningRateSchedule):
        return value
    if callable(value):
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):  # no signature to read (some builtins): trust it
            return value
        try:
            signature.bind()
        except TypeError:
            raise TypeError(
                f"{name} is a callable that takes arguments {signature}, got {value!r}; Keras "
                "calls it with none: pass a zero-argument callable, or a LearningRateSchedule "
                "(called with the step)"
            ) from None
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_number(name, value, low=0.0)
    raise TypeError(
        f"{name} must be a number >= 0, a keras LearningRateSchedule or a zero-argument "
        f"callable, got {value!r} of type {type(value).__name__}"
    )


# -- annotations -------------------------------------------------------------------------------

#: What a numeric annotation means (PEP 484's numeric tower, and NumPy's scalars with it).
_TOWER = {float: numbers.Real, int: numbers.Integral, complex: numbers.Complex}


def _as_meant(hint: Any) -> Any:
    """`hint` with ``float``/``int``/``complex`` widened to their `numbers` ABCs, in unions too."""
    for builtin, abstract in _TOWER.items():
        if hint is builtin:
            return abstract
    if typing.get_origin(hint) in (Union, types.UnionType):
        return Union[tuple(_as_meant(h) for h in typing.get_args(hint))]
    return hint


def _describe_type(hint: Any) -> str:
    if typing.get_origin(hint) is Union:
        return " or ".join(_describe_type(h) for h in typing.get_args(hint))
    names = {
        numbers.Real: "a real number",
        numbers.Integral: "an int",
        numbers.Complex: "a complex number",
        bool: "a bool",
        str: "a str",
        type(None): "None",
        LearningRateSchedule: "a keras LearningRateSchedule",
    }
    return names.get(hint, getattr(hint, "__name__", repr(hint)))


def _allows_bool(hint: Any) -> bool:
    if hint in (bool, Any, object):
        return True
    return typing.get_origin(hint) is Union and any(_allows_bool(h) for h in typing.get_args(hint))


_RESOLVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # function -> {name: hint}


def _resolved_hints(function: Any) -> dict[str, Any]:
    """The annotations of `function`'s parameters that can be evaluated, each on its own.

    `typing.get_type_hints` fails as a whole on one name it cannot find (a type imported under
    ``if TYPE_CHECKING:``); resolving parameter by parameter loses only that one.
    """
    hints = _RESOLVED.get(function)
    if hints is None:
        hints = {}
        namespace = getattr(function, "__globals__", {})
        for name, annotation in getattr(function, "__annotations__", {}).items():
            holder = types.SimpleNamespace(__annotations__={name: annotation})
            try:
                hints[name] = _as_meant(typing.get_type_hints(holder, globalns=namespace)[name])
            except Exception as err:  # noqa: BLE001 - any failure to evaluate means "unknown here"
                logger.debug("not checking %s(%s: %r): %s", function.__qualname__, name, annotation, err)
        _RESOLVED[function] = hints
    return hints


def _argument_hints(cls: type) -> dict[str, Any]:
    """Each named constructor argument of `cls` with the hint of the nearest class naming it."""
    hints: dict[str, Any] = {}
    named: set[str] = set()
    for init in own_constructors(cls):
        resolved = _resolved_hints(init)
        for name, param in inspect.signature(init).parameters.items():
            if name in named or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            named.add(name)
            if name in resolved:
                hints[name] = resolved[name]
    return hints


def _check_types(optimizer: Any, arguments: dict[str, Any]) -> None:
    import typeguard  # noqa: PLC0415 - kept out of `import kerasopt_plugins`

    hints = _argument_hints(type(optimizer))
    for name, value in arguments.items():
        hint = hints.get(name)
        if hint is None or name == "learning_rate":
            # learning_rate: PluginOptimizer.__init__ takes what Keras takes (check_learning_rate)
            continue
        try:
            typeguard.check_type(value, hint)
            ok = not isinstance(value, bool) or _allows_bool(hint)
        except typeguard.TypeCheckError:
            ok = False
        if not ok:
            raise TypeError(
                f"{type(optimizer).__name__}: argument {name!r} must be {_describe_type(hint)}, "
                f"got {value!r} of type {type(value).__name__}"
            )


# -- lr= and the outermost call ------------------------------------------------------------------


def _same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (a, b)):
        return float(a) == float(b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an == that does not give one bool: not the same value
        return False


def _resolve_lr_alias(optimizer: Any, bound: inspect.BoundArguments, passed: dict[str, Any]) -> None:
    """Turn ``lr=`` into ``learning_rate=`` in `bound` (and `passed`), refusing two different rates."""
    signature = bound.signature
    var_keyword = next(
        (p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None
    )
    alias = bound.arguments[var_keyword].pop("lr")
    del passed["lr"]
    if "learning_rate" in passed and not _same_value(passed["learning_rate"], alias):
        raise ValueError(
            f"{type(optimizer).__name__}: got learning_rate={passed['learning_rate']!r} and its "
            f"alias lr={alias!r}; pass only one"
        )
    passed["learning_rate"] = alias
    param = signature.parameters.get("learning_rate")
    if param is not None and param.kind is not param.VAR_KEYWORD:
        bound.arguments["learning_rate"] = alias
    else:
        bound.arguments[var_keyword]["learning_rate"] = alias


def _check_stored(optimizer: Any, from_keras: frozenset[str]) -> None:
    """Every constructor argument must be an attribute of its own name: get_config reads it."""
    cls = type(optimizer)
    for name in hyperparameter_defaults(cls):
        if name not in from_keras and not hasattr(optimizer, name):
            raise AttributeError(
                f"{cls.__name__}: constructor argument {name!r} is not stored on the optimizer; "
                f"store it as self.{name} = {name} in __init__; get_config reads it"
            )


_UNDER_CONSTRUCTION = threading.local()  # .ids: id() of the optimizers whose __init__ is running


def with_type_checks(init, *, from_keras: frozenset[str] = frozenset()):
    """Wrap a constructor so that the outermost call of a construction checks its arguments.

    That call (and only that one: a nested ``super().__init__`` passes straight through)
    resolves ``lr=`` into ``learning_rate=``, checks each argument the caller passed with
    typeguard against the annotation of the nearest constructor that names it, runs the
    constructor, then checks that every named constructor argument outside `from_keras` (the
    keys Keras's own `get_config` writes) is stored under its own name.

    typeguard's `@typechecked` needs the module's source (it fails for code typed at a prompt)
    and raises `TypeCheckError`, which is not a `TypeError`; checking the bound arguments with
    `typeguard.check_type` has neither problem.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        ids = getattr(_UNDER_CONSTRUCTION, "ids", None)
        if ids is None:
            ids = _UNDER_CONSTRUCTION.ids = set()
        if id(self) in ids:  # a nested super().__init__: checked already
            return init(self, *args, **kwargs)
        ids.add(id(self))
        try:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:  # let the constructor raise Python's own message
                return init(self, *args, **kwargs)
            passed: dict[str, Any] = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    passed.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    passed[name] = value
            if "lr" in passed and "lr" not in hyperparameter_defaults(type(self)):
                _resolve_lr_alias(self, bound, passed)
            _check_types(self, passed)
            init(*bound.args, **bound.kwargs)
            _check_stored(self, from_keras)
        finally:
            ids.discard(id(self))

    checked.__kerasopt_type_checked__ = True
    return checked
