"""`kerasopt new`: a plugin package to start an optimizer from (docs/plugins.md).

`create_plugin` writes a small distribution whose optimizer is a working rule (heavy-ball
momentum, PyTorch's SGD with momentum) that its author then edits: the entry point in setup.cfg,
the optimizer on `PluginOptimizer` with the registry decorator, a test running the conformance
kit (`kerasopt_plugins.testing.OptimizerContract`) with a NumPy reference, and a README.
examples/sample_plugin/ in this repository is one such package, generated and then edited
(tests/plugins/test_scaffold.py checks both have the same files).
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from pathlib import Path
from string import Template

__all__ = ["ScaffoldError", "create_plugin", "plugin_files"]

#: A distribution name the scaffold accepts: lower case, words joined by '-' or '_'.
DISTRIBUTION_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
OPTIMIZER_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(ValueError):
    """A name or folder `create_plugin` refuses; the message names it and why."""


SETUP_CFG = """\
[metadata]
name = $distribution
version = 0.1.0
description = $class_name: a Keras 3 optimizer, registered with kerasopt_plugins as '$optimizer'.
long_description = file: README.md
long_description_content_type = text/markdown

[options]
packages = find:
python_requires = >=3.11
install_requires =
    kerasopt_plugins

[options.packages.find]
include = $module, $module.*

[options.entry_points]
kerasopt_plugins.optimizers =
    $optimizer = $module.optimizer:$class_name

[options.extras_require]
test =
    pytest>=8

