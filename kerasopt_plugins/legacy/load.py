"""`load_model`: a Keras 2 model file on Keras 3, with its optimizer and the optimizer's state.

Keras 3 loads the architecture and weights of a Keras 2 `.h5` file (and of a `.keras` file that
Keras 2.13-2.15 wrote), but not its training state: the optimizer's config names Keras 2 or
tensorflow-addons classes (``Addons>RectifiedAdam``, ``keras.optimizers.legacy.Adam``, the
tutorial's ``CMomentumSGD``), its variables are named and laid out as Keras 2 made them, and some
loss and metric configs no longer deserialize (``reduction="auto"``). `load_model`:

1. loads the model and its weights with Keras 3's own loader (``compile=False``);
2. rebuilds the optimizer from the saved config: Keras 2's built-in optimizers (legacy and
   2.11+) as Keras 3's, with legacy ``decay`` as ``InverseTimeDecay``; tfa's ``Addons>`` names as
   this package's ports and wrappers; registered class names as the registered class (a user's
   `kerasopt_plugins.legacy.OptimizerV2` subclass included); ``custom_objects`` first;
3. compiles the model with it and the file's loss and metrics (Keras 2 forms translated);
4. builds the optimizer and copies the saved state into it, variable by variable: the step
   counter and every slot of every model variable (Keras 2 names mapped to Keras 3's: Adam's
   ``m``/``v`` are ``momentum``/``velocity``; tfa's and the tutorial's names are the ports'),
   so that `fit` continues as it would have on Keras 2. Nothing is guessed: a saved variable
   with no counterpart, or a slot the file does not fill, is an error naming it.

`upgrade` does this and writes a Keras 3 `.keras` file; `describe_keras2_file` reports what a
file holds without building the model.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from kerasopt_plugins.legacy import _keras2_file
from kerasopt_plugins.legacy._keras2_config import fixed_model_config
from kerasopt_plugins.legacy._keras2_file import NotAKeras2FileError
from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.optimizers.base import PluginOptimizer
from kerasopt_plugins.registry import (
    AmbiguousOptimizerNameError,
    UnknownOptimizerError,
    list_optimizers,
    optimizer_info,
)
from kerasopt_plugins.wrappers import OptimizerWrapper
from kerasopt_plugins.wrappers._configs import _keras_builtin, keras2_builtin_config

__all__ = [
    "Keras2LoadError",
    "NotAKeras2FileError",
    "describe_keras2_file",
    "is_keras2_file",
    "load_model",
    "upgrade",
]

OPTIMIZER_CHOICES = ("restore", "fresh", "skip")


class Keras2LoadError(ValueError):
    """A Keras 2 file's optimizer (or loss, metric) that cannot be rebuilt or whose state cannot
    be mapped on Keras 3; the message names it and what to do."""


# -- Keras 2's built-in optimizers: slot names and (for .keras files) variable order ------------

#: Keras 2 built-in class -> {Keras 2 slot name: Keras 3 slot name}, for legacy (OptimizerV2)
#: and for 2.11+ ("new") optimizers. Names not listed are the same on both sides.
_SLOT_NAMES = {
    "legacy": {
        "Adam": {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"},
        "Adamax": {"m": "momentum", "v": "norm"},
        "Nadam": {"m": "momentum", "v": "velocity"},
        "RMSprop": {"rms": "velocity", "mg": "average_gradient"},
        "Adadelta": {"accum_grad": "accumulated_grad", "accum_var": "accumulated_delta_var"},
    },
    "new": {
        "Adam": {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"},
        "AdamW": {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"},
        "Adamax": {"m": "momentum", "u": "norm"},
        "Nadam": {"m": "momentum", "v": "velocity"},
        "SGD": {"m": "momentum"},
        "Lion": {"m": "momentum"},
    },
}

#: Keras 2 built-ins whose state Keras 3's class of the same name cannot take.
_UNMAPPABLE_BUILTINS = {
    "Adafactor": "Keras 2's Adafactor keeps factored second moments (r, c) whose layout Keras 3's differs from",
}


def _tfa_slot_without_counterpart(optimizer, slot: str, value: np.ndarray) -> tuple[str, bool] | None:
    """Saved tfa slots that Keras 2 itself did not restore, or that tfa never used:
    ``(explanation, warn)``; None for any other slot (which must then have a counterpart)."""
    from kerasopt_plugins.optimizers.conditional_gradient import ConditionalGradient
    from kerasopt_plugins.optimizers.novograd import NovoGrad

    if isinstance(optimizer, NovoGrad) and slot == "vhat" and not optimizer.amsgrad:
        explanation = (
            "tfa's NovoGrad.get_config leaves amsgrad out, so Keras 2 reloaded this optimizer "
            "without AMSGrad and dropped its vhat slots (tfa's NovoGrad.set_weights); it is loaded "
            "the same way (amsgrad=False, m and v restored, vhat dropped)"
        )
        return explanation, True
    if isinstance(optimizer, ConditionalGradient) and slot == "conditional_gradient" and not np.any(value):
        return "tfa's ConditionalGradient made this slot and never used it (all zeros); the port has none", False
    return None


def _new_layout(class_name: str, config: Mapping[str, Any]) -> list[tuple[str, ...]] | None:
    """Keras 2.11+'s build order for a built-in optimizer's slots: groups of slot names, each
    group created variable by variable (``[("m", "v")]``: m0, v0, m1, v1, ...). None if unknown."""
    layouts = {
        "Adam": [("m", "v")] + ([("vhat",)] if config.get("amsgrad") else []),
        "AdamW": [("m", "v")] + ([("vhat",)] if config.get("amsgrad") else []),
        "SGD": [("m",)],
        "RMSprop": [("velocity",)]
        + ([("momentum",)] if (config.get("momentum") or 0) > 0 else [])
        + ([("average_gradient",)] if config.get("centered") else []),
        "Adagrad": [("accumulator",)],
        "Adadelta": [("accumulated_grad", "accumulated_delta_var")],
        "Adamax": [("m", "u")],
        "Nadam": [("m", "v")],
        "Ftrl": [("accumulator", "linear")],
        "Lion": [("m",)],
    }
    layout = layouts.get(class_name)
    if layout is not None and config.get("use_ema"):
        layout = [("average",)] + layout
    return layout


# -- rebuilding the optimizer ------------------------------------------------------------------


def _describe_class(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _what_to_do(class_name: str) -> str:
    addons = (
        " tensorflow-addons optimizers without a port here are listed in docs/tfa.md with what "
        "replaces them."
        if class_name.startswith("Addons>")
        else ""
    )
    return (
        f"Register a Keras 3 optimizer class for it (kerasopt_plugins.register_optimizer; an "
        f"OptimizerV2-style class runs on kerasopt_plugins.legacy.OptimizerV2), or pass "
        f"custom_objects={{{class_name!r}: TheClass}}; or load with optimizer='skip' (the model and "
        f"its weights, uncompiled) or compile=False.{addons}"
    )


def _registered_class(key: str) -> type | None:
    """The optimizer class `key` names in the registry (names, aliases, tfa keys, class names)
    or in Keras's custom objects; None if neither knows it.

    A class name that several registered classes share resolves to the one that is a
    `kerasopt_plugins.legacy.OptimizerV2` subclass when exactly one is: the file was written by
    an OptimizerV2 class, and that is the user's own copy of it (the tutorial's CMomentumSGD
    registered beside the package's port).
    """
    try:
        return optimizer_info(key).cls
    except AmbiguousOptimizerNameError as err:
        from kerasopt_plugins.legacy.optimizer_v2 import OptimizerV2

        candidates = {
            optimizer_info(name).cls
            for name in list_optimizers()
            if optimizer_info(name).cls.__name__.lower() == key.strip().lower()
        }
        v2 = [cls for cls in candidates if issubclass(cls, OptimizerV2)]
        if len(v2) == 1:
            return v2[0]
        raise Keras2LoadError(f"{err} Or pass custom_objects={{{key!r}: TheClass}} to load_model.") from None
    except UnknownOptimizerError:
        pass
    found = keras.saving.get_custom_objects().get(key)
    if isinstance(found, type) and issubclass(found, keras.optimizers.Optimizer):
        return found
    return None


def _flavor(config: Mapping[str, Any]) -> str:
    """"new" for a Keras 2.11+ optimizer's config (``is_legacy_optimizer: False``), else "legacy"."""
    return "new" if (config.get("config") or {}).get("is_legacy_optimizer") is False else "legacy"


