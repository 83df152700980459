"""Wrappers around any Keras optimizer: Lookahead, SWA, MovingAverage, decoupled weight decay.

tensorflow-addons 0.23's semantics, on every backend; registered for saving under this
package's names and tfa's ``Addons>`` keys, so saved models load with plain
`keras.saving.load_model`.
"""

import keras

from kerasopt_plugins.wrappers._averaged import AveragedOptimizer
from kerasopt_plugins.wrappers._wrapper import OptimizerWrapper
from kerasopt_plugins.wrappers.batch_norm import recompute_batch_norm
from kerasopt_plugins.wrappers import decoupled
from kerasopt_plugins.wrappers.decoupled import (
    DecoupledWeightDecayExtension,
    _extend_known_classes,
    extend_with_decoupled_weight_decay,
)
from kerasopt_plugins.wrappers.lookahead import Lookahead
from kerasopt_plugins.wrappers.moving_average import MovingAverage
from kerasopt_plugins.wrappers.swa import SWA

__all__ = [
    "AveragedOptimizer",
    "DecoupledWeightDecayExtension",
    "Lookahead",
    "MovingAverage",
    "OptimizerWrapper",
    "SWA",
    "extend_with_decoupled_weight_decay",
    "recompute_batch_norm",
]

for _cls, _tfa_name in ((Lookahead, "Lookahead"), (SWA, "SWA"), (MovingAverage, "MovingAverage"),
                       (AveragedOptimizer, "AveragedOptimizerWrapper")):
    keras.saving.register_keras_serializable(package="kerasopt_plugins")(_cls)
    keras.saving.get_custom_objects()[f"Addons>{_tfa_name}"] = _cls  # the keys tfa saved under
_extend_known_classes()
keras.saving.get_custom_objects()["OptimizerWithDecoupledWeightDecay"] = decoupled.TfaExtendedConfig
del _cls, _tfa_name
