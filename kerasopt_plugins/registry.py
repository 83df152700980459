"""The optimizer registry: short names for Keras optimizers that work everywhere Keras looks.

`register_optimizer` puts a class into three places at once:

* this module's table (for `list_optimizers`, `get_optimizer`, `optimizer_info`);
* Keras's serialization registry under ``kerasopt_plugins>NAME``, so a ``.keras`` file that
  uses the optimizer loads with plain `keras.saving.load_model` once the defining module is
  imported;
* Keras's global custom objects under the short name and every alias, so
  ``keras.optimizers.get("cmomentum_sgd")`` and ``model.compile(optimizer="cmomentum_sgd")``
  work.

A registered class is also found by its class name, case-insensitively as Keras's built-ins are
(``"CMomentumSGD"``, ``"cmomentumsgd"``), which is how Keras 2 wrote optimizers into configs and
how users write ``"Adam"``. Class names come last: a registered name, alias or legacy key and a
Keras built-in (``Adam`` stays Keras's) take precedence, and a class name that two registered
classes share resolves to neither but raises `AmbiguousOptimizerNameError` naming both.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import logging
import re
import types
from typing import Any, Callable, Iterable, Mapping

import keras

__all__ = [
    "AmbiguousOptimizerNameError",
    "OptimizerInfo",
    "UnknownOptimizerError",
    "get_optimizer",
    "list_optimizers",
    "optimizer_info",
    "register_optimizer",
    "unregister_optimizer",
]

KERAS_PACKAGE = "kerasopt_plugins"
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

logger = logging.getLogger(__name__)


class UnknownOptimizerError(ValueError):
    """An optimizer name that is neither registered here nor a Keras built-in."""


class AmbiguousOptimizerNameError(ValueError):
    """A class name that two registered optimizer classes share (case-insensitively)."""


@dataclasses.dataclass(frozen=True)
class OptimizerInfo:
    """What the registry knows about one optimizer.

    Attributes:
        name: the registered short name (snake_case).
        cls: the optimizer class.
        aliases: other names that resolve to the same class.
        description: the first line of the class docstring.
        slot_names: names of the per-variable state the optimizer keeps (``("m",)``).
        hyperparameters: constructor arguments and their defaults, in signature order.
        example_config: constructor arguments for a small example that exercises the
            optimizer's state (``{"learning_rate": 0.1, "momentum": 0.9}``), as given to
            `register_optimizer`; empty means the defaults. ``cls(**example_config)`` is how
            the tests parametrized over the registry make each optimizer, so a newly
            registered one is tested with its state moving without anyone editing a list.
    """

    name: str
    cls: type
    aliases: tuple[str, ...]
    description: str
    slot_names: tuple[str, ...]
    hyperparameters: Mapping[str, Any]
    example_config: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )
    legacy_keys: tuple[str, ...] = ()
    constrained: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


_RECORDS: dict[str, OptimizerInfo] = {}  # canonical name -> record
_LOOKUP: dict[str, str] = {}  # name or alias -> canonical name


def own_constructors(cls: type) -> list[Any]:
    """The constructors of `cls` and its non-Keras bases, nearest first (unwrapped).

    The MRO from the class itself towards Keras's base classes: what `hyperparameter_defaults`
    lists and what the constructor checks (optimizers/_checks.py) check, the same walk.
    """
    found = []
    for klass in cls.__mro__:
        if klass is object or klass.__module__.split(".")[0] == "keras":
            break
        init = klass.__dict__.get("__init__")
        if init is not None:
            found.append(inspect.unwrap(init))
    return found


def hyperparameter_defaults(cls: type) -> dict[str, Any]:
    """Constructor arguments of `cls` and its non-Keras bases, with their defaults.

    Walks the MRO from the class itself towards Keras's base classes (`own_constructors`), so
    an argument a subclass passes through ``**kwargs`` (``decay`` on `PluginOptimizer`) is
    still listed. Arguments without a default map to `inspect.Parameter.empty`.
    """
    params: dict[str, Any] = {}
    for init in own_constructors(cls):
        for name, param in inspect.signature(init).parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            params.setdefault(name, param.default)
    return params


def registered_name(cls: type) -> str | None:
    """The short name `cls` is registered under, or None."""
    for record in _RECORDS.values():
        if record.cls is cls:
            return record.name
    return None


def _builtin_names() -> dict[str, type]:
    """Keras's own optimizers by the lower-case names `keras.optimizers.get` accepts."""
    return {
        name.lower(): obj
        for name, obj in vars(keras.optimizers).items()
        if isinstance(obj, type) and issubclass(obj, keras.optimizers.Optimizer)
    }


