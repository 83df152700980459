"""`tfa.optimizers`' names, bound to this package's ports (see kerasopt_plugins.addons)."""

from kerasopt_plugins.optimizers.adabelief import AdaBelief
from kerasopt_plugins.optimizers.addons_adamw import AdamW
from kerasopt_plugins.optimizers.cocob import COCOB
from kerasopt_plugins.optimizers.conditional_gradient import ConditionalGradient
from kerasopt_plugins.optimizers.lazy_adam import LazyAdam
from kerasopt_plugins.optimizers.novograd import NovoGrad
from kerasopt_plugins.optimizers.proximal_adagrad import ProximalAdagrad
from kerasopt_plugins.optimizers.rectified_adam import RectifiedAdam
from kerasopt_plugins.optimizers.sgdw import SGDW
from kerasopt_plugins.optimizers.yogi import Yogi
from kerasopt_plugins.wrappers import AveragedOptimizer as AveragedOptimizerWrapper
from kerasopt_plugins.wrappers import (
    SWA,
    DecoupledWeightDecayExtension,
    Lookahead,
    MovingAverage,
    extend_with_decoupled_weight_decay,
)
from kerasopt_plugins.schedules import (
    CyclicalLearningRate,
    ExponentialCyclicalLearningRate,
    Triangular2CyclicalLearningRate,
    TriangularCyclicalLearningRate,
)

__all__ = [
    "COCOB",
    "AdaBelief",
    "AdamW",
    "AveragedOptimizerWrapper",
    "ConditionalGradient",
    "CyclicalLearningRate",
    "DecoupledWeightDecayExtension",
    "ExponentialCyclicalLearningRate",
    "LazyAdam",
    "Lookahead",
    "MovingAverage",
    "NovoGrad",
    "ProximalAdagrad",
    "RectifiedAdam",
    "SGDW",
    "SWA",
    "Triangular2CyclicalLearningRate",
    "TriangularCyclicalLearningRate",
    "Yogi",
    "extend_with_decoupled_weight_decay",
]
