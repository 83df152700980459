"""kerasopt_plugins.legacy.OptimizerV2: the OptimizerV2 API on Keras 3, used as users use it.

The trajectories against Keras 2.15 are in test_golden.py; here: hyperparameters, slots and
apply_state as OptimizerV2 code sees them, every refusal with its message, the registry
(compile by name, class names), fit / save / load in fresh processes, SlotLogger, compare,
tf.distribute, and the other backends.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip(
        "kerasopt_plugins.legacy.OptimizerV2 is a TensorFlow API: its tests need KERAS_BACKEND=tensorflow",
        allow_module_level=True,
    )

import tensorflow as tf
from conftest import regression_data, run_python

from kerasopt_plugins import get_optimizer, optimizer_info, register_optimizer
from kerasopt_plugins.callbacks import SlotLogger
from kerasopt_plugins.legacy import OptimizerV2, UnsupportedFeatureError
from kerasopt_plugins.registry import AmbiguousOptimizerNameError

REFERENCE = pathlib.Path(__file__).parent / "reference"
_spec = importlib.util.spec_from_file_location("legacy_cases", REFERENCE / "cases.py")
cases = importlib.util.module_from_spec(_spec)
sys.modules["legacy_cases"] = cases
_spec.loader.exec_module(cases)

tutorial = cases.load("tutorial_optimizers", cases.KERAS3_IMPORT, name="legacy_tutorial_in_process")
own = cases.load("own_optimizers", cases.KERAS3_IMPORT, name="legacy_own_in_process")
FACTS = json.loads((cases.DATA / "keras2_facts.json").read_text())

pytestmark = pytest.mark.filterwarnings("ignore:.*is not registered, so a model saved with it")


def variables(*shapes, dtype="float32"):
    return [keras.Variable(np.full(s, i + 1.0, dtype), name=f"v{i}") for i, s in enumerate(shapes)]


class Recorder(OptimizerV2):
    """Records what OptimizerV2 code receives (eagerly)."""

    def __init__(self, learning_rate=0.1, momentum=0.5, name="Recorder", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self._set_hyper("momentum", momentum)
        self.seen = []
        self.prepared = []

    def _create_slots(self, var_list):
        self.created_with = list(var_list)
        for var in var_list:
            self.add_slot(var, "m")
            self.add_slot(var, "ones", initializer="ones")

    def _prepare_local(self, var_device, var_dtype, apply_state):
        super()._prepare_local(var_device, var_dtype, apply_state)
        self.prepared.append((var_device, var_dtype))

    def _resource_apply_dense(self, grad, var, apply_state):
        coefficients = apply_state.get((var.device, var.dtype.base_dtype))
        m = self.get_slot(var, "m")
        m_t = m.assign(self._get_hyper("momentum", var.dtype.base_dtype) * m + grad)
        update = var.assign_sub(coefficients["lr_t"] * m_t)
        self.seen.append((var, m_t, update))
        return tf.group(update, m_t)

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self._serialize_hyperparameter("learning_rate"),
            "momentum": self._serialize_hyperparameter("momentum"),
        })
        return config


# -- what OptimizerV2 code receives ----------------------------------------------------------

def test_the_rule_gets_tf_variables_and_tensorflow_ops_work_on_them():
    opt = Recorder()
    w, b = variables((2, 3), (3,))
    opt.apply_gradients([(tf.ones((2, 3)), w), (tf.ones(3), b)])
    assert all(isinstance(v, tf.Variable) for v in opt.created_with)
    var, m_t, _ = opt.seen[0]
    assert isinstance(var, tf.Variable) and var.dtype.base_dtype == tf.float32
    assert "CPU" in var.device or "GPU" in var.device
    assert var is w.value  # the model's own variable: assignments reach the model
    np.testing.assert_allclose(w.numpy(), np.full((2, 3), 1.0 - 0.1 * 1.0))
    np.testing.assert_allclose(m_t.numpy(), np.ones((2, 3)))
    slot = opt.get_slot(w, "m")
    assert isinstance(slot, tf.Variable) and slot is opt.get_slot(w.value, "m")
    np.testing.assert_allclose(opt.get_slot(b, "ones").numpy(), np.ones(3))
    assert opt.get_slot_names() == ["m", "ones"]
    assert int(opt.iterations.numpy()) == 1


def test_raw_training_ops_on_the_variable_handle_work_as_keras_2s_built_ins_used_them():
    class RawSGD(OptimizerV2):
        def __init__(self, learning_rate=0.1, name="RawSGD", **kwargs):
            super().__init__(name, **kwargs)
            self._set_hyper("learning_rate", learning_rate)

        def _resource_apply_dense(self, grad, var, apply_state=None):
            coefficients = self._fallback_apply_state(var.device, var.dtype.base_dtype)
            return tf.raw_ops.ResourceApplyGradientDescent(
                var=var.handle, alpha=coefficients["lr_t"], delta=grad, use_locking=self._use_locking
            )

    (w,) = variables((2, 2))
    opt = RawSGD(0.25)
    tf.function(lambda g: opt.apply_gradients([(g, w)]))(tf.fill((2, 2), 2.0))
    np.testing.assert_allclose(w.numpy(), np.full((2, 2), 1.0 - 0.25 * 2.0))


@pytest.mark.parametrize(
    "setting",
    ["jit_compile", "mixed_float16", "use_ema", "gradient_accumulation"],
)
def test_keras_3_training_features_work_with_it(setting):
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    options = {"use_ema": {"use_ema": True}, "gradient_accumulation": {"gradient_accumulation_steps": 2}}.get(setting, {})
    policy = keras.mixed_precision.global_policy()
    if setting == "mixed_float16":
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1, dtype="float32")])
        model.compile(
            optimizer=own.SparseMomentum(0.02, momentum=0.5, **options), loss="mse", jit_compile=setting == "jit_compile"
        )
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    loss = history.history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    assert type(optimizer) is own.SparseMomentum
    if setting == "gradient_accumulation":
        assert int(optimizer.iterations.numpy()) == 6  # 12 batches, one update per 2
    if setting == "use_ema":
        assert any(v.path.endswith("_average") for v in optimizer.variables)


def test_prepare_local_runs_once_per_device_and_dtype_per_step():
    opt = Recorder()
    vs = variables((2,), (3,)) + variables((4,), dtype="float64")
    for step in range(3):
        opt.apply_gradients([(tf.ones(v.shape, v.dtype), v) for v in vs])
        assert len(opt.prepared) == 2 * (step + 1)  # three variables, two (device, dtype) keys
    assert {dtype for _, dtype in opt.prepared} == {tf.float32, tf.float64}
    assert len({device for device, _ in opt.prepared}) == 1


def test_decayed_lr_is_the_schedule_at_iterations_over_one_plus_decay_times_iterations():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.25)
    opt = Recorder(learning_rate=schedule, decay=0.1)
    (v,) = variables((1,))
    for t in range(4):
        expected = 0.5 * 0.25 ** (t / 2) / (1 + 0.1 * t)
        assert float(opt._decayed_lr(tf.float32)) == pytest.approx(expected, rel=1e-6)
        assert float(opt._fallback_apply_state("cpu", tf.float32)["lr_t"]) == pytest.approx(expected, rel=1e-6)
        opt.apply_gradients([(tf.zeros(1), v)])
    assert opt._initial_decay == 0.1


def test_hyperparameters_are_attributes_and_variables_once_built():
    opt = Recorder(learning_rate=0.05, momentum=0.9)
    assert opt.momentum == 0.9 and opt._get_hyper("momentum") == 0.9  # a number until built
    assert float(opt.lr) == pytest.approx(0.05) and opt.lr is opt.learning_rate.value
    (v,) = variables((2,))
    opt.build([v])
    assert isinstance(opt.momentum, tf.Variable) and opt.momentum.name.startswith("Recorder/momentum")
    opt.momentum = 0.25  # assigns the variable, so a compiled step sees it
    opt.lr = 0.01
    assert float(opt.momentum.numpy()) == 0.25 and float(opt.learning_rate.numpy()) == pytest.approx(0.01)
    assert opt.get_config()["momentum"] == 0.25 and opt.get_config()["learning_rate"] == 0.01
    assert [x.path for x in opt.variables] == [
        "Recorder/iteration", "Recorder/learning_rate", "Recorder/momentum",
        "Recorder/v0_m", "Recorder/v0_ones",
    ]
    assert opt.variables() == opt.variables  # OptimizerV2's variables() was a method


def test_serialize_hyperparameter_numbers_schedules_and_callables():
    opt = Recorder(learning_rate=0.01, momentum=lambda: tf.constant(0.75))
    opt._set_hyper("beta", 0.9)
    (v,) = variables((2,))
    opt.build([v])
    assert opt._serialize_hyperparameter("learning_rate") == 0.01  # as given, not 0.0099999998
    assert opt._serialize_hyperparameter("beta") == 0.9
    assert opt._serialize_hyperparameter("momentum") == 0.75  # a callable is called
    opt.beta.assign(0.5)
    assert opt._serialize_hyperparameter("beta") == 0.5
    opt.beta.assign(0.3)  # changed behind its back: the variable's value (its float32 image)
    assert opt._serialize_hyperparameter("beta") == float(np.float32(0.3))
    scheduled = Recorder(learning_rate=keras.optimizers.schedules.InverseTimeDecay(0.1, 5, 0.5))
    config = scheduled._serialize_hyperparameter("learning_rate")
    assert config["class_name"] == "InverseTimeDecay" and config["config"]["decay_steps"] == 5
    again = Recorder.from_config({**scheduled.get_config(), "lr": 0.2, "is_legacy_optimizer": True})
    assert float(again.learning_rate.numpy()) == pytest.approx(0.2)  # Keras 2's "lr" key


# -- refusals, each naming the feature and what to use --------------------------------------

@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"momentum_": 1}, TypeError, r"Recorder\(\) got an unexpected keyword argument 'momentum_'; OptimizerV2 accepts name, decay, lr"),
        ({"decay": -1}, ValueError, r"decay must be in \[0, inf\), got -1"),
        ({"clipnorm": -0.5}, ValueError, r"clipnorm must be in \[0, inf\), got -0.5"),
        ({"learning_rate": -0.1}, ValueError, r"learning_rate must be in \[0, inf\), got -0.1"),
        ({"learning_rate": "fast"}, TypeError, r"learning_rate must be a number >= 0.*got 'fast'"),
        ({"momentum": "high"}, TypeError, r"hyperparameter 'momentum' must be a number, a tensor.*got 'high' of type str"),
        ({"gradient_aggregator": lambda gv: gv}, UnsupportedFeatureError, r"gradient_aggregator=.*Keras 3 sums the gradients across replicas itself"),
        ({"gradient_transformers": [lambda gv: gv]}, UnsupportedFeatureError, r"gradient_transformers=.*transform the gradients before apply_gradients"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Recorder(**kwargs)


def test_a_hook_keras_3_would_not_call_is_refused_at_construction():
    class Transforming(Recorder):
        def _transform_gradients(self, grads_and_vars):
            return grads_and_vars

    with pytest.raises(UnsupportedFeatureError, match=r"overriding _transform_gradients \(.*Transforming\._transform_gradients\).*never calls it.*clipnorm"):
        Transforming()


def test_graph_mode_apis_are_refused_with_what_to_use_instead():
    opt = Recorder()
    with pytest.raises(UnsupportedFeatureError, match=r"get_updates\(loss, params\) is an OptimizerV2 feature.*model\.fit.*GradientTape"):
        opt.get_updates(None, [])
    with pytest.raises(UnsupportedFeatureError, match=r"get_gradients\(loss, params\).*tf\.GradientTape"):
        opt.get_gradients(None, [])


def test_unaggregated_gradients_are_refused_only_where_keras_aggregates():
    (v,) = variables((2,))
    opt = Recorder()
    opt.apply_gradients([(tf.ones(2), v)], name="step", experimental_aggregate_gradients=False)
    assert int(opt.iterations.numpy()) == 1  # no strategy: nothing to aggregate, it changes nothing
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        (w,) = variables((2,))
        mirrored = Recorder()
        with pytest.raises(UnsupportedFeatureError, match=r"experimental_aggregate_gradients=False.*always sums the gradients across replicas"):
            mirrored.apply_gradients([(tf.ones(2), w)], experimental_aggregate_gradients=False)


def test_slots_are_made_in_create_slots_and_looked_up_by_name():
    opt = Recorder()
    (v,) = variables((2,))
    opt.build([v])
    with pytest.raises(RuntimeError, match=r"Recorder\.add_slot\('late'\) outside _create_slots.*create every slot in _create_slots"):
        opt.add_slot(v, "late")
    assert opt.add_slot(v, "m") is opt.get_slot(v, "m")  # an existing slot is returned, as in Keras 2
    with pytest.raises(KeyError, match=r"Recorder has no slot 'velocity' for variable 'v0'; its slots are \['m', 'ones'\]"):
        opt.get_slot(v, "velocity")
    (other,) = variables((2,))
    with pytest.raises(ValueError, match="was not built with variable"):
        opt.get_slot(other, "m")


def test_hyperparameter_misuse_is_named():
    opt = Recorder()
    with pytest.raises(KeyError, match=r"Recorder has no hyperparameter 'beta_1'; the ones set with _set_hyper are \['learning_rate', 'momentum'\]"):
        opt._get_hyper("beta_1")
    with pytest.raises(AttributeError, match="'Recorder' object has no attribute 'beta_1'"):
        opt.beta_1  # noqa: B018

    class Early(OptimizerV2):
        def __init__(self):
            self._set_hyper("learning_rate", 0.1)

    with pytest.raises(RuntimeError, match=r"Early: call super\(\).__init__\(name, \*\*kwargs\) before _set_hyper\('learning_rate', ...\)"):
        Early()
    scheduled = Recorder(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5))
    with pytest.raises(TypeError, match=r"learning_rate is <.*ExponentialDecay.*cannot become the number 0.5"):
        scheduled.learning_rate = 0.5


def test_a_sparse_gradient_without_a_sparse_rule_says_so():
    class DenseOnly(OptimizerV2):
        def __init__(self):
            super().__init__("DenseOnly")
            self._set_hyper("learning_rate", 0.1)

        def _resource_apply_dense(self, grad, var, apply_state=None):
            return var.assign_sub(grad)

    (v,) = variables((4, 2))
    rows = tf.IndexedSlices(tf.ones((2, 2)), tf.constant([0, 0]), tf.constant([4, 2]))
    with pytest.raises(NotImplementedError, match=r"DenseOnly got a sparse gradient \(tf\.IndexedSlices.*does not implement _resource_apply_sparse"):
        DenseOnly().apply_gradients([(rows, v)])
    with pytest.raises(NotImplementedError, match="^not implemented$"):  # the tutorial's own
        tutorial.VanillaSGD(0.1).apply_gradients([(rows, v)])


@pytest.mark.slow
def test_other_backends_import_it_and_refuse_to_construct_it():
    for backend in ("jax", "torch"):
        out = run_python(
            """
            import sys
            import kerasopt_plugins.legacy as legacy
            print("tensorflow" in sys.modules)
            class Mine(legacy.OptimizerV2):
                pass
            try:
                Mine("mine")
            except legacy.UnsupportedFeatureError as err:
                print(err)
            """,
            env={"KERAS_BACKEND": backend},
        )
        imported_tensorflow, message = out.stdout.strip().splitlines()
        assert imported_tensorflow == "False", backend  # importing it does not pull TensorFlow in
        assert f"this process uses the '{backend}' backend" in message
        assert "Mine is an OptimizerV2, a TensorFlow API" in message and "PluginOptimizer" in message


# -- the tutorial's classes as users use them -------------------------------------------------

def test_vanilla_sgd2_get_config_fails_as_it_did_on_keras_2(tmp_path):
    """The tutorial's VanillaSGD2.get_config calls super(VanillaSGD, self): Keras 2.15 raised
    TypeError there (get_config, model.save to .h5 and .keras); so does Keras 3, and training works."""
    keras2 = FACTS["model_save"]["VanillaSGD2"]
    assert FACTS["vanilla_sgd2_get_config"]["error"] == keras2["h5"] == keras2["keras"]
    x, y = regression_data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=tutorial.VanillaSGD2(0.1, decay=0.5), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    with pytest.raises(TypeError) as raised:
        model.save(tmp_path / "model.keras")
    assert f"TypeError: {raised.value}" == keras2["keras"]


def test_unregistered_class_sharing_a_registered_class_name_warns_at_get_config(clean_registry):
    with pytest.warns(UserWarning, match=r"legacy_tutorial_in_process\.CMomentumSGD is not registered.*loads as kerasopt_plugins\.optimizers\.cmomentum_sgd\.CMomentumSGD"):
        tutorial.CMomentumSGD(0.1).get_config()
    register_optimizer("tutorial_cmomentum")(tutorial.CMomentumSGD)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tutorial.CMomentumSGD(0.1).get_config()


def test_registered_it_compiles_by_name_and_its_class_name_becomes_ambiguous(clean_registry, caplog):
    cls = register_optimizer("tutorial_cmomentum", example_config={"learning_rate": 0.1, "momentum": 0.9})(tutorial.CMomentumSGD)
    assert "'CMomentumSGD' is ambiguous" in caplog.text
    x, y = regression_data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="tutorial_cmomentum", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert type(model.optimizer) is cls and model.optimizer.name == "CMomentumSGD"
    assert type(get_optimizer("tutorial_cmomentum", momentum=0.9)) is cls
    assert optimizer_info("tutorial_cmomentum").cls is cls
    for identifier in ("CMomentumSGD", {"class_name": "CMomentumSGD", "config": {}}):
        with pytest.raises(AmbiguousOptimizerNameError, match=r"class name 'CMomentumSGD' is ambiguous.*cmomentum_sgd\.CMomentumSGD \(registered as 'cmomentum_sgd'\) and legacy_tutorial_in_process\.CMomentumSGD \(registered as 'tutorial_cmomentum'\)"):
            keras.optimizers.get(identifier)


def test_the_tutorial_on_the_shim_and_the_port_train_alike_in_compare(clean_registry):
    from kerasopt_plugins.compare import compare_optimizers

    register_optimizer("tutorial_cmomentum")(tutorial.CMomentumSGD)
    result = compare_optimizers(
        [("tutorial_cmomentum", {"momentum": 0.9}), ("cmomentum_sgd", {"momentum": 0.9})], problem="seed", steps=30
    )
    shim, port = result.runs
    assert shim.name == "tutorial_cmomentum" and port.name == "cmomentum_sgd"
    np.testing.assert_allclose(shim.params, port.params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(shim.slots["m"], port.slots["m"], rtol=1e-5, atol=1e-7)


def test_slot_logger_shows_the_slots():
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="hidden"), keras.layers.Dense(1, name="out")])
    model.compile(optimizer=own.SparseMomentum(0.05, momentum=0.9), loss="mse")
    logger = SlotLogger(statistics=("l2",))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger], shuffle=False)
    last = logger.records[-1]
    paths = [v.path for v in model.trainable_variables]
    assert sorted(k for k in last if k.endswith("/l2")) == sorted(f"velocity/{p}/l2" for p in paths)
    for variable in model.trainable_variables:
        expected = float(np.linalg.norm(model.optimizer.get_slot(variable, "velocity").numpy()))
        assert last[f"velocity/{variable.path}/l2"] == pytest.approx(expected, rel=1e-6) and expected > 0


USER_MODULE_TAIL = '''

from kerasopt_plugins import register_optimizer

register_optimizer("tutorial_cmomentum")(CMomentumSGD)
register_optimizer("sparse_momentum_v2")(SparseMomentum)
'''

TRAIN = """
import json, sys
import numpy as np, keras
import user_optimizers

