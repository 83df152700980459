"""extend_with_decoupled_weight_decay: tensorflow-addons' decoupled decay for any optimizer class."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt_plugins.optimizers import _decoupled_decay, _keras_compat, _sparse
from kerasopt_plugins.optimizers.base import deserialize_schedule, serialize_schedule
from kerasopt_plugins.wrappers import _elementwise
from kerasopt_plugins.wrappers._configs import keras2_builtin_config

_EXTENDED: dict[type, type] = {}
_SUFFIX = "WithDecoupledWeightDecay"


def _decay_rule(k, scalars):
    k.decay("variable", scalars["weight_decay"])  # w - w * weight_decay


class DecoupledWeightDecayExtension:
    """tfa's mixin: decoupled weight decay for the optimizer class it is mixed in before.

    ``class MyAdamW(DecoupledWeightDecayExtension, keras.optimizers.Adam)`` works as in tfa;
    `extend_with_decoupled_weight_decay` does that for you, registers the class for saving and
    keeps Keras's fast torch kernels.
    """

    def __init__(self, weight_decay, *args, exclude_from_weight_decay=None, **kwargs):
        weight_decay = _decoupled_decay.check_weight_decay(weight_decay)
        exclude_from_weight_decay = _decoupled_decay.check_patterns(exclude_from_weight_decay)
        if kwargs.get("weight_decay") is not None:  # unreachable by name; kept for clarity
            raise TypeError("weight_decay given twice")
        super().__init__(*args, **kwargs)  # Keras's own (coupled) weight_decay stays None
        self.weight_decay = weight_decay
        self.exclude_from_weight_decay = exclude_from_weight_decay

    def _apply_weight_decay(self, variables):
        return  # Keras's coupled decay (w -= lr * wd * w) is replaced by the decoupled one

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if keras.backend.backend() == "torch" and not _decoupled_decay.no_weight_decay(self.weight_decay):
            # torch hands dense gradients: decay every variable before the step, in one pass
            decayed = [v for g, v in zip(grads, trainable_variables) if g is not None and not _decoupled_decay.excluded(self, v)]
            rate = _decoupled_decay.weight_decay_at(self, "float32")
            _elementwise.run(self, _decay_rule, decayed, {}, lambda: (None, {"weight_decay": rate}), ("variable",))
        return super()._backend_update_step(grads, trainable_variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        if keras.backend.backend() != "torch":
            # per variable (on TensorFlow inside the strategy's update context); a sparse
            # gradient decays only its rows, each once, as tfa's sparse path did
            summed = _sparse.summed_duplicates(gradient)  # as Keras 2 handed it (see _sparse)
            indices = None if summed is gradient else summed.indices
            _decoupled_decay.decay_before_update(self, variable, indices)
            gradient = summed
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["weight_decay"] = serialize_schedule(self.weight_decay)
        config["exclude_from_weight_decay"] = self.exclude_from_weight_decay
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Build from `get_config`'s dict, or from the one tfa's extended class wrote (Keras 2's
        ``decay`` of a Keras built-in becomes the schedule that computes the same rate)."""
        config = dict(config)
        if isinstance(config.get("weight_decay"), dict):
            config["weight_decay"] = deserialize_schedule(config["weight_decay"], custom_objects)
        base = cls.__dict__.get("_kerasopt_base")
        if base is not None and base.__module__.startswith("keras") and "decay" in config:
            config = keras2_builtin_config(base.__name__, config, custom_objects)
        elif isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize_schedule(config["learning_rate"], custom_objects)
        return super().from_config(config, custom_objects=custom_objects)