@dataclasses.dataclass
class _Level:
    """How one level of the rebuilt optimizer was resolved: its Keras 2 flavor and class name."""

    optimizer: keras.optimizers.Optimizer
    flavor: str
    keras2_class: str
    builtin: str | None


def rebuild_optimizer(config: Any, custom_objects: Mapping[str, Any] | None = None) -> tuple[keras.optimizers.Optimizer, list[_Level]]:
    """The Keras 3 optimizer for a Keras 2 optimizer config, and how each level was resolved.

    Order: `custom_objects` (by class name or registered name); tfa's registered name
    (``Addons>AdamW`` is tfa's AdamW, not Keras's); Keras 2's built-ins (``Adam``,
    ``Custom>Adam``) as Keras 3's; then the registry and Keras's custom objects by class name.
    A wrapper (``Addons>Lookahead``) gets its inner optimizer rebuilt the same way.

    Raises:
        Keras2LoadError: no class for it, or its config does not build.
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("class_name"), str):
        raise Keras2LoadError(f"the file's optimizer config is not a Keras optimizer config: {config!r}")
    class_name = config["class_name"]
    registered = config.get("registered_name") if isinstance(config.get("registered_name"), str) else None
    inner_config = dict(config.get("config") or {})
    flavor = _flavor(config)
    custom_objects = dict(custom_objects or {})

    cls = None
    for key in (registered, class_name):
        if key is not None and key in custom_objects:
            cls = custom_objects[key]
            break
    if cls is None and registered is not None and registered != class_name:
        cls = _registered_class(registered)
    builtin = None
    if cls is None:
        base = class_name.removeprefix("Custom>")
        if _keras_builtin(base) is not None:
            if base in _UNMAPPABLE_BUILTINS:
                raise Keras2LoadError(
                    f"the file's optimizer is Keras 2's {base}: {_UNMAPPABLE_BUILTINS[base]}. "
                    "Load with optimizer='fresh' (the same configuration, fresh state) or 'skip'"
                )
            builtin = base
    if cls is None and builtin is None:
        cls = _registered_class(class_name)
    if cls is None and builtin is None:
        raise Keras2LoadError(
            f"the file's optimizer {class_name!r} is not known on Keras 3: it is neither Keras's "
            f"nor registered. {_what_to_do(class_name)}"
        )
    try:
        if builtin is not None:
            cls = _keras_builtin(builtin)
            optimizer = cls.from_config(keras2_builtin_config(builtin, inner_config, custom_objects))
        elif isinstance(cls, type) and issubclass(cls, OptimizerWrapper):
            inner, inner_levels = rebuild_optimizer(inner_config.pop("optimizer", None), custom_objects)
            optimizer = cls.from_config({**inner_config, "optimizer": inner})
        else:
            optimizer = cls.from_config(inner_config)
    except Keras2LoadError:
        raise
    except (TypeError, ValueError) as err:
        raise Keras2LoadError(
            f"the file's optimizer {class_name!r} cannot be rebuilt as {_describe_class(cls)} from its "
            f"saved config: {err}"
        ) from err
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise Keras2LoadError(
            f"the file's optimizer {class_name!r} resolved to {cls!r}, which made {optimizer!r}, not a "
            f"Keras optimizer. {_what_to_do(class_name)}"
        )
    levels = [_Level(optimizer, flavor, class_name, builtin)]
    if isinstance(cls, type) and issubclass(cls, OptimizerWrapper):
        levels += inner_levels
    return optimizer, levels


# -- the optimizer's slots on Keras 3 ----------------------------------------------------------


def _own_variables(optimizer, inner) -> list:
    own = list(optimizer.variables)
    if inner is not None:
        inner_ids = {id(v) for v in inner.variables}
        own = [v for v in own if id(v) not in inner_ids]
    return own


def level_slots(optimizer, inner, variables: list) -> dict[str, list]:
    """Slot name -> the slot variable of each model variable (None where it has none), for one
    level (its own slots, not its inner optimizer's)."""
    from kerasopt_plugins.legacy.optimizer_v2 import OptimizerV2

    if isinstance(optimizer, (PluginOptimizer, OptimizerWrapper)):
        return {name: [optimizer.get_slot(v, name) for v in variables] for name in optimizer.slot_names}
    own = _own_variables(optimizer, inner)
    if isinstance(optimizer, OptimizerV2):
        # get_slot answers with the tf.Variable; the Keras Variable around it is what we assign
        from kerasopt_plugins.legacy._support import tf_variable

        by_id = {id(tf_variable(v)): v for v in own}
        found: dict[str, list] = {}
        for name in optimizer.get_slot_names():
            row = []
            for v in variables:
                try:
                    row.append(by_id.get(id(optimizer.get_slot(v, name))))
                except KeyError:
                    row.append(None)
            found[name] = row
        return found
    # Keras's own optimizers name the slot of variable ``a/b`` ``a_b_<slot>``
    prefixes = sorted(((v.path.replace("/", "_") + "_", i) for i, v in enumerate(variables)), key=lambda p: -len(p[0]))
    found = {}
    for slot in own:
        leaf = slot.path.split("/")[-1]
        for prefix, i in prefixes:
            if leaf.startswith(prefix) and tuple(slot.shape) == tuple(variables[i].shape):
                found.setdefault(leaf[len(prefix):], [None] * len(variables))[i] = slot
                break
    return found


# -- the file's optimizer variables ------------------------------------------------------------


@dataclasses.dataclass
class _Entry:
    """One saved optimizer variable: the step counter, a slot of a model variable, or another."""

    source: str  # the name in the file, or "optimizer/vars/<i>"
    value: np.ndarray
    kind: str  # "iterations", "slot" or "other"
    slot: str | None = None
    index: int | None = None  # into model.trainable_variables


def _numpy(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable.value if isinstance(variable, keras.Variable) else variable))


