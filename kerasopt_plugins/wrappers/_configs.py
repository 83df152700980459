"""Inner optimizers from configs: Keras 3's form, and the one Keras 2 / tensorflow-addons wrote.

tfa's wrappers held Keras 2 optimizers, serialized as ``{"class_name": "Adam", "config":
{..., "decay": 0.0}}`` (``"is_legacy_optimizer": True`` and a ``keras.optimizers.legacy``
module in newer Keras 2 releases). Such a config is read as the Keras 3 optimizer of the same
class name; Keras 2's time decay (``decay``) becomes the schedule that computes the same rate,
``InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=decay)`` (except for Nadam, whose
legacy ``decay`` was its momentum schedule's, which Keras 3's Nadam has only with value 1: any
other is refused). Keras 2.11+'s
optimizers (``is_legacy_optimizer: False``) lose the keys Keras 3 does not take.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from kerasopt_plugins.optimizers.base import deserialize_schedule

#: Keras 2 optimizer config keys that Keras 3's optimizers no longer take, with their no-op value.
_KERAS2_ONLY = {"is_legacy_optimizer": None, "jit_compile": None}
#: The momentum schedule decay of Keras 3's Nadam (0.96 ** (1 * t)); Keras 2's legacy Nadam
#: took it as `decay`, 0.004 by default.
_NADAM_SCHEDULE_DECAY = 1.0


def _keras_builtin(class_name: str) -> type | None:
    found = getattr(keras.optimizers, class_name, None)
    if isinstance(found, type) and issubclass(found, keras.optimizers.Optimizer):
        return found
    return None


def _is_keras2(config: Mapping[str, Any]) -> bool:
    inner = config.get("config") or {}
    module = config.get("module") or ""
    # Keras 2.11+ optimizers (tf.keras.optimizers.Adam) write is_legacy_optimizer=False and
    # jit_compile, which Keras 3's constructors refuse: Keras 2 configs too
    return "is_legacy_optimizer" in inner or module.startswith("keras.optimizers.legacy") or (
        "decay" in inner and _keras_builtin(str(config.get("class_name"))) is not None
    )


def keras2_builtin_config(class_name: str, config: Mapping[str, Any], custom_objects=None) -> dict:
    """A Keras 2 built-in optimizer's config as its Keras 3 class takes it."""
    config = dict(config)
    for key in _KERAS2_ONLY:
        config.pop(key, None)
    has_decay = "decay" in config
    decay = config.pop("decay", 0.0) or 0.0
    if class_name == "Nadam" and has_decay:
        # Keras 2's legacy Nadam took `decay` as the decay of its momentum schedule
        # (schedule_decay, default 0.004): mu_t = beta_1 (1 - 0.5 * 0.96 ** (decay * t)). Keras 3's
        # Nadam (as Keras 2.11+'s) computes 0.96 ** t, which is that schedule with decay 1 only.
        if abs(float(decay) - _NADAM_SCHEDULE_DECAY) > 1e-9:
            raise ValueError(
                f"Nadam: this is Keras 2's legacy Nadam with momentum schedule decay {decay!r} "
                "(schedule_decay; 0.004 by default): its momentum schedule is beta_1 * (1 - 0.5 * "
                f"0.96 ** ({decay!r} * t)), while Keras 3's Nadam uses 0.96 ** t, so no Keras 3 "
                "optimizer continues it. To switch to Keras 3's Nadam knowingly, create "
                "keras.optimizers.Nadam yourself"
            )
        decay = 0.0
    rate = config.get("learning_rate", config.pop("lr", None))
    if isinstance(rate, Mapping):
        rate = deserialize_schedule(rate, custom_objects)
    if decay:
        if not isinstance(rate, (int, float)):
            raise ValueError(
                f"{class_name}: this Keras 2 config has decay={decay!r} on top of a learning-rate "
                f"schedule ({rate!r}); Keras 3 has no such option and no schedule computes it"
            )
        rate = keras.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=float(rate), decay_steps=1, decay_rate=float(decay)
        )
    if rate is not None:
        config["learning_rate"] = rate
    return config


def optimizer_from_config(config: Mapping[str, Any], custom_objects=None) -> keras.optimizers.Optimizer:
    """An optimizer from ``{"class_name": ..., "config": {...}}`` as Keras 3, Keras 2 or tfa wrote it."""
    from kerasopt_plugins.registry import get_optimizer

    class_name = config.get("class_name")
    builtin = _keras_builtin(class_name) if isinstance(class_name, str) else None
    if builtin is not None and _is_keras2(config):
        return builtin.from_config(keras2_builtin_config(class_name, config.get("config") or {}, custom_objects))
    if custom_objects:
        return keras.optimizers.deserialize(dict(config), custom_objects=custom_objects)
    return get_optimizer(dict(config))
