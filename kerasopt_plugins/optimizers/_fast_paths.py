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
speed-up for any rule on torch, packed execution, is in _packed.py. On TensorFlow, a
`tf.function` without XLA (Keras's default on a CPU) runs an elementwise rule's whole update
loop (also one with `per_variable_sums`) as one XLA-compiled function (`_tf_xla_update`), so its
operations fuse into a few passes over memory instead of one kernel and one full-size temporary
each.
"""

from __future__ import annotations

import contextlib
import logging

import keras
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat

logger = logging.getLogger(__name__)

#: `_tf_xla_update` compiles the rule for variables of at least this many elements: there its
#: passes over memory are the step's cost and fusing them pays; a smaller variable's update is
#: launch-bound, fusing saves little, and each variable in the XLA function adds ~13 ms to the
#: one-off compile (a model of small variables, such as most tests', compiles nothing). The same
#: size as packed execution's unit on torch (_packed.UNIT).
XLA_MIN_ELEMENTS = 1 << 16


class FastPaths:
    """The kernels `PluginOptimizer` inherits; see the module docstring."""

    fast_paths: bool = True
    """Use the fast paths: packed execution of elementwise rules, in-place assignment and the
    fused-multiply-add kernels on torch, TensorFlow's fused kernels in `ema_momentum_step` /
    `sgd_step`, and on TensorFlow inside a `tf.function` without XLA, an elementwise rule's
    update compiled with XLA. Set False on a class or an instance to run the plain keras.ops
    path; tests check both give the same bits, or on torch's and XLA's fused multiply-adds
    the stated bound."""

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
        tracing = self.__dict__.get("_kerasopt_xla_trace")
        if tracing is not None:  # the rule is one of these kernels: `_tf_xla_update` keeps them
            tracing["kernel"] = True
            return None
        handles = [_keras_compat.tf_resource_handle(v) for v in variables]
        if any(h is None or _keras_compat.tf_device_type(h) != "CPU" for h in handles):
            return None
        return handles

    def _tf_xla_update(self, grads, variables, learning_rate) -> tuple[list, list]:
        """Run an elementwise rule's update for dense gradients as one XLA-compiled function.

        Applies where `_tf_fast` does (`fast_paths` on, TensorFlow, no distributed strategy), to
        a rule declared `elementwise` or `per_variable_sums`, while a `tf.function` is being
        traced (Keras's train function without XLA, `jit_compile=False`, the default on a CPU;
        inside an XLA-compiled one the nested function is compiled as part of it, to the same
        bits as without it, tested). The loop over the variables with
        dense gradients is traced into a nested ``tf.function(jit_compile=True)``, one per
        device, so XLA fuses the rule's operations: without it each keras.ops call is a kernel
        of its own with a full-size temporary. Only variables of at least `XLA_MIN_ELEMENTS`
        elements: the smaller ones, launch-bound, stay in Keras's loop (no compile for them). The rule sees the same variables, gradients and
        learning rate as in Keras's loop; XLA contracts ``a*b + c`` into fused multiply-adds, so
        results are those of the rule compiled with XLA, not always the plain path's bits.

        Left to Keras's loop (returned): `IndexedSlices` gradients (scattered into the touched
        rows, never made dense), and everything where the compiled function is not used: eager
        calls (one compile per call would cost more than it saves), a rule that calls
        `sgd_step` / `ema_momentum_step` (TensorFlow's fused kernels already make it one pass),
        and a rule with an operation XLA cannot compile (found when the function is lowered at
        trace time, logged at INFO).

        Returns:
            The gradients and variables still to update, in their order.
        """
        tf = self._tf_fast()
        if tf is None or not (self.elementwise or self.per_variable_sums) or not tf.inside_function():
            return grads, variables
        by_device: dict[str, list[int]] = {}
        inners = [v.value if isinstance(v, keras.Variable) else v for v in variables]
        for i, (gradient, inner) in enumerate(zip(grads, inners)):
            if (
                isinstance(inner, tf.Variable)
                and not isinstance(gradient, tf.IndexedSlices)
                and (inner.shape.num_elements() or 0) >= XLA_MIN_ELEMENTS
            ):
                by_device.setdefault(inner.device, []).append(i)
        done: set[int] = set()
        for members in by_device.values():
            pairs = [(grads[i], inners[i]) for i in members]
            if self._tf_run_compiled(tf, pairs, learning_rate):
                done.update(members)
        rest = [i for i in range(len(grads)) if i not in done]
        return [grads[i] for i in rest], [variables[i] for i in rest]

    def _tf_run_compiled(self, tf, pairs, learning_rate) -> bool:
        """Call the rule for each (gradient, tf.Variable) pair inside one XLA-compiled function;
        False, having run nothing, where that does not apply (see `_tf_xla_update`)."""
        inputs = [tf.convert_to_tensor(x) for x in (learning_rate, *(g for g, _ in pairs))]
        targets = [v for _, v in pairs]
        # Such a rule runs the same operations on every variable of a dtype, so the rule
        # for one variable of each (variable, gradient) dtype, lowered to XLA here, tells whether
        # XLA compiles the whole loop, at a fraction of the cost of lowering all of it.
        firsts: dict[tuple, int] = {}
        for i, (gradient, variable) in enumerate(zip(inputs[1:], targets)):
            firsts.setdefault((variable.dtype, gradient.dtype), i)
        probe = sorted(firsts.values())
        try:
            with self._tf_separate_trace() as tracing:
                specs = [tf.TensorSpec.from_tensor(inputs[j]) for j in (0, *(i + 1 for i in probe))]
                probing = _xla_update_function(self, [targets[i] for i in probe])
                lower = probing.experimental_get_compiler_ir(*specs)  # traces the rule
                if tracing["kernel"]:
                    return False
                with tf.init_scope():  # (its device query would leave an op in the step's graph)
                    if not all(v.is_initialized() for v in probing.get_concrete_function(*specs).variables):
                        # slots created by this very trace, which tf.function then traces again
                        return False
                    lower(stage="hlo")  # raises where XLA has no kernel for an operation
            with self._tf_separate_trace() as tracing:
                function = _xla_update_function(self, targets)
                function.get_concrete_function(*inputs)  # traces the whole loop
        except Exception as err:  # noqa: BLE001 - the plain path runs the rule, and re-raises its errors
            logger.info("%s: the update runs without XLA: %s", type(self).__name__, err)
            return False
        if tracing["kernel"]:
            return False
        function(*inputs)
        return True

    @contextlib.contextmanager
    def _tf_separate_trace(self):
        """Around a trace of the rule into a function of its own: yields ``{"kernel": bool}``,
        which says afterwards whether the rule asked for a fused kernel (`_tf_fused_handles`),
        and leaves the optimizer's attributes as they were before, so that what a rule keeps
        between its calls within one step (tensors of the traced function, such as
        _rectification's per-step scalars) is not used in another graph."""
        saved = dict(self.__dict__)
        contents = {k: dict(v) for k, v in saved.items() if type(v) is dict}  # plain dicts: caches
        tracing = self.__dict__["_kerasopt_xla_trace"] = {"kernel": False}
        try:
            yield tracing
        finally:
            for key in self.__dict__.keys() - saved.keys():
                del self.__dict__[key]
            self.__dict__.update(saved)
            for key, content in contents.items():
                now = saved[key]
                if now.keys() != content.keys() or any(now[k] is not v for k, v in content.items()):
                    now.clear()
                    now.update(content)

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


def _xla_update_function(optimizer, variables):
    """``tf.function(jit_compile=True)`` of the rule for each of `variables` in turn, called with
    the learning rate and then the gradients, in the order of `variables`."""
    import tensorflow as tf

    def xla_update_step(learning_rate, *gradients):
        for gradient, variable in zip(gradients, variables):
            optimizer.update_step(gradient, variable, learning_rate)

    return tf.function(xla_update_step, jit_compile=True, autograph=False)


def _same_layout(target, value) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.dtype == target.dtype and value.shape == target.shape