def _strip(name: str) -> str:
    return re.sub(r":\d+$", "", name)


def _h5_entries(weights, names_of: dict[str, list[int]], flavor: str) -> list[_Entry]:
    """Classify an .h5 file's optimizer variables by their Keras 2 names.

    Legacy (OptimizerV2) slots are ``<scope>/<variable>/<slot>``, 2.11+ ones
    ``<scope>/<slot>/<variable>``; the step counter is ``iter`` / ``iteration``. A variable name
    shared by several model variables (layers named alike in nested models) is matched by
    order: Keras 2 made the slots in the order of the model's trainable variables.
    """
    known = sorted(names_of, key=lambda n: -len(n.split("/")))
    seen: dict[tuple[str, str], int] = {}
    entries = []
    for name, value in weights:
        parts = _strip(name).split("/")
        if parts[-1] in ("iter", "iteration") and value.ndim == 0 and np.issubdtype(value.dtype, np.integer):
            entries.append(_Entry(name, value, "iterations"))
            continue
        match = None
        for variable in known:
            vparts = variable.split("/")
            n = len(vparts)
            if flavor == "legacy" and len(parts) > n and parts[-1 - n:-1] == vparts:
                match = (variable, parts[-1])
            elif flavor == "new" and len(parts) > n and parts[-n:] == vparts:
                match = (variable, parts[-n - 1])
            if match:
                break
        if match is None:
            entries.append(_Entry(name, value, "other", slot=parts[-1]))
            continue
        variable, slot = match
        occurrence = seen.get((variable, slot), 0)
        seen[(variable, slot)] = occurrence + 1
        indices = names_of[variable]
        if occurrence >= len(indices):
            raise Keras2LoadError(
                f"the file holds more {slot!r} slots for model variable {variable!r} than the model has "
                f"variables of that name ({len(indices)}); the file's optimizer variable {name!r} has no "
                "counterpart. Load with optimizer='fresh' or 'skip'"
            )
        entries.append(_Entry(name, value, "slot", slot=slot, index=indices[occurrence]))
    return entries


def _keras_entries(weights, variables: list, level: _Level, config: Mapping[str, Any]) -> list[_Entry]:
    """Classify a Keras 2.15 `.keras` file's optimizer variables (``optimizer/vars/<i>``) by
    position, from the build order of Keras 2.11+'s built-in optimizers."""
    layout = _new_layout(level.builtin, config) if level.builtin is not None and level.flavor == "new" else None
    if layout is None:
        raise Keras2LoadError(
            f"the file holds {len(weights)} optimizer variables of {level.keras2_class!r} by position only "
            "(a .keras file of Keras 2 names none), and their order is known here only for Keras 2's "
            "built-in optimizers. Load with optimizer='fresh' (the same configuration, fresh state) "
            "or 'skip'"
        )
    expected = [("iterations", None, None)] + [
        ("slot", slot, i) for group in layout for i in range(len(variables)) for slot in group
    ]
    if len(expected) != len(weights):
        raise Keras2LoadError(
            f"the file holds {len(weights)} optimizer variables of {level.keras2_class!r}, where Keras 2 "
            f"would have made {len(expected)} for this model ({layout}); the model or the optimizer "
            "differs from the ones saved. Load with optimizer='fresh' or 'skip'"
        )
    entries = []
    for position, ((kind, slot, index), (_, value)) in enumerate(zip(expected, weights)):
        entries.append(_Entry(f"optimizer/vars/{position}", value, kind, slot=slot, index=index))
    return entries


# -- copying the state -------------------------------------------------------------------------


