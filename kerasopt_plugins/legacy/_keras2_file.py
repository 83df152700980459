"""Reading a Keras 2 model file: `.h5`, or `.keras` as Keras 2.13-2.15 wrote it.

Only h5py, zipfile and json: nothing here builds a model or an optimizer. `read` returns what
`legacy.load_model` needs beyond what Keras 3's own loader reads (the model and its weights):
the training configuration (optimizer config, loss, metrics) and the optimizer's saved variables,
by name in an `.h5` (``Adam/dense/kernel/m:0``), by position in a `.keras`
(``optimizer/vars/3``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from typing import Any

import numpy as np

__all__ = ["Keras2File", "NotAKeras2FileError", "file_keras_version", "read"]


class NotAKeras2FileError(ValueError):
    """The file is not a Keras model file that Keras 2 wrote (the message says what it is)."""


@dataclasses.dataclass
class Keras2File:
    """What a Keras 2 model file holds besides the model and its weights.

    Attributes:
        path: the file.
        format: "h5" or "keras".
        keras_version: the Keras version that wrote it ("2.15.0").
        model_config: the model's config as saved (for a `.keras` file: the whole config.json).
        compile_config: the training configuration, normalized to the keys of Keras's compile
            (``optimizer``, ``loss``, ``metrics``, ``weighted_metrics``, ``loss_weights``, and
            for a `.keras` file ``run_eagerly``, ``steps_per_execution``, ``jit_compile``);
            None for a model saved uncompiled or without its optimizer.
        optimizer_weights: the optimizer's saved variables, in the file's order, as
            ``(name, value)``: the Keras 2 variable name for an `.h5` file, None for a `.keras`
            file (positional: ``optimizer/vars/<i>``).
    """

    path: str
    format: str
    keras_version: str
    model_config: Any
    compile_config: dict | None
    optimizer_weights: list[tuple[str | None, np.ndarray]]

    @property
    def optimizer_config(self) -> dict | None:
        return None if self.compile_config is None else self.compile_config.get("optimizer")


def _decode(value: Any) -> Any:
    return value.decode("utf8") if isinstance(value, bytes) else value


def attribute_list(group, name: str) -> list[str]:
    """A list attribute as Keras wrote it: whole, or in chunks ``name0``, ``name1``, ..."""
    if name in group.attrs:
        return [_decode(n) for n in group.attrs[name]]
    found: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:
        found.extend(_decode(n) for n in group.attrs[f"{name}{chunk}"])
        chunk += 1
    return found


def _h5py():
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py comes with Keras
        raise ImportError("kerasopt_plugins.legacy needs h5py to read Keras 2 files (pip install h5py)") from err
    return h5py


def file_keras_version(path: str) -> tuple[str, str] | None:
    """``(format, keras_version)`` of a Keras model file, or None if it is not one.

    format is "h5" for an HDF5 file with a ``keras_version`` attribute, "keras" for a zip
    archive with a ``metadata.json`` (Keras 2.13+ and Keras 3 `.keras` files).
    """
    if not os.path.isfile(path):
        return None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" not in archive.namelist():
                return None
            try:
                metadata = json.loads(archive.read("metadata.json"))
            except ValueError:
                return None
        version = metadata.get("keras_version") if isinstance(metadata, dict) else None
        return ("keras", str(version)) if version else None
    h5py = _h5py()
    if not h5py.is_hdf5(path):
        return None
    with h5py.File(path, "r") as f:
        version = _decode(f.attrs.get("keras_version"))
    return ("h5", str(version)) if version else None


def is_keras2_version(version: str) -> bool:
    return re.match(r"^2\.\d+", version) is not None


def _json_attribute(f, name: str) -> Any:
    value = _decode(f.attrs.get(name))
    return None if value is None else json.loads(value)


def read(path: str) -> Keras2File:
    """Read what `load_model` needs from a Keras 2 model file.

    Raises:
        NotAKeras2FileError: the file is not a Keras model file, or Keras 3 wrote it, or it holds
            weights only (``model.save_weights``).
    """
    found = file_keras_version(path)
    if found is None:
        raise NotAKeras2FileError(
            f"{path!r} is not a Keras model file (an .h5 file from model.save, or a .keras archive)"
        )
    kind, version = found
    if not is_keras2_version(version):
        raise NotAKeras2FileError(
            f"{path!r} was written by Keras {version}, not Keras 2: load it with keras.saving.load_model"
        )
    if kind == "h5":
        return _read_h5(path, version)
    return _read_keras(path, version)


def _read_h5(path: str, version: str) -> Keras2File:
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise NotAKeras2FileError(
                f"{path!r} holds weights only (Keras 2's model.save_weights): build the model in "
                "code and call model.load_weights on it"
            )
        model_config = _json_attribute(f, "model_config")
        training = _json_attribute(f, "training_config")
        weights: list[tuple[str | None, np.ndarray]] = []
        if "optimizer_weights" in f:
            group = f["optimizer_weights"]
            for name in attribute_list(group, "weight_names"):
                weights.append((name, np.asarray(group[name])))
    compile_config = None
    if training is not None:
        compile_config = {
            "optimizer": training.get("optimizer_config"),
            "loss": training.get("loss"),
            "metrics": training.get("metrics"),
            "weighted_metrics": training.get("weighted_metrics"),
            "loss_weights": training.get("loss_weights"),
        }
    return Keras2File(path, "h5", version, model_config, compile_config, weights)


def _read_keras(path: str, version: str) -> Keras2File:
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        names = archive.namelist()
        weights_blob = archive.read("model.weights.h5") if "model.weights.h5" in names else None
    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    weights: list[tuple[str | None, np.ndarray]] = []
    if weights_blob is not None:
        h5py = _h5py()
        with h5py.File(io.BytesIO(weights_blob), "r") as f:
            if "optimizer/vars" in f:
                group = f["optimizer/vars"]
                weights = [(None, np.asarray(group[key])) for key in sorted(group, key=int)]
    return Keras2File(path, "keras", version, config, dict(compile_config) if compile_config else None, weights)


@contextlib.contextmanager
def h5_model_weights(path: str):
    """The file's ``model_weights`` group, open for the block: ``group[layer][weight name]``."""
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        yield f["model_weights"]


