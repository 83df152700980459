"""What tensorflow-addons' RectifiedAdam and AdaBelief share: warmup, rectification, the step.

Both rules keep moments ``m`` and ``v`` (and ``vhat`` with amsgrad) and, at step
``t = iterations + 1``, move the variable by

```
lr_t = warmup(lr, t)                          # with total_steps > 0, else lr
sma_inf = 2 / (1 - beta_2) - 1
sma_t = sma_inf - 2 t beta_2^t / (1 - beta_2^t)
r_t = sqrt((sma_t - 4) (sma_t - 2) sma_inf / ((sma_inf - 4) (sma_inf - 2) sma_t))
u = r_t m_hat / (sqrt(v_hat) + epsilon)       # if sma_t >= sma_threshold
u = m_hat                                     # otherwise
u = m_hat / (sqrt(v_hat) + epsilon)           # AdaBelief with rectify=False
w <- w - lr_t (u + weight_decay w)
```

with ``m_hat = m / (1 - beta_1^t)``, ``v_hat = v / (1 - beta_2^t)``. `coefficients` computes
the scalars of one step, `apply_step` the variable's update from them.

The branch taken depends on ``sma_t``, which is a difference of two numbers near ``sma_inf``
(1999 for beta_2 = 0.999): one ulp of ``beta_2^t`` moves it by ~0.02, and with beta_2 = 0.999
step 5 gives 4.986 in float32 (4.996 exactly) against the threshold 5. So ``sma_t`` and
``r_t`` are computed in tfa's own order of operations, which differs between the two tfa
files (`Order`), in the variable's dtype (float32 at least), as tfa did.

The elementwise part is folded for speed: ``w -= m scale / (sqrt(v correction) + offset)
[+ decay w]`` with the scalars ``scale = lr_t r_t / (1 - beta_1^t)``,
``correction = 1 / (1 - beta_2^t)`` and ``offset = epsilon``, or, below the threshold,
``scale = lr_t / (1 - beta_1^t)``, ``correction = 0`` and ``offset = 1`` (``sqrt(v 0) + 1`` is
exactly 1, so the step is exactly ``m scale``), and ``decay = lr_t weight_decay``: one
expression for both branches, and RectifiedAdam's whole step takes Adam's number of passes over
memory plus one. The denominator is rectified_adam.py's own (adabelief.py divides by
``1 - beta_2^t`` instead); the numerator differs from tfa's ``lr_t (r_t m_hat)`` by a few
roundings (the parity tests hold the weights to 1e-6 relative). The slots are updated as tfa
updated them (AdaBelief's `v` in the order of tfa's sparse kernel; adabelief.py says why).
"""

from __future__ import annotations

import contextlib
import enum
from typing import Any, NamedTuple

import keras
from keras import ops

from kerasopt_plugins.optimizers import _decoupled_decay, _sparse
from kerasopt_plugins.optimizers._checks import check_epsilon, check_integer, check_number

__all__ = [
    "Coefficients",
    "Order",
    "accumulate",
    "apply_step",
    "check_arguments",
    "coefficients",
    "one_step",
]


def check_arguments(
    *,
    beta_1: Any,
    beta_2: Any,
    epsilon: Any,
    weight_decay: Any,
    sma_threshold: Any,
    total_steps: Any,
    warmup_proportion: Any,
    min_lr: Any,
) -> dict[str, Any]:
    """The two constructors' shared arguments, checked, by name (tfa checked none of them;
    it silently replaced ``epsilon=0`` with 1e-7, which `check_epsilon` refuses, saying so)."""
    check_integer("total_steps", total_steps, low=0)
    sma_threshold = check_number("sma_threshold", sma_threshold)
    if sma_threshold < 4.0:
        raise ValueError(
            f"sma_threshold must be >= 4, got {sma_threshold!r}: below 4 the rectification term "
            "is the square root of a negative number once sma_t passes 2, and tfa's steps "
            "turned NaN there"
        )
    return {
        "beta_1": check_number("beta_1", beta_1, low=0.0, high=1.0, high_open=True),
        "beta_2": check_number("beta_2", beta_2, low=0.0, high=1.0, high_open=True),
        "epsilon": check_epsilon(epsilon),
        "weight_decay": _decoupled_decay.check_weight_decay(weight_decay),
        "sma_threshold": sma_threshold,
        "total_steps": int(total_steps),
        "warmup_proportion": check_number("warmup_proportion", warmup_proportion, low=0.0, high=1.0),
        "min_lr": check_number("min_lr", min_lr, low=0.0),
    }


