"""Batch-norm statistics for averaged weights (SWA): recompute them from data."""

from __future__ import annotations

from typing import Any, Iterable

import keras
import numpy as np
from keras import ops

from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.optimizers._checks import check_integer


def _batches(data: Any, batch_size: int) -> Iterable:
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and hasattr(data, "dtype")):
        n = int(data.shape[0])
        return (data[i : i + batch_size] for i in range(0, n, batch_size))
    return data


def recompute_batch_norm(model: keras.Model, data: Any, *, batch_size: int = 32, steps: int | None = None) -> int:
    """Recompute every BatchNormalization layer's moving mean and variance for the model's
    current weights: what SWA's averaged weights need before evaluation.

    The statistics are reset and rebuilt as the plain average of the batches' statistics (each
    batch weighs the same, as PyTorch's ``swa_utils.update_bn``): batch n enters with momentum
    (n - 1) / n. The forward passes run in training mode (dropout included) and eagerly; the
    layers' momentum and every other weight are left as they were. Returns the number of batches.

    Args:
        model: the model, holding the weights to compute statistics for (e.g. inside
            ``optimizer.averaged_weights()``, or after ``assign_average_vars``).
        data: an array of inputs (cut into `batch_size` batches), or an iterable of batches
            (a tf.data.Dataset, a generator, a list) each ``x`` or ``(x, ...)``.
        batch_size: for an array. Default 32.
        steps: at most this many batches (default: all).

    Example:
        ```python
        with optimizer.averaged_weights():
            recompute_batch_norm(model, x_train)
            model.evaluate(x_test, y_test)
        ```
    """
    check_integer("batch_size", batch_size, low=1, owner="recompute_batch_norm")
    check_integer("steps", steps, low=1, allow_none=True, owner="recompute_batch_norm")
    layers = [
        layer for layer in _keras_compat.all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not layers:
        raise ValueError(f"recompute_batch_norm: {model.name!r} has no BatchNormalization layer")
    frozen = [layer.name for layer in layers if not layer.trainable]
    if frozen:
        raise ValueError(
            f"recompute_batch_norm: BatchNormalization layers {frozen} are not trainable, so Keras "
            "does not update their statistics; set layer.trainable = True for the recomputation"
        )
    saved = {id(layer): layer.momentum for layer in layers}
    old = {
        id(layer): tuple(ops.copy(ops.convert_to_tensor(v)) for v in (layer.moving_mean, layer.moving_variance))
        for layer in layers
    }
    count = 0
    try:
        for layer in layers:
            layer.moving_mean.assign(ops.zeros(layer.moving_mean.shape, layer.moving_mean.dtype))
            layer.moving_variance.assign(ops.zeros(layer.moving_variance.shape, layer.moving_variance.dtype))
        for batch in _batches(data, batch_size):
            if steps is not None and count >= steps:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            count += 1
            for layer in layers:
                layer.momentum = (count - 1) / count
            model(x, training=True)
    except BaseException:
        for layer in layers:  # nothing half-done: the statistics as they were
            layer.moving_mean.assign(old[id(layer)][0])
            layer.moving_variance.assign(old[id(layer)][1])
        raise
    finally:
        for layer in layers:
            layer.momentum = saved[id(layer)]
    if count == 0:
        for layer in layers:
            layer.moving_mean.assign(old[id(layer)][0])
            layer.moving_variance.assign(old[id(layer)][1])
        raise ValueError("recompute_batch_norm: data gave no batch")
    return count