def _assign(target, value: np.ndarray, source: str, what: str) -> None:
    shape = tuple(target.shape)
    if tuple(value.shape) != shape:
        raise Keras2LoadError(
            f"the file's optimizer variable {source!r} has shape {tuple(value.shape)}, but {what} has "
            f"shape {shape}: the model or the optimizer differs from the ones saved"
        )
    dtype = keras.backend.standardize_dtype(target.dtype)
    if np.dtype(value.dtype) != np.dtype(dtype):
        raise Keras2LoadError(
            f"the file's optimizer variable {source!r} is {value.dtype}, but {what} is {dtype}"
        )
    target.assign(value)


def _levels(optimizer) -> list:
    chain = [optimizer]
    while isinstance(getattr(chain[-1], "inner_optimizer", None), keras.optimizers.Optimizer):
        chain.append(chain[-1].inner_optimizer)
    return chain


def restore_state(optimizer, levels: list[_Level], entries: list[_Entry], variables: list) -> dict:
    """Copy the file's optimizer variables into the built `optimizer`; return what was restored.

    Raises:
        Keras2LoadError: a saved variable with no counterpart, a slot the file does not fill, or a
            shape or dtype that differs.
    """
    chain = _levels(optimizer)
    if len(chain) != len(levels):  # pragma: no cover - rebuild_optimizer made both
        raise RuntimeError("kerasopt_plugins.legacy: optimizer levels out of step")
    slots = [level_slots(opt, chain[i + 1] if i + 1 < len(chain) else None, variables) for i, opt in enumerate(chain)]

    def translate(i: int, name: str) -> str:
        level = levels[i]
        if level.builtin is None:
            return name
        return _SLOT_NAMES[level.flavor].get(level.builtin, {}).get(name, name)

    assigned: set[int] = set()
    restored: dict[str, str] = {}
    skipped: dict[str, str] = {}
    iterations = None
    for entry in entries:
        if entry.kind == "iterations":
            value = int(entry.value)
            if iterations is not None and value != iterations:
                raise Keras2LoadError(f"the file holds two step counters, {iterations} and {value}")
            iterations = value
            continue
        if entry.kind == "other":
            target = _other_state(chain, levels, entry)
            if target is None:
                raise Keras2LoadError(
                    f"the file's optimizer variable {entry.source!r} has no counterpart in "
                    f"{type(optimizer).__name__} on Keras 3 (it is neither the step counter nor a slot "
                    "of a model variable). Load with optimizer='fresh' (the same configuration, fresh "
                    "state) or 'skip'"
                )
            _assign(target, entry.value, entry.source, f"{type(optimizer).__name__}'s {target.path}")
            assigned.add(id(target))
            restored[entry.source] = target.path
            continue
        owners = [i for i in range(len(chain)) if translate(i, entry.slot) in slots[i]]
        if not owners:
            known = next(
                (k for k in (_tfa_slot_without_counterpart(opt, entry.slot, entry.value) for opt in chain) if k), None
            )
            if known is not None:
                explanation, warn = known
                if warn and entry.slot not in skipped:
                    warnings.warn(f"slot {entry.slot!r}: {explanation}", UserWarning, stacklevel=4)
                skipped[entry.slot] = explanation
                continue
        if len(owners) != 1:
            names = ", ".join(f"{type(chain[i]).__name__}: {sorted(slots[i])}" for i in range(len(chain)))
            problem = "no level of the optimizer has" if not owners else "several levels of the optimizer have"
            raise Keras2LoadError(
                f"the file's optimizer variable {entry.source!r} is slot {entry.slot!r} of "
                f"{variables[entry.index].path!r}, and {problem} a slot of that name ({names}). "
                "Load with optimizer='fresh' (the same configuration, fresh state) or 'skip'"
            )
        i = owners[0]
        key = translate(i, entry.slot)
        target = slots[i][key][entry.index]
        if target is None:
            raise Keras2LoadError(
                f"the file's optimizer variable {entry.source!r} is slot {entry.slot!r} of "
                f"{variables[entry.index].path!r}, which has no such slot on Keras 3"
            )
        if id(target) in assigned:
            raise Keras2LoadError(f"the file holds slot {entry.slot!r} of {variables[entry.index].path!r} twice")
        _assign(target, entry.value, entry.source, f"slot {key!r} of {variables[entry.index].path!r}")
        assigned.add(id(target))
        restored.setdefault(entry.slot, key if len(chain) == 1 else f"{type(chain[i]).__name__}.{key}")
    missing = [
        f"{type(chain[i]).__name__} slot {name!r} of {variables[j].path!r}"
        for i in range(len(chain))
        for name, row in slots[i].items()
        for j, slot in enumerate(row)
        if slot is not None and id(slot) not in assigned
    ]
    if missing:
        raise Keras2LoadError(
            f"the file does not hold {len(missing)} of the optimizer's slot variables on Keras 3, e.g. "
            f"{'; '.join(missing[:3])}: it was saved by a different optimizer configuration. Load with "
            "optimizer='fresh' (the same configuration, fresh state) or 'skip'"
        )
    if iterations is None:
        raise Keras2LoadError("the file's optimizer variables hold no step counter (iter / iteration)")
    _keras_compat.step_counter(chain[-1]).assign(iterations)
    for i, level in enumerate(levels):
        if level.builtin == "Nadam" and level.flavor == "new":
            # Keras 2.11+'s Nadam keeps the product of its momentum schedule outside its
            # variables, so the file lacks it: it is a function of the step count, recomputed
            # here in float32 as Keras 2 accumulated it
            u_product = _keras_compat.nadam_u_product(chain[i])
            u_product.assign(_nadam_u_product(float(chain[i].beta_1), iterations, u_product.dtype))
            restored["u_product"] = f"recomputed from iterations {iterations} (Keras 2 did not save it)"
    return {"iterations": iterations, "slots": restored, "not_restored": skipped}