def _same_definition(a: type, b: type) -> bool:
    """True when `b` is `a` defined again (a reloaded module, a re-run notebook cell)."""
    return a is b or (a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__)


def _describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_name(kind: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"register_optimizer: {kind} must be a str, got {value!r}")
    if not _NAME_PATTERN.match(value):
        raise ValueError(
            f"register_optimizer: {kind} {value!r} is not a valid optimizer name; "
            "use lower-case snake_case such as 'cmomentum_sgd'"
        )
    return value


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def register_optimizer(
    name: str | None = None,
    *,
    aliases: Iterable[str] = (),
    override: bool = False,
    example_config: Mapping[str, Any] | None = None,
    legacy_keys: Iterable[str] = (),
    constrained: bool = False,
) -> Callable[[type], type]:
    """Class decorator: register a Keras optimizer under a short name.

    Args:
        name: the short name (snake_case). Defaults to the class name in snake_case.
        aliases: other names for the same class.
        override: allow taking a name that another class, or a Keras built-in, already has.
            The displaced class loses all its names.
        example_config: a small dict of constructor arguments that exercises the optimizer's
            state (momentum > 0, say), kept read-only in its `OptimizerInfo`; the tests
            parametrized over the registry build each optimizer from it. Every key must be a
            constructor argument of the class (its own, a base class's, or one of Keras's
            base options such as ``clipnorm``). Default: empty, meaning the defaults.
        legacy_keys: keys other libraries serialized this optimizer under, such as
            tensorflow-addons' ``"Addons>RectifiedAdam"``. Each goes into Keras's custom
            objects, so `keras.optimizers.deserialize` and `load_model` resolve a config that
            names it (as ``class_name`` or ``registered_name``); `get_optimizer` accepts it too
            (case-insensitive). Saving writes this package's own key.
        constrained: the optimizer keeps the weights in a bounded set by design (see
            `OptimizerInfo.constrained`). Default False.

    Raises:
        TypeError: the decorated object is not a `keras.optimizers.Optimizer` subclass, or
            `example_config` is not a dict with str keys.
        ValueError: a name or alias is malformed or already taken (and `override` is False),
            or a key of `example_config` is not a constructor argument of the class.

    Example:
        >>> @register_optimizer("my_sgd", aliases=("msgd",), example_config={"learning_rate": 0.1})
        ... class MySGD(PluginOptimizer):
        ...     def update_step(self, gradient, variable, learning_rate): ...
    """
    if name is not None:
        _check_name("name", name)
    if isinstance(aliases, str):
        aliases = (aliases,)
    aliases = tuple(_check_name("alias", a) for a in aliases)
    if not isinstance(override, bool):
        raise TypeError(f"register_optimizer: override must be a bool, got {override!r}")
    if not isinstance(constrained, bool):
        raise TypeError(f"register_optimizer: constrained must be a bool, got {constrained!r}")
    if example_config is None:
        example_config = {}
    if not isinstance(example_config, Mapping) or not all(isinstance(k, str) for k in example_config):
        raise TypeError(
            "register_optimizer: example_config must be a dict of constructor arguments "
            f"(str keys), got {example_config!r}"
        )
    example_config = dict(example_config)
    if isinstance(legacy_keys, str):
        legacy_keys = (legacy_keys,)
    legacy_keys = tuple(legacy_keys)
    for key in legacy_keys:
        if not isinstance(key, str) or not key or key != key.strip() or " " in key:
            raise ValueError(
                f"register_optimizer: legacy key {key!r} must be a non-empty str without spaces"
            )

    def decorator(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
            raise TypeError(
                "register_optimizer can only decorate a keras.optimizers.Optimizer subclass, "
                f"got {cls!r}"
            )
        canonical = name if name is not None else _check_name("name", _snake_case(cls.__name__))
        names = (canonical, *aliases)
        if len(set(names)) != len(names):
            raise ValueError(f"register_optimizer: duplicate names in {names}")
        _check_example_config(cls, canonical, example_config)
        _check_free(cls, names, override)
        _check_free(cls, legacy_keys, override, builtin_ok=True)
        _register(cls, canonical, aliases, example_config, legacy_keys, constrained)
        return cls

    return decorator


def _constructor_arguments(cls: type) -> set[str]:
    """Every argument the constructor of `cls` accepts by name, Keras's base options included.

    Walks the whole MRO (where `hyperparameter_defaults` stops at Keras's classes), so
    ``clipnorm`` or ``use_ema``, which a subclass passes through ``**kwargs``, count too.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if klass is object or init is None:
            continue
        for arg, param in inspect.signature(init).parameters.items():
            if arg != "self" and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(arg)
    return names


def _check_example_config(cls: type, canonical: str, example_config: Mapping[str, Any]) -> None:
    accepted = _constructor_arguments(cls)
    for key in example_config:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1, cutoff=0.85)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"register_optimizer: example_config key {key!r} of {canonical!r} is not a "
                f"constructor argument of {_describe(cls)}{hint}; its own arguments are "
                f"{', '.join(hyperparameter_defaults(cls)) or 'none'}"
            )


def _check_free(
    cls: type, names: tuple[str, ...], override: bool, builtin_ok: bool = False
) -> None:
    builtins = {} if builtin_ok else _builtin_names()
    custom = keras.saving.get_custom_objects()
    for candidate in names:
        owner_name = _LOOKUP.get(candidate.lower())
        if owner_name is not None:
            owner = _RECORDS[owner_name].cls
            if _same_definition(owner, cls) or override:
                continue
            raise ValueError(
                f"optimizer name {candidate!r} is already registered to {_describe(owner)}; "
                f"cannot register {_describe(cls)} under it (pass override=True to replace it)"
            )
        if candidate in builtins and not override:
            raise ValueError(
                f"optimizer name {candidate!r} is Keras's built-in {_describe(builtins[candidate])}; "
                f"registering {_describe(cls)} under it would shadow it everywhere "
                "(pass override=True if that is what you want)"
            )
        other = custom.get(candidate)
        if _CLASS_NAME_ENTRIES.get(candidate) is other:
            other = None  # a class-name entry of ours: explicit names take precedence
        if other is not None and not override and not _same_definition(other, cls):
            raise ValueError(
                f"the name {candidate!r} is already a Keras custom object ({other!r}); "
                f"cannot register {_describe(cls)} under it (pass override=True to replace it)"
            )


def _register(
    cls: type,
    canonical: str,
    aliases: tuple[str, ...],
    example_config: Mapping[str, Any],
    legacy_keys: tuple[str, ...],
    constrained: bool = False,
) -> None:
    taken = (canonical, *aliases, *(k.lower() for k in legacy_keys))
    displaced = {_LOOKUP[n] for n in taken if n in _LOOKUP}
    previous = sorted(r.name for r in _RECORDS.values() if r.cls is cls and r.name not in displaced)
    if previous:
        raise ValueError(
            f"{_describe(cls)} is already registered as {previous[0]!r}; "
            "give extra names as aliases=(...) instead of registering it twice"
        )
    for old in displaced:
        old_cls = _RECORDS[old].cls
        if not _same_definition(old_cls, cls):
            logger.warning("register_optimizer: %s replaces %s", _describe(cls), _describe(old_cls))
        unregister_optimizer(old)

    keras.saving.register_keras_serializable(package=KERAS_PACKAGE, name=canonical)(cls)
    custom = keras.saving.get_custom_objects()
    for n in (canonical, *aliases, *legacy_keys):
        custom[n] = cls
        _LOOKUP[n.lower()] = canonical
    doc = inspect.getdoc(cls) or ""
    _RECORDS[canonical] = OptimizerInfo(
        name=canonical,
        cls=cls,
        aliases=aliases,
        description=doc.splitlines()[0].strip() if doc else "",
        slot_names=tuple(getattr(cls, "slot_names", ())),
        hyperparameters=types.MappingProxyType(hyperparameter_defaults(cls)),
        example_config=types.MappingProxyType(dict(example_config)),
        legacy_keys=legacy_keys,
        constrained=constrained,
    )
    _sync_class_names()


def unregister_optimizer(name: str) -> OptimizerInfo:
    """Remove a registered optimizer (by name or alias) from the registry and Keras's lookups.

    Returns the removed record. Raises `UnknownOptimizerError` for a name that is not registered.
    """
    record = optimizer_info(name)
    custom = keras.saving.get_custom_objects()
    for n in (*record.names, *record.legacy_keys, f"{KERAS_PACKAGE}>{record.name}"):
        if custom.get(n) is record.cls:
            del custom[n]
    for n in (*record.names, *record.legacy_keys):
        _LOOKUP.pop(n.lower(), None)
    del _RECORDS[record.name]
    _sync_class_names()
    return record


# -- class names -----------------------------------------------------------------------------
#
# Keras resolves ``keras.optimizers.get("Adam")``, ``compile(optimizer="adam")`` and a config whose
# ``class_name`` is "Adam" through its built-ins (the class name and its lower-case form) and then
# through its global custom objects, looked up by the exact string. So each registered class gets
# two custom-object entries more, its class name as spelled and in lower case ("CMomentumSGD",
# "cmomentumsgd"); other spellings resolve through `get_optimizer` only, as for the short names.
# The table is recomputed from the records after every registration and removal.

_CLASS_NAME_ENTRIES: dict[str, Any] = {}  # custom-object key -> what this module put there


class _AmbiguousClassName:
    """What Keras's custom objects hold under a class name that several registered classes share.

    Keras calls ``from_config`` on what it finds there; this raises the error that names the
    classes and the registered names that tell them apart.
    """

    def __init__(self, name: str, records: list[OptimizerInfo]):
        self.name = name
        self.records = records

    def error(self) -> AmbiguousOptimizerNameError:
        owners = " and ".join(f"{_describe(r.cls)} (registered as {r.name!r})" for r in self.records)
        return AmbiguousOptimizerNameError(
            f"optimizer class name {self.name!r} is ambiguous: it is the class name of {owners}. "
            "Use a registered name instead (kerasopt_plugins.list_optimizers() or `kerasopt list`), "
            "or unregister one of them (kerasopt_plugins.unregister_optimizer)."
        )

    def from_config(self, config, custom_objects=None):
        raise self.error()

    def __call__(self, *args, **kwargs):
        raise self.error()

    def __repr__(self) -> str:
        return f"<ambiguous optimizer class name {self.name!r}>"


def _class_name_table() -> dict[str, OptimizerInfo | _AmbiguousClassName]:
    """Lower-case class name -> the record it resolves to, or an ambiguity.

    Leaves out class names that are Keras built-ins (``AdamW``, the tfa port's class name, stays
    Keras's AdamW) and those equal to a registered name, alias or legacy key (that one wins).
    """
    builtins = _builtin_names()
    groups: dict[str, list[OptimizerInfo]] = {}
    for record in sorted(_RECORDS.values(), key=lambda r: r.name):
        key = record.cls.__name__.lower()
        if key in builtins:
            continue
        owner = _LOOKUP.get(key)
        if owner is not None and _RECORDS[owner].cls is not record.cls:
            continue
        groups.setdefault(key, []).append(record)
    return {
        key: records[0] if len(records) == 1 else _AmbiguousClassName(records[0].cls.__name__, records)
        for key, records in groups.items()
    }


def _sync_class_names() -> None:
    """Put every registered class under its class names in Keras's custom objects (see above)."""
    custom = keras.saving.get_custom_objects()
    was_ambiguous = set()
    for key, entry in _CLASS_NAME_ENTRIES.items():
        if isinstance(entry, _AmbiguousClassName):
            was_ambiguous.add(key.lower())
        if custom.get(key) is entry:
            del custom[key]
    _CLASS_NAME_ENTRIES.clear()
    for key, resolved in _class_name_table().items():
        if isinstance(resolved, _AmbiguousClassName):
            spellings = {r.cls.__name__ for r in resolved.records}
            entry: Any = resolved
            if key not in was_ambiguous:
                logger.warning("register_optimizer: %s", resolved.error())
        else:
            spellings = {resolved.cls.__name__}
            entry = resolved.cls
        for spelling in sorted(spellings | {key}):
            if spelling in custom:
                continue  # a registered name (already there) or a user's own custom object
            custom[spelling] = entry
            _CLASS_NAME_ENTRIES[spelling] = entry


def _by_class_name(identifier: str) -> OptimizerInfo | None:
    """The record whose class name is `identifier` (any case); None if there is none.

    Raises:
        AmbiguousOptimizerNameError: two registered classes have that class name.
    """
    resolved = _class_name_table().get(identifier.strip().lower())
    if isinstance(resolved, _AmbiguousClassName):
        raise resolved.error()
    return resolved


def list_optimizers(pattern: str | None = None) -> list[str]:
    """Sorted registered names, optionally filtered by an `fnmatch` pattern (``"*momentum*"``)."""
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"list_optimizers: pattern must be a str or None, got {pattern!r}")
    names = sorted(_RECORDS)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]


