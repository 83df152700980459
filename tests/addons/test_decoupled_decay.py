"""SGDW and tfa's AdamW: decoupled decay as tfa applied it, and where the ports differ on purpose.

Their step-by-step parity with tfa is in test_tfa_parity.py (reference/data/sgdw.json,
addons_adamw.json); here: what that data cannot show.
"""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pytest
from conftest import BACKEND

import kerasopt_plugins
from kerasopt_plugins.optimizers.addons_adamw import AdamW
from kerasopt_plugins.optimizers.sgdw import SGDW

DATA = pathlib.Path(__file__).parent / "reference" / "data"


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SGDW(weight_decay=-0.1), ValueError, r"weight_decay must be in \[0, inf\), got -0.1"),
        (lambda: SGDW(weight_decay=float("nan")), ValueError, "weight_decay must be a finite number"),
        (lambda: SGDW(1e-4, momentum=1.5), ValueError, r"momentum must be in \[0, 1\], got 1.5"),
        (lambda: AdamW(1e-4, beta_2=1.0), ValueError, r"beta_2 must be in \[0, 1\), got 1.0"),
        (lambda: AdamW(1e-4, epsilon=0.0), ValueError, "tensorflow-addons 0.23 silently used 1e-7"),
        (
            lambda: SGDW(1e-4, exclude_from_weight_decay="bias"),
            TypeError,
            "'exclude_from_weight_decay' must be list or None, got 'bias'",
        ),
        (
            lambda: AdamW(1e-4, exclude_from_weight_decay=["(bias"]),
            ValueError,
            r"exclude_from_weight_decay: '\(bias' is not a regular expression",
        ),
    ],
)
def test_bad_arguments_are_refused_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_keras_adamw_is_not_shadowed():
    """"adamw" stays Keras's (decay scaled by the learning rate); tfa's is "addons_adamw"."""
    assert isinstance(keras.optimizers.get("adamw"), keras.optimizers.AdamW)
    assert isinstance(kerasopt_plugins.get_optimizer("adamw"), keras.optimizers.AdamW)
    assert type(kerasopt_plugins.get_optimizer("addons_adamw")) is AdamW
    tfa_style = {"class_name": "Addons>AdamW", "config": {"weight_decay": 0.1}}
    assert type(keras.optimizers.deserialize(tfa_style)) is AdamW
    keras_style = keras.optimizers.deserialize({"class_name": "AdamW", "config": {}})
    assert isinstance(keras_style, keras.optimizers.AdamW)


@pytest.mark.parametrize("make", [SGDW, AdamW])
def test_decay_is_not_scaled_by_the_learning_rate_and_skips_excluded_paths(make):
    """With learning_rate 0 and zero gradients only the decay moves a weight: w - wd*w in
    float32 (Keras's own weight_decay option would move nothing: lr * wd = 0), and a
    variable whose path matches a pattern keeps its value."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="body"), keras.layers.Dense(1, name="head")]
    )
    optimizer = make(weight_decay=0.125, learning_rate=0.0, exclude_from_weight_decay=["bias", "head/"])
    variables = model.trainable_variables
    before = {v.path: keras.ops.convert_to_numpy(v) for v in variables}
    optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)
    for v in variables:
        expected = before[v.path]
        if v.path.endswith("body/kernel"):
            expected = expected - np.float32(0.125) * expected
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), expected, err_msg=v.path)
    assert not np.array_equal(before[variables[0].path], keras.ops.convert_to_numpy(variables[0]))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
def test_sparse_without_momentum_decays_the_touched_rows_where_tfa_did_not():
    """The real tfa's SGDW(momentum=0) never decays a table fed IndexedSlices (its SGD
    scatters -lr*g past the decay); the port decays each touched row once, as with momentum."""
    import tensorflow as tf

    case = json.loads((DATA / "sgdw.json").read_text())["cases"]["sparse_no_momentum"]
    wd, lr = case["kwargs"]["weight_decay"], case["kwargs"]["learning_rate"]
    table = np.asarray(case["problem"]["init"]["table"], np.float32)
    grad = case["problem"]["grads"][0]["table"]
    indices, values = np.asarray(grad["indices"]), np.asarray(grad["values"], np.float32)
    summed = np.zeros_like(table)
    np.add.at(summed, indices, values)
    tfa_after = np.asarray(case["history"][0]["variables"]["table"], np.float32)
    np.testing.assert_allclose(tfa_after, table - np.float32(lr) * summed, rtol=1e-6)  # no decay

    variable = keras.Variable(table)
    SGDW(weight_decay=wd, learning_rate=lr).apply(
        [tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant(table.shape))],
        [variable],
    )
    touched = np.isin(np.arange(len(table)), indices)[:, None]
    decayed = table - np.float32(wd) * table
    expected = np.where(touched, decayed - np.float32(lr) * summed, table)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-6)
    assert not np.allclose(expected[touched[:, 0]], tfa_after[touched[:, 0]], rtol=1e-3)
