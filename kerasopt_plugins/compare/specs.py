"""Optimizer specs as `kerasopt compare` takes them: ``NAME:KEY=VALUE,...``, wrappers joined by ``+``.

A spec is one or more *levels* joined by ``+``, the outermost first, as the optimizer is
written in Python; each level is ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE``::

    adam:learning_rate=0.01                                  Adam(learning_rate=0.01)
    lookahead+radam                                          Lookahead(RectifiedAdam())
    lookahead:sync_period=5,slow_step_size=0.5+radam:learning_rate=0.01
    swa:average_period=5+lookahead+sgd:momentum=0.9          SWA(Lookahead(SGD(momentum=0.9)))

Every level but the last is a wrapper (`wrapper_names()`: lookahead, moving_average, swa); the
last is the optimizer (a registered name or a Keras built-in), and the learning rate is its
argument. A ``+`` starts a new level only where a name follows (a letter or ``_``), so
``learning_rate=1e+3`` stays one value. Values are read as int, float, ``true``/``false``,
``none``, else a string. No character of the syntax needs quoting in a POSIX shell.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Sequence

import keras

from kerasopt_plugins.optimizers._checks import BASE_OPTIONS
from kerasopt_plugins.wrappers import OptimizerWrapper

__all__ = [
    "SpecError",
    "check_arguments",
    "check_levels",
    "format_spec",
    "make_schedule",
    "optimizer_class",
    "parse_level",
    "parse_spec",
    "parse_value",
    "schedule_names",
    "snake_case",
    "wrapper_class",
    "wrapper_names",
]

#: Where a new level starts: a "+" followed by the first character of a name.
_LEVEL_BREAK = re.compile(r"\+(?=[A-Za-z_])")


class SpecError(ValueError):
    """A malformed spec; the message names the spec and what is wrong with it."""


def parse_value(text: str) -> Any:
    """'0.9' -> 0.9, '3' -> 3, 'true' -> True, 'none' -> None, anything else stays a str."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_level(text: str, spec: str | None = None) -> tuple[str, dict[str, Any]]:
    """'momentum_sgd:momentum=0.9,learning_rate=0.01' -> ('momentum_sgd', {...}).

    `spec` is the whole spec the level belongs to, for the error messages (default: `text`).
    """
    spec = text if spec is None else spec
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not name:
        where = "" if text == spec else f" (level {text!r})"
        raise SpecError(f"malformed optimizer spec {spec!r}{where}: it needs a name, e.g. momentum_sgd:momentum=0.9")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SpecError(f"malformed optimizer spec {spec!r}: {name!r} is not an optimizer or wrapper name")
    hyper: dict[str, Any] = {}
    if sep:
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key.isidentifier() or not value.strip():
                raise SpecError(f"malformed optimizer spec {spec!r}: expected KEY=VALUE, got {item!r}")
            if key in hyper:
                raise SpecError(f"malformed optimizer spec {spec!r}: {key!r} is given twice")
            hyper[key] = parse_value(value.strip())
    return name, hyper


