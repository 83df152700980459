"""kerasopt_plugins.testing: each broken promise is caught with its message, a correct optimizer
passes every one, and the pytest form and the documented example work as docs/testing.md says."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from conftest import run_python

from kerasopt_plugins import register_optimizer, unregister_optimizer
from kerasopt_plugins.testing import (
    PROMISES,
    ContractError,
    ContractFailure,
    OptimizerContract,
    check_optimizer,
)
from kerasopt_plugins.testing._subject import installed_backends, make_subject, module_entry

BACKEND = keras.backend.backend()
OTHER_BACKENDS = [b for b in installed_backends() if b != BACKEND]
ROOT = Path(__file__).resolve().parents[2]


def _load_by_path(name: str, path: Path):
    """Loaded by path, as a fresh process of the kit loads it: not importable by name."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


broken = _load_by_path("kit_broken_optimizers", Path(__file__).with_name("broken_optimizers.py"))


@contextlib.contextmanager
def registered(cls):
    """`cls` registered under a snake_case name for the block only: the registry-wide suites
    must not see it."""
    name = "kit_" + re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
    register_optimizer(name, example_config=broken.EXAMPLE_CONFIG)(cls)
    try:
        yield name
    finally:
        unregister_optimizer(name)


# -- each broken optimizer, caught by the promise it breaks, with the fix in the message --------

BROKEN = [
    ("ForgetsHyperparameter", "by_name", {},
     r"by_name: ForgetsHyperparameter\(learning_rate=0.1, beta=0.5\) raised AttributeError: "
     r".*'beta' is not stored on the optimizer; store it as self.beta = beta in __init__"),
    ("ConfigDropsArgument", "config", {},
     r"config: ConfigDropsArgument\(learning_rate=0.1, beta=0.5, decay=0.25\)\.get_config\(\) has "
     r"no 'beta': store each constructor argument as self.beta = beta in __init__"),
    ("IgnoresLearningRate", "learning_rate", {},
     r"learning_rate: IgnoresLearningRate ignores learning_rate: 3 steps with learning_rate=0.1 "
     r"and 0.05 gave the same weights .*: scale the update by the learning_rate argument"),
    ("IgnoresLearningRate", "reference", {"reference": broken.momentum_reference},
     r"reference: after step 1 of 10, IgnoresLearningRate\(learning_rate=0.1, beta=0.5\)'s "
     r"variable \d \(shape .*\) differs from the reference by"),
    ("NoValidation", "errors", {},
     r"errors: NoValidation\(learning_rate=0.1, beta=nan\) was accepted: validate every argument "
     r"in __init__, naming it \(kerasopt_plugins.check_number\('beta'"),
    ("SlotOutsideBuild", "state", {},
     r"state: SlotOutsideBuild\(learning_rate=0.1, beta=0.5\) created variables outside build\(\): "
     r"2 after build, 3 after 3 steps; .*create every slot in build\(\)"),
    ("FailsOnIndexedSlices", "sparse", {},
     r"sparse: FailsOnIndexedSlices\(learning_rate=0.1, beta=0.5\)\.apply with a tf.IndexedSlices "
     r"gradient .* raised TypeError: unsupported operand .*: combine the gradient with keras.ops"),
    ("NeverConverges", "converges", {},
     r"converges: 300 steps of NeverConverges\(learning_rate=0.1, beta=0.5\) on \|w - target\|\^2 "
     r"from 0 ended at \[.*\], not within 1e-3 of \[ 1.5 -0.5  2. \]: check the sign of the update"),
    ("StateNotSaved", "fresh_process", {},
     r"fresh_process: one epoch of fit after load_model in a fresh process ended at other weights "
     r"than uninterrupted training .*keep all state the rule reads in optimizer.variables"),
    ("DiffersOnOtherBackends", "backends", {"backends": OTHER_BACKENDS[:1]},
     r"backends: 4 steps of DiffersOnOtherBackends\(learning_rate=0.1, beta=0.5\) after loading on "
     r"\w+ ended at other weights than on \w+ .*no branch on keras.backend.backend\(\)"),
]


