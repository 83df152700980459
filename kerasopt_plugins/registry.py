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

import contextvars
import dataclasses
import difflib
import fnmatch
import inspect
import logging
import math
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

#: How an optimizer treats a tf.IndexedSlices gradient of some rows (`OptimizerInfo.sparse`).
SPARSE_BEHAVIOURS = ("dense", "lazy")

#: The capabilities `OptimizerInfo.capabilities` lists (and `kerasopt list --has` filters on).
CAPABILITIES = (
    "elementwise", "sparse_dense", "sparse_lazy", "amsgrad", "weight_decay",
    "has_momentum", "has_betas", "has_eps", "constrained",
)

logger = logging.getLogger(__name__)


class UnknownOptimizerError(ValueError):
    """An optimizer name that is neither registered here nor a Keras built-in."""


class AmbiguousOptimizerNameError(ValueError):
    """A class name that two registered optimizer classes share (case-insensitively)."""


@dataclasses.dataclass(frozen=True)
class OptimizerInfo:
    """What the registry knows about one optimizer.

    Declared at registration (`register_optimizer`) or read from the class:

    Attributes:
        name: the registered short name (snake_case).
        cls: the optimizer class.
        aliases: other names that resolve to the same class.
        description: the first line of the class docstring.
        slot_names: names of the per-variable state the optimizer keeps (``("m",)``), the
            class's ``slot_names``.
        hyperparameters: constructor arguments and their defaults, in signature order.
        example_config: constructor arguments for a small example that exercises the
            optimizer's state (``{"learning_rate": 0.1, "momentum": 0.9}``), as given to
            `register_optimizer`; empty means the defaults. ``cls(**example_config)`` is how
            the tests parametrized over the registry make each optimizer, so a newly
            registered one is tested with its state moving without anyone editing a list.
        legacy_keys: keys other libraries serialized the optimizer under (``"Addons>Yogi"``).
        constrained: the rule keeps the weights in a bounded set (settles near, not at, an
            interior minimum).
        reference: the paper or source of the rule (title and URL): as declared, else the
            ``References:`` section of the class docstring in one line; "" if neither.
        sparse: how a tf.IndexedSlices gradient of some rows updates, as declared: ``"dense"``
            (as the same gradient made dense: every row moves), ``"lazy"`` (rows the gradient
            does not touch keep their weights and slots), or None (not declared). The
            conformance kit checks the declaration (its ``sparse`` promise).
        distribution: the installed distribution whose ``kerasopt_plugins.optimizers`` entry
            point provided the optimizer (``"kerasopt-sample-plugin"``); None for optimizers
            registered by code that was imported otherwise (this package's own, a user module).
        distribution_version: that distribution's version; None with `distribution`.
        entry_point: the entry point, as ``"name = module:attr"``; None with `distribution`.

    Derived on first use (properties): `hyperparameter_ranges` and `elementwise` (from one
    construction with the defaults), the flags `amsgrad`, `weight_decay`, `has_momentum`,
    `has_betas`, `has_eps` (from the hyperparameters), `capabilities`, and `as_dict()`.
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
    reference: str = ""
    sparse: str | None = None
    distribution: str | None = None
    distribution_version: str | None = None
    entry_point: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def amsgrad(self) -> bool:
        """The constructor takes ``amsgrad`` (the maximum of the second moments)."""
        return "amsgrad" in self.hyperparameters

    @property
    def weight_decay(self) -> bool:
        """The constructor takes its own ``weight_decay`` (beyond Keras's base option)."""
        return "weight_decay" in self.hyperparameters

    @property
    def has_momentum(self) -> bool:
        """The constructor takes ``momentum`` (timm's `has_momentum`)."""
        return "momentum" in self.hyperparameters

    @property
    def has_betas(self) -> bool:
        """The constructor takes ``beta_1``/``beta_2`` (or tfa's ``beta1``/``beta2``; timm's `has_betas`)."""
        return any(k in self.hyperparameters for k in ("beta_1", "beta_2", "beta1", "beta2"))

    @property
    def has_eps(self) -> bool:
        """The constructor takes ``epsilon`` (timm's `has_eps`)."""
        return "epsilon" in self.hyperparameters

    @property
    def elementwise(self) -> bool:
        """The rule is elementwise with the default arguments: the ``elementwise`` attribute of
        an instance made with them (`PluginOptimizer.elementwise`), False for other classes."""
        return _probe(self.cls).elementwise

    @property
    def hyperparameter_ranges(self) -> Mapping[str, str]:
        """Valid range of each numeric hyperparameter, as the constructor checks it (``"[0, 1)"``).

        Read from the `check_number` / `check_integer` calls the constructor makes with the defaults (the checks
        of optimizers/_checks.py; `check_learning_rate` and `check_epsilon` call it), each
        bound then confirmed by constructing at it: no second copy of the bounds to drift.
        Only arguments whose default is a number; one the constructor checks otherwise is
        absent.
        """
        return _probe(self.cls).ranges

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The `CAPABILITIES` this optimizer has, in that order."""
        flags = {**self._flags(), "sparse_dense": self.sparse == "dense", "sparse_lazy": self.sparse == "lazy"}
        return tuple(c for c in CAPABILITIES if flags[c])

    def _flags(self) -> dict[str, bool]:
        """The yes/no properties, by name (also keys of `as_dict`)."""
        return {
            "elementwise": self.elementwise,
            "amsgrad": self.amsgrad,
            "weight_decay": self.weight_decay,
            "has_momentum": self.has_momentum,
            "has_betas": self.has_betas,
            "has_eps": self.has_eps,
            "constrained": self.constrained,
        }

    def as_dict(self) -> dict[str, Any]:
        """Every field and derived property as JSON-safe values (what ``kerasopt list --json`` prints).

        The class becomes its qualified name; a default that is not a JSON value (a schedule, a
        callable) its ``repr``; a missing default (a required argument) None under
        ``required``.
        """
        return {
            "name": self.name,
            "class": _describe(self.cls),
            "aliases": list(self.aliases),
            "description": self.description,
            "reference": self.reference,
            "slot_names": list(self.slot_names),
            "hyperparameters": {k: _json_value(v) for k, v in self.hyperparameters.items()},
            "required": [k for k, v in self.hyperparameters.items() if v is inspect.Parameter.empty],
            "hyperparameter_ranges": dict(self.hyperparameter_ranges),
            "example_config": {k: _json_value(v) for k, v in self.example_config.items()},
            "sparse": self.sparse,
            **self._flags(),
            "capabilities": list(self.capabilities),
            "legacy_keys": list(self.legacy_keys),
            "distribution": self.distribution,
            "distribution_version": self.distribution_version,
            "entry_point": self.entry_point,
        }


def _json_value(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return repr(value)


# -- what one construction with the defaults tells -------------------------------------------

_RANGE_LOG: contextvars.ContextVar[list | None] = contextvars.ContextVar("kerasopt_range_log", default=None)


def note_range(name: str, low: float | None, high: float | None, low_open: bool, high_open: bool) -> None:
    """Called by `check_number` and `check_integer` (optimizers/_checks.py): while `_probe` constructs an optimizer,
    each checked argument's bounds are noted; otherwise this does nothing."""
    log = _RANGE_LOG.get()
    if log is not None:
        log.append((name, (low, high, low_open, high_open)))


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def _accepts(cls: type, **arguments: Any) -> bool:
    try:
        cls(**arguments)
    except Exception:  # noqa: BLE001 - refused, whatever the constructor raises
        return False
    return True


@dataclasses.dataclass(frozen=True)
class _Probe:
    ranges: Mapping[str, str]
    elementwise: bool


_PROBES: dict[type, _Probe] = {}


def _probe(cls: type) -> _Probe:
    """Construct `cls` with its defaults (lazily, once), noting the ranges `check_number` and `check_integer` check.

    Each noted range is then confirmed by the constructor itself: the default must be a number
    that the argument, passed explicitly, accepts (COCOB's ``learning_rate=None`` is not the
    user's to set), and a closed finite bound that a further check refuses (ProximalAdagrad's
    ``initial_accumulator_value=0``) is reported open.
    """
    if cls not in _PROBES:
        log: list = []
        token = _RANGE_LOG.set(log)
        try:
            instance = cls()
        except Exception:  # noqa: BLE001 - a class that needs arguments: nothing to read
            instance = None
        finally:
            _RANGE_LOG.reset(token)
        own = hyperparameter_defaults(cls)
        bounds: dict[str, tuple] = {}
        for name, noted in log:
            if name in own and instance is not None:
                bounds.setdefault(name, noted)
        ranges = {}
        for name in own:
            default = own[name]
            numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
            if name not in bounds or not numeric or not _accepts(cls, **{name: default}):
                continue
            low, high, low_open, high_open = bounds[name]
            if low is not None and not low_open and not _accepts(cls, **{name: low}):
                low_open = True
            if high is not None and not high_open and not _accepts(cls, **{name: high}):
                high_open = True
            ranges[name] = _range_text(low, high, low_open, high_open)
        elementwise = getattr(instance if instance is not None else cls, "elementwise", False)
        _PROBES[cls] = _Probe(ranges=types.MappingProxyType(ranges), elementwise=elementwise is True)
    return _PROBES[cls]


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


def _docstring_reference(doc: str) -> str:
    """The ``References:`` section of a docstring, joined into one line ("" if it has none)."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "References:":
            section = []
            for follow in lines[i + 1:]:
                if not follow.strip() or not follow.startswith((" ", "\t")):
                    break
                section.append(follow.strip())
            return " ".join(section)
    return ""


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
    reference: str = "",
    sparse: str | None = None,
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
        reference: the paper or source of the rule, a title and URL in one line
            (``"Ma & Yarats (2019), https://arxiv.org/abs/1810.06801"``). Default: the
            ``References:`` section of the class docstring, joined into one line.
        sparse: how a tf.IndexedSlices gradient of some rows updates: ``"dense"`` (the
            result of the same gradient made dense) or ``"lazy"`` (rows it does not touch
            keep their weights and slots); None: not declared. The conformance kit checks it.

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
    if not isinstance(reference, str) or "\n" in reference:
        raise TypeError(f"register_optimizer: reference must be a one-line str, got {reference!r}")
    if sparse is not None and sparse not in SPARSE_BEHAVIOURS:
        raise ValueError(
            f"register_optimizer: sparse must be one of {SPARSE_BEHAVIOURS} or None, got {sparse!r}"
        )
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
        _register(
            cls, canonical, aliases, example_config, legacy_keys, constrained,
            reference=reference.strip(), sparse=sparse,
        )
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
    reference: str = "",
    sparse: str | None = None,
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
        reference=reference or _docstring_reference(doc),
        sparse=sparse,
        **_provenance(cls),
    )
    _sync_class_names()


# -- where a plugin's optimizers come from ---------------------------------------------------------

_PLUGIN_MODULES: dict[str, dict[str, str]] = {}  # module of an entry point -> provenance fields


def note_plugin_module(module: str, distribution: str, version: str, entry_point: str) -> None:
    """Record that `module` (and its submodules) is provided by an entry point of `distribution`:
    every optimizer class defined there, registered before or after, carries it in its record.
    Called by the entry-point loader (`kerasopt_plugins._entry_points`)."""
    fields = {"distribution": distribution, "distribution_version": version, "entry_point": entry_point}
    _PLUGIN_MODULES.setdefault(module, fields)
    for canonical, record in list(_RECORDS.items()):
        if record.distribution is None and _provenance(record.cls):
            _RECORDS[canonical] = dataclasses.replace(record, **_provenance(record.cls))


def _provenance(cls: type) -> dict[str, str]:
    module = cls.__module__
    for prefix, fields in _PLUGIN_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return dict(fields)
    return {}


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
