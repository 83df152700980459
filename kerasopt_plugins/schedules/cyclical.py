"""tensorflow-addons 0.23's cyclical learning-rate schedules, as Keras 3 schedules.

Smith (2017), "Cyclical Learning Rates for Training Neural Networks". The rate climbs linearly
from `initial_learning_rate` towards `maximal_learning_rate` for `step_size` steps, comes back
down for as many, and so on; a scale factor (per cycle or per step) shrinks the amplitude:

```
cycle = floor(1 + step / (2 * step_size))
x = |step / step_size - 2 * cycle + 1|
rate = initial + (maximal - initial) * max(0, 1 - x) * scale_fn(cycle or step)
```

Computed in keras.ops (any backend) in floatx (float32 unless changed, as tfa computed for
Python numbers), with tfa's order of operations, so the values are tfa's. Unlike tfa, the step
is cast to that float type first, so int32 and int64 step counters (Keras's `iterations`) and
float steps all work in both scale modes; tfa crashed on integer steps in "iterations" mode
whenever the scale depends on the step ("Cannot convert 0.9 to EagerTensor of dtype int64").

Every class is registered with Keras serialization (``kerasopt_plugins>ClassName``) and also
answers to tfa's key ``Addons>ClassName``, so `keras.optimizers.schedules.deserialize` builds
these from what tfa's `serialize` wrote, and a ``.keras`` file that uses one loads with plain
`keras.saving.load_model` once `kerasopt_plugins` is imported.
"""

from __future__ import annotations

import numbers
import types
from collections.abc import Callable, Mapping
from typing import Any

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.optimizers._checks import check_number

__all__ = [
    "CyclicalLearningRate",
    "ExponentialCyclicalLearningRate",
    "Triangular2CyclicalLearningRate",
    "TriangularCyclicalLearningRate",
]

SCALE_MODES = ("cycle", "iterations")
KERAS_PACKAGE = "kerasopt_plugins"
LEGACY_PACKAGE = "Addons"  # the package tfa registered its classes under


def _number(owner: str, name: str, value: Any, **bounds: Any) -> int | float:
    """`value` checked (finite, inside `bounds`) and kept as a plain int or float for JSON."""
    check_number(f"{owner}: {name}", value, **bounds)
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _register(cls: type) -> type:
    """Register `cls` with Keras serialization, under our package and under tfa's key."""
    keras.saving.register_keras_serializable(package=KERAS_PACKAGE)(cls)
    custom = keras.saving.get_custom_objects()
    key = f"{LEGACY_PACKAGE}>{cls.__name__}"
    other = custom.get(key)
    if other is not None and (other.__module__, other.__qualname__) != (
        cls.__module__, cls.__qualname__
    ):
        raise ValueError(f"the Keras custom object {key!r} is already {other!r}; not replacing it")
    custom[key] = cls
    return cls


def _serialize_scale_fn(owner: str, scale_fn: Callable) -> dict:
    """`scale_fn` as Keras serializes it, if Keras can find it again at load time."""
    if isinstance(scale_fn, types.FunctionType):
        findable = keras.saving.get_registered_object(
            keras.saving.get_registered_name(scale_fn)
        ) is scale_fn
    else:  # a callable object: its class must be registered and go to and from a config
        cls = type(scale_fn)
        findable = (
            hasattr(cls, "get_config")
            and hasattr(cls, "from_config")
            and keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls
        )
    if not findable:
        raise ValueError(
            f"{owner}: scale_fn={scale_fn!r} cannot be written to a config (a Keras config "
            "holds no Python code, and a loader could not find this function again). Define "
            "it as a module-level function decorated with "
            "@keras.saving.register_keras_serializable(package='your_package'), and import "
            "that module before loading; or use TriangularCyclicalLearningRate, "
            "Triangular2CyclicalLearningRate or ExponentialCyclicalLearningRate, which need "
            "no function"
        )
    return keras.saving.serialize_keras_object(scale_fn)


