"""The contract as one table, and `check_optimizer`, which runs it on one optimizer."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable, Mapping, Sequence

import keras

from kerasopt_plugins.testing import _construction, _errors, _reload, _sparse_check, _training
from kerasopt_plugins.testing._subject import ContractError, Subject, installed_backends, make_subject

PROMISES: Mapping[str, str] = types.MappingProxyType({
    "by_name": "registered; every argument has a default; keras.optimizers.get(name) and "
               "get_optimizer(name, **example_config) make the class",
    "state": "one step is finite, moves the weight and counts 1; three steps move every slot; "
             "every variable is created by build()",
    "learning_rate": "halving learning_rate changes the steps",
    "config": "every constructor argument is in get_config() as given; from_config, JSON and "
              "Keras serialization round-trip exactly",
    "errors": "an unknown keyword, NaN for a numeric argument, a negative learning rate and the "
              "declared invalid configs raise TypeError or ValueError naming the argument",
    "compile": "compile(optimizer=name) and fit: finite, every step counted",
    "jit": "jit_compile on and off train to the same weights, Dense and Embedding models",
    "converges": "300 steps reach the minimum of a quadratic (near it, if constrained)",
    "sparse": "TensorFlow: a tf.IndexedSlices gradient gives the dense result (over every row; "
              "over some rows as declared: sparse='dense' or 'lazy')",
    "reference": "step by step equal to the author's NumPy reference",
    "mixed_precision": "mixed_float16 with a LossScaleOptimizer: every step applied, finite, "
                       "float32 slots",
    "fresh_process": "a .keras file loads in a fresh process: same class, config, iterations, "
                     "slots bit for bit; one more epoch bit-identical to uninterrupted training",
    "backends": "the file loads on every other installed backend with identical slots; one more "
                "epoch within rtol of this backend's",
})
"""Every promise of the contract: its name and what it says. The order is the order they run in."""

#: The promises checked in this process, each one function of a `Subject`.
IN_PROCESS: Mapping[str, Callable[[Subject], str | None]] = types.MappingProxyType({
    "by_name": _construction.check_by_name,
    "state": _construction.check_state,
    "learning_rate": _construction.check_learning_rate,
    "config": _construction.check_config,
    "errors": _errors.check_errors,
    "compile": _training.check_compile,
    "jit": _training.check_jit,
    "converges": _training.check_converges,
    "sparse": _sparse_check.check_sparse,
    "reference": _training.check_reference,
    "mixed_precision": _training.check_mixed_precision,
})

#: The promises checked in other processes (one process per backend, shared by all subjects).
RELOADS = ("fresh_process", "backends")


NOT_ASKED = "not asked for (skip=, only=)"


@dataclasses.dataclass(frozen=True)
class ContractReport:
    """What `check_optimizer` did: the promises it checked, and those it did not, with why."""

    optimizer: str
    checked: tuple[str, ...]
    skipped: Mapping[str, str]


class ContractFailure(AssertionError):
    """One or more broken promises; `failures` maps each promise's name to its message."""

    def __init__(self, optimizer: str, failures: Mapping[str, str], skipped: Mapping[str, str]):
        self.failures = dict(failures)
        lines = [f"{optimizer} breaks {len(failures)} promise(s) of the optimizer contract:"]
        lines += [f"- {message}" for message in failures.values()]
        reasons = {k: v for k, v in skipped.items() if v != NOT_ASKED}
        if reasons:
            lines.append("not checked: " + "; ".join(f"{k} ({v})" for k, v in reasons.items()))
        super().__init__("\n".join(lines))


def reload_backends(backends: Sequence[str] | None) -> list[str]:
    """The backends other than this one to reload on: `backends`, or (None) every installed one.

    Raises:
        ValueError: a backend that is not installed here.
    """
    installed = installed_backends()
    current = keras.backend.backend()
    wanted = [b for b in installed if b != current] if backends is None else list(backends)
    missing = [b for b in wanted if b not in installed]
    if missing:
        raise ValueError(f"backends {missing} are not installed here (installed: {list(installed)})")
    return [b for b in wanted if b != current]