d = np.load("data.npz")
def model_with(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model
def fit(model, epochs):
    model.fit(d["x"], d["y"], batch_size=8, epochs=epochs, verbose=0, shuffle=False)
def state(model):
    opt = model.optimizer
    return {
        "class": f"{type(opt).__module__}.{type(opt).__name__}",
        "iterations": int(opt.iterations.numpy()),
        "weights": [w.tolist() for w in model.get_weights()],
        "optimizer": [v.numpy().tolist() for v in opt.variables],
    }
"""


@pytest.mark.slow
@pytest.mark.parametrize("make", ["user_optimizers.CMomentumSGD(0.1, momentum=0.9)", "user_optimizers.SparseMomentum(0.05, momentum=0.8, decay=0.01)"])
def test_fit_save_reload_in_a_fresh_process_and_continue_identically(tmp_path, make):
    source = cases.source("tutorial_optimizers", cases.KERAS3_IMPORT) + cases.source("own_optimizers", cases.KERAS3_IMPORT)
    (tmp_path / "user_optimizers.py").write_text(source + USER_MODULE_TAIL)
    x, y = regression_data()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    env = {"PYTHONPATH": str(tmp_path)}
    first = run_python(
        TRAIN + f"""
model = model_with({make})
fit(model, 2)
model.save("trained.keras")
saved = state(model)
fit(model, 1)
print(json.dumps({{"saved": saved, "continued": state(model)}}))
""",
        cwd=tmp_path,
        env=env,
    )
    expected = json.loads(first.stdout.splitlines()[-1])
    second = run_python(
        TRAIN + """
model = keras.saving.load_model("trained.keras")  # no custom_objects: the user's module is imported
loaded = state(model)
fit(model, 1)
print(json.dumps({"loaded": loaded, "continued": state(model)}))
""",
        cwd=tmp_path,
        env=env,
    )
    got = json.loads(second.stdout.splitlines()[-1])
    assert got["loaded"] == expected["saved"]  # class, iterations, weights, every optimizer variable
    assert got["loaded"]["iterations"] == 8 and got["loaded"]["class"].startswith("user_optimizers.")
    for a, b in zip(got["continued"]["weights"], expected["continued"]["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)
    for a, b in zip(got["continued"]["optimizer"], expected["continued"]["optimizer"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)


@pytest.mark.slow
def test_mirrored_strategy_over_two_devices_matches_one_device():
    out = run_python(
        """
        import json, warnings
        import numpy as np, tensorflow as tf, keras
        warnings.simplefilter("ignore")
        import cases
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
        tutorial = cases.load("tutorial_optimizers", cases.KERAS3_IMPORT)
        own = cases.load("own_optimizers", cases.KERAS3_IMPORT)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = (x @ rng.normal(size=(4, 1))).astype("float32")
        def train(strategy, make):
            with strategy.scope():
                keras.utils.set_random_seed(0)
                model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
                model.compile(make(), "mse", jit_compile=False)
            model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
            return model.get_weights(), int(model.optimizer.iterations.numpy())
        out = {}
        for name, make in {
            "cmomentum": lambda: tutorial.CMomentumSGD(0.1, momentum=0.9),
            "sparse_momentum": lambda: own.SparseMomentum(0.05, momentum=0.8, decay=0.01),
        }.items():
            single, n1 = train(tf.distribute.get_strategy(), make)
            mirrored, n2 = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), make)
            out[name] = [max(float(np.max(np.abs(a - b))) for a, b in zip(single, mirrored)), n1, n2]
        print(json.dumps(out))
        """,
        env={"PYTHONPATH": str(REFERENCE)},
    )
    result = json.loads(out.stdout.splitlines()[-1])
    for name, (diff, single_steps, mirrored_steps) in result.items():
        assert single_steps == mirrored_steps == 8, name
        assert diff < 1e-6, name
