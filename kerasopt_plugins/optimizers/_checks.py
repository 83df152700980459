"""Argument checking for optimizer constructors: `check_number` and the annotation checks.

`PluginOptimizer` wraps every subclass constructor with `with_type_checks`, which checks the
annotated arguments with typeguard before the constructor body runs; `check_number` is what a
constructor calls for the value checks (bounds, finiteness) that a type cannot express.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import typing
from typing import Any, Union

from keras.optimizers.schedules import LearningRateSchedule

__all__ = ["check_number", "with_type_checks"]


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


def with_type_checks(init):
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