@pytest.mark.parametrize("cls_name, promise, options, message", [
    pytest.param(*case, marks=[pytest.mark.slow] if case[1] in ("fresh_process", "backends") else [])
    for case in BROKEN
], ids=[f"{c}-{p}" for c, p, _, _ in BROKEN])
def test_each_broken_promise_is_caught_with_its_fix(cls_name, promise, options, message, tmp_path):
    if promise == "sparse" and BACKEND != "tensorflow":
        pytest.skip("only TensorFlow passes tf.IndexedSlices")
    if promise == "backends" and not OTHER_BACKENDS:
        pytest.skip("needs a second Keras backend installed")
    cls = getattr(broken, cls_name)
    with registered(cls), pytest.raises(ContractFailure, match=message) as caught:
        check_optimizer(cls, only=[promise], directory=str(tmp_path), **options)
    assert set(caught.value.failures) == {promise}


def test_an_optimizer_that_cannot_be_constructed_is_reported_once():
    with registered(broken.ForgetsHyperparameter), pytest.raises(ContractFailure) as caught:
        check_optimizer(broken.ForgetsHyperparameter)
    assert set(caught.value.failures) == {"by_name"}
    assert str(caught.value).startswith(
        "ForgetsHyperparameter(learning_rate=0.1, beta=0.5) breaks 1 promise(s) of the optimizer contract:"
    )


# -- a correct optimizer keeps every promise -------------------------------------------------


@pytest.mark.slow
def test_a_correct_optimizer_keeps_every_promise(tmp_path):
    with registered(broken.GoodMomentum) as name:
        report = check_optimizer(
            broken.GoodMomentum, reference=broken.momentum_reference, sparse="dense",
            invalid_configs=[({"beta": 1.0}, r"beta must be in \[0, 1\), got 1.0")],
            directory=str(tmp_path),
        )
    not_here = {
        "sparse": BACKEND != "tensorflow", "jit": BACKEND == "torch", "backends": not OTHER_BACKENDS,
    }
    assert report.optimizer == name
    assert set(report.checked) == {p for p in PROMISES if not not_here.get(p)}
    assert set(report.skipped) == {p for p in PROMISES if not_here.get(p)}
    # one fresh process per backend, this one's included, each wrote its report
    assert sorted(p.name for p in tmp_path.glob("report-*.json")) == sorted(
        f"report-{b}.json" for b in [BACKEND, *OTHER_BACKENDS]
    )


@pytest.mark.slow
def test_a_plain_keras_optimizer_keeps_every_promise_too(tmp_path):
    """The kit does not need PluginOptimizer: Keras's base class, slots made by hand."""
    with registered(broken.KerasMomentum):
        report = check_optimizer(
            broken.KerasMomentum, reference=broken.momentum_reference, sparse="dense", backends=(),
            directory=str(tmp_path),
        )
    assert {"by_name", "config", "errors", "reference", "fresh_process"} <= set(report.checked)


def test_an_unregistered_class_breaks_by_name_compile_and_keras_serialization():
    with pytest.raises(ContractFailure) as caught:
        check_optimizer(broken.GoodMomentum, example_config=broken.EXAMPLE_CONFIG,
                        only=["by_name", "compile", "config", "state"])
    failures = caught.value.failures
    assert set(failures) == {"by_name", "compile", "config"}
    assert re.search(
        r"by_name: kit_broken_optimizers.GoodMomentum is not registered, .*decorate the class with "
        r"@kerasopt_plugins.register_optimizer", failures["by_name"],
    )
    assert re.search(r"config: keras.saving.deserialize_keras_object\(.*register the class", failures["config"])


@pytest.mark.parametrize(
    "invalid, message",
    [
        (({"beta": 0.95}, "beta"), r"GoodMomentum\(learning_rate=0.1, beta=0.95\) was accepted: declared invalid"),
        (({"beta": 1.0}, "momentum"), r"beta=1.0\) raised ValueError\('beta must be in \[0, 1\), got 1.0'\), "
                                     r"which does not match 'momentum'"),
    ],
    ids=["accepted", "another-message"],
)
def test_declared_invalid_configs_must_fail_with_their_message(invalid, message):
    with pytest.raises(ContractFailure, match=message):
        check_optimizer(broken.GoodMomentum, example_config=broken.EXAMPLE_CONFIG, only=["errors"],
                        invalid_configs=[invalid])


def test_a_wrong_reference_is_reported_at_the_first_step_that_differs():
    with pytest.raises(ContractFailure, match=r"reference: after step 1 of 10"):
        check_optimizer(broken.GoodMomentum, example_config=broken.EXAMPLE_CONFIG, only=["reference"],
                        reference=broken.plain_sgd_reference)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="only TensorFlow passes tf.IndexedSlices")
