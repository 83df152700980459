"""`kerasopt upgrade` and `kerasopt inspect` on Keras 2 files (issue #14, item 3's CLI part).

In-process through `kerasopt_plugins.cli.main(argv)` on the committed Keras 2 files
(reference/keras2_files/, written by Keras 2.15 + tensorflow-addons 0.23; golden.json records
what they hold), and one fresh process running the installed `kerasopt` console script, where
plain `keras.saving.load_model` of the upgraded file continues training exactly as
`legacy.load_model`'s model does.
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import shutil
import sys
import warnings

import h5py
import keras
import numpy as np
import pytest
from conftest import run_python

from kerasopt_plugins import cli, legacy
from kerasopt_plugins.legacy import load as legacy_load

FILES = pathlib.Path(__file__).parent / "reference" / "keras2_files"
GOLDEN = json.loads((FILES / "golden.json").read_text())
CASES = GOLDEN["cases"]
KERASOPT = shutil.which("kerasopt", path=os.path.dirname(sys.executable)) or shutil.which("kerasopt")
USED = (
    "tfa_rectified_adam", "tfa_lookahead_rectified_adam", "keras2_adam", "keras2_legacy_adam_decay",
    "keras2_legacy_nadam", "tfa_rectified_adam_keras", "keras2_adam_keras",
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The Keras 2 files these tests use, decompressed once: name -> path."""
    directory = tmp_path_factory.mktemp("keras2_files")
    found = {}
    for name in USED:
        path = directory / CASES[name]["file"].removesuffix(".gz")
        path.write_bytes(gzip.decompress((FILES / CASES[name]["file"]).read_bytes()))
        found[name] = path
    return found


@pytest.fixture
def kerasopt(capsys):
    """`kerasopt ARGS...` in this process: (exit status, stdout, stderr); argparse's exits included."""

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exit_:
            code = exit_.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def assert_one_line_error(result, match: str) -> None:
    code, out, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasopt: error: ") and match in lines[0], err
    assert out == ""


def value(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable.value if isinstance(variable, keras.Variable) else variable))


def iterations(optimizer) -> int:
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def load_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return legacy.load_model(path)


def stats(array) -> dict:
    a = np.asarray(array, dtype=np.float64)
    return {"mean": a.mean(), "std": a.std(), "min": a.min(), "max": a.max(), "l2": np.sqrt(np.sum(a * a))}


def h5_optimizer_weight(path, name) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return np.asarray(f["optimizer_weights"][name])


# -- upgrade ------------------------------------------------------------------------------------

#: What `kerasopt upgrade` prints for each file: the optimizer mapping and the slot mapping.
UPGRADED = {
    "tfa_rectified_adam": (
        "Addons>RectifiedAdam -> kerasopt_plugins.optimizers.rectified_adam.RectifiedAdam",
        "m -> m, v -> v",
    ),
    "tfa_lookahead_rectified_adam": (
        "Addons>Lookahead -> kerasopt_plugins.wrappers.lookahead.Lookahead > "
        "kerasopt_plugins.optimizers.rectified_adam.RectifiedAdam",
        "slow -> Lookahead.slow, m -> RectifiedAdam.m, v -> RectifiedAdam.v, vhat -> RectifiedAdam.vhat",
    ),
    "keras2_adam": ("Custom>Adam -> keras.src.optimizers.adam.Adam", "m -> momentum, v -> velocity"),
}