def _nadam_u_product(beta_1: float, steps: int, dtype) -> np.ndarray:
    """prod over t = 1..steps of beta_1 (1 - 0.5 * 0.96 ** t), in Keras 2's order of operations."""
    dtype = np.dtype(keras.backend.standardize_dtype(dtype))
    beta, half, base, product = dtype.type(beta_1), dtype.type(0.5), dtype.type(0.96), dtype.type(1.0)
    for t in range(1, steps + 1):
        product = dtype.type(product * dtype.type(beta * dtype.type(dtype.type(1.0) - half * base ** dtype.type(t))))
    return np.asarray(product, dtype)


def _other_state(chain: list, levels: list[_Level], entry: _Entry):
    """The Keras 3 variable for a saved optimizer variable that is not a slot: legacy Nadam's
    ``momentum_cache`` (Keras 3's u_product), or a non-slot variable an OptimizerV2-style class
    made with `add_weight` (same name)."""
    from kerasopt_plugins.legacy.optimizer_v2 import OptimizerV2

    for i, level in enumerate(levels):
        if level.builtin == "Nadam" and level.flavor == "legacy" and entry.slot == "momentum_cache":
            return _keras_compat.nadam_u_product(chain[i])
        if isinstance(chain[i], OptimizerV2):
            matches = [v for v in chain[i].variables if v.name == entry.slot]
            if len(matches) == 1:
                return matches[0]
    return None


# -- losses and metrics ------------------------------------------------------------------------

#: Keras 2 names that Keras 3's `losses.get` / `metrics.get` do not know.
_RENAMED = {"logcosh": "log_cosh", "kullback_leibler_divergence": "kl_divergence"}
_COMPILE_SPECIALS = ("accuracy", "acc", "crossentropy", "ce")


def _function(name: str, kind: str):
    """A Keras 3 loss or metric function by its Keras 2 name (``mean_absolute_error``)."""
    name = _RENAMED.get(name, name)
    found = getattr(keras.metrics, name, None) if kind == "metric" else None
    if callable(found) and not isinstance(found, type):
        return found
    found = getattr(keras.losses, name, None)
    if callable(found) and not isinstance(found, type):
        return found
    raise Keras2LoadError(f"the file's {kind} function {name!r} is not a Keras 3 loss or metric function")


def _from_config(value: Mapping[str, Any], kind: str, custom_objects: Mapping[str, Any]) -> Any:
    """A Keras 2 loss or metric object's config, deserialized on Keras 3.

    Keras 2 wrote ``reduction="auto"`` (``"sum_over_batch_size"`` outside tf.distribute, which
    Keras 3 calls it), the function of a built-in loss class (``Huber``: ``"fn": "huber"``), which
    Keras 3's class does not take and which is checked to be the one it has, and
    `MeanMetricWrapper` with the function's name, which Keras 3 keeps as a string.
    """
    module = keras.losses if kind == "loss" else keras.metrics
    config = dict(value)
    inner = dict(config.get("config") or {})
    if inner.get("reduction") == "auto":
        inner["reduction"] = "sum_over_batch_size"
    fn = inner.get("fn") if isinstance(inner.get("fn"), str) else None
    wrapper = config.get("class_name") in ("MeanMetricWrapper", "LossFunctionWrapper")
    if fn is not None and wrapper:
        function = _function(fn, kind)
        inner.pop("fn")
        try:
            if config["class_name"] == "MeanMetricWrapper":
                return keras.metrics.MeanMetricWrapper(fn=function, **inner)
            return keras.losses.LossFunctionWrapper(function, **inner)
        except (TypeError, ValueError) as err:
            raise Keras2LoadError(f"the file's {kind} {dict(value)!r} does not build on Keras 3: {err}") from None
    if fn is not None:
        inner.pop("fn")
    config["config"] = inner
    try:
        with keras.saving.custom_object_scope(dict(custom_objects)):
            made = module.deserialize(config)
    except (ValueError, TypeError) as err:
        raise Keras2LoadError(
            f"the file's {kind} {dict(value)!r} does not deserialize on Keras 3 ({err}); pass "
            "custom_objects for it, or load with compile=False and compile the model yourself"
        ) from None
    if fn is not None:
        has = getattr(getattr(made, "fn", None), "__name__", None)
        if has != _RENAMED.get(fn, fn):
            raise Keras2LoadError(
                f"the file's {kind} {dict(value)!r} computes {fn!r}, and Keras 3's {type(made).__name__} "
                f"computes {has!r}"
            )
    return made


def _loss_or_metric(value: Any, kind: str, custom_objects: Mapping[str, Any]) -> Any:
    module = keras.losses if kind == "loss" else keras.metrics
    if value is None:
        return None
    if isinstance(value, str):
        if kind != "loss" and value in _COMPILE_SPECIALS:
            return value  # compile picks the accuracy / crossentropy that fits the output, as in Keras 2
        name = _RENAMED.get(value, value)
        try:
            with keras.saving.custom_object_scope(dict(custom_objects)):
                module.get(name)
        except (ValueError, TypeError) as err:
            raise Keras2LoadError(
                f"the file's {kind} {value!r} is not known to Keras 3 ({err}); pass custom_objects="
                f"{{{value!r}: ...}}, or load with compile=False and compile the model yourself"
            ) from None
        return name
    if isinstance(value, Mapping) and "class_name" in value:
        return _from_config(value, kind, custom_objects)
    if isinstance(value, Mapping):
        return {k: _loss_or_metric(v, kind, custom_objects) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_loss_or_metric(v, kind, custom_objects) for v in value]
    raise Keras2LoadError(f"the file's {kind} {value!r} is not a form Keras 3 compiles")


def _metrics(value: Any, model, custom_objects) -> Any:
    metrics = _loss_or_metric(value, "metric", custom_objects)
    # an .h5 file holds Keras 2's compiled metrics, one list per output: [[mae, rmse]]
    if isinstance(metrics, list) and len(model.outputs) == 1 and len(metrics) == 1 and isinstance(metrics[0], list):
        metrics = metrics[0]
    return metrics


