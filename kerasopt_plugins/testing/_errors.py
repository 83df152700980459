"""The errors promise: bad arguments fail at construction, with a TypeError or ValueError naming them."""

from __future__ import annotations

import numbers
import re

from kerasopt_plugins.testing._subject import ContractError, Subject

UNKNOWN_ARGUMENT = "not_an_argument"


def _expect_error(s: Subject, overrides: dict, pattern: str, why: str) -> None:
    call = s.call(**overrides)
    try:
        s.cls(**{**s.example_config, **overrides})
    except (TypeError, ValueError) as err:
        if not re.search(pattern, str(err)):
            raise ContractError(
                "errors",
                f"{call} raised {type(err).__name__}({str(err)!r}), which does not match "
                f"{pattern!r}: {why}",
            ) from err
        return
    except Exception as err:  # noqa: BLE001
        raise ContractError(
            "errors",
            f"{call} raised {type(err).__name__}: {err}; a bad argument should raise "
            "TypeError or ValueError naming it",
        ) from err
    raise ContractError("errors", f"{call} was accepted: {why}")


def check_errors(s: Subject) -> None:
    """Bad arguments fail at construction with a TypeError or ValueError naming them."""
    _expect_error(
        s, {UNKNOWN_ARGUMENT: 1}, UNKNOWN_ARGUMENT,
        "an unknown keyword must be refused, naming it (pass **kwargs on to the base class)",
    )
    defaults = s.hyperparameters
    for arg, default in defaults.items():
        if isinstance(default, numbers.Real) and not isinstance(default, bool):
            _expect_error(
                s, {arg: float("nan")}, re.escape(arg),
                f"validate every argument in __init__, naming it (kerasopt_plugins.check_number"
                f"({arg!r}, {arg}, low=..., high=...)), so a bad value fails where it is written, "
                "not as NaN weights after training",
            )
    if isinstance(defaults.get("learning_rate"), numbers.Real):
        _expect_error(
            s, {"learning_rate": -1.0}, "learning_rate",
            "a negative learning rate must be refused (PluginOptimizer does it; otherwise "
            "kerasopt_plugins.check_number('learning_rate', learning_rate, low=0.0))",
        )
    for overrides, pattern in s.invalid_configs:
        _expect_error(s, dict(overrides), pattern, f"declared invalid, expected an error matching {pattern!r}")