@contextlib.contextmanager
def loadable_copy(file: Keras2File, model_config: Any):
    """A path Keras 3's `load_model` reads `file` from, with `model_config` as its model config:
    the file itself if that is what it holds and its name ends as Keras expects (.h5 / .keras),
    else a copy in a temporary directory (removed after the block)."""
    extension = ".keras" if file.format == "keras" else (".h5", ".hdf5")
    if model_config == file.model_config and file.path.endswith(extension):
        yield file.path
        return
    with tempfile.TemporaryDirectory(prefix="kerasopt_legacy_") as tmp:
        stem = os.path.splitext(os.path.basename(file.path))[0] or "model"
        copy = os.path.join(tmp, stem + (".keras" if file.format == "keras" else ".h5"))
        if file.format == "h5":
            shutil.copyfile(file.path, copy)
            with _h5py().File(copy, "r+") as f:
                f.attrs["model_config"] = json.dumps(model_config)
        else:
            with zipfile.ZipFile(file.path) as source, zipfile.ZipFile(copy, "w") as target:
                for item in source.infolist():
                    data = source.read(item.filename)
                    if item.filename == "config.json":
                        data = json.dumps(model_config).encode("utf8")
                    target.writestr(item, data)
        yield copy


def h5_layer_weight_names(group) -> list[tuple[str, list[str]]]:
    """``(layer name, [Keras 2 weight names])`` of each layer with weights in a ``model_weights``
    group, in the file's order (the order in which Keras's h5 loader assigns them to the
    model's layers that have weights)."""
    found = []
    for layer in attribute_list(group, "layer_names"):
        names = attribute_list(group[layer], "weight_names")
        if names:
            found.append((layer, names))
    return found
