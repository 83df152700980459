"""OptimizerV2 on Keras 3: code written against tf.keras's OptimizerV2 runs with its import changed.

An OptimizerV2 subclass (the TF 2.x tutorial's, tensorflow-addons', countless repositories')
writes its rule in `_resource_apply_dense(grad, var, apply_state)` with TensorFlow ops on a
`tf.Variable`, keeps hyperparameters with `_set_hyper`, and creates slots with `add_slot`. This
base class offers that API on top of Keras 3's public optimizer contract:

* `build` creates the hyperparameter variables (as OptimizerV2's ``_create_hypers``) and calls
  `_create_slots` with the model's `tf.Variable`s; `add_slot` makes each slot with
  `add_variable_from_reference`, so it is saved with the model and named as Keras's own slots
  (``dense_kernel_m``), which `SlotLogger` reads;
* `update_step(gradient, variable, learning_rate)`, which Keras's TensorFlow backend calls with
  the `tf.Variable` itself, hands it to `_resource_apply_dense`, or a `tf.IndexedSlices`
  gradient to `_resource_apply_sparse_duplicate_indices` (which sums repeated rows first);
* ``learning_rate`` is Keras's own (its variable or schedule), so Keras's callbacks and
  `optimizer.learning_rate` see the rate `_set_hyper("learning_rate", ...)` set.

TensorFlow backend only: the rules are TensorFlow code. Where OptimizerV2 offered something this
class cannot honour, it raises `UnsupportedFeatureError` naming the feature and what to use.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Mapping

import keras
import numpy as np
from keras.optimizers.schedules import LearningRateSchedule

from kerasopt_plugins.legacy._support import (
    KERAS_LEARNING_RATE,
    KERAS_OPTIONS,
    KERAS_RATE,
    UNCALLED_HOOKS,
    ApplyState,
    UnsupportedFeatureError,
    VariableList,
    as_numpy,
    is_tensor_like,
    takes_apply_state,
    tf_module,
    tf_variable,
    to_python,
    unsupported,
)
from kerasopt_plugins.optimizers import _keras_compat, _sparse
from kerasopt_plugins.optimizers._checks import check_learning_rate, check_number
from kerasopt_plugins.optimizers.base import deserialize_schedule
from kerasopt_plugins.registry import optimizer_info, registered_name

__all__ = ["OptimizerV2", "UnsupportedFeatureError"]


class OptimizerV2(keras.optimizers.Optimizer):
    """Base class for OptimizerV2-style optimizers on Keras 3 (TensorFlow backend).

    Subclass it as tf.keras's OptimizerV2: call ``super().__init__(name, **kwargs)``, register
    hyperparameters with `_set_hyper`, create slots in `_create_slots` with `add_slot`, write
    `_resource_apply_dense(grad, var, apply_state)` (and `_resource_apply_sparse(grad, var,
    indices)`) with TensorFlow ops, and return the config from `get_config`.

    Args:
        name: the optimizer's name (its variables are named under it). Default: the registered
            name, else Keras's automatic one.
        gradient_aggregator: not supported (must be None): Keras 3 sums across replicas itself.
        gradient_transformers: not supported (must be None or empty).
        decay: legacy time decay (>= 0), applied by `_decayed_lr`:
            ``lr_t = lr(t) / (1 + decay * t)`` at step t (steps already applied). Default 0.0.
        **kwargs: ``lr`` (left to the subclass, which reads ``kwargs.get("lr", ...)``), and
            Keras's base options: ``clipnorm``, ``clipvalue``, ``global_clipnorm``,
            ``weight_decay``, ``use_ema``, ... as `keras.optimizers.Optimizer` takes them.

    Raises:
        UnsupportedFeatureError: on a backend other than TensorFlow; for a gradient aggregator
            or transformers; for a subclass overriding a method Keras 3 would not call.
        TypeError / ValueError: an unknown keyword argument, or a bad value (named).

    Example:
        >>> from kerasopt_plugins.legacy import OptimizerV2
        >>> class VanillaSGD(OptimizerV2):
        ...     def __init__(self, learning_rate=0.01, name="VanillaSGD", **kwargs):
        ...         super().__init__(name, **kwargs)
        ...         self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        ...     def _resource_apply_dense(self, grad, var, apply_state=None):
        ...         return var.assign_sub(self._decayed_lr(var.dtype.base_dtype) * grad)
    """

    _HAS_AGGREGATE_GRAD = True
    _use_locking = True

    def __init__(self, name=None, gradient_aggregator=None, gradient_transformers=None, *, decay=0.0, **kwargs):
        cls = type(self)
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise UnsupportedFeatureError(
                f"{cls.__name__} is an OptimizerV2, a TensorFlow API (its _resource_apply_* methods "
                "receive tf.Variables and build TensorFlow ops), so it runs on Keras's TensorFlow "
                f"backend only, and this process uses the {backend!r} backend. Set "
                "KERAS_BACKEND=tensorflow before importing Keras, or port the optimizer to "
                "kerasopt_plugins.PluginOptimizer (update_step with keras.ops, every backend; "
                "docs/legacy.md shows both)"
            )
        for klass in cls.__mro__:
            if klass is OptimizerV2:
                break
            hook = next((h for h in UNCALLED_HOOKS if h in vars(klass)), None)
            if hook is not None:
                raise unsupported(
                    f"overriding {hook} ({klass.__qualname__}.{hook})",
                    f"Keras 3's apply never calls it, so the override would be ignored; {UNCALLED_HOOKS[hook]}",
                )
        if gradient_aggregator is not None:
            raise unsupported(
                f"gradient_aggregator={gradient_aggregator!r}",
                "Keras 3 sums the gradients across replicas itself; leave it out",
            )
        if gradient_transformers:
            raise unsupported(
                f"gradient_transformers={gradient_transformers!r}",
                "transform the gradients before apply_gradients; to clip them pass clipnorm, "
                "clipvalue or global_clipnorm",
            )
        kwargs.pop("lr", None)  # the subclass reads it (kwargs.get("lr", learning_rate)), as in Keras 2
        unknown = sorted(set(kwargs) - set(KERAS_OPTIONS))
        if unknown:
            raise TypeError(
                f"{cls.__name__}() got an unexpected keyword argument {unknown[0]!r}; OptimizerV2 "
                f"accepts name, decay, lr and Keras's options {', '.join(sorted(KERAS_OPTIONS))}"
            )
        for option in ("clipnorm", "clipvalue", "global_clipnorm"):
            if kwargs.get(option) is not None:
                kwargs[option] = check_number(option, kwargs[option], low=0.0)
        decay = check_number("decay", decay, low=0.0)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{cls.__name__}: name must be a str, got {name!r}")
        # Keras 3 makes its learning-rate variable now; the subclass sets the rate with _set_hyper.
        super().__init__(learning_rate=0.0, name=name or registered_name(cls), **kwargs)
        own = {
            "_hyper": {},
            "_hyper_given": {},  # the numbers as given, which get_config reports while unchanged
            "_hypers_created": False,
            "_initial_decay": decay,
            "_slot_names": [],
            "_v2_slots": {},  # index of the model variable -> {slot name: Keras Variable}
            "_v2_variables": [],
            "_v2_building": False,
            "_v2_apply_state": None,
            "_v2_strategy": tf_module().distribute.get_strategy() if tf_module().distribute.has_strategy() else None,
        }
        for key, value in own.items():  # outside Keras's and TensorFlow's attribute tracking
            object.__setattr__(self, key, value)

    # -- hyperparameters ---------------------------------------------------------------------

    def __getattr__(self, name):
        # reached only when normal lookup fails: hyperparameters by name, `lr` for learning_rate
        hyper = self.__dict__.get("_hyper")
        key = "learning_rate" if name == "lr" else name
        if hyper is not None and key in hyper:
            return self._get_hyper(key)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        key = "learning_rate" if name == "lr" else name
        hyper = self.__dict__.get("_hyper")
        if hyper is not None and key in hyper:
            self._set_hyper(key, value)
        else:
            super().__setattr__(key, value)

    def _set_hyper(self, name, value):
        """Set hyperparameter `name` to a number, a tensor, a schedule or a zero-argument callable.

        A number becomes a float32 variable when the optimizer is built (so a change after that,
        ``optimizer.momentum = 0.5``, reaches compiled steps); setting a built one assigns it.
        ``learning_rate`` is Keras's own learning rate.
        """
        hyper = self.__dict__.get("_hyper")
        if hyper is None:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__(name, **kwargs) before _set_hyper({name!r}, ...)"
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"_set_hyper: name must be an identifier str, got {name!r}")
        if name == "learning_rate":
            self._set_learning_rate(value)
            return
        number = isinstance(value, numbers.Real)
        if not (number or callable(value) or is_tensor_like(value)):
            raise TypeError(
                f"{type(self).__name__}: hyperparameter {name!r} must be a number, a tensor, a "
                f"LearningRateSchedule or a zero-argument callable, got {value!r} of type {type(value).__name__}"
            )
        current = hyper.get(name)
        if isinstance(current, keras.Variable) and (number or is_tensor_like(value)):
            current.assign(value)
        else:
            hyper[name] = value
        if number:
            self._hyper_given[name] = value
        else:
            self._hyper_given.pop(name, None)

    def _set_learning_rate(self, value):
        if is_tensor_like(value):
            value = float(to_python(value))
        value = check_learning_rate(value)
        raw = _keras_compat.raw_learning_rate(self)
        if isinstance(value, float) and not isinstance(raw, keras.Variable):
            raise TypeError(
                f"{type(self).__name__}: learning_rate is {raw!r}; Keras 3 keeps a schedule or a "
                f"callable in place of its learning-rate variable, so the rate cannot become the "
                f"number {value!r} afterwards; create the optimizer with a number, or set another "
                "schedule or callable"
            )
        KERAS_LEARNING_RATE.fset(self, value)
        self._hyper["learning_rate"] = KERAS_RATE
        if isinstance(value, float):
            self._hyper_given["learning_rate"] = value
        else:
            self._hyper_given.pop("learning_rate", None)

    def _hyper_value(self, name):
        hyper = self.__dict__.get("_hyper") or {}
        if name not in hyper:
            raise KeyError(
                f"{type(self).__name__} has no hyperparameter {name!r}; the ones set with "
                f"_set_hyper are {sorted(hyper)}"
            )
        value = hyper[name]
        return _keras_compat.raw_learning_rate(self) if value is KERAS_RATE else value

    def _get_hyper(self, name, dtype=None):
        """Hyperparameter `name`: a schedule as it is; a callable called; cast to `dtype` if given."""
        value = self._hyper_value(name)
        if isinstance(value, LearningRateSchedule):
            return value
        if isinstance(value, keras.Variable):
            value = tf_variable(value)
        elif callable(value):
            value = value()
        return tf_module().cast(value, dtype) if dtype else value

    def _serialize_hyperparameter(self, hyperparameter_name):
        """Hyperparameter `hyperparameter_name` for `get_config`.

        A schedule serialized; a callable called; a variable or tensor as a Python number -- the
        number the user gave while the variable still holds its image (0.01, not 0.0099999998).
        """
        value = self._hyper_value(hyperparameter_name)
        if isinstance(value, LearningRateSchedule):
            return keras.optimizers.schedules.serialize(value)
        if callable(value) and not isinstance(value, keras.Variable):
            value = value()
        if not is_tensor_like(value):
            return value
        number = to_python(value)
        given = self._hyper_given.get(hyperparameter_name)
        dtype = as_numpy(value).dtype
        if given is not None and np.asarray(given, dtype=dtype).item() == number:
            return given
        return number

    def _create_hypers(self):
        """Turn every number set with `_set_hyper` into a float32 variable (once, in `build`)."""
        if self._hypers_created:
            return
        for name in sorted(self._hyper):
            value = self._hyper[name]
            if value is KERAS_RATE or not isinstance(value, numbers.Real):
                continue  # Keras's learning rate, a tensor, a schedule or a callable stays as it is
            self._hyper[name] = self.add_variable(
                shape=(),
                initializer=keras.initializers.Constant(float(value)),
                dtype="float32",
                aggregation="only_first_replica",
                name=name,
            )
        object.__setattr__(self, "_hypers_created", True)

    def _decayed_lr(self, var_dtype):
        """The learning rate of this step as a `var_dtype` tensor: the schedule evaluated at
        `iterations`, divided by ``1 + decay * iterations``."""
        tf = tf_module()
        rate = self._get_hyper("learning_rate", var_dtype)
        if isinstance(rate, LearningRateSchedule):
            rate = tf.cast(rate(tf.cast(self.iterations, var_dtype)), var_dtype)
        if self._initial_decay > 0.0:
            step = tf.cast(self.iterations, var_dtype)
            rate = rate / (1.0 + tf.cast(self._initial_decay, var_dtype) * step)
        return rate

    @staticmethod
    def _call_if_callable(param):
        return param() if callable(param) else param

    # -- state -------------------------------------------------------------------------------

    @property
    def variables(self):
        """Every optimizer variable (iterations, learning rate, hyperparameters, slots), in
        creation order; callable too, as OptimizerV2's ``variables()`` method was."""
        return VariableList(super().variables)

    def build(self, variables):
        """Create the hyperparameter variables, then the slots: `_create_slots` is called once
        with the `tf.Variable` of every trainable variable."""
        if self.built:
            return
        super().build(variables)
        object.__setattr__(self, "_v2_variables", list(variables))
        self._create_hypers()
        object.__setattr__(self, "_v2_building", True)
        try:
            self._create_slots([tf_variable(v) for v in variables])
        finally:
            object.__setattr__(self, "_v2_building", False)

    def _create_slots(self, var_list):
        """Create the slots of `var_list` with `add_slot` (override it; default: none)."""

    def add_slot(self, var, slot_name, initializer="zeros", shape=None):
        """The slot `slot_name` of model variable `var`, created if it does not exist yet.

        Args:
            var: the model variable (its tf.Variable or its Keras Variable).
            slot_name: the slot's name; the variable is named ``<var path>_<slot_name>``.
            initializer: a Keras initializer or its name, a callable ``(shape, dtype)``, or an
                initial value (tensor or array). Default "zeros".
            shape: the slot's shape; default the variable's.

        Returns:
            the slot's `tf.Variable`.
        """
        if not isinstance(slot_name, str) or not slot_name:
            raise TypeError(f"add_slot: slot_name must be a non-empty str, got {slot_name!r}")
        index = _keras_compat.variable_index(self, var)
        slots = self._v2_slots.setdefault(index, {})
        if slot_name in slots:
            return tf_variable(slots[slot_name])
        if not self._v2_building:
            raise RuntimeError(
                f"{type(self).__name__}.add_slot({slot_name!r}) outside _create_slots: on Keras 3 the "
                "optimizer's variables are all made when it is built (so that a saved model loads "
                "them back); create every slot in _create_slots(var_list), which build calls once"
            )
        if not (isinstance(initializer, str) or callable(initializer)):
            value = initializer  # an initial value, as OptimizerV2 accepted
            initializer = lambda shape, dtype=None: tf_module().cast(value, dtype)
        reference = self._v2_variables[index]
        if shape is None:
            slot = self.add_variable_from_reference(reference, slot_name, initializer=initializer)
        else:
            prefix = getattr(reference, "path", None) or str(reference.name).replace(":", "_")
            slot = self.add_variable(
                shape=tuple(shape),
                initializer=initializer,
                dtype=reference.dtype,
                name=f"{prefix.replace('/', '_')}_{slot_name}",
            )
        slots[slot_name] = slot
        if slot_name not in self._slot_names:
            self._slot_names.append(slot_name)
        return tf_variable(slot)

    def get_slot(self, var, slot_name):
        """The `tf.Variable` of slot `slot_name` of model variable `var`."""
        index = _keras_compat.variable_index(self, var)
        slots = self._v2_slots.get(index, {})
        if slot_name not in slots:
            raise KeyError(
                f"{type(self).__name__} has no slot {slot_name!r} for variable "
                f"{self._v2_variables[index].path!r}; its slots are {sorted(slots)}"
            )
        return tf_variable(slots[slot_name])

    def get_slot_names(self):
        """The names of the slots `add_slot` created, in creation order."""
        return list(self._slot_names)

    def add_weight(self, name, shape, dtype=None, initializer="zeros", trainable=None,
                   synchronization=None, aggregation=None):
        """A non-slot optimizer variable (OptimizerV2's `add_weight`); returns its `tf.Variable`.

        Saved with the model like every optimizer variable; create it in ``__init__`` or
        `_create_slots`.
        """
        if trainable:
            raise ValueError(f"add_weight: optimizer variables are not trainable, got trainable={trainable!r}")
        tf = tf_module()
        if synchronization not in (None, tf.VariableSynchronization.AUTO):
            raise unsupported(
                f"add_weight(synchronization={synchronization!r})",
                "optimizer variables use the default synchronization; leave it out",
            )
        if isinstance(aggregation, tf.VariableAggregation):
            aggregation = aggregation.name.lower()
        return tf_variable(
            self.add_variable(
                shape=tuple(shape),
                initializer=initializer,
                dtype=dtype or "float32",
                aggregation=aggregation or "none",
                name=name,
            )
        )

    # -- one step ----------------------------------------------------------------------------

    def apply(self, grads, trainable_variables=None):
        # one `apply_state` per step, filled by `_prepare_local` as the updates ask for it
        previous = self._v2_apply_state
        object.__setattr__(self, "_v2_apply_state", ApplyState(self))
        try:
            return super().apply(grads, trainable_variables)
        finally:
            object.__setattr__(self, "_v2_apply_state", previous)

    def apply_gradients(self, grads_and_vars, name=None, experimental_aggregate_gradients=True):
        """Apply ``(gradient, variable)`` pairs and return `iterations`.

        `name` is accepted and unused (OptimizerV2 named its ops with it).
        ``experimental_aggregate_gradients=False`` is refused inside a distributed strategy,
        where Keras 3 always sums the gradients across replicas; elsewhere it changes nothing.
        """
        if not isinstance(experimental_aggregate_gradients, bool):
            raise TypeError(
                "apply_gradients: experimental_aggregate_gradients must be a bool, "
                f"got {experimental_aggregate_gradients!r}"
            )
        if not experimental_aggregate_gradients and _keras_compat.current_tf_strategy_is_distributed():
            raise unsupported(
                "apply_gradients(..., experimental_aggregate_gradients=False)",
                "Keras 3 always sums the gradients across replicas in apply; pass the gradients "
                "before your own all-reduce and leave the argument out",
            )
        return super().apply_gradients(grads_and_vars)

    def update_step(self, gradient, variable, learning_rate):
        tf = tf_module()
        var = tf_variable(variable)
        state = self._v2_apply_state if self._v2_apply_state is not None else ApplyState(self)
        if isinstance(gradient, tf.IndexedSlices):
            kwargs = {"apply_state": state} if takes_apply_state(type(self)._resource_apply_sparse) else {}
            self._resource_apply_sparse_duplicate_indices(gradient.values, var, gradient.indices, **kwargs)
        else:
            kwargs = {"apply_state": state} if takes_apply_state(type(self)._resource_apply_dense) else {}
            self._resource_apply_dense(gradient, var, **kwargs)

    def _prepare_local(self, var_device, var_dtype, apply_state):
        """Fill ``apply_state[(var_device, var_dtype)]`` once per step: ``lr_t``, the decayed rate."""
        if "learning_rate" in self._hyper:
            apply_state[(var_device, var_dtype)]["lr_t"] = tf_module().identity(self._decayed_lr(var_dtype))

    def _fallback_apply_state(self, var_device, var_dtype):
        """The coefficients `_prepare_local` makes, for code called without an `apply_state`."""
        state = {(var_device, var_dtype): {}}
        self._prepare_local(var_device, var_dtype, state)
        return state[(var_device, var_dtype)]

    def _resource_apply_dense(self, grad, handle, apply_state):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _resource_apply_dense(grad, var, apply_state)"
        )

    def _resource_apply_sparse_duplicate_indices(self, grad, handle, indices, **kwargs):
        """Sum the rows of repeated `indices`, then call `_resource_apply_sparse` (override this
        to handle repeated indices yourself)."""
        values, unique = _sparse.sparse_rows(tf_module().IndexedSlices(grad, indices))
        return self._resource_apply_sparse(values, handle, unique, **kwargs)

    def _resource_apply_sparse(self, grad, handle, indices, apply_state):
        raise NotImplementedError(
            f"{type(self).__name__} got a sparse gradient (tf.IndexedSlices, e.g. of an Embedding) "
            "and does not implement _resource_apply_sparse(grad, var, indices)"
        )

    def _resource_scatter_add(self, x, i, v):
        """Add rows `v` to rows `i` of variable `x`; returns the updated value."""
        return tf_module().convert_to_tensor(tf_variable(x).scatter_add(tf_module().IndexedSlices(v, i)))

    def _resource_scatter_update(self, x, i, v):
        """Set rows `i` of variable `x` to `v`; returns the updated value."""
        return tf_module().convert_to_tensor(tf_variable(x).scatter_update(tf_module().IndexedSlices(v, i)))

    @contextlib.contextmanager
    def _distribution_strategy_scope(self):
        """The scope of the tf.distribute strategy the optimizer was created in, if any."""
        strategy = self._v2_strategy
        if strategy is not None and not tf_module().distribute.has_strategy():
            with strategy.scope():
                yield
        else:
            yield

    # -- gradients ---------------------------------------------------------------------------

    def minimize(self, loss, var_list, grad_loss=None, name=None, tape=None):
        """Compute the gradients of `loss` and apply them (OptimizerV2's `minimize`)."""
        grads_and_vars = self._compute_gradients(loss, var_list=var_list, grad_loss=grad_loss, tape=tape)
        return self.apply_gradients(grads_and_vars, name=name)

    def _compute_gradients(self, loss, var_list, grad_loss=None, tape=None):
        tf = tf_module()
        if not callable(loss) and tape is None:
            raise ValueError(f"minimize: a tensor loss needs the tape that computed it, got loss={loss!r}, tape=None")
        tape = tape if tape is not None else tf.GradientTape()
        if callable(loss):
            with tape:
                if not callable(var_list):
                    tape.watch(var_list)
                loss = loss()
                if callable(var_list):
                    var_list = var_list()
        with tape:
            loss = self._transform_loss(loss)
        return self._get_gradients(tape, loss, tf.nest.flatten(var_list), grad_loss)

    def _transform_loss(self, loss):
        return loss

    def _get_gradients(self, tape, loss, var_list, grad_loss=None):
        return list(zip(tape.gradient(loss, var_list, grad_loss), var_list))

    def get_updates(self, loss, params):
        raise unsupported(
            "get_updates(loss, params)",
            "it built TF1 graph-mode update ops, and Keras 3 has no graph mode; train with "
            "model.fit, or compute gradients with tf.GradientTape and call apply_gradients",
        )

    def get_gradients(self, loss, params):
        raise unsupported(
            "get_gradients(loss, params)",
            "it used TF1 graph-mode tf.gradients; compute gradients with tf.GradientTape",
        )

    # -- config ------------------------------------------------------------------------------

    def get_config(self):
        """``name``, ``decay`` when set, and each Keras option that differs from its default;
        subclasses add their hyperparameters (with `_serialize_hyperparameter`)."""
        cls = type(self)
        if registered_name(cls) is None:
            try:
                other = optimizer_info(cls.__name__).cls
            except ValueError:  # unknown, or ambiguous (loading then raises, naming both)
                other = None
            if other is not None and other is not cls:
                warnings.warn(
                    f"{cls.__module__}.{cls.__qualname__} is not registered, so a model saved with "
                    f"it records only its class name {cls.__name__!r}, which loads as "
                    f"{other.__module__}.{other.__qualname__}; register it "
                    "(kerasopt_plugins.register_optimizer) to load it as itself",
                    stacklevel=2,
                )
        config = {"name": self.name}
        if self._initial_decay:
            config["decay"] = self._initial_decay
        for option, default in KERAS_OPTIONS.items():
            value = getattr(self, option)
            if value != default:
                config[option] = value
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """``cls(**config)``, after turning Keras 2's ``lr`` key into ``learning_rate`` and a
        serialized learning-rate schedule (Keras 3's or Keras 2's form) into a schedule."""
        config = dict(config)
        config.pop("is_legacy_optimizer", None)
        if "lr" in config:
            config["learning_rate"] = config.pop("lr")
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = deserialize_schedule(config["learning_rate"], custom_objects)
        return cls(**config)
