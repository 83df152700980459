"""The contract every registered optimizer keeps, parametrized from the registry itself.

Each optimizer is made from its record's `example_config` (`example_optimizer`), the small
configuration its author declared at registration to exercise its state; the defaults are
tested by name (`test_constructible_by_name_with_defaults`, `test_compile_by_string_and_fit`).
"""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
from conftest import example_optimizer, regression_data, run_python, small_model

from kerasopt_plugins import list_optimizers, optimizer_info

NAMES = list_optimizers()


def test_the_seed_optimizers_are_registered():
    assert {"vanilla_sgd", "momentum_sgd", "cmomentum_sgd"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_constructible_by_name_with_defaults(name):
    info = optimizer_info(name)
    missing = [k for k, v in info.hyperparameters.items() if v is inspect.Parameter.empty]
    assert not missing, f"{name}: hyperparameters without defaults: {missing}"
    opt = keras.optimizers.get(name)
    assert type(opt) is info.cls
    assert opt.name == name


@pytest.mark.parametrize("name", NAMES)
def test_one_step_is_finite_and_moves_the_weight(name):
    opt = example_optimizer(name)
    var = keras.Variable(np.array([1.0, -2.0, 3.0], dtype="float32"))
    opt.apply([keras.ops.convert_to_tensor(np.array([0.5, -0.5, 1.0], dtype="float32"))], [var])
    value = keras.ops.convert_to_numpy(var)
    assert np.all(np.isfinite(value))
    assert not np.array_equal(value, [1.0, -2.0, 3.0])
    assert int(opt.iterations) == 1


@pytest.mark.parametrize("name", NAMES)
def test_example_config_exercises_every_slot(name):
    """The record's example is what every other test here trains with: it must move the state."""
    info = optimizer_info(name)
    opt = example_optimizer(name)
    for key, value in info.example_config.items():
        assert opt.get_config()[key] == value, f"{name}: example_config[{key!r}] not kept"
    var = keras.Variable(np.array([1.0, -2.0, 3.0], dtype="float32"))
    for grad in ([0.5, -0.5, 1.0], [0.25, 1.0, -1.0], [1.0, 0.5, 0.5]):
        opt.apply([keras.ops.convert_to_tensor(np.array(grad, dtype="float32"))], [var])
    for slot in info.slot_names:
        value = keras.ops.convert_to_numpy(opt.get_slot(var, slot))
        assert np.all(np.isfinite(value)) and np.any(value != 0), (
            f"{name}: slot {slot!r} is still zero after 3 steps with example_config="
            f"{dict(info.example_config)!r}; register it with an example_config that uses it"
        )


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_is_exact(name):
    info = optimizer_info(name)
    opt = example_optimizer(name, decay=0.25)
    config = opt.get_config()
    for arg in info.hyperparameters:
        assert arg in config, f"{name}: constructor argument {arg!r} missing from get_config()"
    again = info.cls.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    for key, value in {**info.example_config, "decay": 0.25}.items():
        assert config[key] == value, f"{name}: {key}={value!r} came back as {config[key]!r}"


@pytest.mark.parametrize("name", NAMES)
def test_serialize_to_json_and_back_without_custom_objects(name):
    opt = example_optimizer(name)
    text = json.dumps(keras.saving.serialize_keras_object(opt))
    again = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(again) is type(opt)
    assert again.get_config() == opt.get_config()


@pytest.mark.parametrize("name", NAMES)
def test_compile_by_string_and_fit(name):
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is optimizer_info(name).cls
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()
    assert int(model.optimizer.iterations) == 8


TORCH_COMPILE = (
    "jit_compile=True on torch is torch.compile, tens of seconds of C++ compilation per model on a "
    "CPU; the compiled torch step is checked once per optimizer by tests/callbacks' jit variants"
)


def _minimise_quadratic(name, steps=300):
    target = np.array([1.5, -0.5, 2.0], dtype="float32")
    var = keras.Variable(np.zeros(3, dtype="float32"))
    opt = example_optimizer(name)
    for _ in range(steps):
        grad = 2.0 * (keras.ops.convert_to_numpy(var) - target)
        opt.apply([keras.ops.convert_to_tensor(grad)], [var])
    return keras.ops.convert_to_numpy(var), target


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_a_quadratic(name):
    value, target = _minimise_quadratic(name)
    if optimizer_info(name).constrained:  # settles near an interior minimum (the record says why)
        assert np.sum((value - target) ** 2) < 0.01 * np.sum(target**2)
    else:
        np.testing.assert_allclose(value, target, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_jit_compile_on_and_off_agree(name):
    if keras.backend.backend() == "torch":
        pytest.skip(TORCH_COMPILE)
    x, y = regression_data()
    weights = []
    for jit in (False, True):
        model = small_model()
        model.compile(optimizer=example_optimizer(name), loss="mse", jit_compile=jit)
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
        weights.append([keras.ops.convert_to_numpy(w) for w in model.trainable_variables])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# -- .keras save, then load in a fresh process ---------------------------------------------

FRESH_PROCESS_CHECK = """
import json, sys
import numpy as np
import keras
import kerasopt_plugins  # the only thing a user has to import

root = sys.argv[1] if len(sys.argv) > 1 else {root!r}
names = {names!r}
data = np.load(root + "/data.npz")
report = {{}}
for name in names:
    expected = json.load(open(f"{{root}}/{{name}}.json"))
    model = keras.saving.load_model(f"{{root}}/{{name}}.keras")
    opt = model.optimizer
    saved = np.load(f"{{root}}/{{name}}_slots.npz")
    slots = [keras.ops.convert_to_numpy(v) for v in opt.variables]
    entry = {{
        "class": type(opt).__module__ + "." + type(opt).__qualname__,
        "config": opt.get_config(),
        "iterations": int(opt.iterations),
        "slots_identical": len(slots) == len(saved.files)
            and all(np.array_equal(slots[i], saved[str(i)]) for i in range(len(slots))),
    }}
    model.fit(data["x"], data["y"], batch_size=8, epochs=1, verbose=0, shuffle=False)
    np.savez(f"{{root}}/{{name}}_continued.npz",
             *[keras.ops.convert_to_numpy(w) for w in model.trainable_variables])
    report[name] = entry
json.dump(report, open(root + "/report.json", "w"))
"""


@pytest.fixture(scope="module")
def fresh_process_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    x, y = regression_data()
    np.savez(root / "data.npz", x=x, y=y)
    expected = {}
    for name in NAMES:
        cls = optimizer_info(name).cls
        model = small_model()
        model.compile(optimizer=example_optimizer(name, decay=0.1), loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        model.save(root / f"{name}.keras")
        np.savez(root / f"{name}_slots.npz",
                 **{str(i): keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)})
        (root / f"{name}.json").write_text(json.dumps(model.optimizer.get_config()))
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        expected[name] = {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "config": model.optimizer.get_config() | {},
            "iterations": 8,
            "weights": [keras.ops.convert_to_numpy(w) for w in model.trainable_variables],
            "saved_config": json.loads((root / f"{name}.json").read_text()),
        }
    run_python(FRESH_PROCESS_CHECK.format(root=str(root), names=NAMES))
    report = json.loads((root / "report.json").read_text())
    return root, expected, report


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_keras_file_reloads_in_a_fresh_process(name, fresh_process_report):
    root, expected, report = fresh_process_report
    got = report[name]
    assert got["class"] == expected[name]["class"]
    assert got["config"] == expected[name]["saved_config"]
    assert got["iterations"] == expected[name]["iterations"]
    assert got["slots_identical"], "slot values changed across save/load"
    continued = np.load(root / f"{name}_continued.npz")
    for i, want in enumerate(expected[name]["weights"]):
        np.testing.assert_array_equal(continued[f"arr_{i}"], want)


@pytest.mark.parametrize("name", NAMES)
def test_embedding_gradients_train_like_the_dense_path(name):
    """On TensorFlow without XLA an Embedding's gradient is IndexedSlices; XLA densifies it."""
    if keras.backend.backend() == "torch":
        pytest.skip(TORCH_COMPILE)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=(64, 5))
    y = rng.normal(size=(64, 1)).astype("float32")
    tables = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((5,), dtype="int32"), keras.layers.Embedding(20, 4),
            keras.layers.Flatten(), keras.layers.Dense(1),
        ])
        model.compile(optimizer=example_optimizer(name), loss="mse", jit_compile=jit)
        before = keras.ops.convert_to_numpy(model.layers[0].embeddings).copy()
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        tables.append(keras.ops.convert_to_numpy(model.layers[0].embeddings))
    assert not np.allclose(tables[0], before)
    np.testing.assert_allclose(tables[0], tables[1], rtol=1e-5, atol=1e-6)
