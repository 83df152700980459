"""The richer registry records: what is declared (sparse, reference), what is derived (ranges from
the constructor's own checks, elementwise, the timm-style flags), and their JSON form."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest

from kerasopt_plugins import PluginOptimizer, list_optimizers, optimizer_info, register_optimizer
from kerasopt_plugins.cli import main
from kerasopt_plugins.registry import CAPABILITIES, hyperparameter_defaults
from kerasopt_plugins.testing._subject import make_subject

RANGE = re.compile(r"^([\[(])(-inf|[-0-9.e]+), (inf|[-0-9.e]+)([\])])$")


def test_the_declared_and_derived_fields_of_known_optimizers():
    sgd = optimizer_info("momentum_sgd")
    assert dict(sgd.hyperparameter_ranges) == {"learning_rate": "[0, inf)", "momentum": "[0, 1)", "decay": "[0, inf)"}
    assert sgd.capabilities == ("elementwise", "sparse_dense", "has_momentum")
    assert sgd.reference.startswith("Polyak (1964)")
    assert optimizer_info("lazy_adam").capabilities == ("elementwise", "sparse_lazy", "amsgrad", "has_betas", "has_eps")
    assert optimizer_info("novograd").elementwise is False  # a per-variable norm
    assert optimizer_info("conditional_gradient").capabilities == ("sparse_lazy", "has_eps", "constrained")
    assert optimizer_info("yogi").hyperparameter_ranges["epsilon"] == "[0, inf)"  # check_number, not check_epsilon
    assert optimizer_info("adabelief").sparse is None


def test_the_conformance_kit_reads_the_declared_sparse_behaviour():
    assert make_subject("lazy_adam").sparse == "lazy"
    assert make_subject("momentum_sgd").sparse == "dense"
    assert make_subject("momentum_sgd", sparse="lazy").sparse == "lazy"  # the author's word wins


@pytest.mark.parametrize("name", list_optimizers())
def test_each_derived_range_is_what_the_constructor_accepts(name):
    """At every finite bound: accepted when closed, refused when open; a step outside: refused."""
    info = optimizer_info(name)
    assert info.hyperparameter_ranges, name
    defaults = hyperparameter_defaults(info.cls)
    for argument, text in info.hyperparameter_ranges.items():
        left, low, high, right = RANGE.match(text).groups()
        integer = isinstance(defaults[argument], int)  # an int argument (total_steps) is tried with ints
        for bound, closed, outward in ((low, left == "[", -1.0), (high, right == "]", 1.0)):
            if "inf" in bound:
                continue
            value = int(bound) if integer else float(bound)
            if closed:
                info.cls(**{argument: value})
            else:
                with pytest.raises(ValueError, match=argument):
                    info.cls(**{argument: value})
            outside = value + (int(outward) if integer else outward * max(1e-3, abs(value) * 1e-3))
            with pytest.raises(ValueError, match=argument):
                info.cls(**{argument: outside})


def _steps(optimizer, variables, gradients):
    for g in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize("name", list_optimizers())
def test_elementwise_says_whether_splitting_a_variable_into_its_elements_changes_the_steps(name):
    info = optimizer_info(name)
    rng = np.random.default_rng(0)
    start = rng.normal(size=(2, 3)).astype("float32")
    grads = [rng.normal(size=(2, 3)).astype("float32") for _ in range(3)]
    whole = _steps(info.cls(**info.example_config), [keras.Variable(start)], [[g] for g in grads])[0]
    pieces = _steps(info.cls(**info.example_config), [keras.Variable(x.reshape(1)) for x in start.ravel()],
                    [list(g.ravel().reshape(-1, 1)) for g in grads])
    same = np.allclose(whole.ravel(), np.concatenate(pieces), rtol=1e-6, atol=1e-7)
    assert same is info.elementwise, f"{name}: elementwise={info.elementwise}, split steps equal: {same}"


def test_register_optimizer_checks_the_new_keywords(clean_registry):
    with pytest.raises(ValueError, match=r"sparse must be one of \('dense', 'lazy'\) or None, got 'sometimes'"):
        register_optimizer("bad_sparse", sparse="sometimes")
    with pytest.raises(TypeError, match="reference must be a one-line str, got 3"):
        register_optimizer("bad_reference", reference=3)

    @register_optimizer("documented_sgd")
    class DocumentedSGD(PluginOptimizer):
        """Plain descent.

        References:
            Someone (2024), "A title",
            https://example.org/paper.
        """

        def update_step(self, gradient, variable, learning_rate):
            self.assign_sub(variable, keras.ops.multiply(gradient, learning_rate))

    info = optimizer_info("documented_sgd")
    assert info.reference == 'Someone (2024), "A title", https://example.org/paper.'
    assert (info.sparse, info.distribution, info.capabilities) == (None, None, ())


def test_list_json_is_every_record_and_has_filters(capsys):
    assert main(["list", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == list_optimizers()
    assert records[0] == json.loads(json.dumps(optimizer_info(records[0]["name"]).as_dict()))
    assert main(["list", "--json", "--has", "amsgrad", "--has", "sparse_lazy"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert names == [n for n in list_optimizers() if {"amsgrad", "sparse_lazy"} <= set(optimizer_info(n).capabilities)]
    assert names == ["lazy_adam", "novograd"]


def test_list_long_shows_every_field_and_the_short_view_stays_short(capsys):
    assert main(["list", "--long", "momentum_sgd"]) == 0
    long = capsys.readouterr().out
    for line in ("reference: Polyak (1964)", "momentum=0.0 in [0, 1)", "capabilities: elementwise, sparse_dense, has_momentum",
                 "sparse: dense", "example_config: {'learning_rate': 0.1, 'momentum': 0.9}"):
        assert line in long
    assert main(["list", "momentum_sgd"]) == 0
    assert "reference:" not in capsys.readouterr().out


def test_list_refuses_an_unknown_capability(capsys):
    assert main(["list", "--has", "momentum"]) == 2
    assert f"--has 'momentum' is not a capability; the capabilities are {', '.join(CAPABILITIES)}" in capsys.readouterr().err