@pytest.mark.parametrize("name", sorted(UPGRADED))
def test_upgrade_writes_a_file_keras_loads_with_the_state_legacy_load_model_restores(kerasopt, files, tmp_path, name):
    target = tmp_path / "new.keras"
    code, out, err = kerasopt("upgrade", files[name], target)
    assert code == 0 and err == "", err
    lines = out.splitlines()
    optimizer_line, slots_line = UPGRADED[name]
    saved_iterations = CASES[name]["saved"]["iterations"]
    assert lines[0] == f"upgraded {files[name]} (Keras 2.15.0, .h5) -> {target} (Keras {keras.__version__})"
    assert f"optimizer: {optimizer_line}" in lines
    assert f"state: restored; iterations {saved_iterations}" in lines
    assert f"slots (Keras 2 -> Keras 3): {slots_line}" in lines
    assert "loss and metrics: mse, mae (the same names as in the Keras 2 file)" in lines
    upgraded = keras.saving.load_model(target)  # plain Keras 3
    reference = load_quietly(files[name])
    assert type(upgraded.optimizer) is type(reference.optimizer)
    assert iterations(upgraded.optimizer) == iterations(reference.optimizer) == saved_iterations
    mine, theirs = upgraded.optimizer.variables, reference.optimizer.variables
    assert [tuple(v.shape) for v in mine] == [tuple(v.shape) for v in theirs] and len(mine) > 1
    assert all(np.array_equal(value(a), value(b)) for a, b in zip(mine, theirs))
    assert all(np.array_equal(value(a), value(b)) for a, b in zip(upgraded.weights, reference.weights))
    # the slots hold the file's values, not a fresh optimizer's zeros
    assert sum(bool(np.any(value(v))) for v in mine) > len(upgraded.trainable_variables)