def parse_spec(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """'lookahead:sync_period=5+radam:learning_rate=0.01' -> the levels, outermost first:
    ``[("lookahead", {"sync_period": 5}), ("radam", {"learning_rate": 0.01})]``.

    Checks the syntax and that every level but the last names a wrapper, and the last none.
    """
    if not isinstance(spec, str):
        raise TypeError(f"an optimizer spec must be a str, got {spec!r}")
    levels = [parse_level(part, spec) for part in _LEVEL_BREAK.split(spec)]
    check_levels(levels, spec)
    return levels


def check_levels(levels: Sequence[tuple[str, dict[str, Any]]], spec: str) -> None:
    """Every level but the last names a wrapper and takes no learning rate; the last is no wrapper."""
    if not levels:
        raise SpecError(f"malformed optimizer spec {spec!r}: it has no level")
    for name, hyper in levels[:-1]:
        if wrapper_class(name) is None:
            close = difflib.get_close_matches(name.lower(), wrapper_names(), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SpecError(
                f"optimizer spec {spec!r}: {name!r} is not a wrapper, so it cannot wrap what follows "
                f"'+'; only the last level is an optimizer (wrappers: {', '.join(wrapper_names())}).{hint}"
            )
        if "learning_rate" in hyper:
            raise SpecError(
                f"optimizer spec {spec!r}: learning_rate belongs on the optimizer, the last level "
                f"(e.g. {name}+adam:learning_rate=0.01), not on the wrapper {name!r}"
            )
    last = levels[-1][0]
    if wrapper_class(last) is not None and not _is_optimizer_name(last):
        raise SpecError(
            f"optimizer spec {spec!r}: {last!r} is a wrapper and needs an optimizer to wrap, "
            f"e.g. {format_spec(levels)}+adam"
        )


def format_spec(levels: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """The spec text of parsed levels (the inverse of `parse_spec`, up to spacing)."""
    parts = []
    for name, hyper in levels:
        items = ",".join(f"{k}={_text(v)}" for k, v in hyper.items())
        parts.append(f"{name}:{items}" if items else name)
    return "+".join(parts)


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _is_optimizer_name(name: str) -> bool:
    """A registered optimizer's name, alias or class name, or a Keras built-in's."""
    from kerasopt_plugins.registry import UnknownOptimizerError, optimizer_info  # noqa: PLC0415

    try:
        optimizer_info(name)
    except UnknownOptimizerError:
        return any(
            key.lower() == name.lower() and isinstance(obj, type) and issubclass(obj, keras.optimizers.Optimizer)
            for key, obj in vars(keras.optimizers).items()
        )
    return True


def snake_case(name: str) -> str:
    """'MovingAverage' -> 'moving_average', 'SWA' -> 'swa'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _wrapper_table() -> dict[str, type]:
    """Every wrapper class defined so far (kerasopt_plugins' and yours), by its `wrapper_name`.

    A wrapper is a subclass of `OptimizerWrapper` that declares its `wrapper_name`; shared
    bases (`AveragedOptimizer`) declare none.
    """
    table: dict[str, type] = {}
    pending = list(OptimizerWrapper.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending.extend(cls.__subclasses__())
        name = cls.__dict__.get("wrapper_name")
        if name is None:
            continue
        known = table.get(name)
        if known is not None and known is not cls:
            raise SpecError(
                f"two wrapper classes are both called {name!r}: {known.__module__}.{known.__qualname__} "
                f"and {cls.__module__}.{cls.__qualname__}; rename one"
            )
        table[name] = cls
    return table


def wrapper_names() -> list[str]:
    """The names a spec may use for a wrapper level: lookahead, moving_average, swa, and your own
    `OptimizerWrapper` subclasses (their `wrapper_name`)."""
    return sorted(_wrapper_table())


def wrapper_class(name: str) -> type | None:
    """The wrapper class a spec's level name means (snake_case or class name, any case), or None."""
    table = _wrapper_table()
    key = name.strip()
    return table.get(key.lower()) or table.get(snake_case(key)) or next(
        (cls for cls in table.values() if cls.__name__.lower() == key.lower()), None
    )


# -- argument values, checked before anything is built ------------------------------------------

def optimizer_class(name: str) -> type | None:
    """The class a spec's last level names: a registered optimizer's or a Keras built-in's."""
    from kerasopt_plugins.registry import UnknownOptimizerError, optimizer_info  # noqa: PLC0415

    try:
        return optimizer_info(name).cls
    except UnknownOptimizerError:
        pass
    for key, obj in vars(keras.optimizers).items():
        if key.lower() == name.lower() and isinstance(obj, type) and issubclass(obj, keras.optimizers.Optimizer):
            return obj
    return None


def _signature_defaults(cls: type) -> tuple[dict[str, Any], bool]:
    """(argument -> default, takes **kwargs) over `cls`'s constructors up to Keras's base."""
    import inspect  # noqa: PLC0415

    defaults: dict[str, Any] = {}
    var_keyword = False
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if klass is object or init is None:
            continue
        try:
            params = inspect.signature(inspect.unwrap(init)).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            continue
        kwargs_here = False
        for pname, param in params.items():
            if pname == "self" or param.kind is param.VAR_POSITIONAL:
                continue
            if param.kind is param.VAR_KEYWORD:
                kwargs_here = True
                continue
            defaults.setdefault(pname, param.default)
        if not kwargs_here:  # nothing further up sees what this constructor does not name
            return defaults, False
        var_keyword = True
        if klass.__module__.split(".")[0] == "keras" and "learning_rate" in params:
            break  # Keras's optimizer base: its **kwargs only takes legacy names it refuses
    return defaults, var_keyword


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "none"
    return "str"


_KIND_WORDS = {"number": "a number", "int": "an integer", "bool": "true or false", "str": "a string"}


def check_arguments(cls: type, hyper: dict[str, Any], spec: str, level: str | None = None) -> None:
    """Refuse a value of the wrong kind before `cls` is constructed: a string where the
    constructor's default is a number, a number where it is a bool, ... and the base options
    (`clipvalue`, `clipnorm`, ...) by their kind. The message names the spec and the argument:
    ``optimizer spec 'adamw:weight_decay=abc': weight_decay must be a number, got 'abc'``.

    Arguments the constructor does not name are left to it (it refuses them itself).
    """
    defaults, _ = _signature_defaults(cls)
    where = f"optimizer spec {spec!r}" + ("" if level is None or level == spec else f" (level {level!r})")
    for key, value in hyper.items():
        default = defaults.get(key, None)
        if key == "learning_rate":
            wanted = "number" if value is not None or default is not None else "none"
        elif key in BASE_OPTIONS and default is None:
            wanted = BASE_OPTIONS[key].kind
        elif isinstance(default, bool):
            wanted = "bool"
        elif isinstance(default, int):
            wanted = "number"  # an int default takes a float too (Keras casts); a string never
        elif isinstance(default, float):
            wanted = "number"
        elif isinstance(default, str):
            wanted = "str"
        else:
            continue  # no default, None or another kind: the constructor decides
        got = _kind_of(value)
        if got == "none" and (default is None or key in BASE_OPTIONS):
            continue  # none where the default is None: fine
        fits = got == wanted or (wanted == "number" and got == "int")
        if not fits:
            raise SpecError(f"{where}: {key} must be {_KIND_WORDS[wanted]}, got {_text_repr(value)}")


def _text_repr(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _text(value)


# -- learning-rate schedules (--schedule) -------------------------------------------------------


def _schedule_table() -> dict[str, type]:
    """Keras's schedules and kerasopt_plugins'; by snake_case name and a short form without
    ``_decay`` / ``_learning_rate`` (``cosine`` is CosineDecay)."""
    from kerasopt_plugins import schedules as ours  # noqa: PLC0415

    base = keras.optimizers.schedules.LearningRateSchedule
    table: dict[str, type] = {}
    for module in (keras.optimizers.schedules, ours):
        for key, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, base) and obj is not base:
                name = snake_case(key)
                table.setdefault(name, obj)
                short = re.sub(r"_(decay|learning_rate)(?=_|$)", "", name)
                table.setdefault(short, obj)
    return table


def schedule_names() -> list[str]:
    """The names `--schedule` takes (each class's snake_case name; the short forms work too)."""
    table = _schedule_table()
    return sorted({snake_case(cls.__name__) for cls in table.values()})


def make_schedule(text: str, initial_learning_rate: float, steps: int):
    """A `LearningRateSchedule` from ``NAME[:KEY=VALUE,...]`` (``cosine_decay:alpha=0.1``).

    `initial_learning_rate` (the optimizer's rate) and `decay_steps` / `first_decay_steps` (the
    run's `steps`) are filled in where the schedule takes them and the text does not give them.
    Raises `SpecError` naming the schedule for anything wrong, before any training.
    """
    import inspect  # noqa: PLC0415

    name, hyper = parse_level(text)
    table = _schedule_table()
    cls = table.get(snake_case(name)) or table.get(name.lower())
    if cls is None:
        close = difflib.get_close_matches(snake_case(name), list(table), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"--schedule {text!r}: unknown schedule {name!r}; choose from {', '.join(schedule_names())}.{hint}")
    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in hyper if k not in params]
    if unknown:
        raise SpecError(
            f"--schedule {text!r}: {cls.__name__} has no argument {unknown[0]!r}; "
            f"it takes {', '.join(p for p in params if p != 'self')}"
        )
    filled = {"initial_learning_rate": initial_learning_rate, "decay_steps": steps, "first_decay_steps": steps}
    for key, value in filled.items():
        if key in params and key not in hyper:
            hyper[key] = value
    for key, param in params.items():
        default = param.default
        if key == "self" or key not in hyper:
            continue
        if isinstance(default, (int, float)) and not isinstance(default, bool) and _kind_of(hyper[key]) not in ("int", "number"):
            raise SpecError(f"--schedule {text!r}: {key} must be a number, got {_text_repr(hyper[key])}")
    missing = [k for k, p in params.items() if k != "self" and p.default is p.empty and k not in hyper
               and p.kind is p.POSITIONAL_OR_KEYWORD]
    if missing:
        raise SpecError(f"--schedule {text!r}: {cls.__name__} needs {', '.join(missing)} (e.g. {name}:{missing[0]}=...)")
    try:
        return cls(**hyper)
    except (TypeError, ValueError) as err:
        raise SpecError(f"--schedule {text!r}: {err}") from None
