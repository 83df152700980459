"""PluginOptimizer's kernels: two common update cores and in-place assignment.

A mixin of `PluginOptimizer` (base.py). `ema_momentum_step` and `sgd_step` are building blocks
a rule may call instead of writing the same operations in keras.ops, computed in fewer passes
over memory where the backend allows:

* TensorFlow, dense gradient, CPU variable: the fused training kernels ResourceApplyMomentum /
  ResourceApplyGradientDescent: the same roundings as the keras.ops form (bit-identical, tested);
* torch, CPU variable: in place with torch's ``alpha=`` forms, which fuse a multiply and an add
  into one rounding, as Keras's own torch SGD does: at most 1 ulp per operation from the
  keras.ops form (the bound is tested);
* elsewhere: the keras.ops form.

`assign_add` / `assign_sub` run in place on torch (the same single rounding). The general
speed-up for any rule on torch, packed execution, is in _packed.py.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat


class FastPaths:
    """The kernels `PluginOptimizer` inherits; see the module docstring."""

    fast_paths: bool = True
    """Use the fast paths: packed execution of elementwise rules, in-place assignment and the
    fused-multiply-add kernels on torch, TensorFlow's fused kernels in `ema_momentum_step` /
    `sgd_step`. Set False on a class or an instance to run the plain keras.ops path; tests
    check both give the same bits, or on torch's fused multiply-adds the stated ulp bound."""

    def ema_momentum_step(self, variable, average, gradient, beta, learning_rate) -> None:
        """``m <- beta*m + (1 - beta)*g; w <- w - learning_rate*m`` for slot `average` = m.

        The keras.ops form rounds (1 - beta)*g, then beta*m + that, then lr*m and w - that; it
        adds (1 - beta)*g with its own `assign_add`, so an `IndexedSlices` gradient is scattered
        into the touched rows of m, and w's step is `sgd_step(w, m, lr)`.
        TensorFlow (dense gradient, CPU variable): ResourceApplyMomentum with the gradient
        pre-scaled, the same roundings. torch (CPU): ``m.mul_(beta).add_(g, alpha=1-beta)`` and
        ``w.add_(m, alpha=-lr)``, three passes as in Keras's torch SGD, two multiply-adds fused.
        """
        fused = self._torch_fused(variable, gradient, average)
        if fused is not None:
            w, g, m = fused
            m.mul_(beta).add_(g, alpha=1.0 - beta)
            w.add_(m, alpha=-float(learning_rate))
            return
        dtype = variable.dtype
        scaled = ops.multiply(ops.cast(gradient, dtype), ops.cast(1.0 - beta, dtype))
        beta = ops.cast(beta, dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        handles = self._tf_fused_handles(gradient, variable, average)
        if handles is not None:
            self._tf_fast().raw_ops.ResourceApplyMomentum(
                var=handles[0], accum=handles[1], lr=learning_rate, grad=scaled, momentum=beta,
                use_locking=False, use_nesterov=False,
            )
            return
        # beta*m first, then + (1 - beta)*g as its own assignment: an IndexedSlices gradient
        # (an Embedding on TensorFlow) is scattered into the touched rows, never made dense
        decayed = ops.multiply(average, beta)
        tf = self._tf_fast()
        if tf is not None and isinstance(scaled, tf.IndexedSlices):
            # the same additions into the fresh product (TensorFlow adds in place there), where
            # a scatter into the variable would first copy it: its buffer is still shared
            indices = tf.expand_dims(scaled.indices, -1)
            self.assign(average, tf.tensor_scatter_nd_add(decayed, indices, scaled.values))
        else:
            self.assign(average, decayed)
            self.assign_add(average, scaled)
        self.sgd_step(variable, average, learning_rate)

    def sgd_step(self, variable, gradient, learning_rate) -> None:
        """``w <- w - cast(g)*cast(learning_rate)``, both cast to w's dtype: a gradient step.

        TensorFlow (dense gradient, CPU variable): ResourceApplyGradientDescent, the keras.ops
        form's roundings. torch (CPU): ``w.add_(g, alpha=-lr)``, one pass with the multiply-add
        fused, as in Keras's torch SGD.
        """
        fused = self._torch_fused(variable, gradient)
        if fused is not None:
            w, g = fused
            w.add_(g, alpha=-float(learning_rate))
            return
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        handles = self._tf_fused_handles(gradient, variable)
        if handles is not None:
            self._tf_fast().raw_ops.ResourceApplyGradientDescent(
                var=handles[0], alpha=learning_rate, delta=gradient, use_locking=False
            )
            return
        self.assign_sub(variable, ops.multiply(gradient, learning_rate))

    def _tf_fast(self):
        """The tensorflow module where its fast paths apply (`fast_paths` on, TensorFlow backend,
        no distributed strategy, whose variables need its own update path), else None."""
        if not self.fast_paths or keras.backend.backend() != "tensorflow":
            return None
        if _keras_compat.current_tf_strategy_is_distributed():
            return None
        import tensorflow as tf

        return tf

    def _tf_fused_handles(self, gradient, *variables) -> list | None:
        """The resource handles for TensorFlow's fused training kernels, or None where they do not apply.

        They apply where `_tf_fast` does, to a dense gradient (an `IndexedSlices` one keeps the
        keras.ops path, whose assignments scatter into the touched rows only), to variables on
        the CPU, where their results are tested
        bit-identical to the keras.ops path (on a GPU a kernel may contract ``a*b + c`` into a
        fused multiply-add; XLA, the default there, fuses the keras.ops path anyway).
        """
        tf = self._tf_fast()
        if tf is None or isinstance(gradient, tf.IndexedSlices):
            return None
        handles = [_keras_compat.tf_resource_handle(v) for v in variables]
        if any(h is None or _keras_compat.tf_device_type(h) != "CPU" for h in handles):
            return None
        return handles

    def _torch_fused(self, variable, gradient, *slots):
        """Storage of `variable`, the gradient and `slots` for torch's fused CPU kernels, or None.

        For CPU variables only: ``alpha=`` takes a number, so the learning rate is read on the
        host, which on a GPU would wait for the device every step.
        """
        w = self._torch_in_place_target(variable)  # checks the switch and scopes, once
        if w is None or w.device.type != "cpu" or not _same_layout(w, gradient):
            return None
        others = [_keras_compat.torch_storage(s) if isinstance(s, keras.Variable) else None for s in slots]
        if any(t is None or t.dtype != w.dtype for t in others):
            return None
        return (w, gradient, *others)

    def _torch_in_place_target(self, variable):
        """The torch storage of Keras Variable `variable` if it may be updated in place, else None.

        In place is off inside a `keras.StatelessScope` (as in `stateless_apply`), where a
        variable's value is the caller's tensor, which must not change, and where autograd
        records operations.
        """
        if (
            not self.fast_paths
            or keras.backend.backend() != "torch"
            or not isinstance(variable, keras.Variable)
            or _keras_compat.in_stateless_scope()
        ):
            return None
        import torch

        if torch.is_grad_enabled():  # Keras updates under no_grad (PluginOptimizer too)
            return None
        return _keras_compat.torch_storage(variable)

    def assign_add(self, variable, value):
        if not self._torch_assign_in_place(variable, value, "add_"):
            super().assign_add(variable, value)

    def assign_sub(self, variable, value):
        if not self._torch_assign_in_place(variable, value, "sub_"):
            super().assign_sub(variable, value)

    def _torch_assign_in_place(self, variable, value, method: str) -> bool:
        # Keras computes w + v into a new tensor and copies it back; in place is one pass
        target = self._torch_in_place_target(variable)
        if target is None or not _same_layout(target, value):
            return False
        getattr(target, method)(value)
        return True


def _same_layout(target, value) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.dtype == target.dtype and value.shape == target.shape
