"""tensorflow-addons' optimizers and schedules on Keras 3, under tfa's own names.

For code written against tfa 0.23, change one import::

    import tensorflow_addons as tfa           # before (TensorFlow <= 2.15 only)
    from kerasopt_plugins import addons as tfa  # after (Keras 3: TensorFlow, JAX, torch)

    tfa.optimizers.RectifiedAdam(learning_rate=1e-3, total_steps=10_000)

`tfa.optimizers` then offers every optimizer and schedule ported here; what Keras 3 has itself
(LAMB as `keras.optimizers.Lamb`, MultiOptimizer, MovingAverage as ``use_ema``) is listed with
its differences in docs/tfa.md.
"""

from kerasopt_plugins.addons import optimizers

__all__ = ["optimizers"]