def compile_arguments(file: _keras2_file.Keras2File, model, custom_objects) -> dict:
    config = file.compile_config or {}
    arguments = {
        "loss": _loss_or_metric(config.get("loss"), "loss", custom_objects),
        "metrics": _metrics(config.get("metrics"), model, custom_objects),
        "weighted_metrics": _metrics(config.get("weighted_metrics"), model, custom_objects),
        "loss_weights": config.get("loss_weights"),
    }
    for key in ("run_eagerly", "steps_per_execution", "jit_compile"):
        if config.get(key) is not None:
            arguments[key] = config[key]
    return arguments


# -- the model's variables by their Keras 2 names ----------------------------------------------


def keras2_names(path: str, model) -> dict[str, list[int]]:
    """Keras 2 variable name -> positions in ``model.trainable_variables`` (several for a name
    that layers of nested models share), from the .h5 file's ``weight_names``.

    Pairs the file's layers with the model's as Keras's h5 loader does (in order, those with
    weights; each layer's trainable then non-trainable weights) and checks every pair's value:
    the loader assigned exactly those.
    """
    trainable = {id(v): i for i, v in enumerate(model.trainable_variables)}
    names: dict[str, list[int]] = {}
    layers = [layer for layer in model.layers if layer.trainable_weights + layer.non_trainable_weights]
    with _keras2_file.h5_model_weights(path) as group:
        saved = _keras2_file.h5_layer_weight_names(group)
        if len(saved) != len(layers):
            raise Keras2LoadError(
                f"{path!r}: the file has weights for {len(saved)} layers and the loaded model has "
                f"{len(layers)} layers with weights"
            )
        for layer, (saved_layer, weight_names) in zip(layers, saved):
            weights = layer.trainable_weights + layer.non_trainable_weights
            if len(weights) != len(weight_names):
                raise Keras2LoadError(
                    f"{path!r}: layer {saved_layer!r} has {len(weight_names)} weights in the file and "
                    f"{len(weights)} in the loaded model"
                )
            for variable, name in zip(weights, weight_names):
                if not np.array_equal(_numpy(variable), np.asarray(group[saved_layer][name])):
                    raise Keras2LoadError(
                        f"{path!r}: the loaded model's {variable.path!r} is not the file's {name!r}, so "
                        "the file's optimizer variables cannot be matched to the model's"
                    )
                if id(variable) in trainable:
                    names.setdefault(_strip(name), []).append(trainable[id(variable)])
    return names


# -- load_model --------------------------------------------------------------------------------


def _check_path(filepath: Any, argument: str = "filepath") -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"{argument} must be a path (str or os.PathLike), got {filepath!r}")
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        if os.path.isdir(path):
            raise Keras2LoadError(
                f"{argument}={path!r} is a directory (a TensorFlow SavedModel?): Keras 3 cannot load "
                "a SavedModel as a model; use keras.layers.TFSMLayer for inference, or re-save it "
                "with Keras 2 as .h5"
            )
        raise FileNotFoundError(f"{argument}={path!r}: no such file")
    return path


def is_keras2_file(filepath: Any) -> bool:
    """True for a Keras model file that Keras 2 wrote (`.h5`, or `.keras` from Keras 2.13+)."""
    path = os.fspath(filepath)
    found = _keras2_file.file_keras_version(path)
    return found is not None and _keras2_file.is_keras2_version(found[1])


@dataclasses.dataclass
class _Loaded:
    model: Any
    report: dict


