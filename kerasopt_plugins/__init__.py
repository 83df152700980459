"""kerasopt_plugins: a home for custom Keras 3 optimizers.

Importing the package registers its optimizers with Keras, so ``optimizer="cmomentum_sgd"``
works in `model.compile` and saved models load without `custom_objects`; it also loads the
optimizers of installed plugins (entry point group ``kerasopt_plugins.optimizers``,
docs/plugins.md).
"""

from kerasopt_plugins import _startup

_startup.import_backend_quietly_for_cli()

from kerasopt_plugins.optimizers import (  # noqa: E402
    CMomentumSGD,
    LearningRate,
    MomentumSGD,
    PluginOptimizer,
    VanillaSGD,
    check_integer,
    check_number,
)
from kerasopt_plugins import schedules  # noqa: E402,F401  (registers the schedules)
from kerasopt_plugins import wrappers  # noqa: E402,F401  (registers the wrappers)
from kerasopt_plugins import _entry_points  # noqa: E402
from kerasopt_plugins._entry_points import PluginWarning  # noqa: E402
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
"""The version of this package."""

__all__ = [
    "AmbiguousOptimizerNameError",
    "CMomentumSGD",
    "LearningRate",
    "MomentumSGD",
    "OptimizerInfo",
    "PluginOptimizer",
    "PluginWarning",
    "UnknownOptimizerError",
    "VanillaSGD",
    "__version__",
    "check_integer",
    "check_number",
    "get_optimizer",
    "list_optimizers",
    "optimizer_info",
    "register_optimizer",
    "unregister_optimizer",
]

_entry_points.load_plugins()  # the kerasopt_plugins.optimizers entry points of installed distributions (docs/plugins.md)
