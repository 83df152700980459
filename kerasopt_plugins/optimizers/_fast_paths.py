"""PluginOptimizer's fast paths: fused kernels, in-place and multi-tensor updates.

A mixin of `PluginOptimizer` (base.py): the helpers a subclass calls from `update_step`
(`ema_momentum_step`, `sgd_step`, `assign_add`, `assign_sub`) and from the optional
`update_step_group`
(`variable_groups`, `get_slots`, `ema_momentum_steps`, `sgd_steps`), and the dispatch that picks
each backend's fastest way to compute exactly the keras.ops path's result. The torch kernels
live in _torch_paths.py, imported only on that backend.
"""

from __future__ import annotations

import itertools
import math

import keras
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat


class FastPaths:
    """The fast paths `PluginOptimizer` inherits; see the module docstring."""

    # -- fused update paths ------------------------------------------------------------------

    #: Use a backend's fast path where it computes exactly the same update: on TensorFlow, for
    #: variables on the CPU, the fused training kernels ResourceApplyMomentum (`ema_momentum_step`)
    #: and ResourceApplyGradientDescent (`sgd_step`); on torch, in-place updates (products in a
    #: reused scratch buffer), multi-tensor `torch._foreach_*` kernels for the small variables
    #: of a group, and `update_step_group` in place of per-variable `update_step`. Set False on a
    #: class or an instance to run the plain keras.ops path; tests check both are bit-identical.
    fused_kernels: bool = True

    def ema_momentum_step(self, variable, average, gradient, beta, learning_rate) -> None:
        """``m <- beta*m + (1 - beta)*g; w <- w - learning_rate*m`` for slot `average` = m.

        The common core of momentum-style optimizers, in one pass over the memory where the
        backend has a fused kernel for it (TensorFlow on the CPU, with and without XLA), in place
        on torch, else with keras.ops.
        Rounding is the same either way: (1 - beta)*g, then beta*m + that, then w - lr*m.
        """
        if self._torch_ema_momentum([variable], [average], [gradient], beta, learning_rate):
            return
        dtype = variable.dtype
        scaled = ops.multiply(ops.cast(gradient, dtype), ops.cast(1.0 - beta, dtype))
        beta = ops.cast(beta, dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        handles = self._tf_fused_handles(variable, average)
        if handles is not None:
            import tensorflow as tf

            tf.raw_ops.ResourceApplyMomentum(
                var=handles[0], accum=handles[1], lr=learning_rate, grad=scaled, momentum=beta,
                use_locking=False, use_nesterov=False,
            )
            return
        self.assign(average, ops.add(ops.multiply(average, beta), scaled))
        self.assign_sub(variable, ops.multiply(average, learning_rate))

    def sgd_step(self, variable, gradient, learning_rate) -> None:
        """``w <- w - cast(g)*cast(learning_rate)``, both cast to w's dtype: a gradient step.

        One pass over the memory where the backend has a kernel for it (TensorFlow on the CPU:
        ResourceApplyGradientDescent), in place on torch, else
        ``assign_sub(w, cast(g) * cast(learning_rate))``. One product, one subtraction, the
        same roundings on every path.
        """
        if self._torch_sgd([variable], [gradient], learning_rate):
            return
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        handles = self._tf_fused_handles(variable)
        if handles is not None:
            import tensorflow as tf

            tf.raw_ops.ResourceApplyGradientDescent(
                var=handles[0], alpha=learning_rate, delta=gradient, use_locking=False
            )
            return
        self.assign_sub(variable, ops.multiply(gradient, learning_rate))

    def _tf_fused_handles(self, *variables) -> list | None:
        """The resource handles for TensorFlow's fused training kernels, or None where they do not apply.

        They apply with `fused_kernels` on, outside a distributed strategy (whose variables
        need its own update path), to variables on the CPU: there the kernels' results are
        tested bit-identical to the keras.ops path. On a GPU one kernel may contract
        ``a*b + c`` into a fused multiply-add (one rounding fewer), and the device machines have
        no TensorFlow to test it on, so GPU variables take the keras.ops path (which XLA, the
        default there, fuses anyway).
        """
        if not self.fused_kernels or keras.backend.backend() != "tensorflow":
            return None
        if _keras_compat.current_tf_strategy_is_distributed():
            return None
        handles = [_keras_compat.tf_resource_handle(v) for v in variables]
        if any(h is None or _keras_compat.tf_device_type(h) != "CPU" for h in handles):
            return None
        return handles

    def assign_add(self, variable, value):
        if not self._torch_in_place(variable, value, "add_"):
            super().assign_add(variable, value)

    def assign_sub(self, variable, value):
        if not self._torch_in_place(variable, value, "sub_"):
            super().assign_sub(variable, value)

    # -- multi-tensor path -------------------------------------------------------------------

    def update_step_group(self, gradients, variables, learning_rate) -> None:
        """Optional: `update_step` for many variables at once (the multi-tensor path).

        A subclass that writes it with the group helpers (`variable_groups`, `get_slots`,
        `ema_momentum_steps`, `sgd_steps`) gets, on torch, one kernel launch per operation for
        all its small variables instead of one per variable, and no per-variable Python. It
        must compute exactly what `update_step` computes for each variable (test it bit for bit
        against ``fused_kernels = False``). It runs on torch when `fused_kernels` is on, and only
        if it is defined at least as deep in the class hierarchy as `update_step`: a subclass
        that changes `update_step` alone still runs its own rule, one variable at a time.
        TensorFlow and JAX trace the update into one program, where grouping in Python gains
        nothing, so they always run `update_step`.
        """
        raise NotImplementedError(f"{type(self).__name__} has no update_step_group")

    @staticmethod
    def variable_groups(gradients, variables) -> list[tuple[str, list, list]]:
        """Split parallel lists into ``(dtype, gradients, variables)`` groups of one variable dtype.

        An update casts its scalars to the variable's dtype, so a group update computes them
        once per group, where `update_step` computes them once per variable.
        """
        groups: dict[str, tuple[list, list]] = {}
        for gradient, variable in zip(gradients, variables):
            grads, members = groups.setdefault(variable.dtype, ([], []))
            grads.append(gradient)
            members.append(variable)
        return [(dtype, grads, members) for dtype, (grads, members) in groups.items()]

    def get_slots(self, variables, name: str) -> list:
        """``get_slot(v, name)`` for each of `variables`."""
        return [self.get_slot(v, name) for v in variables]

    def ema_momentum_steps(self, variables, averages, gradients, beta, learning_rate) -> None:
        """`ema_momentum_step` for parallel lists; multi-tensor on torch, a loop elsewhere."""
        if not self._torch_ema_momentum(variables, averages, gradients, beta, learning_rate):
            for variable, average, gradient in zip(variables, averages, gradients):
                self.ema_momentum_step(variable, average, gradient, beta, learning_rate)

    def sgd_steps(self, variables, gradients, learning_rate) -> None:
        """``w <- w - cast(g)*cast(learning_rate)`` for parallel lists, cast to each w's dtype.

        `sgd_step` for each variable: multi-tensor on torch, that loop elsewhere.
        """
        if not self._torch_sgd(variables, gradients, learning_rate):
            for variable, gradient in zip(variables, gradients):
                self.sgd_step(variable, gradient, learning_rate)

    # -- torch plumbing ----------------------------------------------------------------------

    @classmethod
    def _group_path_defined(cls) -> bool:
        def owner(name):  # position in the MRO of the class that defines `name`
            return next(i for i, k in enumerate(cls.__mro__) if name in k.__dict__)

        group = owner("update_step_group")
        return group < cls.__mro__.index(FastPaths) and group <= owner("update_step")

    def _torch_fast_paths_on(self) -> bool:
        return (
            self.fused_kernels
            and keras.backend.backend() == "torch"
            and not _keras_compat.in_stateless_scope()
        )

    def _torch_tensors(self, *lists) -> list | None:
        """Each list's torch storage, if the torch fast paths apply to all of it, else None.

        They apply on torch with `fused_kernels` on, outside a `keras.StatelessScope` (where a
        variable's value is the caller's tensor, which must not change), to Keras Variables of
        one dtype (slots are updated in place, so they are never converted).
        """
        if not self._torch_fast_paths_on() or not lists or not lists[0]:
            return None
        storage = _keras_compat.torch_storage
        tensors = [[storage(v) if isinstance(v, keras.Variable) else None for v in values] for values in lists]
        dtype = getattr(tensors[0][0], "dtype", None)
        if dtype is None or any(getattr(t, "dtype", None) != dtype for t in itertools.chain(*tensors)):
            return None
        return tensors

    def _scalar_caster(self, like):
        """A function making 0-d tensors of `like`'s dtype, exactly as the keras.ops path casts.

        Python floats (1 - beta, beta: the same every step) are converted once, on the device of
        `like` (a variable's storage), and kept; ``torch.as_tensor(x, dtype=...)`` is what
        keras.ops.cast does with them, so the value is the same.
        """
        import torch

        cache = self.__dict__.setdefault("_kerasopt_scalars", {})  # not a tracked attribute

        def scalar(x):
            if not isinstance(x, float):
                return ops.cast(x, like.dtype)
            key = (x, math.copysign(1.0, x), like.dtype, like.device)  # 0.0 == -0.0, bits differ
            value = cache.get(key)
            if value is None:
                if len(cache) >= 64:  # rates given as new numbers each step: keep it bounded
                    cache.clear()
                value = cache[key] = torch.as_tensor(x, dtype=like.dtype, device=like.device)
            return value

        return scalar

    @staticmethod
    def _torch_gradients(gradients, like) -> list:
        import torch

        dtype = like[0].dtype
        return [
            (g if g.dtype == dtype else g.to(dtype)) if isinstance(g, torch.Tensor) else ops.cast(g, dtype)
            for g in gradients
        ]

    def _scratch(self):
        scratch = self.__dict__.get("_kerasopt_scratch")  # not a tracked attribute
        if scratch is None:
            from kerasopt_plugins.optimizers import _torch_paths

            shapes = [v.shape for v in getattr(self, "_trainable_variables", ())]
            scratch = self.__dict__["_kerasopt_scratch"] = _torch_paths.Scratch(_torch_paths.capacity_hint(shapes))
        return scratch

    def _torch_ema_momentum(self, variables, averages, gradients, beta, learning_rate) -> bool:
        tensors = self._torch_tensors(variables, averages)
        if tensors is None:
            return False
        from kerasopt_plugins.optimizers import _torch_paths

        ws, ms = tensors
        scalar = self._scalar_caster(ws[0])
        _torch_paths.ema_momentum(
            ws, ms, self._torch_gradients(gradients, ws),
            scalar(1.0 - beta), scalar(beta), scalar(learning_rate), self._scratch(),
        )
        return True

    def _torch_sgd(self, variables, gradients, learning_rate) -> bool:
        tensors = self._torch_tensors(variables)
        if tensors is None:
            return False
        from kerasopt_plugins.optimizers import _torch_paths

        (ws,) = tensors
        rate = self._scalar_caster(ws[0])(learning_rate)
        _torch_paths.sgd(ws, self._torch_gradients(gradients, ws), rate, self._scratch())
        return True

    def _torch_in_place(self, variable, value, method: str) -> bool:
        # Keras's torch Variable computes `w - v` into a new tensor and copies it back (two
        # passes); the in-place op does the same single rounding in one pass.
        tensors = self._torch_tensors([variable])
        if tensors is None:
            return False
        import torch

        target = tensors[0][0]
        if not isinstance(value, torch.Tensor) or value.dtype != target.dtype or value.shape != target.shape:
            return False
        with torch.no_grad():
            getattr(target, method)(value)
        return True

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Keras's torch optimizers run their updates under no_grad; the generic loop does not,
        # so on torch every keras.ops call in update_step would be recorded for autograd.
        if keras.backend.backend() == "torch":
            import torch

            with torch.no_grad():
                if self._torch_fast_paths_on() and self._group_path_defined():
                    return self.update_step_group(list(grads), list(trainable_variables), learning_rate)
                return super()._backend_update_step(grads, trainable_variables, learning_rate)
        return super()._backend_update_step(grads, trainable_variables, learning_rate)
