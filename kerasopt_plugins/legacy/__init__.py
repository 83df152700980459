"""Keras 2 code on Keras 3: `OptimizerV2`, on which OptimizerV2-style optimizers run as written.

For an optimizer written against tf.keras's OptimizerV2 (TensorFlow 2.x), change one import::

    from tensorflow.python.keras.optimizer_v2.optimizer_v2 import OptimizerV2   # before
    from kerasopt_plugins.legacy import OptimizerV2                             # after

and run it on Keras 3's TensorFlow backend. docs/legacy.md lists what runs as it is, what does
not, and how to port the optimizer to `PluginOptimizer` for JAX and torch.

For a model file that Keras 2 wrote (`.h5`, or `.keras` from Keras 2.13-2.15), `load_model`
loads it with its optimizer and the optimizer's state, so training continues where it stopped;
`upgrade` writes it as a Keras 3 `.keras` file; `describe_keras2_file` says what it holds.

Importing this module does not import TensorFlow; constructing an `OptimizerV2` on another
backend raises `UnsupportedFeatureError`.
"""

from kerasopt_plugins.legacy.load import (
    Keras2LoadError,
    NotAKeras2FileError,
    describe_keras2_file,
    is_keras2_file,
    load_model,
    upgrade,
)
from kerasopt_plugins.legacy.optimizer_v2 import OptimizerV2, UnsupportedFeatureError

__all__ = [
    "Keras2LoadError",
    "NotAKeras2FileError",
    "OptimizerV2",
    "UnsupportedFeatureError",
    "describe_keras2_file",
    "is_keras2_file",
    "load_model",
    "upgrade",
]