[tool:pytest]
testpaths = tests
"""

PYPROJECT_TOML = """\
[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"
"""

INIT_PY = '''\
"""$distribution: the '$optimizer' optimizer for Keras 3, a kerasopt_plugins plugin."""

from $module.optimizer import $class_name

__all__ = ["$class_name"]
'''

OPTIMIZER_PY = '''\
"""$class_name, registered as '$optimizer'.

Installed, this package's entry point (setup.cfg, group kerasopt_plugins.optimizers) makes
`import kerasopt_plugins` load this module, so '$optimizer' works by name everywhere:
`model.compile(optimizer="$optimizer")`, `keras.saving.load_model`, `kerasopt list`.
"""

from __future__ import annotations

from keras import ops

from kerasopt_plugins import PluginOptimizer, check_number, register_optimizer


@register_optimizer(
    "$optimizer",
    example_config={"learning_rate": 0.1, "momentum": 0.9},  # what the kit builds it with
    sparse="dense",  # a tf.IndexedSlices gradient of some rows gives the dense result
)
class $class_name(PluginOptimizer):
    """Heavy-ball momentum (PyTorch's SGD with momentum): edit this rule into yours.

    ```
    m <- momentum * m + g
    w <- w - lr * m
    ```

    Args:
        learning_rate: the step size. Default 0.01.
        momentum: how much of the velocity `m` each step keeps, in [0, 1). Default 0.9.

    References:
        Polyak (1964), "Some methods of speeding up the convergence of iteration methods".

    Example:
        >>> model.compile(optimizer="$optimizer", loss="mse")
    """

    slot_names = ("m",)  # one slot per variable, created by build
    elementwise = True  # each element's update reads only that element: fast on torch

    def __init__(self, learning_rate=0.01, momentum: float = 0.9, **kwargs):
        momentum = check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum  # every argument stored under its own name

    def build(self, variables):
        # The base creates one zero slot per name in `slot_names` for every variable; add
        # state that is not one-per-variable here.
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        m = self.get_slot(variable, "m")
        momentum = ops.cast(self.momentum, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)  # ops.* accept a tf.IndexedSlices
        self.assign(m, ops.add(ops.multiply(m, momentum), gradient))
        self.assign_sub(variable, ops.multiply(m, ops.cast(learning_rate, variable.dtype)))

    def get_config(self):
        # The base lists every constructor argument by its name (`self.momentum`); add here
        # only what the constructor does not take.
        return super().get_config()
'''

TEST_PY = '''\
"""The kerasopt_plugins conformance kit on $class_name: `pip install -e .[test]`, then `pytest`."""

import numpy as np

from kerasopt_plugins.testing import OptimizerContract
from $module.optimizer import $class_name


def rule_in_numpy(params, grads, step, state):
    """The rule in NumPy, for the example config (learning_rate=0.1, momentum=0.9)."""
    if step == 0:
        state["m"] = [np.zeros_like(p) for p in params]
    state["m"] = [0.9 * m + g for m, g in zip(state["m"], grads)]
    return [p - 0.1 * m for p, m in zip(params, state["m"])]


class Test$class_name(OptimizerContract):
    optimizer = $class_name
    modules = ["$module"]  # all a user imports before load_model
    reference = rule_in_numpy
    invalid_configs = [({"momentum": 1.0}, r"momentum must be in \\[0, 1\\)")]
'''

README_MD = """\
# $distribution

`$class_name`, a Keras 3 optimizer registered with kerasopt_plugins as `$optimizer`.
Installed, it is available by name wherever kerasopt_plugins is imported, through the entry
point in setup.cfg:

```bash
pip install -e .
python -c "import kerasopt_plugins; print(kerasopt_plugins.optimizer_info('$optimizer'))"
kerasopt list $optimizer
```

```python
import keras, kerasopt_plugins
model.compile(optimizer="$optimizer", loss="mse")  # and keras.saving.load_model reloads it
```

The rule is in `$module/optimizer.py`. `pip install -e ".[test]"` and `pytest` run the
kerasopt_plugins conformance kit on it (tests/test_optimizer.py): construction by name,
config round trips, save and reload in a fresh process and on the other installed backends,
jit, mixed precision, sparse gradients, convergence, and the NumPy reference.
"""


def plugin_files(distribution: str, optimizer: str | None = None) -> dict[str, str]:
    """The files of a new plugin package, relative path -> text (nothing is written).

    Raises:
        ScaffoldError: a distribution or optimizer name the scaffold refuses.
    """
    module, optimizer, class_name = _names(distribution, optimizer)
    values = {"distribution": distribution, "module": module, "optimizer": optimizer, "class_name": class_name}
    templates = {
        "setup.cfg": SETUP_CFG,
        "pyproject.toml": PYPROJECT_TOML,
        "README.md": README_MD,
        f"{module}/__init__.py": INIT_PY,
        f"{module}/optimizer.py": OPTIMIZER_PY,
        "tests/test_optimizer.py": TEST_PY,
    }
    return {path: Template(text).substitute(values) for path, text in templates.items()}


def create_plugin(distribution: str, directory: str | Path = ".", optimizer: str | None = None) -> Path:
    """Write a new plugin package into ``directory/distribution``; return that folder.

    Args:
        distribution: the distribution and folder name (``my-optimizer``); its module is the
            same with '_' for '-'.
        directory: an existing folder to create it in.
        optimizer: the registered name; default: the module name.

    Raises:
        ScaffoldError: a refused name, a missing `directory`, or a target that exists.
    """
    files = plugin_files(distribution, optimizer)
    parent = Path(directory)
    if not parent.is_dir():
        raise ScaffoldError(f"--dir {str(directory)!r} is not an existing folder")
    target = parent / distribution
    if target.exists():
        raise ScaffoldError(f"{str(target)!r} already exists; choose another NAME or --dir")
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _names(distribution: str, optimizer: str | None) -> tuple[str, str, str]:
    if not isinstance(distribution, str) or not DISTRIBUTION_PATTERN.match(distribution):
        raise ScaffoldError(
            f"NAME {distribution!r} is not a valid package name: lower-case letters and digits, "
            "words joined by '-' or '_', starting with a letter (e.g. my-optimizer)"
        )
    module = distribution.replace("-", "_")
    if keyword.iskeyword(module) or module in ("kerasopt_plugins", "test", "tests"):
        raise ScaffoldError(f"NAME {distribution!r} gives the module name {module!r}, which is reserved")
    if importlib.util.find_spec(module) is not None:
        raise ScaffoldError(
            f"NAME {distribution!r}: a module named {module!r} is already importable here; choose another NAME"
        )
    optimizer = module if optimizer is None else optimizer
    if not isinstance(optimizer, str) or not OPTIMIZER_PATTERN.match(optimizer):
        raise ScaffoldError(
            f"--optimizer {optimizer!r} is not a valid optimizer name: lower-case snake_case such as 'my_momentum'"
        )
    from kerasopt_plugins import registry  # noqa: PLC0415

    if optimizer in registry._builtin_names():
        raise ScaffoldError(f"--optimizer {optimizer!r} is the name of Keras's built-in optimizer; choose another")
    try:
        owner = registry.optimizer_info(optimizer)
    except registry.UnknownOptimizerError:
        owner = None
    except registry.AmbiguousOptimizerNameError as err:
        raise ScaffoldError(f"--optimizer {optimizer!r}: {err}") from None
    if owner is not None:
        raise ScaffoldError(
            f"--optimizer {optimizer!r} is already registered to {owner.cls.__module__}.{owner.cls.__qualname__}; "
            "choose another"
        )
    class_name = "".join(part.capitalize() for part in optimizer.split("_") if part)
    if not class_name.isidentifier() or class_name[0].isdigit():
        raise ScaffoldError(f"--optimizer {optimizer!r} does not make a class name")
    return module, optimizer, class_name