def extend_with_decoupled_weight_decay(base_optimizer: type) -> type:
    """A subclass of `base_optimizer` with tensorflow-addons' decoupled weight decay.

    Before each step every decayed variable moves ``w <- w - weight_decay * w`` (not scaled by
    the learning rate, unlike Keras's own ``weight_decay`` option, which the class replaces);
    `weight_decay` is a number, a `LearningRateSchedule` evaluated at `iterations` or a
    zero-argument callable; `exclude_from_weight_decay` holds regular expressions searched in
    the variable's path. With a sparse gradient (TensorFlow) only the touched rows decay.

    The class takes ``(weight_decay, *args, exclude_from_weight_decay=None, **kwargs)``, the
    rest as `base_optimizer` does, and is registered for saving as
    ``kerasopt_plugins>{Base}WithDecoupledWeightDecay``. Extending the same class again gives
    the same class. Keras's built-in optimizers and this package's come extended already (a
    saved model loads without any call); for your own optimizer class, call this at import
    time of the module that defines it, before loading a model that uses it.

    Example:
        ```python
        AdamW = extend_with_decoupled_weight_decay(keras.optimizers.Adam)
        optimizer = AdamW(weight_decay=1e-4, learning_rate=1e-3)
        ```
    """
    if not isinstance(base_optimizer, type) or not issubclass(base_optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "extend_with_decoupled_weight_decay: base_optimizer must be a keras.optimizers.Optimizer "
            f"subclass, got {base_optimizer!r}"
        )
    if base_optimizer in _EXTENDED:
        return _EXTENDED[base_optimizer]
    if issubclass(base_optimizer, DecoupledWeightDecayExtension) or getattr(base_optimizer, "owns_weight_decay", False):
        raise ValueError(
            f"extend_with_decoupled_weight_decay: {base_optimizer.__name__} has decoupled weight "
            "decay already (its weight_decay is not scaled by the learning rate); use it as it is"
        )
    from kerasopt_plugins.wrappers._wrapper import OptimizerWrapper

    if issubclass(base_optimizer, (OptimizerWrapper, keras.optimizers.LossScaleOptimizer)):
        raise ValueError(
            f"extend_with_decoupled_weight_decay: {base_optimizer.__name__} wraps another optimizer; "
            "extend the inner optimizer's class instead"
        )
    name = base_optimizer.__name__ + _SUFFIX
    runtime_base = _keras_compat.backend_optimizer_class(base_optimizer)
    extended = type(
        name,
        (DecoupledWeightDecayExtension, runtime_base),
        {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"{base_optimizer.__name__} with decoupled weight decay "
            "(see `extend_with_decoupled_weight_decay`).",
            "_kerasopt_base": base_optimizer,
        },
    )
    keras.saving.register_keras_serializable(package="kerasopt_plugins", name=name)(extended)
    _EXTENDED[base_optimizer] = extended
    return extended


def _extend_known_classes() -> None:
    """Extend Keras's optimizer classes and this package's registered ones now, so a model
    saved with one of them extended loads as it is (no call needed first)."""
    from kerasopt_plugins.registry import list_optimizers, optimizer_info

    known = [
        obj for obj in vars(keras.optimizers).values()
        if isinstance(obj, type) and issubclass(obj, keras.optimizers.Optimizer)
        and obj not in (keras.optimizers.Optimizer, keras.optimizers.LossScaleOptimizer)
        and obj.__name__ != "MultiOptimizer"
    ]
    known += [optimizer_info(name).cls for name in list_optimizers()]
    for cls in known:
        if not getattr(cls, "owns_weight_decay", False):
            extend_with_decoupled_weight_decay(cls)


class TfaExtendedConfig:
    """What Keras finds under ``OptimizerWithDecoupledWeightDecay``, the one class name tfa saved
    every extended optimizer under: the base class is read from the config's ``name`` (tfa's
    default name is the base class's name, "Adam", "SGD"), a Keras optimizer class, and the
    config loads into that class extended. Any other name raises, saying what to do."""

    @classmethod
    def from_config(cls, config, custom_objects=None):
        name = config.get("name")
        base = getattr(keras.optimizers, name, None) if isinstance(name, str) else None
        if not (isinstance(base, type) and issubclass(base, keras.optimizers.Optimizer)):
            raise ValueError(
                "a tensorflow-addons optimizer made with extend_with_decoupled_weight_decay was saved "
                f"as 'OptimizerWithDecoupledWeightDecay' with name {name!r}, which is not a Keras "
                "optimizer class, so its base class is unknown; load it inside "
                "keras.saving.custom_object_scope({'OptimizerWithDecoupledWeightDecay': "
                "extend_with_decoupled_weight_decay(YourBaseClass)})"
            )
        return extend_with_decoupled_weight_decay(base).from_config(config, custom_objects=custom_objects)


def extended_class(base_optimizer: Any) -> type | None:
    """The class `extend_with_decoupled_weight_decay` made for `base_optimizer`, if any."""
    return _EXTENDED.get(base_optimizer)
