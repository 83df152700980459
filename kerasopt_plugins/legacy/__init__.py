"""Keras 2 code on Keras 3: `OptimizerV2`, on which OptimizerV2-style optimizers run as written.

For an optimizer written against tf.keras's OptimizerV2 (TensorFlow 2.x), change one import::

    from tensorflow.python.keras.optimizer_v2.optimizer_v2 import OptimizerV2   # before
    from kerasopt_plugins.legacy import OptimizerV2                             # after

and run it on Keras 3's TensorFlow backend. docs/legacy.md lists what runs as it is, what does
not, and how to port the optimizer to `PluginOptimizer` for JAX and torch.

Importing this module does not import TensorFlow; constructing an `OptimizerV2` on another
backend raises `UnsupportedFeatureError`.
"""

from kerasopt_plugins.legacy.optimizer_v2 import OptimizerV2, UnsupportedFeatureError

__all__ = ["OptimizerV2", "UnsupportedFeatureError"]