class Order(enum.Enum):
    """tfa's order of operations for ``sma_t`` and ``r_t``, which its two files wrote differently."""

    #: rectified_adam.py: ``sma_inf - 2 t b^t * (1 / (1 - b^t))`` and
    #: ``sqrt((sma_t - 4) / (sma_inf - 4) * (sma_t - 2) / (sma_inf - 2) * sma_inf / sma_t)``
    RECTIFIED_ADAM = "rectified_adam"
    #: adabelief.py: ``sma_inf - 2 t b^t / (1 - b^t)`` and
    #: ``sqrt(((sma_t - 4) (sma_t - 2) sma_inf) / ((sma_inf - 4) (sma_inf - 2) sma_t))``
    ADABELIEF = "adabelief"


class Coefficients(NamedTuple):
    """One step's scalars, in the variable's dtype:
    ``w -= m scale / (sqrt(v correction) + offset) [+ decay w]``."""

    scale: Any
    correction: Any
    offset: Any
    decay: Any  # None: no weight decay


_CACHE = "_kerasopt_coefficients"  # in the optimizer's __dict__: not a tracked attribute


@contextlib.contextmanager
def one_step(optimizer: Any):
    """Around one `apply`: `coefficients` are computed once per dtype and shared by every
    variable (and every pack of variables on torch) instead of once per `update_step`.

    A few dozen scalar operations, which a TensorFlow graph would otherwise run once per
    variable (each reads `iterations` anew, so they are not merged: 1.75x Adam's step time on
    1000 small variables without XLA, 1.0x with the cache) and torch once per call.
    """
    optimizer.__dict__[_CACHE] = {}
    try:
        yield
    finally:
        optimizer.__dict__[_CACHE] = None


def coefficients(optimizer: Any, learning_rate: Any, dtype: Any, order: Order | None) -> Coefficients:
    """The scalars of the step `optimizer` takes now, for a variable of `dtype`.

    Reads the optimizer's `iterations` and its beta_1, beta_2, epsilon, weight_decay,
    sma_threshold, total_steps, warmup_proportion and min_lr. `order`: tfa's order for the
    rectification term, or None for none (AdaBelief's ``rectify=False``). Inside `one_step`,
    computed once per dtype.
    """
    cache = optimizer.__dict__.get(_CACHE)
    key = keras.backend.standardize_dtype(dtype)
    if cache is not None and key in cache:
        return cache[key]
    sd = keras.backend.result_type(dtype, "float32")  # tfa: the variable's dtype
    t = ops.cast(optimizer.iterations + 1, sd)
    lr = ops.cast(learning_rate, sd)
    if optimizer.total_steps > 0:
        lr = _warmed_up(optimizer, lr, t, sd)
    beta_1_power = ops.power(ops.cast(optimizer.beta_1, sd), t)
    beta_2 = ops.cast(optimizer.beta_2, sd)
    beta_2_power = ops.power(beta_2, t)
    scale = lr / (1.0 - beta_1_power)
    correction = 1.0 / (1.0 - beta_2_power)
    offset = ops.cast(optimizer.epsilon, sd)
    if order is not None:
        sma_t, r_t = _sma_and_r(beta_2, beta_2_power, t, order)
        on = sma_t >= ops.cast(optimizer.sma_threshold, sd)
        scale = ops.where(on, scale * r_t, scale)
        correction = ops.where(on, correction, 0.0)
        offset = ops.where(on, offset, 1.0)
    decay = None
    if not _decoupled_decay.no_weight_decay(optimizer.weight_decay):
        decay = lr * _decoupled_decay.weight_decay_at(optimizer, sd)  # tfa's wd_t: at iterations, not t
    cast = lambda x: None if x is None else ops.cast(x, dtype)  # noqa: E731
    k = Coefficients(cast(scale), cast(correction), cast(offset), cast(decay))
    if cache is not None:
        cache[key] = k
    return k


