"""The promises about making an optimizer: by name, its state, its learning rate, its config
(its errors: _errors.py).

Each check takes a `Subject`, raises `ContractError` naming the promise and the fix, and returns
None when it checked the promise or a string saying why the promise does not apply.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers

import keras
import numpy as np

from kerasopt_plugins import registry
from kerasopt_plugins.optimizers.base import PluginOptimizer
from kerasopt_plugins.testing._subject import ContractError, Subject

PLAIN = (numbers.Number, str, type(None), list, tuple, dict)  # compared as given; objects are serialized
GRADIENTS = ([0.5, -0.5, 1.0], [0.25, 1.0, -1.0], [1.0, 0.5, 0.5])
START = [1.0, -2.0, 3.0]


def numpy(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def same_value(a, b, exact: bool) -> bool:
    """Config values agree; unless `exact`, numbers as float32 (Keras's own get_config reports
    a learning rate from its float32 variable: 0.1 as 0.10000000149011612)."""
    if a == b:
        return True
    if not exact and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (a, b)):
        return np.float32(a) == np.float32(b) or (math.isnan(a) and math.isnan(b))
    return False


def run_steps(optimizer, grads=GRADIENTS, start=START) -> keras.Variable:
    variable = keras.Variable(np.array(start, dtype="float32"))
    for grad in grads:
        optimizer.apply([keras.ops.convert_to_tensor(np.array(grad, dtype="float32"))], [variable])
    return variable


def check_by_name(s: Subject) -> None:
    """Registered; every argument has a default; `keras.optimizers.get` and `get_optimizer` make it."""
    if s.name is None:
        raise ContractError(
            "by_name",
            f"{s.qualified_name} is not registered, so compile(optimizer=...) and load_model "
            "cannot find it by name: decorate the class with "
            "@kerasopt_plugins.register_optimizer('my_name', example_config={...})",
        )
    missing = [k for k, v in s.hyperparameters.items() if v is inspect.Parameter.empty]
    if missing:
        raise ContractError(
            "by_name",
            f"constructor arguments without a default: {', '.join(missing)}: give each one a "
            f"default, so keras.optimizers.get({s.name!r}) and compile(optimizer={s.name!r}) can build it",
        )
    try:
        by_keras = keras.optimizers.get(s.name)
    except Exception as err:  # noqa: BLE001
        raise ContractError(
            "by_name", f"keras.optimizers.get({s.name!r}) raised {type(err).__name__}: {err}"
        ) from err
    if type(by_keras) is not s.cls:
        raise ContractError(
            "by_name",
            f"keras.optimizers.get({s.name!r}) gave {type(by_keras).__qualname__}, not "
            f"{s.cls.__qualname__}: another object is registered under that name",
        )
    if issubclass(s.cls, PluginOptimizer) and by_keras.name != s.name:
        raise ContractError(
            "by_name",
            f"keras.optimizers.get({s.name!r}).name is {by_keras.name!r}: pass name through "
            "**kwargs to PluginOptimizer.__init__, which defaults it to the registered name",
        )
    try:
        made = registry.get_optimizer(s.name, **s.example_config)
    except Exception as err:  # noqa: BLE001
        raise ContractError(
            "by_name", f"{s.call()} (by name {s.name!r}) raised {type(err).__name__}: {err}"
        ) from err
    if type(made) is not s.cls:
        raise ContractError("by_name", f"get_optimizer({s.name!r}) gave {type(made).__qualname__}")


def check_state(s: Subject) -> None:
    """One step is finite, moves the weight, counts 1; three steps move every slot; build makes all state."""
    optimizer = s.make("state")
    variable = keras.Variable(np.array(START, dtype="float32"))
    optimizer.build([variable])
    built = [id(v) for v in optimizer.variables]
    for i, grad in enumerate(GRADIENTS):
        optimizer.apply([keras.ops.convert_to_tensor(np.array(grad, dtype="float32"))], [variable])
        if i == 0:
            value = numpy(variable)
            if not np.all(np.isfinite(value)):
                raise ContractError("state", f"one step of {s.call()} gave non-finite weights {value}")
            if np.array_equal(value, START):
                raise ContractError(
                    "state",
                    f"one step of {s.call()} left the weight unchanged: update_step must assign "
                    "the new value (self.assign_sub(variable, ...)), not return it",
                )
            if int(numpy(optimizer.iterations)) != 1:
                raise ContractError(
                    "state", f"after one apply() iterations is {int(numpy(optimizer.iterations))}, not 1"
                )
    after = [id(v) for v in optimizer.variables]
    if after != built:
        raise ContractError(
            "state",
            f"{s.call()} created variables outside build(): {len(built)} after build, "
            f"{len(after)} after {len(GRADIENTS)} steps; a variable made in update_step is "
            "missing from a model built before it and from saved files: create every slot in "
            "build() (slot_names, or self.add_variable / add_optimizer_variables there)",
        )
    for name in s.slot_names:
        slot = numpy(optimizer.get_slot(variable, name))
        if not (np.all(np.isfinite(slot)) and np.any(slot != 0)):
            raise ContractError(
                "state",
                f"slot {name!r} is {slot} after {len(GRADIENTS)} steps of {s.call()}: register "
                "the optimizer with an example_config that exercises every slot",
            )
    for v in optimizer.variables:
        if not np.all(np.isfinite(numpy(v))):
            raise ContractError("state", f"optimizer variable {v.path} of {s.call()} is not finite")


def check_learning_rate(s: Subject) -> str | None:
    """Halving `learning_rate` changes the steps: the rule applies the rate it is given."""
    rate = s.example_config.get("learning_rate", s.hyperparameters.get("learning_rate"))
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or rate == 0:
        return f"its learning_rate is {rate!r}, not a non-zero number"
    full = numpy(run_steps(s.make("learning_rate", learning_rate=rate)))
    half = numpy(run_steps(s.make("learning_rate", learning_rate=rate / 2)))
    if np.array_equal(full, half):
        raise ContractError(
            "learning_rate",
            f"{s.cls.__name__} ignores learning_rate: {len(GRADIENTS)} steps with "
            f"learning_rate={rate!r} and {rate / 2!r} gave the same weights {full}: scale the "
            "update by the learning_rate argument of update_step (it carries schedules and decay)",
        )
    return None


def check_config(s: Subject) -> None:
    """Every constructor argument in get_config, as given; from_config, JSON and Keras serialization exact."""
    given = dict(s.example_config)
    if "decay" in s.hyperparameters and "decay" not in given:
        given["decay"] = 0.25  # PluginOptimizer's own argument, round-tripped too
    optimizer = s.make("config", **given)
    call = s.call(**given)
    config = optimizer.get_config()
    exact = issubclass(s.cls, PluginOptimizer)  # it reports numbers as they were written
    for arg in s.hyperparameters:
        if arg not in config:
            raise ContractError(
                "config",
                f"{call}.get_config() has no {arg!r}: store each constructor argument as "
                f"self.{arg} = {arg} in __init__ (PluginOptimizer.get_config then lists it), "
                "and keep it when you override get_config",
            )
    for key, value in given.items():
        if isinstance(value, PLAIN) and not same_value(config[key], value, exact):
            raise ContractError(
                "config",
                f"{call}.get_config()[{key!r}] is {config[key]!r}: get_config must return each "
                "argument as it was passed, so from_config rebuilds the same optimizer",
            )
    try:
        text = json.dumps(config)
    except (TypeError, ValueError) as err:
        raise ContractError(
            "config",
            f"{call}.get_config() is not JSON ({err}): a .keras file cannot hold it; keep "
            "arguments as numbers, strings, bools, lists, or serialize objects "
            "(kerasopt_plugins.optimizers.base.serialize_schedule)",
        ) from err
    try:
        again = s.cls.from_config(json.loads(text)).get_config()
    except Exception as err:  # noqa: BLE001
        raise ContractError(
            "config", f"{s.cls.__name__}.from_config(get_config()) raised {type(err).__name__}: {err}"
        ) from err
    changed = {k: (config.get(k), again.get(k)) for k in set(config) | set(again) if config.get(k) != again.get(k)}
    if changed:
        raise ContractError(
            "config",
            f"{s.cls.__name__}.from_config({call}.get_config()) has another config; (before, "
            f"after) by key: {changed}: the constructor must store what it is given",
        )
    try:
        serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(optimizer)))
        back = keras.saving.deserialize_keras_object(serialized)
    except Exception as err:  # noqa: BLE001
        raise ContractError(
            "config",
            f"keras.saving.deserialize_keras_object(serialize_keras_object({call})) raised "
            f"{type(err).__name__}: {err}: register the class (register_optimizer) so Keras finds it",
        ) from err
    if type(back) is not s.cls or back.get_config() != config:
        raise ContractError(
            "config", f"Keras's serialization of {call} came back as {type(back).__qualname__} "
            "with another config",
        )