@_register
class CyclicalLearningRate(LearningRateSchedule):
    """tfa's cyclical learning rate with your own scale function.

    ```
    cycle = floor(1 + step / (2 * step_size));  x = |step / step_size - 2 * cycle + 1|
    rate = initial + (maximal - initial) * max(0, 1 - x) * scale_fn(cycle or step)
    ```

    Args:
        initial_learning_rate: the rate at the bottom of each cycle; a finite number >= 0.
        maximal_learning_rate: the rate `step_size` steps later (before scaling); a finite
            number >= 0 (below `initial_learning_rate` gives an inverted triangle, as in tfa).
        step_size: steps per half cycle; a finite number > 0.
        scale_fn: ``scale_fn(t)`` multiplies the amplitude; `t` is the cycle number (1, 2, ...)
            in "cycle" mode, the step in "iterations" mode, always as a float tensor (tfa passed
            the raw step in "iterations" mode, so ``0.9 ** t`` crashed on integer steps there).
            Its result is cast to the schedule's float type.
        scale_mode: "cycle" (default) or "iterations".
        name: the name scope of the computation. Default "CyclicalLearningRate".

    Saving: `get_config` writes `scale_fn` the way Keras serializes functions, by registered
    name. So a schedule that is saved (``model.save``, ``keras.optimizers.serialize``) needs a
    module-level function registered with
    ``@keras.saving.register_keras_serializable(package=...)`` (or an instance of a registered
    callable class with `get_config` and `from_config`), imported again before loading. With a
    lambda, a nested function or an unregistered function, `get_config` raises a ValueError
    saying so (Keras 2 wrote tfa's lambdas as Python bytecode, which Keras 3 loads only with
    safe_mode=False). tfa's saved ``{"module": "builtins", "class_name": "function", "config":
    "my_fn"}`` loads once a function named ``my_fn`` is registered (under any package).

    References:
        Smith (2017), "Cyclical Learning Rates for Training Neural Networks",
        https://arxiv.org/abs/1506.01186

    Example:
        >>> @keras.saving.register_keras_serializable(package="my_package")
        ... def halving(t):
        ...     return 0.5 ** t
        >>> schedule = CyclicalLearningRate(1e-4, 1e-2, step_size=2000, scale_fn=halving)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: float,
        scale_fn: Callable[[Any], Any],
        scale_mode: str = "cycle",
        name: str = "CyclicalLearningRate",
    ):
        if not callable(scale_fn):
            raise TypeError(
                f"{type(self).__name__}: scale_fn must be a callable taking one argument, "
                f"got {scale_fn!r}"
            )
        self._set_common(initial_learning_rate, maximal_learning_rate, step_size, scale_mode, name)
        self.scale_fn = scale_fn

    def _set_common(self, initial_learning_rate, maximal_learning_rate, step_size, scale_mode, name):
        """Check and store the arguments all four schedules share."""
        owner = type(self).__name__
        self.initial_learning_rate = _number(
            owner, "initial_learning_rate", initial_learning_rate, low=0.0
        )
        self.maximal_learning_rate = _number(
            owner, "maximal_learning_rate", maximal_learning_rate, low=0.0
        )
        self.step_size = _number(owner, "step_size", step_size, low=0.0, low_open=True)
        if not isinstance(scale_mode, str) or scale_mode not in SCALE_MODES:
            # tfa treated anything but "cycle" as "iterations"
            raise ValueError(
                f"{owner}: scale_mode must be one of {SCALE_MODES}, got {scale_mode!r}"
            )
        self.scale_mode = scale_mode
        if not isinstance(name, str):
            raise TypeError(f"{owner}: name must be a str, got {name!r}")
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            dtype = keras.config.floatx()  # as Keras's schedules compute for a Python float
            initial = ops.cast(self.initial_learning_rate, dtype)
            maximal = ops.cast(self.maximal_learning_rate, dtype)
            step_size = ops.cast(self.step_size, dtype)
            step = ops.cast(step, dtype)
            one = ops.cast(1.0, dtype)
            two = ops.cast(2.0, dtype)
            # tfa's operations in tfa's order: the values round as tfa's did
            cycle = ops.floor(ops.add(one, ops.divide(step, ops.multiply(two, step_size))))
            x = ops.abs(
                ops.add(ops.subtract(ops.divide(step, step_size), ops.multiply(two, cycle)), one)
            )
            scale = ops.cast(self.scale_fn(cycle if self.scale_mode == "cycle" else step), dtype)
            triangle = ops.maximum(ops.cast(0.0, dtype), ops.subtract(one, x))
            rise = ops.multiply(ops.multiply(ops.subtract(maximal, initial), triangle), scale)
            return ops.add(initial, rise)

    def _common_config(self) -> dict:
        """The config keys all four schedules share (the named ones write no scale_fn)."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "maximal_learning_rate": self.maximal_learning_rate,
            "step_size": self.step_size,
            "scale_mode": self.scale_mode,
            "name": self.name,
        }

    def get_config(self) -> dict:
        return {
            **self._common_config(),
            "scale_fn": _serialize_scale_fn(type(self).__name__, self.scale_fn),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]):
        """Build the schedule from `get_config`'s dict or from the one tfa 0.23 wrote.

        tfa's configs carry no name (the schedule gets its class's default); a serialized
        `scale_fn` is looked up among Keras's registered objects.
        """
        config = dict(config)
        scale_fn = config.get("scale_fn")
        if isinstance(scale_fn, Mapping):
            try:
                config["scale_fn"] = keras.saving.deserialize_keras_object(dict(scale_fn))
            except Exception as err:  # re-raised with what to do about it
                if scale_fn.get("class_name") != "__lambda__":
                    raise ValueError(f"{cls.__name__}: cannot load scale_fn: {err}") from err
                raise ValueError(
                    f"{cls.__name__}: cannot load scale_fn: it was saved as a Python lambda "
                    "(bytecode, as Keras 2 wrote tfa's configs), which Keras loads only with "
                    "safe_mode=False (or keras.config.enable_unsafe_deserialization()), on the "
                    "Python version that saved it. To load it safely, register a module-level "
                    "function with @keras.saving.register_keras_serializable(package=...), "
                    "import it, and put its registered name in config['scale_fn']['config']"
                ) from err
        return cls(**config)


