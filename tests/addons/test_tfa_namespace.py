"""`kerasopt_plugins.addons` stands in for `tensorflow_addons`, and docs/tfa.md covers all of tfa.

tfa 0.23's public `tfa.optimizers` names come from the real module
(reference/data/tfa_api.json, written by reference/generate_tfa.py).
"""

from __future__ import annotations

import json
import pathlib
import re

import keras

import kerasopt_plugins
from kerasopt_plugins import addons as tfa

ROOT = pathlib.Path(__file__).resolve().parents[2]
TFA_API = json.loads((ROOT / "tests/addons/reference/data/tfa_api.json").read_text())["tfa.optimizers"]
DOC = (ROOT / "docs/tfa.md").read_text()


def ports() -> dict[str, kerasopt_plugins.OptimizerInfo]:
    """Registered optimizers that answer to a tfa key, by tfa class name."""
    found = {}
    for name in kerasopt_plugins.list_optimizers():
        info = kerasopt_plugins.optimizer_info(name)
        for key in info.legacy_keys:
            if key.startswith("Addons>"):
                found[key.split(">", 1)[1]] = info
    return found


def test_every_tfa_name_the_namespace_has_is_tfas_and_builds_the_registered_port():
    for name in tfa.optimizers.__all__:
        assert name in TFA_API, f"{name} is not a tfa.optimizers name"
        obj = getattr(tfa.optimizers, name)
        if TFA_API[name] in ("optimizer", "schedule"):  # not tfa's function and mixin
            assert keras.saving.get_custom_objects()[f"Addons>{name}"] is obj
    registered = ports()
    assert set(registered) <= set(tfa.optimizers.__all__)
    for name, info in registered.items():
        assert getattr(tfa.optimizers, name) is info.cls


def test_every_ported_tfa_optimizer_and_schedule_is_in_the_namespace():
    """No tfa optimizer or schedule is ported without being reachable as tfa.optimizers.X."""
    for name, kind in TFA_API.items():
        if kind in ("optimizer", "schedule") and f"`{name}`" in _row(name).split("|")[2]:
            assert hasattr(tfa.optimizers, name), name


def _row(name: str) -> str:
    rows = [line for line in DOC.splitlines() if line.startswith(f"| `tfa.optimizers.{name}` |")]
    assert len(rows) == 1, f"docs/tfa.md needs exactly one table row for tfa.optimizers.{name}"
    return rows[0]


def test_docs_table_has_a_row_for_every_public_tfa_name_with_the_registered_names():
    for name in TFA_API:
        _row(name)
    for name, info in ports().items():
        cells = _row(name).split("|")
        for registered in info.names:
            assert f"`{registered}`" in cells[3], (name, registered)
    listed = set(re.findall(r"^\| `tfa\.optimizers\.(\w+)` \|", DOC, flags=re.M))
    assert listed == set(TFA_API)