def test_upgrade_json_is_the_report_and_warnings_go_to_stderr(kerasopt, files, tmp_path):
    """Keras 2's legacy Adam with decay and a Huber(delta=0.5) loss, which Keras 3 saves without
    its delta: the warning is one line on stderr, the JSON on stdout parses."""
    target = tmp_path / "adam.keras"
    code, out, err = kerasopt("upgrade", files["keras2_legacy_adam_decay"], target, "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["source"], report["target"]) == (str(files["keras2_legacy_adam_decay"]), str(target))
    assert (report["format"], report["keras_version"], report["optimizer_in_file"]) == ("h5", "2.15.0", "Adam")
    assert report["optimizer"] == "keras.src.optimizers.adam.Adam" and report["state"] == "restored"
    assert report["iterations"] == CASES["keras2_legacy_adam_decay"]["saved"]["iterations"] == 16
    assert report["slots"] == {"m": "momentum", "v": "velocity"} and report["renamed"] == {}
    assert len(report["warnings"]) == 1 and "the loss Huber computes" in report["warnings"][0]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kerasopt: warning: upgrade: {target}: the loss Huber computes")


def test_upgrade_names_a_loss_keras_3_calls_otherwise(kerasopt, files, tmp_path):
    old = tmp_path / "logcosh.h5"
    shutil.copyfile(files["tfa_rectified_adam"], old)
    with h5py.File(old, "r+") as f:
        config = json.loads(f.attrs["training_config"])
        config["loss"] = "logcosh"
        f.attrs["training_config"] = json.dumps(config)
    code, out, err = kerasopt("upgrade", old, tmp_path / "logcosh.keras")
    assert code == 0, err
    assert "renamed for Keras 3: logcosh -> log_cosh" in out.splitlines()
    assert keras.saving.load_model(tmp_path / "logcosh.keras").loss == "log_cosh"


def test_upgrade_fresh_and_skip(kerasopt, files, tmp_path):
    code, out, err = kerasopt("upgrade", files["tfa_rectified_adam"], tmp_path / "fresh.keras", "--optimizer", "fresh")
    assert code == 0 and "state: fresh (requested)" in out.splitlines(), err
    fresh = keras.saving.load_model(tmp_path / "fresh.keras")
    assert type(fresh.optimizer).__name__ == "RectifiedAdam" and iterations(fresh.optimizer) == 0
    assert not any(np.any(value(v)) for v in fresh.optimizer.variables if not v.path.endswith("learning_rate"))
    code, out, err = kerasopt("upgrade", files["tfa_rectified_adam"], tmp_path / "skip.keras", "--optimizer", "skip")
    assert code == 0
    assert "optimizer: Addons>RectifiedAdam not loaded (--optimizer skip): the model and its weights, uncompiled" in out
    assert err.startswith("kerasopt: warning: ") and "loaded without its optimizer" in err
    assert getattr(keras.saving.load_model(tmp_path / "skip.keras"), "optimizer", None) is None


def test_upgrade_refuses_with_one_line(kerasopt, files, tmp_path):
    old = files["tfa_rectified_adam"]
    target = tmp_path / "new.keras"
    target.write_text("precious")
    assert_one_line_error(kerasopt("upgrade", old, target), f"'{target}' exists; pass --force to replace it")
    assert target.read_text() == "precious"
    assert_one_line_error(kerasopt("upgrade", old, tmp_path / "new.h5"), "NEW.keras must end in .keras")
    assert_one_line_error(kerasopt("upgrade", tmp_path / "missing.h5", tmp_path / "x.keras"), "no such file")
    assert_one_line_error(kerasopt("upgrade", old, tmp_path / "nowhere" / "x.keras"), "no such folder")
    keras2_keras = files["keras2_adam_keras"]
    assert_one_line_error(kerasopt("upgrade", keras2_keras, keras2_keras, "--force"), "is OLD itself")
    assert_one_line_error(kerasopt("upgrade", old, target, "--optimizer", "keep"),
                          "argument --optimizer: invalid choice: 'keep' (choose from 'restore', 'fresh', 'skip')")
    assert_one_line_error(kerasopt("upgrade", files["keras2_legacy_nadam"], tmp_path / "nadam.keras"),
                          "no Keras 3 optimizer continues it")
    assert not (tmp_path / "nadam.keras").exists()
    unknown = tmp_path / "unknown.h5"  # an optimizer class nobody registered: the options that help
    shutil.copyfile(old, unknown)
    with h5py.File(unknown, "r+") as f:
        config = json.loads(f.attrs["training_config"])
        config["optimizer_config"]["class_name"] = "MySecretOptimizer"
        f.attrs["training_config"] = json.dumps(config)
    assert_one_line_error(kerasopt("upgrade", unknown, tmp_path / "unknown.keras"),
                          "'MySecretOptimizer' is not known on Keras 3")
    assert_one_line_error(kerasopt("upgrade", unknown, tmp_path / "unknown.keras"),
                          "(kerasopt upgrade: --import MODULE (the module that registers it) or --optimizer skip)")
    (tmp_path / "notes.txt").write_text("not a model")
    assert_one_line_error(kerasopt("upgrade", tmp_path / "notes.txt", tmp_path / "notes.keras"), "is not a Keras model file")
    # --force replaces it, and the result is a Keras 3 file: nothing to upgrade there
    code, _, err = kerasopt("upgrade", old, target, "--force")
    assert code == 0, err
    assert iterations(keras.saving.load_model(target).optimizer) == 16
    assert_one_line_error(kerasopt("upgrade", target, tmp_path / "again.keras"),
                          f"was written by Keras {keras.__version__}, not Keras 2")


def test_upgrade_optimizer_choices_are_load_models(kerasopt):
    assert cli.UPGRADE_OPTIMIZER_CHOICES == legacy_load.OPTIMIZER_CHOICES
    code, out, _ = kerasopt("upgrade", "--help")
    assert code == 0 and "examples:" in out and "{restore,fresh,skip}" in out


# -- inspect on Keras 2 files -------------------------------------------------------------------


def test_inspect_a_keras_2_h5_shows_its_saved_state(kerasopt, files):
    """tfa's Lookahead(RectifiedAdam), trained 16 steps by Keras 2: the levels, the step count
    and every slot's statistics, as legacy.load_model restores them and as the file holds them."""
    path = files["tfa_lookahead_rectified_adam"]
    code, out, err = kerasopt("inspect", path, "--json")
    assert code == 0 and err == "", err
    report = json.loads(out)
    assert (report["format"], report["keras_version"], report["optimizer_in_file"]) == ("keras2-h5", "2.15.0", "Addons>Lookahead")
    assert report["upgrade_with"] == f"kerasopt upgrade {path} NEW.keras"
    assert report["state_loaded"] is True
    assert report["iterations"] == CASES["tfa_lookahead_rectified_adam"]["saved"]["iterations"] == 16
    assert int(h5_optimizer_weight(path, "iter:0")) == 16
    assert [level["slots"] for level in report["levels"]] == [["slow"], ["m", "v", "vhat"]]
    model = load_quietly(path)
    owners = {0: model.optimizer, 1: model.optimizer.inner_optimizer}
    assert len(report["slots"]) == 4 * len(model.trainable_variables)
    for entry in report["slots"]:
        variable = next(v for v in model.trainable_variables if v.path == entry["variable"])
        expected = stats(value(owners[entry["level"]].get_slot(variable, entry["slot"])))
        assert {k: entry[k] for k in expected} == pytest.approx(expected, rel=1e-12, abs=0), entry
    # and one straight from the file: Keras 2's slow weights of the head's kernel
    head = next(e for e in report["slots"] if e["slot"] == "slow" and e["variable"] == "head/kernel")
    saved = stats(h5_optimizer_weight(path, "Lookahead/head/kernel/slow:0"))
    assert {k: head[k] for k in saved} == pytest.approx(saved, rel=1e-12, abs=0) and saved["l2"] > 0


def test_inspect_a_keras_2_h5_as_a_table(kerasopt, files):
    path = files["tfa_rectified_adam"]
    code, out, err = kerasopt("inspect", path)
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines[:4] == [
        "Keras 2 file (.h5, Keras 2.15.0): read with kerasopt_plugins.legacy.load_model; nothing is written",
        f"to write it as a Keras 3 file: kerasopt upgrade {path} NEW.keras",
        "optimizer in the file: Addons>RectifiedAdam",
        "optimizer: kerasopt_plugins.optimizers.rectified_adam.RectifiedAdam",
    ]
    assert "iterations: 16" in lines
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("slot ")):]
    rows = {(row.split()[0], row.split()[1]): row.split()[3:] for row in table[2:]}
    assert len(rows) == 2 * 4
    for (slot, variable), shown in rows.items():  # Keras 3's dense_model/dense/kernel is Keras 2's dense/kernel
        keras2_name = "/".join(variable.split("/")[-2:])
        saved = stats(h5_optimizer_weight(path, f"RectifiedAdam/{keras2_name}/{slot}:0"))
        assert shown == [f"{saved[k]:.4g}" for k in ("mean", "std", "min", "max", "l2")], (slot, variable)
    assert not (path.parent / "NEW.keras").exists()


