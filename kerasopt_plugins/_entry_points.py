"""Optimizers from installed distributions: the ``kerasopt_plugins.optimizers`` entry points.

A distribution declares, in its setup.cfg::

    [options.entry_points]
    kerasopt_plugins.optimizers =
        qhm = kerasopt_sample_plugin.optimizer:QHM

`load_plugins` (run once, at the end of ``import kerasopt_plugins``) loads each entry point of
the group: loading imports the module, whose ``@register_optimizer`` registers the class. An
entry point that names an optimizer class nobody registered is registered under the entry
point's name; one that names a module registers what the module registers. Every optimizer
defined in the entry point's module carries the distribution in its record
(`OptimizerInfo.distribution`).

Loading is eager: what Keras's ``load_model`` and ``compile(optimizer="qhm")`` look up is its
global custom objects, which only a registration fills, and the cost measured with the sample
plugin installed is a few milliseconds (the scan of the installed distributions' metadata, then
a small module). A plugin keeps its entry-point module light by importing heavy libraries
inside the functions that need them.

A plugin that fails to load (an import error, a name another optimizer already holds, an
entry point that names something else) gives one `PluginWarning` naming the entry point, the
distribution and the error; ``import kerasopt_plugins`` never fails because of a plugin. The
entry points load in the order `importlib.metadata` lists them; when two register the same
name, the first keeps it and the second's warning says so. ``KERASOPT_PLUGINS=0`` in the
environment skips them all.
"""

from __future__ import annotations

import os
import sys
import warnings

GROUP = "kerasopt_plugins.optimizers"

#: Set to 0 (or false, no, off) to load no entry point.
ENV_SWITCH = "KERASOPT_PLUGINS"


class PluginWarning(UserWarning):
    """A ``kerasopt_plugins.optimizers`` entry point that could not be loaded."""


def _distribution(entry_point) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown distribution", "?"
    name = dist.metadata["Name"] if dist.metadata is not None else None
    return name or getattr(dist, "name", None) or "an unknown distribution", dist.version or "?"


def _describe(entry_point) -> str:
    return f"{entry_point.name} = {entry_point.value}"


def load_plugins(entry_points=None) -> list[str]:
    """Load every entry point of the group (or those given); return the names loaded without error.

    Args:
        entry_points: `importlib.metadata.EntryPoint` objects to load instead of the installed
            ones (tests).
    """
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return []
    if entry_points is None:
        from importlib.metadata import entry_points as installed  # noqa: PLC0415

        entry_points = installed(group=GROUP)
    loaded = []
    for entry_point in entry_points:
        if _load_one(entry_point):
            loaded.append(entry_point.name)
    return loaded


def _load_one(entry_point) -> bool:
    import keras  # noqa: PLC0415

    from kerasopt_plugins import registry  # noqa: PLC0415

    distribution, version = _distribution(entry_point)
    where = f"entry point '{_describe(entry_point)}' ({GROUP}) of {distribution} {version}"
    registry.note_plugin_module(entry_point.module, distribution, version, _describe(entry_point))
    was_importing = entry_point.module in sys.modules  # a module importing kerasopt_plugins itself
    try:
        target = entry_point.load()
    except Exception as err:  # noqa: BLE001 - a plugin's failure must not fail the import
        if was_importing and isinstance(err, (AttributeError, ImportError)):
            # The plugin's own module is being imported and imported kerasopt_plugins first:
            # its decorator registers the class when the module finishes (provenance noted).
            return True
        _warn(f"{where} could not be loaded: {type(err).__name__}: {first_line(err)}")
        return False
    if isinstance(target, type) and issubclass(target, keras.optimizers.Optimizer):
        if registry.registered_name(target) is not None:
            return True
        try:
            registry.register_optimizer(entry_point.name)(target)
        except (TypeError, ValueError) as err:
            _warn(f"{where} could not be registered: {first_line(err)}")
            return False
        return True
    if isinstance(target, type(sys)):
        return True  # a module: importing it registered what it registers
    _warn(
        f"{where} names {target!r}, which is neither a module nor a keras.optimizers.Optimizer "
        "subclass; point it at the optimizer class (module:Class) or its module"
    )
    return False


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its type's name (also the CLI's one-line errors)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _warn(message: str) -> None:
    # stacklevel: the line that called load_plugins (kerasopt_plugins/__init__.py for an import)
    warnings.warn(message + f" (set {ENV_SWITCH}=0 to load no plugin)", PluginWarning, stacklevel=4)
