"""AverageModelCheckpoint: evaluate and checkpoint with SWA's or MovingAverage's averaged weights."""

from __future__ import annotations

from typing import Any

import keras


def averaged_optimizer(optimizer: Any):
    """The SWA or MovingAverage in `optimizer`'s nesting (through LossScaleOptimizer and other
    wrappers), or None."""
    from kerasopt_plugins.wrappers import AveragedOptimizer

    while optimizer is not None:
        if isinstance(optimizer, AveragedOptimizer):
            return optimizer
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None


class AverageModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves the model with its averaged weights (tfa's callback).

    At the end of each epoch the averages of the model's SWA or MovingAverage optimizer are put
    into the weights; with `validation_data` the model is evaluated on it (logged as
    ``average_val_loss``, ``average_val_<metric>``, which `monitor` may name); the checkpoint
    is written as `ModelCheckpoint` would; then the training weights come back exactly, and
    training goes on from them. With ``update_weights=True`` (tfa's option) the averages stay
    in the weights instead, and training goes on from them.

    Args:
        update_weights: keep the averages in the weights after saving (bool).
        filepath: as `keras.callbacks.ModelCheckpoint` (``.keras``, or ``.weights.h5`` with
            `save_weights_only`).
        validation_data: optional ``(x, y)`` or ``(x, y, sample_weight)`` or a dataset to
            evaluate the averaged weights on.
        monitor: default ``"average_val_loss"`` with `validation_data`, else ``"val_loss"``.
        **kwargs: the rest of `ModelCheckpoint`'s arguments. `save_freq` must be "epoch".

    Example:
        ```python
        model.fit(x, y, validation_data=(xv, yv), callbacks=[
            AverageModelCheckpoint(False, "best.keras", validation_data=(xv, yv), save_best_only=True)])
        ```
    """

    def __init__(self, update_weights: bool, filepath, validation_data=None, monitor: str | None = None, **kwargs):
        if not isinstance(update_weights, bool):
            raise TypeError(f"AverageModelCheckpoint: update_weights must be a bool, got {update_weights!r}")
        if kwargs.get("save_freq", "epoch") != "epoch":
            raise ValueError(
                f"AverageModelCheckpoint: save_freq must be 'epoch', got {kwargs['save_freq']!r} "
                "(the averages are put in at the end of each epoch)"
            )
        if monitor is None:
            monitor = "average_val_loss" if validation_data is not None else "val_loss"
        if monitor.endswith("loss"):
            kwargs.setdefault("mode", "min")  # Keras infers it only for names it knows
        super().__init__(filepath, monitor=monitor, **kwargs)
        self.update_weights = update_weights
        self.validation_data = validation_data

    def set_model(self, model):
        super().set_model(model)
        if averaged_optimizer(getattr(model, "optimizer", None)) is None:
            raise ValueError(
                "AverageModelCheckpoint needs a model compiled with an SWA or MovingAverage "
                f"optimizer (kerasopt_plugins.wrappers); this one has {type(model.optimizer).__name__}"
            )

    def _evaluate(self, logs):
        if self.validation_data is None:
            return
        data = self.validation_data
        if isinstance(data, (tuple, list)):
            results = self.model.evaluate(*data, verbose=0, return_dict=True)
        else:
            results = self.model.evaluate(data, verbose=0, return_dict=True)
        if logs is not None:
            logs.update({f"average_val_{name}": float(value) for name, value in results.items()})

    def on_epoch_end(self, epoch, logs=None):
        optimizer = averaged_optimizer(self.model.optimizer)
        if self.update_weights:
            optimizer.assign_average_vars(self.model.trainable_variables)
            self._evaluate(logs)
            super().on_epoch_end(epoch, logs)
            return
        with optimizer.averaged_weights():
            self._evaluate(logs)
            super().on_epoch_end(epoch, logs)