def test_inspect_keras_2_15_keras_files(kerasopt, files):
    """Keras 2.15's .keras: Keras 3's loader fails on them; inspect reads them as load_model does.
    Keras 2 saved state for its 2.11+ Adam, none for tfa's RectifiedAdam (an OptimizerV2)."""
    code, out, _ = kerasopt("inspect", files["keras2_adam_keras"], "--json")
    adam = json.loads(out)
    assert code == 0 and (adam["format"], adam["state_loaded"], adam["iterations"]) == ("keras2-keras", True, 16)
    assert {e["slot"] for e in adam["slots"]} == {"momentum", "velocity", "velocity_hat"}
    reference = load_quietly(files["keras2_adam_keras"])
    kernel = reference.trainable_variables[0]
    momentum = next(e for e in adam["slots"] if e["slot"] == "momentum" and e["variable"] == kernel.path)
    slot = next(v for v in reference.optimizer.variables if v.path.endswith(f"/{kernel.path.replace('/', '_')}_momentum"))
    expected = stats(value(slot))
    assert {k: momentum[k] for k in expected} == pytest.approx(expected, rel=1e-12, abs=0) and expected["l2"] > 0
    code, out, err = kerasopt("inspect", files["tfa_rectified_adam_keras"], "--json")
    radam = json.loads(out)
    assert code == 0 and radam["format"] == "keras2-keras" and radam["optimizer_in_file"] == "RectifiedAdam"
    assert (radam["state_loaded"], radam["iterations"], radam["slots"]) == (False, None, [])
    assert "Keras 2.15.0 saved no variables of this optimizer" in radam["state_note"]
    assert "holds no state for its optimizer 'RectifiedAdam'" in err
    code, out, _ = kerasopt("inspect", files["tfa_rectified_adam_keras"])
    assert "optimizer state: NONE IN THE FILE. Keras 2.15.0 saved no variables" in out and "mean" not in out


