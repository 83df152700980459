"""The promises that need other processes: a ``.keras`` file reloads in a fresh process, and on
every installed backend, with identical state and training that continues the same way.

This process trains each optimizer two epochs, saves the model, and trains one epoch more (the
uninterrupted run). Then one fresh process per backend (`_child`) loads every file, compares
the optimizer's variables with the saved ones and trains that one epoch; several optimizers
share each process, which is most of the cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from kerasopt_plugins.testing._construction import numpy
from kerasopt_plugins.testing._subject import ContractError, Subject, module_entry
from kerasopt_plugins.testing._training import regression_data, small_model

SAVED_AT, CONTINUED_TO = 8, 12  # iterations: two epochs of 4 batches, then one more


def _save(s: Subject, root: Path, key: str, x, y) -> dict[str, Any]:
    extra = {"decay": 0.1} if "decay" in s.hyperparameters and "decay" not in s.example_config else {}
    model = small_model()
    model.compile(optimizer=s.make("fresh_process", **extra), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    try:
        model.save(root / f"{key}.keras")
    except Exception as err:  # noqa: BLE001
        return {"error": f"model.save raised {type(err).__name__}: {err}"}
    np.savez(root / f"{key}_slots.npz", **{str(i): numpy(v) for i, v in enumerate(model.optimizer.variables)})
    saved_config = json.loads(json.dumps(model.optimizer.get_config()))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return {"config": saved_config, "weights": [numpy(w) for w in model.trainable_variables]}


def _manifest_entry(s: Subject) -> dict[str, Any]:
    defined_in = module_entry(s.cls.__module__)
    return {
        "name": s.name,
        "qualname": s.cls.__qualname__,
        "defined_in": defined_in,
        # strict when the author names the modules a user imports; else the defining module,
        # and the optimizer registered under its name if importing that did not
        "modules": [module_entry(m) for m in s.modules] if s.modules is not None else [defined_in],
        "register": s.modules is None,
    }


class Reloads:
    """Models saved here for several subjects, and what a fresh process of each backend saw.

    `Reloads(subjects)` trains and saves every subject's model; `result(subject, backend)`
    runs that backend's process for all of them (once) and returns what it saw.
    """

    def __init__(self, subjects: Sequence[Subject], directory: str | os.PathLike | None = None, timeout: float = 600):
        self.current = keras.backend.backend()
        self.root = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="kerasopt-contract-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.subjects = list(subjects)
        self.timeout = timeout
        self.results: dict[str, dict[str, dict[str, Any]]] = {}  # backend -> key -> report
        x, y = regression_data()
        np.savez(self.root / "data.npz", x=x, y=y)
        self.expected, manifest = {}, {}
        for i, s in enumerate(self.subjects):
            key = f"s{i}"
            try:
                self.expected[key] = _save(s, self.root, key, x, y)
            except ContractError as err:
                self.expected[key] = {"error": err.message}
            except Exception as err:  # noqa: BLE001 - reported by each reload promise
                self.expected[key] = {"error": f"training before the save raised {type(err).__name__}: {err}"}
            if "error" not in self.expected[key]:
                manifest[key] = _manifest_entry(s)
        (self.root / "manifest.json").write_text(json.dumps({"subjects": manifest}))

    def key(self, subject: Subject) -> str:
        return f"s{next(i for i, s in enumerate(self.subjects) if s is subject)}"

    def result(self, subject: Subject, backend: str) -> dict[str, Any]:
        if backend not in self.results:
            self.results[backend] = self._run(backend)
        return self.results[backend].get(self.key(subject), {"error": "not saved"})

    def _run(self, backend: str) -> dict[str, dict[str, Any]]:
        env = {
            **os.environ,
            "KERAS_BACKEND": backend,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "kerasopt_plugins.testing._child", str(self.root)],
            env=env, capture_output=True, text=True, timeout=self.timeout,
        )
        report = self.root / f"report-{backend}.json"
        if proc.returncode != 0 or not report.exists():
            failure = f"the {backend} process failed ({proc.returncode}): {proc.stderr[-3000:]}"
            return {f"s{i}": {"error": failure} for i in range(len(self.subjects))}
        return json.loads(report.read_text())

    def weights(self, subject: Subject, backend: str) -> list[np.ndarray]:
        arrays = np.load(self.root / f"{self.key(subject)}_continued_{backend}.npz")
        return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]


STATE_FIX = (
    "keep all state the rule reads in optimizer.variables: slots created in build() "
    "(slot_names, self.add_variable), not Python attributes or Variables the optimizer does not "
    "track, which model.save does not write"
)


def _loaded(s: Subject, reloads: Reloads, backend: str, promise: str) -> dict[str, Any]:
    saved = reloads.expected[reloads.key(s)]
    if "error" in saved:
        raise ContractError(promise, f"saving a model trained with {s.call()} failed: {saved['error']}")
    got = reloads.result(s, backend)
    where = "a fresh process" if backend == reloads.current else f"a {backend} process"
    if "error" in got:
        modules = [m["name"] for m in _manifest_entry(s)["modules"]]
        raise ContractError(
            promise,
            f"loading {s.label}'s .keras file in {where} (after importing {', '.join(modules)}) "
            f"failed: {got['error']}: register the optimizer in the module that defines it, and "
            "import that module from the modules a user imports (your package's __init__)",
        )
    if got["class"] != s.qualified_name:
        raise ContractError(promise, f"load_model in {where} gave a {got['class']}, not a {s.qualified_name}")
    if got["variables"][0] != got["variables"][1] or got["differ"]:
        changed = got["differ"] or f"{got['variables'][1]} saved, {got['variables'][0]} after loading"
        raise ContractError(
            promise,
            f"the optimizer variables of {s.call()} changed across save and load in {where} "
            f"({changed}; Keras said: {' '.join(got['warnings']) or 'nothing'}): create the same "
            "variables in build() whatever the backend, so load_model can restore them",
        )
    if got["iterations"] != SAVED_AT or got["iterations_after"] != CONTINUED_TO:
        raise ContractError(
            promise,
            f"iterations was {got['iterations']} after loading in {where} (saved at {SAVED_AT}) "
            f"and {got['iterations_after']} after 4 more steps",
        )
    return got


def check_fresh_process(s: Subject, reloads: Reloads) -> None:
    """Same class, config, iterations, slots bit for bit; continued training bit-identical."""
    got = _loaded(s, reloads, reloads.current, "fresh_process")
    saved = reloads.expected[reloads.key(s)]
    if got["config"] != saved["config"]:
        keys = set(saved["config"]) | set(got["config"])
        diff = {k: (saved["config"].get(k), got["config"].get(k)) for k in keys if saved["config"].get(k) != got["config"].get(k)}
        raise ContractError("fresh_process", f"the reloaded optimizer's config differs (saved, loaded): {diff}")
    for i, (a, b) in enumerate(zip(reloads.weights(s, reloads.current), saved["weights"])):
        if not np.array_equal(a, b):
            raise ContractError(
                "fresh_process",
                f"one epoch of fit after load_model in a fresh process ended at other weights than "
                f"uninterrupted training with {s.call()} (weight {i}, largest difference "
                f"{float(np.max(np.abs(a - b))):.3g}): {STATE_FIX}",
            )


def check_backend(s: Subject, reloads: Reloads, backend: str) -> None:
    """On `backend`: the file loads with identical state, and training continues as here."""
    _loaded(s, reloads, backend, "backends")
    want = reloads.expected[reloads.key(s)]["weights"]
    for i, (a, b) in enumerate(zip(reloads.weights(s, backend), want)):
        if not np.allclose(a, b, rtol=s.rtol, atol=s.atol):
            raise ContractError(
                "backends",
                f"4 steps of {s.call()} after loading on {backend} ended at other weights than "
                f"on {reloads.current} (weight {i}, largest difference "
                f"{float(np.max(np.abs(a - b))):.3g}, rtol {s.rtol:g}): the rule must compute "
                "the same numbers everywhere: keras.ops only, no branch on keras.backend.backend()",
            )


def check_backends(s: Subject, reloads: Reloads, backends: Sequence[str]) -> str | None:
    """`check_backend` on each of `backends` (other than this one)."""
    others = [b for b in backends if b != reloads.current]
    if not others:
        return f"no backend other than {reloads.current} to check (installed or asked for)"
    for backend in others:
        check_backend(s, reloads, backend)
    return None