def check_optimizer(
    optimizer: type | str,
    *,
    example_config: Mapping[str, Any] | None = None,
    reference: Callable | None = None,
    backends: Sequence[str] | None = None,
    fresh_process: bool = True,
    modules: Sequence[str] | None = None,
    constrained: bool | None = None,
    sparse: str | None = None,
    invalid_configs: Sequence[tuple[Mapping[str, Any], str]] = (),
    skip: Sequence[str] = (),
    only: Sequence[str] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    directory: str | None = None,
) -> ContractReport:
    """Run the optimizer contract on `optimizer`; raise `AssertionError` naming each broken promise.

    Args:
        optimizer: the optimizer class, or the name it is registered under.
        example_config: constructor arguments that exercise its state; default: the registry
            record's ``example_config``.
        reference: ``reference(params, grads, step[, state]) -> params``: the rule in NumPy
            (float64 lists of arrays; ``step`` counts steps already applied, from 0; ``state``
            a dict kept across the steps of one run). Compared step by step over 10 steps.
        backends: the other backends to reload and continue training on, each in its own
            process; None: every installed one; ``()``: none.
        fresh_process: reload the ``.keras`` file in a fresh process of this backend.
        modules: the modules a fresh process imports (names or ``.py`` paths) before loading,
            and nothing else: what a user imports. Default: the module defining the class, and
            the class registered under its name there if that module does not register it.
        constrained: the rule settles near, not at, a quadratic's minimum; default: the record's.
        sparse: ``"dense"`` (tf.IndexedSlices of some rows give the dense result) or ``"lazy"``
            (rows the gradient does not touch keep their weights and slots); default: the
            record's, else only a gradient over every row is compared.
        invalid_configs: ``(config, message regex)`` pairs that must raise TypeError or
            ValueError; each config updates `example_config`.
        skip: promise names (`PROMISES`) not to check.
        only: the only promise names to check.
        rtol: relative tolerance of the comparisons that are not bit for bit.
        atol: absolute tolerance of those comparisons.
        directory: where the reload checks write their files (default: a new temporary one).

    Returns:
        a `ContractReport`: the promises checked, and those skipped with the reason.

    Raises:
        ContractFailure: (an `AssertionError`) the broken promises, each with its fix. When the
            optimizer cannot be constructed, only that is reported.
    """
    unknown = sorted(set(skip) | set(only or ()) - set(PROMISES))
    if unknown:
        raise ValueError(f"check_optimizer: unknown promises {unknown}; the promises are {list(PROMISES)}")
    subject = make_subject(
        optimizer, example_config=example_config, constrained=constrained, sparse=sparse,
        reference=reference, invalid_configs=invalid_configs, modules=modules, rtol=rtol, atol=atol,
    )
    wanted = [p for p in PROMISES if p not in skip and (only is None or p in only)]
    skipped = {p: NOT_ASKED for p in PROMISES if p not in wanted}
    if not fresh_process and "fresh_process" in wanted:
        wanted.remove("fresh_process")
        skipped["fresh_process"] = "fresh_process=False"
    try:
        subject.make("by_name")
    except ContractError as err:  # every other promise would say the same
        raise ContractFailure(subject.call(), {"by_name": str(err)}, {}) from err.__cause__
    checked, failures = [], {}
    for promise in (p for p in wanted if p in IN_PROCESS):
        try:
            _record(promise, IN_PROCESS[promise](subject), checked, skipped)
        except ContractError as err:
            failures[promise] = str(err)
        except Exception as err:  # noqa: BLE001 - the optimizer failed inside Keras: that breaks it too
            failures[promise] = f"{promise}: {subject.call()} failed while checked: {type(err).__name__}: {err}"
    others = reload_backends(backends) if "backends" in wanted else []
    if "backends" in wanted and not others:
        wanted.remove("backends")
        skipped["backends"] = f"no backend other than {keras.backend.backend()} installed or asked for"
    if any(p in RELOADS for p in wanted):
        reloads = _reload.Reloads([subject], directory)
        checks = {
            "fresh_process": lambda: _reload.check_fresh_process(subject, reloads),
            "backends": lambda: _reload.check_backends(subject, reloads, others),
        }
        for promise in (p for p in wanted if p in RELOADS):
            try:
                _record(promise, checks[promise](), checked, skipped)
            except ContractError as err:
                failures[promise] = str(err)
    if failures:
        raise ContractFailure(subject.call(), failures, skipped)
    return ContractReport(subject.label, tuple(checked), types.MappingProxyType(skipped))


def _record(promise: str, reason: str | None, checked: list, skipped: dict) -> None:
    if reason is None:
        checked.append(promise)
    else:
        skipped[promise] = reason
