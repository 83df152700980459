"""Keras 2 model configs that Keras 3's loader misreads, put in the form it reads.

Two differences, both found on files Keras 2.15 wrote (tests/legacy/reference/keras2_files):

* A model nested in a functional model (a Sequential or functional model used as a layer): Keras
  2 counted the node that building it from its own `Input` made, so the outer model's references
  to it say node 1 where Keras 3, which makes no such node, has node 0. Keras 2's loader skipped
  that first node (`_should_skip_first_node`: a nested model whose first layer is an
  `InputLayer`); Keras 3's does not and fails ("has loops or disconnected nodes"). The references
  to such a layer are renumbered, as Keras 2 read them.
* In a `.keras` file, Keras 2.15 recorded functional models with their Keras 2 module
  (``keras.src.engine.functional.Functional``), which Keras 3 cannot import. They become
  ``keras.models.Model``, which builds the same functional model.

Nothing else is changed; `fixed_model_config` returns the fixes it made, in words.
"""

from __future__ import annotations

import copy
from typing import Any

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
_KERAS2_ENGINE = ("keras.src.engine", "keras.engine")


def fixed_model_config(config: Any) -> tuple[Any, list[str]]:
    """The model config with Keras 2's forms that Keras 3 misreads rewritten; the fixes made."""
    config = copy.deepcopy(config)
    fixes: list[str] = []
    _walk(config, fixes)
    return config, fixes


def _walk(node: Any, fixes: list[str]) -> None:
    if isinstance(node, dict):
        module = node.get("module")
        if node.get("class_name") in ("Functional", "Model") and isinstance(module, str) and module.startswith(_KERAS2_ENGINE):
            name = (node.get("config") or {}).get("name")
            fixes.append(f"model {name!r}: class {module}.{node['class_name']} read as keras.models.Model")
            node["module"] = "keras.models"
            node["class_name"] = "Model"
            node["registered_name"] = None
        inner = node.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("layers"), list) and "input_layers" in inner:
            _renumber_nested_nodes(inner, fixes)
        for value in node.values():
            _walk(value, fixes)
    elif isinstance(node, list):
        for value in node:
            _walk(value, fixes)


def _layer_name(layer: dict) -> Any:
    return layer.get("name", (layer.get("config") or {}).get("name"))


def _built_from_input(layer: dict) -> bool:
    """Keras 2's `_should_skip_first_node`: a nested model whose first layer is an InputLayer."""
    if layer.get("class_name") not in _MODEL_CLASSES:
        return False
    layers = (layer.get("config") or {}).get("layers")
    return bool(layers) and isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer"


def _renumber_nested_nodes(functional: dict, fixes: list[str]) -> None:
    nested = {_layer_name(layer) for layer in functional["layers"] if isinstance(layer, dict) and _built_from_input(layer)}
    if not nested:
        return
    renumbered: set = set()

    def fix(reference: Any) -> None:
        # [layer name, node index, tensor index(, kwargs)], Keras 2's form
        if (
            isinstance(reference, list)
            and len(reference) >= 3
            and reference[0] in nested
            and isinstance(reference[1], int)
            and reference[1] >= 1
        ):
            reference[1] -= 1
            renumbered.add(reference[0])

    for layer in functional["layers"]:
        for node in layer.get("inbound_nodes") or []:
            if isinstance(node, list):
                for reference in node:
                    fix(reference)
    for key in ("input_layers", "output_layers"):
        references = functional.get(key)
        if isinstance(references, list) and references and not isinstance(references[0], list):
            fix(references)
        elif isinstance(references, list):
            for reference in references:
                fix(reference)
    for name in sorted(renumbered, key=str):
        fixes.append(
            f"nested model {name!r} in {functional.get('name')!r}: node indices renumbered from Keras 2's "
            "(which counted the node its own Input made)"
        )
