"""The optimizer contract, for optimizer authors: the checks this project runs on its own optimizers.

Two forms, one set of checks (docs/testing.md):

* ``check_optimizer(MyOptimizer)`` runs every promise and raises `AssertionError` naming each
  broken one and its fix; it returns a `ContractReport` of what it checked and skipped.
* ``class TestMyOptimizer(OptimizerContract): optimizer = MyOptimizer`` gives one pytest test
  per promise (`OptimizerContract` imports pytest, so it is loaded only when asked for).

`PROMISES` lists the promises by name, in the order they run. Not imported by
``import kerasopt_plugins``.
"""

from typing import TYPE_CHECKING

from kerasopt_plugins.testing._contract import (
    PROMISES,
    ContractFailure,
    ContractReport,
    check_optimizer,
)
from kerasopt_plugins.testing._subject import ContractError

if TYPE_CHECKING:  # for the API reference and type checkers; imported lazily by __getattr__
    from kerasopt_plugins.testing._pytest import OptimizerContract  # noqa: F401

__all__ = [
    "PROMISES",
    "ContractError",
    "ContractFailure",
    "ContractReport",
    "OptimizerContract",
    "check_optimizer",
]


def __getattr__(name):
    if name == "OptimizerContract":  # imports pytest: only when asked for
        from kerasopt_plugins.testing._pytest import OptimizerContract

        return OptimizerContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