def _warmed_up(optimizer: Any, lr: Any, t: Any, sd: Any) -> Any:
    # tfa: linear warmup from 0 over total_steps * warmup_proportion steps, then linear decay
    # to min_lr at total_steps, in its order of operations
    total_steps = ops.cast(float(optimizer.total_steps), sd)
    warmup_steps = total_steps * ops.cast(optimizer.warmup_proportion, sd)
    min_lr = ops.cast(optimizer.min_lr, sd)
    decay_steps = ops.maximum(total_steps - warmup_steps, 1.0)
    decay_rate = (min_lr - lr) / decay_steps
    return ops.where(
        t <= warmup_steps,
        lr * (t / warmup_steps),
        lr + decay_rate * ops.minimum(t - warmup_steps, decay_steps),
    )


def _sma_and_r(beta_2: Any, beta_2_power: Any, t: Any, order: Order) -> tuple[Any, Any]:
    sma_inf = 2.0 / (1.0 - beta_2) - 1.0
    if order is Order.RECTIFIED_ADAM:
        sma_t = sma_inf - 2.0 * t * beta_2_power * (1.0 / (1.0 - beta_2_power))
        ratio = (sma_t - 4.0) / (sma_inf - 4.0) * (sma_t - 2.0) / (sma_inf - 2.0) * sma_inf / sma_t
    else:
        sma_t = sma_inf - 2.0 * t * beta_2_power / (1.0 - beta_2_power)
        ratio = ((sma_t - 4.0) * (sma_t - 2.0) * sma_inf) / ((sma_inf - 4.0) * (sma_inf - 2.0) * sma_t)
    # NaN where sma_t lies between 2 and 4: only a threshold below 4 (refused) takes such a step
    return sma_t, ops.sqrt(ratio)


def accumulate(optimizer: Any, slot: Any, decayed: Any, added: Any, indices: Any = None) -> Any:
    """``slot <- decayed + added``, or with `indices` (a sparse gradient's rows), `added` into
    those rows only, as tfa's sparse kernels did: every row decays, the touched rows get the
    new term. Returns the slot: read after the assignment, it is the assigned buffer, where
    keeping the sum as a tensor too makes TensorFlow copy it into the slot (1.28x -> 1.17x
    Adam's step time without XLA; the same with XLA and on JAX)."""
    if indices is None:
        optimizer.assign(slot, ops.add(decayed, added))
        return slot
    optimizer.assign(slot, decayed)
    optimizer.assign_add(slot, _sparse.rows(added, indices))
    return slot


def apply_step(optimizer: Any, variable: Any, m: Any, v: Any, k: Coefficients, indices=None) -> None:
    """``w -= m scale / (sqrt(v correction) + offset) [+ decay w]`` with the updated slots `m`
    and `v` (`v` replaced by its running maximum `vhat` with amsgrad), on the rows `indices`
    only if given (tfa's sparse kernels computed the step everywhere, applied those rows)."""
    if optimizer.amsgrad:
        vhat = optimizer.get_slot(variable, "vhat")
        optimizer.assign(vhat, ops.maximum(vhat, v))
        v = vhat
    w = variable
    if indices is not None:
        m, v, w = (_sparse.gather_rows(x, indices) for x in (m, v, variable))
    denominator = ops.add(ops.sqrt(ops.multiply(v, k.correction)), k.offset)
    step = ops.divide(ops.multiply(m, k.scale), denominator)
    if k.decay is not None:
        step = ops.add(step, ops.multiply(w, k.decay))
    optimizer.assign_sub(variable, step if indices is None else _sparse.rows(step, indices))