def test_inspect_refuses_what_it_cannot_read_with_one_line(kerasopt, files, tmp_path):
    assert_one_line_error(kerasopt("inspect", files["keras2_legacy_nadam"]), "no Keras 3 optimizer continues it")
    weights_only = tmp_path / "weights.h5"  # Keras 2's save_weights: no model config
    shutil.copyfile(files["tfa_rectified_adam"], weights_only)
    with h5py.File(weights_only, "r+") as f:
        del f.attrs["model_config"]
    assert_one_line_error(kerasopt("inspect", weights_only), "holds weights only (Keras 2's model.save_weights)")
    with h5py.File(tmp_path / "other.h5", "w") as f:  # an HDF5 file, not a Keras one
        f["x"] = np.zeros(3)
    assert_one_line_error(kerasopt("inspect", tmp_path / "other.h5"), "is an HDF5 file, but not a model file that Keras 2 wrote")


# -- as a user runs it ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_console_script_upgrades_and_plain_keras_continues_training(files, tmp_path):
    """`kerasopt upgrade` (the installed script), then a fresh interpreter: keras.saving.load_model
    of the written file (after `import kerasopt_plugins`) trains one more epoch to the same
    weights and optimizer state, bit for bit, as legacy.load_model's model of the old file, and
    within float32 round-off of what Keras 2 did (golden.json)."""
    assert KERASOPT, "the kerasopt console script is not installed (pip install -e .)"
    old, new = files["tfa_lookahead_rectified_adam"], tmp_path / "ranger.keras"
    code = f"""
        import json, subprocess, warnings
        import numpy as np
        proc = subprocess.run([{KERASOPT!r}, "upgrade", {str(old)!r}, {str(new)!r}], capture_output=True, text=True)
        import keras
        import kerasopt_plugins
        from kerasopt_plugins import legacy

        golden = json.loads(open({str(FILES / "golden.json")!r}).read())
        setup, case = golden["_setup"], golden["cases"]["tfa_lookahead_rectified_adam"]
        x, y = np.array(setup["x"], dtype="float32"), np.array(setup["y"], dtype="float32")
        upgraded = keras.saving.load_model({str(new)!r})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = legacy.load_model({str(old)!r})
        before = int(upgraded.optimizer.iterations.numpy())
        for model in (upgraded, reference):
            model.fit(x, y, batch_size=setup["batch_size"], epochs=1, shuffle=False, verbose=0)
        values = lambda vs: [np.asarray(keras.ops.convert_to_numpy(v)) for v in vs]
        keras2 = max(
            float(np.max(np.abs(np.asarray(w, dtype=np.float64) - np.asarray(keras.ops.convert_to_numpy(v)))))
            for layer in upgraded.layers if layer.weights
            for v, w in zip(layer.trainable_weights + layer.non_trainable_weights, case["reloaded"]["weights"][layer.name])
        )
        print(json.dumps({{
            "rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "optimizer": type(upgraded.optimizer).__name__, "before": before,
            "after": int(upgraded.optimizer.iterations.numpy()),
            "same_weights": all(np.array_equal(a, b) for a, b in zip(values(upgraded.weights), values(reference.weights))),
            "same_state": all(np.array_equal(a, b) for a, b in zip(values(upgraded.optimizer.variables), values(reference.optimizer.variables))),
            "variables": [len(upgraded.optimizer.variables), len(reference.optimizer.variables)],
            "from_keras2": keras2,
        }}))
    """
    result = json.loads(run_python(code, cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert result["rc"] == 0 and result["stderr"] == "", result["stderr"]
    assert "state: restored; iterations 16" in result["stdout"].splitlines()
    assert (result["optimizer"], result["before"], result["after"]) == ("Lookahead", 16, CASES["tfa_lookahead_rectified_adam"]["reloaded"]["iterations"])
    assert result["same_weights"] and result["same_state"]
    assert result["variables"][0] == result["variables"][1] > 6
    assert result["from_keras2"] <= 2e-6
