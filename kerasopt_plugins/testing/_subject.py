"""What the contract is run on: the optimizer class and what its author declared about it."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import sys
import types
from typing import Any, Callable, Mapping, Sequence

import keras

from kerasopt_plugins import registry

#: Keras's backends, in the order the checks run them.
KERAS_BACKENDS = ("tensorflow", "jax", "torch")

#: How an IndexedSlices gradient may update (see `Subject.sparse`): the registry's declaration.
SPARSE_BEHAVIOURS = registry.SPARSE_BEHAVIOURS


class ContractError(AssertionError):
    """One broken promise: `promise` is its name (a key of `PROMISES`), the message says the fix."""

    def __init__(self, promise: str, message: str):
        super().__init__(f"{promise}: {message}")
        self.promise = promise
        self.message = message


@dataclasses.dataclass(frozen=True)
class Subject:
    """An optimizer class and what its author declares about it; what every check reads.

    Made by `make_subject` from a class or a registered name: what is not given is read from
    the registry record (`example_config`, `constrained`, `sparse`).
    """

    cls: type
    name: str | None  # the registered name, None when the class is not registered
    example_config: Mapping[str, Any]
    constrained: bool = False
    sparse: str | None = None  # "dense", "lazy", or None: only what every rule must do
    reference: Callable | None = None
    invalid_configs: tuple[tuple[Mapping[str, Any], str], ...] = ()
    modules: tuple[str, ...] | None = None  # what a fresh process imports; None: the class's module
    rtol: float = 1e-5
    atol: float = 1e-6

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Constructor arguments and their defaults (the registry's reading of the signature)."""
        return registry.hyperparameter_defaults(self.cls)

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "slot_names", ()))

    @property
    def label(self) -> str:
        return self.name or self.cls.__name__

    @property
    def qualified_name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    def call(self, **overrides: Any) -> str:
        """``MyOpt(beta=0.5)``: how the optimizer made with the example config and `overrides` is written."""
        config = {**self.example_config, **overrides}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{self.cls.__name__}({args})"

    def make(self, promise: str, **overrides: Any) -> keras.optimizers.Optimizer:
        """The optimizer made with the example config and `overrides`; a construction error
        is the broken promise `promise`, with the constructor's own message (which says the fix)."""
        try:
            return self.cls(**{**self.example_config, **overrides})
        except Exception as err:  # noqa: BLE001 - any failure to construct breaks the promise
            raise ContractError(
                promise, f"{self.call(**overrides)} raised {type(err).__name__}: {err}"
            ) from err


def make_subject(
    optimizer: type | str,
    *,
    example_config: Mapping[str, Any] | None = None,
    constrained: bool | None = None,
    sparse: str | None = None,
    reference: Callable | None = None,
    invalid_configs: Sequence[tuple[Mapping[str, Any], str]] = (),
    modules: Sequence[str] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> Subject:
    """A `Subject` for an optimizer class or registered name; unset declarations from its record."""
    if isinstance(optimizer, str):
        info = registry.optimizer_info(optimizer)
        cls = info.cls
    elif inspect.isclass(optimizer) and issubclass(optimizer, keras.optimizers.Optimizer):
        cls = optimizer
        name = registry.registered_name(cls)
        info = registry.optimizer_info(name) if name is not None else None
    else:
        raise TypeError(
            "check_optimizer: optimizer must be a keras.optimizers.Optimizer subclass or a "
            f"registered name, got {optimizer!r}"
        )
    if sparse is None and info is not None:
        sparse = info.sparse  # as registered: register_optimizer(..., sparse="lazy")
    if sparse is not None and sparse not in SPARSE_BEHAVIOURS:
        raise ValueError(f"check_optimizer: sparse must be one of {SPARSE_BEHAVIOURS} or None, got {sparse!r}")
    pairs = []
    for pair in invalid_configs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], Mapping) and isinstance(pair[1], str)):
            raise TypeError(
                "check_optimizer: invalid_configs must be (config dict, message regex) pairs, "
                f"got {pair!r}"
            )
        pairs.append((types.MappingProxyType(dict(pair[0])), pair[1]))
    if isinstance(modules, str):
        modules = (modules,)
    if example_config is None:
        example_config = info.example_config if info is not None else {}
    if constrained is None:
        constrained = info is not None and info.constrained
    return Subject(
        cls=cls,
        name=info.name if info is not None else None,
        example_config=types.MappingProxyType(dict(example_config)),
        constrained=constrained,
        sparse=sparse,
        reference=reference,
        invalid_configs=tuple(pairs),
        modules=tuple(modules) if modules is not None else None,
        rtol=rtol,
        atol=atol,
    )


def installed_backends() -> tuple[str, ...]:
    """The Keras backends whose library is installed here, the current one first."""
    current = keras.backend.backend()
    found = [b for b in KERAS_BACKENDS if b == current or importlib.util.find_spec(b) is not None]
    return tuple(sorted(found, key=lambda b: b != current))


def module_entry(name: str) -> dict[str, str | None]:
    """How a fresh process imports module `name`: by name, else from the file it was loaded from.

    A test module loaded by path (``importlib.util.spec_from_file_location``) is not importable
    by name elsewhere; its file is, under the same module name, so pickled and saved references
    to its classes resolve.
    """
    if name.endswith(".py"):
        path = os.path.abspath(name)
        loaded = [
            n for n, m in list(sys.modules.items())
            if getattr(m, "__file__", None) and os.path.abspath(m.__file__) == path
        ]  # the name this process loaded the file under, so saved references to it resolve
        return {"name": loaded[0] if loaded else os.path.splitext(os.path.basename(path))[0], "file": path}
    module = sys.modules.get(name)
    return {"name": name, "file": getattr(module, "__file__", None)}
