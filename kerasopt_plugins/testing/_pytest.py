"""The contract as a pytest test class: subclass `OptimizerContract`, name the optimizer, get one
test per promise. Imports pytest, so `kerasopt_plugins.testing` loads it only when asked for."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence

import keras
import pytest

from kerasopt_plugins.testing import _reload
from kerasopt_plugins.testing._contract import IN_PROCESS, reload_backends
from kerasopt_plugins.testing._subject import Subject, make_subject


def _label(target: Any) -> str:
    return target if isinstance(target, str) else getattr(target, "__name__", repr(target))


class OptimizerContract:
    """Base class of a pytest test class that runs the optimizer contract, one test per promise.

    ::

        from kerasopt_plugins.testing import OptimizerContract

        class TestMyOptimizer(OptimizerContract):
            optimizer = MyOptimizer          # the class or its registered name
            modules = ["my_package"]         # what a user imports (for the fresh process)

    Class attributes (the arguments of `check_optimizer`): `optimizer` (a class, a registered
    name, or a list of them: the in-process tests are then parametrized over it, and each
    reload test covers all of them in one process per backend), `example_config`,
    `reference`, `backends`, `fresh_process`, `modules`, `constrained`, `sparse`,
    `invalid_configs`, `skip` (promise names), `rtol`, `atol`. Each test calls one check;
    a promise that does not apply (no reference given, sparse on JAX) is skipped with the
    reason.
    """

    optimizer: ClassVar[Any] = None
    example_config: ClassVar[Mapping[str, Any] | None] = None
    reference: ClassVar[Callable | None] = None
    backends: ClassVar[Sequence[str] | None] = None
    fresh_process: ClassVar[bool] = True
    modules: ClassVar[Sequence[str] | None] = None
    constrained: ClassVar[bool | None] = None
    sparse: ClassVar[str | None] = None
    invalid_configs: ClassVar[Sequence[tuple[Mapping[str, Any], str]]] = ()
    skip: ClassVar[Sequence[str]] = ()
    rtol: ClassVar[float] = 1e-5
    atol: ClassVar[float] = 1e-6

    @classmethod
    def contract_targets(cls) -> list[Any]:
        """The optimizers this class checks, as written in `optimizer`."""
        if cls.optimizer is None:
            raise TypeError(f"{cls.__name__}: set `optimizer` to the optimizer class or its registered name")
        if isinstance(cls.optimizer, (list, tuple)):
            return list(cls.optimizer)
        return [cls.optimizer]

    def pytest_generate_tests(self, metafunc):
        if "contract_index" in metafunc.fixturenames:
            targets = self.contract_targets()
            ids = [_label(t) for t in targets]
            metafunc.parametrize("contract_index", range(len(targets)), ids=ids, scope="class")
        if "contract_backend" in metafunc.fixturenames:
            others = reload_backends(self.backends) or [None]
            metafunc.parametrize("contract_backend", others, ids=[str(b) for b in others], scope="class")

    @pytest.fixture(scope="class")
    @classmethod
    def contract_subjects(cls) -> list[Subject]:
        """Made when the class's first test runs (a test may register the optimizer first)."""
        declared = {
            "example_config": cls.example_config, "reference": cls.reference,
            "constrained": cls.constrained, "sparse": cls.sparse, "modules": cls.modules,
            "invalid_configs": cls.invalid_configs, "rtol": cls.rtol, "atol": cls.atol,
        }
        return [make_subject(t, **declared) for t in cls.contract_targets()]

    @pytest.fixture(scope="class")
    @classmethod
    def contract_reloads(cls, contract_subjects, tmp_path_factory) -> _reload.Reloads:
        return _reload.Reloads(contract_subjects, tmp_path_factory.mktemp("contract"))

    def _check(self, promise: str, subject: Subject) -> None:
        if promise in self.skip:
            pytest.skip(f"{promise}: in {type(self).__name__}.skip")
        reason = IN_PROCESS[promise](subject)
        if reason is not None:
            pytest.skip(f"{promise}: {reason}")

    def test_by_name(self, contract_subjects, contract_index):
        self._check("by_name", contract_subjects[contract_index])

    def test_state(self, contract_subjects, contract_index):
        self._check("state", contract_subjects[contract_index])

    def test_learning_rate(self, contract_subjects, contract_index):
        self._check("learning_rate", contract_subjects[contract_index])

    def test_config(self, contract_subjects, contract_index):
        self._check("config", contract_subjects[contract_index])

    def test_errors(self, contract_subjects, contract_index):
        self._check("errors", contract_subjects[contract_index])

    def test_compile(self, contract_subjects, contract_index):
        self._check("compile", contract_subjects[contract_index])

    def test_jit(self, contract_subjects, contract_index):
        self._check("jit", contract_subjects[contract_index])

    def test_converges(self, contract_subjects, contract_index):
        self._check("converges", contract_subjects[contract_index])

    def test_sparse(self, contract_subjects, contract_index):
        self._check("sparse", contract_subjects[contract_index])

    def test_reference(self, contract_subjects, contract_index):
        self._check("reference", contract_subjects[contract_index])

    def test_mixed_precision(self, contract_subjects, contract_index):
        self._check("mixed_precision", contract_subjects[contract_index])

    def test_fresh_process(self, contract_subjects, contract_reloads):
        """Every optimizer of the class, from one fresh process of this backend."""
        if "fresh_process" in self.skip or not self.fresh_process:
            pytest.skip("fresh_process: switched off")
        _each(contract_subjects, lambda s: _reload.check_fresh_process(s, contract_reloads))

    def test_backends(self, contract_subjects, contract_reloads, contract_backend):
        """Every optimizer of the class, from one process of `contract_backend`."""
        if "backends" in self.skip:
            pytest.skip(f"backends: in {type(self).__name__}.skip")
        if contract_backend is None:
            pytest.skip(f"backends: none other than {keras.backend.backend()} installed or asked for")
        _each(contract_subjects, lambda s: _reload.check_backend(s, contract_reloads, contract_backend))


def _each(subjects: list[Subject], check: Callable[[Subject], None]) -> None:
    """Run `check` on every subject; one AssertionError listing every one that failed."""
    failures = []
    for s in subjects:
        try:
            check(s)
        except AssertionError as err:
            failures.append(f"{s.label}: {err}")
    if failures:
        raise AssertionError(f"{len(failures)} of {len(subjects)} optimizers:\n" + "\n".join(failures))
