"""OptimizerV2-style optimizers of our own, written as Keras 2's built-ins were: sparse paths, apply_state.

The tutorial has no sparse path and no schedule; these three exercise what it leaves out, the way
Keras 2's own SGD and Adagrad and tensorflow-addons wrote them:

* `SparseMomentum`: coefficients made once per step in `_prepare_local` and read from
  `apply_state` (with `_fallback_apply_state`); a sparse path that gathers and scatters the rows
  of the gradient only (`_resource_scatter_update`, `_resource_scatter_add`), which is wrong
  unless repeated indices were summed first;
* `ScaledAdagrad`: a slot with its own initializer, a callable hyperparameter, a learning-rate
  schedule with `decay`, and a sparse path without `apply_state`;
* `ClippedSparseSGD`: overrides `_resource_apply_sparse_duplicate_indices` and clips each raw
  row before scattering, so its trajectory shows the override got the repeated indices unsummed.

Like tutorial_optimizers.py, this file runs on Keras 2.15 as it is (generate_keras2.py) and on
Keras 3 with the line marked ``# OptimizerV2 import`` replaced (tests/legacy).
"""
import tensorflow as tf
from tensorflow.keras.optimizers.legacy import Optimizer as OptimizerV2  # OptimizerV2 import


class SparseMomentum(OptimizerV2):
    def __init__(self, learning_rate=0.01, momentum=0.9, name="SparseMomentum", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self._set_hyper("decay", self._initial_decay)
        self._set_hyper("momentum", momentum)

    def _create_slots(self, var_list):
        for var in var_list:
            self.add_slot(var, "velocity")

    def _prepare_local(self, var_device, var_dtype, apply_state):
        super()._prepare_local(var_device, var_dtype, apply_state)
        apply_state[(var_device, var_dtype)]["momentum"] = tf.identity(
            self._get_hyper("momentum", var_dtype)
        )

    def _coefficients(self, var, apply_state):
        var_device, var_dtype = var.device, var.dtype.base_dtype
        return (apply_state or {}).get((var_device, var_dtype)) or self._fallback_apply_state(
            var_device, var_dtype
        )

    def _resource_apply_dense(self, grad, var, apply_state=None):
        coefficients = self._coefficients(var, apply_state)
        velocity = self.get_slot(var, "velocity")
        v_t = velocity.assign(coefficients["momentum"] * velocity - coefficients["lr_t"] * grad)
        return var.assign_add(v_t, use_locking=self._use_locking)

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        coefficients = self._coefficients(var, apply_state)
        velocity = self.get_slot(var, "velocity")
        rows = coefficients["momentum"] * tf.gather(velocity, indices) - coefficients["lr_t"] * grad
        v_t = self._resource_scatter_update(velocity, indices, rows)
        with tf.control_dependencies([v_t]):
            return self._resource_scatter_add(var, indices, rows)

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self._serialize_hyperparameter("learning_rate"),
            "decay": self._initial_decay,
            "momentum": self._serialize_hyperparameter("momentum"),
        })
        return config


class ScaledAdagrad(OptimizerV2):
    def __init__(self, learning_rate=0.1, initial_accumulator_value=0.1, epsilon=1e-7,
                 scale=lambda: 0.5, name="ScaledAdagrad", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self._set_hyper("decay", self._initial_decay)
        self._set_hyper("scale", scale)
        self._initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _create_slots(self, var_list):
        for var in var_list:
            initializer = tf.constant_initializer(self._initial_accumulator_value)
            self.add_slot(var, "accumulator", initializer)

    def _step_size(self, var_dtype):
        return self._decayed_lr(var_dtype) * self._get_hyper("scale", var_dtype)

    def _resource_apply_dense(self, grad, var, apply_state=None):
        var_dtype = var.dtype.base_dtype
        accumulator = self.get_slot(var, "accumulator")
        acc_t = accumulator.assign_add(tf.square(grad))
        step = self._step_size(var_dtype) * grad / (tf.sqrt(acc_t) + self.epsilon)
        return var.assign_sub(step)

    def _resource_apply_sparse(self, grad, var, indices):
        var_dtype = var.dtype.base_dtype
        accumulator = self.get_slot(var, "accumulator")
        acc_t = tf.gather(self._resource_scatter_add(accumulator, indices, tf.square(grad)), indices)
        step = self._step_size(var_dtype) * grad / (tf.sqrt(acc_t) + self.epsilon)
        return self._resource_scatter_add(var, indices, -step)

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self._serialize_hyperparameter("learning_rate"),
            "decay": self._initial_decay,
            "initial_accumulator_value": self._initial_accumulator_value,
            "epsilon": self.epsilon,
            "scale": self._serialize_hyperparameter("scale"),
        })
        return config


class ClippedSparseSGD(OptimizerV2):
    def __init__(self, learning_rate=0.1, clip=0.3, name="ClippedSparseSGD", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self.clip = clip

    def _resource_apply_dense(self, grad, var, apply_state=None):
        lr_t = self._decayed_lr(var.dtype.base_dtype)
        return var.assign_sub(lr_t * tf.clip_by_value(grad, -self.clip, self.clip))

    def _resource_apply_sparse_duplicate_indices(self, grad, var, indices, **kwargs):
        lr_t = self._decayed_lr(var.dtype.base_dtype)
        rows = lr_t * tf.clip_by_value(grad, -self.clip, self.clip)  # each raw row clipped
        return var.scatter_sub(tf.IndexedSlices(rows, indices))

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self._serialize_hyperparameter("learning_rate"),
            "clip": self.clip,
        })
        return config
