"""The fresh Python process of the reload checks: ``python -m kerasopt_plugins.testing._child ROOT``.

Imports only what the manifest names (as a user would), loads each saved ``.keras`` file,
compares the optimizer's variables with the saved ones, trains one more epoch and writes
``ROOT/report-<backend>.json`` and the weights; the parent process judges the results.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import traceback
import warnings


def import_entry(entry):
    """Import a module by name, else (a test module loaded by path) from its file, under that name."""
    name, path = entry["name"], entry.get("file")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing_is_the_module = err.name in (name, name.split(".")[0])
        if path is None or not missing_is_the_module:
            raise
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _class(entry):
    obj = import_entry(entry["defined_in"])
    for part in entry["qualname"].split("."):
        obj = getattr(obj, part)
    return obj


def reload_one(root, key, entry, data, keras, np, registry):
    for module in entry["modules"]:
        import_entry(module)
    name = entry["name"]
    if entry["register"] and name is not None and name not in registry.list_optimizers():
        cls = _class(entry)  # the test registered it at run time: so does this process
        if registry.registered_name(cls) is None:
            registry.register_optimizer(name)(cls)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.saving.load_model(f"{root}/{key}.keras")
    if keras.backend.backend() == "torch":
        # a file saved on JAX asks for jit_compile=True (JAX's "auto"): torch.compile, tens of
        # seconds per model on a CPU; torch's own "auto" is eager
        model.jit_compile = False
    optimizer = model.optimizer
    saved = np.load(f"{root}/{key}_slots.npz")
    loaded = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    differ = [
        optimizer.variables[i].path
        for i in range(min(len(loaded), len(saved.files)))
        if not np.array_equal(loaded[i], saved[str(i)])
    ]
    result = {
        "class": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}",
        "config": optimizer.get_config(),
        "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
        "variables": [len(loaded), len(saved.files)],
        "differ": differ,
        "warnings": [str(w.message) for w in caught if "optimizer" in str(w.message).lower()],
    }
    model.fit(data["x"], data["y"], batch_size=8, epochs=1, verbose=0, shuffle=False)
    result["iterations_after"] = int(keras.ops.convert_to_numpy(optimizer.iterations))
    return result, [keras.ops.convert_to_numpy(w) for w in model.trainable_variables]


def main(root: str) -> None:
    manifest = json.load(open(f"{root}/manifest.json"))
    import keras
    import numpy as np

    import kerasopt_plugins  # noqa: F401 - what every user imports
    from kerasopt_plugins import registry

    backend = keras.backend.backend()
    data = np.load(f"{root}/data.npz")
    report = {}
    for key, entry in manifest["subjects"].items():
        try:
            result, weights = reload_one(root, key, entry, data, keras, np, registry)
            np.savez(f"{root}/{key}_continued_{backend}.npz", *weights)
        except Exception as err:  # noqa: BLE001 - reported to the parent, which judges
            lines = traceback.format_exception_only(type(err), err)
            result = {"error": "".join(lines).strip(), "traceback": traceback.format_exc()[-4000:]}
        report[key] = result
    with open(f"{root}/report-{backend}.json", "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1])
