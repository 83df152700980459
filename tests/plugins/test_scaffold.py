"""`kerasopt new`: what it writes, and what it refuses. That the generated package passes its own
conformance test once installed is checked in test_installed_plugins.py."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

from kerasopt_plugins.cli import main
from kerasopt_plugins.scaffold import plugin_files

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_plugin"


def test_the_sample_plugin_has_the_files_of_a_new_scaffold():
    """examples/sample_plugin is `kerasopt new kerasopt-sample-plugin --optimizer qhm`, edited."""
    generated = set(plugin_files("kerasopt-sample-plugin", "qhm"))
    shipped = {
        str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and "build" not in p.parts and ".egg-info" not in str(p)
    }
    assert shipped == generated
    config = configparser.ConfigParser()
    config.read(SAMPLE / "setup.cfg")
    assert config["metadata"]["name"] == "kerasopt-sample-plugin"
    assert config["options.entry_points"]["kerasopt_plugins.optimizers"].strip() == "qhm = kerasopt_sample_plugin.optimizer:QHM"


def test_kerasopt_new_writes_a_package_with_its_entry_point(tmp_path, capsys):
    assert main(["new", "my-optimizer", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "my-optimizer"
    assert f"created {root}/" in capsys.readouterr().out
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    assert config["options.entry_points"]["kerasopt_plugins.optimizers"].strip() == (
        "my_optimizer = my_optimizer.optimizer:MyOptimizer"
    )
    source = (root / "my_optimizer" / "optimizer.py").read_text()
    tree = ast.parse(source)
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert cls.name == "MyOptimizer"
    assert {f.name for f in cls.body if isinstance(f, ast.FunctionDef)} == {"__init__", "build", "update_step", "get_config"}
    assert '@register_optimizer(\n    "my_optimizer",' in source
    test = (root / "tests" / "test_optimizer.py").read_text()
    ast.parse(test)
    assert "class TestMyOptimizer(OptimizerContract):" in test
    assert r'r"momentum must be in \[0, 1\)"' in test


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new", "My Optimizer"], "NAME 'My Optimizer' is not a valid package name"),
        (["new", "json"], "a module named 'json' is already importable here"),
        (["new", "fresh-name", "--optimizer", "momentum_sgd"], "--optimizer 'momentum_sgd' is already registered to"),
        (["new", "fresh-name", "--optimizer", "adam"], "--optimizer 'adam' is the name of Keras's built-in optimizer"),
        (["new", "fresh-name", "--optimizer", "Bad-Name"], "--optimizer 'Bad-Name' is not a valid optimizer name"),
    ],
)
def test_kerasopt_new_refuses_bad_names_in_one_line(argv, message, tmp_path, capsys):
    assert main([*argv, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasopt: error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_kerasopt_new_refuses_an_existing_folder_and_a_missing_dir(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main(["new", "taken", "--dir", str(tmp_path)]) == 2
    assert f"'{tmp_path / 'taken'}' already exists" in capsys.readouterr().err
    assert list((tmp_path / "taken").iterdir()) == []
    assert main(["new", "fresh-name", "--dir", str(tmp_path / "nowhere")]) == 2
    assert "is not an existing folder" in capsys.readouterr().err