@_register
class TriangularCyclicalLearningRate(CyclicalLearningRate):
    """tfa's triangular cyclical learning rate: every cycle reaches `maximal_learning_rate`.

    ```
    cycle = floor(1 + step / (2 * step_size));  x = |step / step_size - 2 * cycle + 1|
    rate = initial + (maximal - initial) * max(0, 1 - x)
    ```

    Args:
        initial_learning_rate: the rate at the bottom of each cycle; a finite number >= 0.
        maximal_learning_rate: the rate at the top of each cycle; a finite number >= 0.
        step_size: steps per half cycle; a finite number > 0.
        scale_mode: "cycle" (default) or "iterations"; the scale is 1 either way.
        name: the name scope of the computation. Default "TriangularCyclicalLearningRate".

    References:
        Smith (2017), https://arxiv.org/abs/1506.01186

    Example:
        >>> schedule = TriangularCyclicalLearningRate(1e-4, 1e-2, step_size=2000)
        >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: float,
        scale_mode: str = "cycle",
        name: str = "TriangularCyclicalLearningRate",
    ):
        self._set_common(initial_learning_rate, maximal_learning_rate, step_size, scale_mode, name)

    def scale_fn(self, t):
        """The amplitude factor at cycle (or step) `t`: 1."""
        return 1.0

    def get_config(self) -> dict:
        return self._common_config()


@_register
class Triangular2CyclicalLearningRate(CyclicalLearningRate):
    """tfa's triangular2 cyclical learning rate: the amplitude halves every cycle.

    ```
    cycle = floor(1 + step / (2 * step_size));  x = |step / step_size - 2 * cycle + 1|
    rate = initial + (maximal - initial) * max(0, 1 - x) / 2 ** (t - 1)
    ```
    with `t` the cycle in "cycle" mode, the step in "iterations" mode (as in tfa, where the
    amplitude then halves every step).

    Args:
        initial_learning_rate: the rate at the bottom of each cycle; a finite number >= 0.
        maximal_learning_rate: the rate at the top of the first cycle; a finite number >= 0.
        step_size: steps per half cycle; a finite number > 0.
        scale_mode: "cycle" (default) or "iterations".
        name: the name scope of the computation. Default "Triangular2CyclicalLearningRate".

    References:
        Smith (2017), https://arxiv.org/abs/1506.01186

    Example:
        >>> schedule = Triangular2CyclicalLearningRate(1e-4, 1e-2, step_size=2000)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: float,
        scale_mode: str = "cycle",
        name: str = "Triangular2CyclicalLearningRate",
    ):
        self._set_common(initial_learning_rate, maximal_learning_rate, step_size, scale_mode, name)

    def scale_fn(self, t):
        """The amplitude factor at cycle (or step) `t`: ``1 / 2 ** (t - 1)``."""
        t = ops.convert_to_tensor(t)
        return ops.divide(1.0, ops.power(ops.cast(2.0, t.dtype), ops.subtract(t, 1.0)))

    def get_config(self) -> dict:
        return self._common_config()


@_register
class ExponentialCyclicalLearningRate(CyclicalLearningRate):
    """tfa's exponential cyclical learning rate: the amplitude shrinks by `gamma` per step.

    ```
    cycle = floor(1 + step / (2 * step_size));  x = |step / step_size - 2 * cycle + 1|
    rate = initial + (maximal - initial) * max(0, 1 - x) * gamma ** t
    ```
    with `t` the step in "iterations" mode (the default here, as in tfa), the cycle in "cycle"
    mode.

    Args:
        initial_learning_rate: the rate at the bottom of each cycle; a finite number >= 0.
        maximal_learning_rate: the rate at the top before scaling; a finite number >= 0.
        step_size: steps per half cycle; a finite number > 0.
        scale_mode: "iterations" (default) or "cycle".
        gamma: the amplitude factor per step (or cycle); a finite number > 0 (tfa took any
            number: a negative one gave NaN or sign-flipping rates). Default 1.0.
        name: the name scope of the computation. Default "ExponentialCyclicalLearningRate".

    References:
        Smith (2017), https://arxiv.org/abs/1506.01186

    Example:
        >>> schedule = ExponentialCyclicalLearningRate(1e-4, 1e-2, step_size=2000, gamma=0.99994)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: float,
        scale_mode: str = "iterations",
        gamma: float = 1.0,
        name: str = "ExponentialCyclicalLearningRate",
    ):
        self.gamma = _number(type(self).__name__, "gamma", gamma, low=0.0, low_open=True)
        self._set_common(initial_learning_rate, maximal_learning_rate, step_size, scale_mode, name)

    def scale_fn(self, t):
        """The amplitude factor at step (or cycle) `t`: ``gamma ** t``."""
        t = ops.convert_to_tensor(t)
        return ops.power(ops.cast(self.gamma, t.dtype), t)

    def get_config(self) -> dict:
        return {**self._common_config(), "gamma": self.gamma}