def test_a_rule_declared_lazy_must_keep_untouched_rows():
    # GoodMomentum decays every row's average, as its rule says: not lazy. Step 0 starts from
    # zero averages, so rows without a gradient stay; at step 1 those of step 0 move on.
    with pytest.raises(ContractFailure, match=r"is declared sparse='lazy', but step 1 changed rows \[0, 2, 4\]"):
        check_optimizer(broken.GoodMomentum, example_config=broken.EXAMPLE_CONFIG, only=["sparse"], sparse="lazy")


def test_arguments_of_check_optimizer_are_checked():
    with pytest.raises(ValueError, match=r"unknown promises \['convergence'\]"):
        check_optimizer(broken.GoodMomentum, only=["convergence"])
    with pytest.raises(ValueError, match=r"sparse must be one of \('dense', 'lazy'\)"):
        check_optimizer(broken.GoodMomentum, sparse="sometimes")
    with pytest.raises(TypeError, match=r"invalid_configs must be \(config dict, message regex\) pairs"):
        check_optimizer(broken.GoodMomentum, invalid_configs=[{"beta": 2.0}])
    with pytest.raises(TypeError, match=r"must be a keras.optimizers.Optimizer subclass or a registered name"):
        check_optimizer(broken.momentum_reference)


# -- the pytest form --------------------------------------------------------------------------


def test_the_pytest_form_has_one_test_per_promise():
    tests = {name[len("test_"):] for name in dir(OptimizerContract) if name.startswith("test_")}
    assert tests == set(PROMISES)


def test_a_pytest_form_test_fails_with_the_promise_message_or_skips_with_the_reason():
    contract = OptimizerContract()
    with pytest.raises(ContractError, match=r"config: .*get_config\(\) has no 'beta'"):
        contract._check("config", make_subject(broken.ConfigDropsArgument))
    with pytest.raises(pytest.skip.Exception, match=r"reference: no reference given"):
        contract._check("reference", make_subject(broken.GoodMomentum))


class TestThePytestFormOnACorrectOptimizer(OptimizerContract):
    optimizer = broken.GoodMomentum
    reference = staticmethod(broken.momentum_reference)
    sparse = "dense"
    invalid_configs = [({"beta": -0.1}, r"beta must be in \[0, 1\)")]
    fresh_process = False  # the reloads run in test_a_correct_optimizer_keeps_every_promise
    backends = ()

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def registration(cls):
        with registered(broken.GoodMomentum):
            yield


# -- packaging and the documented example ----------------------------------------------------


@pytest.mark.slow
def test_the_kit_is_not_imported_by_the_package_and_imports_pytest_only_for_the_class():
    run_python(
        """
        import sys
        import kerasopt_plugins
        assert "kerasopt_plugins.testing" not in sys.modules
        from kerasopt_plugins.testing import check_optimizer, PROMISES
        assert "pytest" not in sys.modules
        from kerasopt_plugins.testing import OptimizerContract
        assert "pytest" in sys.modules
        """
    )


def test_a_fresh_process_imports_a_module_by_name_else_by_its_file_under_the_same_name(tmp_path):
    path = str(Path(broken.__file__).resolve())
    # loaded by path here: a fresh process loads the same file under the same name
    assert module_entry("kit_broken_optimizers") == {"name": "kit_broken_optimizers", "file": path}
    assert module_entry(path) == {"name": "kit_broken_optimizers", "file": path}
    other = str(tmp_path / "my_optimizers.py")
    assert module_entry(other) == {"name": "my_optimizers", "file": other}


def _doc_blocks() -> dict[str, str]:
    """The files docs/testing.md shows under ``<!-- file: NAME -->`` markers."""
    text = (ROOT / "docs" / "testing.md").read_text()
    return dict(re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", text, flags=re.S))


@pytest.mark.slow
def test_the_documented_test_file_passes_under_pytest(tmp_path):
    blocks = _doc_blocks()
    assert set(blocks) == {"my_optimizers.py", "test_my_optimizers.py"}
    for name, code in blocks.items():
        (tmp_path / name).write_text(code)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not backends", "test_my_optimizers.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    summary = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    skipped = int(m.group(1)) if (m := re.search(r"(\d+) skipped", summary)) else 0
    # every promise but backends (deselected: a process per backend) ran as a test
    assert passed + skipped == len(PROMISES) - 1, summary
    assert skipped == (BACKEND != "tensorflow") + (BACKEND == "torch"), summary