def _unknown(identifier: str) -> UnknownOptimizerError:
    known = sorted(set(_LOOKUP) | set(_builtin_names()))
    close = difflib.get_close_matches(identifier.lower(), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownOptimizerError(
        f"Unknown optimizer {identifier!r}.{hint} "
        "List the registered ones with kerasopt_plugins.list_optimizers() or `kerasopt list`; "
        "Keras built-ins such as 'adam' and 'sgd' are accepted too."
    )


def optimizer_info(name: str) -> OptimizerInfo:
    """The record of a registered optimizer, by name, alias or class name (case-insensitive).

    Raises:
        UnknownOptimizerError: no registered optimizer has that name.
        AmbiguousOptimizerNameError: `name` is the class name of two registered classes.
    """
    if not isinstance(name, str):
        raise TypeError(f"optimizer_info: name must be a str, got {name!r}")
    canonical = _LOOKUP.get(name.strip().lower())
    if canonical is not None:
        return _RECORDS[canonical]
    record = _by_class_name(name)
    if record is None:
        raise _unknown(name)
    return record


def get_optimizer(identifier: Any, **overrides: Any) -> keras.optimizers.Optimizer:
    """Make an optimizer from a name, a config dict or an instance.

    Args:
        identifier: a registered name or alias (case-insensitive), a Keras built-in name
            (``"adam"``), a registered class's class name (case-insensitive:
            ``"CMomentumSGD"``), a config dict ``{"class_name": ..., "config": {...}}`` as
            `keras.optimizers.serialize` writes it (Keras 2's bare class names included), or an
            optimizer instance.
        **overrides: constructor arguments; with a dict they update its config, with an
            instance they give a new optimizer built from its config.

    Raises:
        UnknownOptimizerError: a name that is neither registered nor built in.
        AmbiguousOptimizerNameError: a class name that two registered classes share.
        TypeError: an identifier of another type.
    """
    if isinstance(identifier, keras.optimizers.Optimizer):
        if not overrides:
            return identifier
        return type(identifier).from_config({**identifier.get_config(), **overrides})
    if isinstance(identifier, str):
        key = identifier.strip().lower()
        if key in _LOOKUP:
            return _RECORDS[_LOOKUP[key]].cls(**overrides)
        if key in _builtin_names():
            return keras.optimizers.deserialize({"class_name": key, "config": dict(overrides)})
        record = _by_class_name(key)
        if record is not None:
            return record.cls(**overrides)
        raise _unknown(identifier)
    if isinstance(identifier, Mapping):
        class_name = identifier.get("class_name")
        config = identifier.get("config", {})
        if not isinstance(class_name, str) or not isinstance(config, Mapping):
            raise ValueError(
                "get_optimizer: a config dict needs 'class_name' (a str) and 'config' (a dict), "
                f"got {dict(identifier)!r}"
            )
        config = {**config, **overrides}
        keys = [k.strip().lower() for k in (identifier.get("registered_name"), class_name) if isinstance(k, str)]
        for key in keys:
            if key in _LOOKUP:
                return _RECORDS[_LOOKUP[key]].cls.from_config(config)
        if class_name.strip().lower() not in _builtin_names():
            for key in keys:
                record = _by_class_name(key)
                if record is not None:
                    return record.cls.from_config(config)
        try:
            optimizer = keras.optimizers.deserialize({**identifier, "config": config})
        except TypeError as err:
            if "Could not locate" in str(err):
                raise _unknown(class_name) from err
            raise
        if not isinstance(optimizer, keras.optimizers.Optimizer):  # Keras hands back the name
            raise _unknown(class_name)
        return optimizer
    raise TypeError(
        "get_optimizer: identifier must be a name, a config dict or a keras optimizer, "
        f"got {identifier!r} of type {type(identifier).__name__}"
    )
