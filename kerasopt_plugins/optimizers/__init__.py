"""Optimizers: the `PluginOptimizer` base class, the tutorial's seed optimizers and the ports of
tensorflow-addons' optimizers."""

from kerasopt_plugins.optimizers import (  # noqa: F401  (registers them; tfa names: addons)
    adabelief,
    addons_adamw,
    cocob,
    conditional_gradient,
    lazy_adam,
    novograd,
    proximal_adagrad,
    rectified_adam,
    sgdw,
    yogi,
)
from kerasopt_plugins.optimizers._checks import check_integer
from kerasopt_plugins.optimizers.base import LearningRate, PluginOptimizer, check_number
from kerasopt_plugins.optimizers.cmomentum_sgd import CMomentumSGD
from kerasopt_plugins.optimizers.momentum_sgd import MomentumSGD
from kerasopt_plugins.optimizers.vanilla_sgd import VanillaSGD

__all__ = [
    "CMomentumSGD",
    "LearningRate",
    "MomentumSGD",
    "PluginOptimizer",
    "VanillaSGD",
    "check_integer",
    "check_number",
]