def _load(filepath, custom_objects, compile, safe_mode, optimizer) -> _Loaded:
    path = _check_path(filepath)
    if custom_objects is not None and not isinstance(custom_objects, Mapping):
        raise TypeError(f"custom_objects must be a dict of name -> class or function, got {custom_objects!r}")
    custom_objects = dict(custom_objects or {})
    if not isinstance(compile, bool):
        raise TypeError(f"compile must be a bool, got {compile!r}")
    given = optimizer
    if not (isinstance(optimizer, keras.optimizers.Optimizer) or optimizer in OPTIMIZER_CHOICES):
        raise ValueError(
            f"optimizer must be one of {', '.join(repr(c) for c in OPTIMIZER_CHOICES)} or a Keras optimizer "
            f"instance, got {given!r}"
        )
    file = _keras2_file.read(path)
    report: dict[str, Any] = {
        "source": path,
        "format": file.format,
        "keras_version": file.keras_version,
        "optimizer_in_file": None if file.optimizer_config is None else file.optimizer_config.get("class_name"),
        "optimizer": None,
        "state": "none",
        "iterations": None,
        "slots": {},
        "not_restored": {},
        "loss": (file.compile_config or {}).get("loss"),
        "metrics": (file.compile_config or {}).get("metrics"),
    }
    model_config, fixes = fixed_model_config(file.model_config)
    report["model_config_fixes"] = fixes
    with _keras2_file.loadable_copy(file, model_config) as loadable:
        model = keras.saving.load_model(loadable, custom_objects=custom_objects or None, compile=False, safe_mode=safe_mode)
    if not compile or file.compile_config is None:
        return _Loaded(model, report)
    if optimizer == "skip":
        if file.optimizer_config is not None:
            warnings.warn(
                f"{path}: loaded without its optimizer {report['optimizer_in_file']!r} (optimizer='skip'): "
                f"the model is not compiled, and the optimizer's saved state ({len(file.optimizer_weights)} "
                "variables) is not restored; compile the model before training it",
                UserWarning,
                stacklevel=3,
            )
        report["state"] = "skipped"
        return _Loaded(model, report)
    try:
        arguments = compile_arguments(file, model, custom_objects)
    except Keras2LoadError as err:
        raise Keras2LoadError(f"{path}: {err}") from None
    if isinstance(optimizer, keras.optimizers.Optimizer):
        model.compile(optimizer=optimizer, **arguments)
        report.update(optimizer=_describe_class(type(optimizer)), state="given")
        return _Loaded(model, report)
    if file.optimizer_config is None:
        raise Keras2LoadError(f"{path!r} holds a training configuration without an optimizer config")
    try:
        rebuilt, levels = rebuild_optimizer(file.optimizer_config, custom_objects)
    except Keras2LoadError as err:
        raise Keras2LoadError(f"{path}: {err}") from None
    model.compile(optimizer=rebuilt, **arguments)
    variables = list(model.trainable_variables)
    rebuilt.build(variables)
    report["optimizer"] = " > ".join(_describe_class(type(level.optimizer)) for level in levels)
    if optimizer == "fresh":
        report["state"] = "fresh (requested)"
        return _Loaded(model, report)
    if not file.optimizer_weights:
        if file.format == "keras":
            warnings.warn(
                f"{path}: a .keras file that Keras {file.keras_version} wrote holds no state for its "
                f"optimizer {report['optimizer_in_file']!r} (Keras 2 saved none for OptimizerV2 "
                "optimizers: its legacy ones, tensorflow-addons', custom ones): the optimizer is "
                "configured as saved and starts with fresh state (iterations 0), as Keras 2 itself "
                "restarted it",
                UserWarning,
                stacklevel=3,
            )
            report["state"] = "fresh (the file holds none)"
        else:
            report["state"] = "fresh (never trained: the file holds none)"
        report["iterations"] = 0
        return _Loaded(model, report)
    try:
        if file.format == "h5":
            entries = _h5_entries(file.optimizer_weights, keras2_names(path, model), levels[0].flavor)
        else:
            entries = _keras_entries(file.optimizer_weights, variables, levels[0], file.optimizer_config.get("config") or {})
        restored = restore_state(rebuilt, levels, entries, variables)
    except Keras2LoadError as err:
        raise Keras2LoadError(f"{path}: {err}") from None
    report.update(
        state="restored", iterations=restored["iterations"], slots=restored["slots"], not_restored=restored["not_restored"]
    )
    return _Loaded(model, report)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, *, optimizer="restore"):
    """Load a Keras 2 model file on Keras 3 with its optimizer and the optimizer's state.

    Args:
        filepath: an `.h5` file Keras 2 wrote with ``model.save``, or a `.keras` file of Keras
            2.13-2.15. (A file Keras 3 wrote is refused: use `keras.saving.load_model`.)
        custom_objects: as in `keras.saving.load_model`: classes and functions by the name the
            file uses. An optimizer found here by its class name wins over every other lookup.
        compile: False loads the model and its weights only, uncompiled, as Keras does.
        safe_mode: as in `keras.saving.load_model` (refuses lambdas unless False).
        optimizer: what to do with the file's optimizer:

            * ``"restore"`` (default): rebuild it from its saved config and copy its saved
              state into it (iterations and every slot). A `.keras` file of Keras 2 holds state
              only for Keras 2.11+'s built-in optimizers; for the others it comes back
              configured, with fresh state, and a warning says so (Keras 2 restarted them too).
            * ``"fresh"``: rebuild it from its config, with fresh state.
            * ``"skip"``: do not rebuild it: the model and its weights, uncompiled, with a
              warning that the optimizer and its state were not loaded.
            * a Keras optimizer: compile with it (and the file's loss and metrics) instead.

    Returns:
        the Keras 3 model, compiled with the rebuilt optimizer, already built and holding the
        saved state, so that ``model.fit`` continues where Keras 2 stopped.

    Raises:
        Keras2LoadError: the optimizer (or a loss or metric) cannot be rebuilt on Keras 3, or its
            saved state cannot be mapped variable by variable; the message names it and what to
            do (register the class, pass custom_objects, or ``optimizer="skip"``).
        NotAKeras2FileError: not a Keras 2 model file (the message says what it is).
        FileNotFoundError, TypeError, ValueError: a bad argument (named).

    Example:
        >>> from kerasopt_plugins import legacy
        >>> model = legacy.load_model("ranger.h5")   # Keras 2 + tfa Lookahead(RectifiedAdam)
        >>> model.optimizer                          # kerasopt_plugins.wrappers.Lookahead, state restored
        >>> model.fit(x, y)                          # continues as Keras 2 would have
    """
    return _load(filepath, custom_objects, compile, safe_mode, optimizer).model


def _variables_equal(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(_numpy(x), _numpy(y)) for x, y in zip(a, b))


def upgrade(source, target, *, custom_objects=None, optimizer="restore", safe_mode=True, overwrite=False) -> dict:
    """Load Keras 2 model file `source` with `load_model` and save it as Keras 3 `.keras` file `target`.

    The written file is loaded back with `keras.saving.load_model` (and `custom_objects`) and
    checked: the same weights, the same optimizer variables, the same step counter. If not, it is
    removed and `RuntimeError` raised.

    Args:
        source: the Keras 2 file (`.h5`, or a Keras 2.13-2.15 `.keras`).
        target: the Keras 3 file to write; must end in ``.keras``.
        custom_objects: as in `load_model`.
        optimizer: as in `load_model`.
        safe_mode: as in `load_model`.
        overwrite: replace an existing `target`. Default False.

    Returns:
        what was loaded and written: ``source``, ``target``, ``format``, ``keras_version``,
        ``optimizer_in_file`` (the Keras 2 class name), ``optimizer`` (the Keras 3 classes,
        outermost first), ``state`` ("restored", "fresh (...)", "skipped", ...), ``iterations``,
        ``slots`` (Keras 2 slot name -> Keras 3 slot name), ``loss`` and ``metrics`` (the Keras
        2 file's, as saved, as `describe_keras2_file` gives them).

    Raises:
        FileExistsError: `target` exists and `overwrite` is False.
        ValueError: `target` does not end in ``.keras``, or is `source`.
        Exception: whatever `load_model` raises.
    """
    source_path = _check_path(source, "source")
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"target must be a path (str or os.PathLike), got {target!r}")
    target_path = os.fspath(target)
    if not target_path.endswith(".keras"):
        raise ValueError(f"target={target_path!r} must end in .keras (Keras 3's format)")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    if os.path.exists(target_path):
        if os.path.samefile(source_path, target_path):
            raise ValueError(f"target={target_path!r} is the source file; write the Keras 3 file elsewhere")
        if not overwrite:
            raise FileExistsError(f"target={target_path!r} exists; pass overwrite=True to replace it")
    loaded = _load(source_path, custom_objects, True, safe_mode, optimizer)
    model = loaded.model
    model.save(target_path)
    try:
        again = keras.saving.load_model(target_path, custom_objects=custom_objects or None, safe_mode=safe_mode)
        same = _variables_equal(model.weights, again.weights)
        if getattr(model, "optimizer", None) is not None and loaded.report["state"] != "skipped":
            again_optimizer = getattr(again, "optimizer", None)
            same = same and again_optimizer is not None and type(again_optimizer) is type(model.optimizer)
            same = same and _variables_equal(model.optimizer.variables, again_optimizer.variables)
    except Exception as err:
        os.remove(target_path)
        raise RuntimeError(
            f"upgrade: {target_path!r} was written but does not load back with keras.saving.load_model "
            f"({type(err).__name__}: {err}); it was removed"
        ) from err
    if not same:
        os.remove(target_path)
        raise RuntimeError(
            f"upgrade: {target_path!r} was written but loads back with other weights or optimizer state; "
            "it was removed"
        )
    changed = _losses_that_change(model, again)
    for description in changed:
        warnings.warn(
            f"upgrade: {target_path}: {description}; compile the reloaded model with the loss again "
            "(model.compile(optimizer=model.optimizer, loss=...)) before training it",
            UserWarning,
            stacklevel=2,
        )
    return {**loaded.report, "target": target_path, "warnings": changed}


