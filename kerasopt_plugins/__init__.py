"""kerasopt_plugins: a home for custom Keras 3 optimizers.

Importing the package registers its optimizers with Keras, so ``optimizer="cmomentum_sgd"``
works in `model.compile` and saved models load without `custom_objects`.
"""

from kerasopt_plugins import _startup

_startup.import_backend_quietly_for_cli()

from kerasopt_plugins.optimizers import (  # noqa: E402
    CMomentumSGD,
    LearningRate,
    MomentumSGD,
    PluginOptimizer,
    VanillaSGD,
    check_number,
)
from kerasopt_plugins import schedules  # noqa: E402,F401  (registers the schedules)
from kerasopt_plugins import wrappers  # noqa: E402,F401  (registers the wrappers)
from kerasopt_plugins.registry import (  # noqa: E402
    AmbiguousOptimizerNameError,
    OptimizerInfo,
    UnknownOptimizerError,
    get_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
    unregister_optimizer,
)

__version__ = "0.1.0"

__all__ = [
    "AmbiguousOptimizerNameError",
    "CMomentumSGD",
    "LearningRate",
    "MomentumSGD",
    "OptimizerInfo",
    "PluginOptimizer",
    "UnknownOptimizerError",
    "VanillaSGD",
    "__version__",
    "check_number",
    "get_optimizer",
    "list_optimizers",
    "optimizer_info",
    "register_optimizer",
    "unregister_optimizer",
]
