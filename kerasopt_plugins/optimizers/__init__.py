"""Optimizers: the `PluginOptimizer` base class, the tutorial's seed optimizers and the ports of
tensorflow-addons' optimizers."""

from kerasopt_plugins.optimizers import addons_adamw, sgdw  # noqa: F401  (registration)
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
    "check_number",
]