def _losses_that_change(model, again) -> list[str]:
    """Losses that compute another value once saved and loaded by Keras 3 (its Huber.get_config
    omits `delta`, so Huber(delta=0.5) comes back as Huber(delta=1.0)): checked on a probe."""
    def flat(loss):
        if isinstance(loss, Mapping):
            return list(loss.values())
        return list(loss) if isinstance(loss, (list, tuple)) else [loss]

    before, after = flat(getattr(model, "loss", None)), flat(getattr(again, "loss", None))
    if len(before) != len(after):
        return [f"the loss {model.loss!r} loads back as {again.loss!r}"]
    found = []
    for i, (a, b) in enumerate(zip(before, after)):
        if not callable(a) or not callable(b) or i >= len(model.outputs):
            continue
        shape = (4, *[d or 1 for d in model.outputs[i].shape[1:]])
        size = int(np.prod(shape))
        y_true = ((np.arange(size) % 3) / 2.0).reshape(shape).astype("float32")
        y_pred = (0.05 + 0.9 * ((np.arange(size) * 7) % 11) / 10.0).reshape(shape).astype("float32")
        try:
            va = float(keras.ops.convert_to_numpy(a(y_true, y_pred)))
            vb = float(keras.ops.convert_to_numpy(b(y_true, y_pred)))
        except Exception:  # noqa: BLE001, S112 - a loss that needs other inputs: not checked
            continue
        if not np.isclose(va, vb, rtol=1e-6, atol=0.0):
            found.append(
                f"the loss {type(a).__name__} computes {va:.6g} on a probe and {vb:.6g} once saved and "
                "loaded by Keras 3 (it does not save all of the loss's arguments)"
            )
    return found


# -- describing a file -------------------------------------------------------------------------


def _level_names(optimizer) -> str:
    chain = _levels(optimizer)
    text = type(chain[-1]).__name__
    for level in reversed(chain[:-1]):
        text = f"{type(level).__name__}({text})"
    return text


def describe_keras2_file(filepath, custom_objects=None) -> dict:
    """What a Keras 2 model file holds and how `load_model` would load its optimizer, without
    building the model.

    Returns:
        ``path``, ``format``, ``keras_version``; ``optimizer``: ``class_name`` and ``config`` as
        saved, ``loads_as`` (the Keras 3 class(es), ``"Lookahead(RectifiedAdam)"``) or None,
        ``error`` (why it cannot be rebuilt) or None; ``state``: ``in_file`` (whether the file
        holds optimizer variables), ``variables`` (how many), ``iterations`` (the saved step
        count, or None), ``slots`` (the Keras 2 slot names, for an .h5 file); ``loss``,
        ``metrics`` as saved. ``optimizer`` is None for a model saved uncompiled.

    Raises:
        NotAKeras2FileError: not a Keras 2 model file.
    """
    path = _check_path(filepath)
    file = _keras2_file.read(path)
    compile_config = file.compile_config or {}
    report: dict[str, Any] = {
        "path": path,
        "format": file.format,
        "keras_version": file.keras_version,
        "optimizer": None,
        "loss": compile_config.get("loss"),
        "metrics": compile_config.get("metrics"),
    }
    config = file.optimizer_config
    if config is None:
        return report
    loads_as = error = None
    try:
        optimizer, _ = rebuild_optimizer(config, custom_objects)
        loads_as = _level_names(optimizer)
    except (Keras2LoadError, ImportError, RuntimeError, NotImplementedError) as err:
        error = str(err)
    iterations = [int(v) for n, v in file.optimizer_weights if n is not None and _strip(n).split("/")[-1] in ("iter", "iteration")]
    if file.format == "keras" and file.optimizer_weights:
        iterations = [int(file.optimizer_weights[0][1])]
    slots = None
    if file.format == "h5":
        flavor = _flavor(config)
        slots = sorted({
            _strip(n).split("/")[-1] if flavor == "legacy" else _strip(n).split("/")[1]
            for n, v in file.optimizer_weights
            if n is not None and _strip(n).split("/")[-1] not in ("iter", "iteration") and len(_strip(n).split("/")) > 2
        })
    report["optimizer"] = {
        "class_name": config.get("class_name"),
        "config": config.get("config"),
        "loads_as": loads_as,
        "error": error,
    }
    report["state"] = {
        "in_file": bool(file.optimizer_weights),
        "variables": len(file.optimizer_weights),
        "iterations": iterations[0] if iterations else None,
        "slots": slots,
    }
    return report
