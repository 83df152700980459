"""The registry: names in Keras's lookups, collisions, listing, get_optimizer in all its forms."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import BACKEND, regression_data, run_python, small_model

from kerasopt_plugins import (
    CMomentumSGD,
    MomentumSGD,
    PluginOptimizer,
    UnknownOptimizerError,
    VanillaSGD,
    get_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
    unregister_optimizer,
)


def make_class(name="HalfSGD"):
    class Half(PluginOptimizer):
        """Half-size gradient steps."""

        def update_step(self, gradient, variable, learning_rate):
            self.assign_sub(variable, 0.5 * keras.ops.cast(learning_rate, variable.dtype) * gradient)

    Half.__name__ = Half.__qualname__ = name
    return Half


def test_short_names_resolve_through_keras():
    assert type(keras.optimizers.get("cmomentum_sgd")) is CMomentumSGD
    assert type(keras.optimizers.get("momentum_sgd")) is MomentumSGD
    assert keras.saving.get_custom_objects()["vanilla_sgd"] is VanillaSGD
    assert keras.saving.get_custom_objects()["kerasopt_plugins>cmomentum_sgd"] is CMomentumSGD


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.keras needs the TensorFlow backend")
def test_tf_keras_optimizers_get():
    import tensorflow as tf

    assert type(tf.keras.optimizers.get("cmomentum_sgd")) is CMomentumSGD


def test_record_describes_the_optimizer():
    info = optimizer_info("CMomentum_SGD")
    assert info.name == "cmomentum_sgd" and info.cls is CMomentumSGD
    assert info.slot_names == ("m",)
    assert dict(info.hyperparameters) == {
        "learning_rate": 0.01,
        "momentum": 0.0,
        "centered": True,
        "decay": 0.0,
    }
    assert info.description.startswith("Bias-corrected")
    with pytest.raises(TypeError):
        info.hyperparameters["momentum"] = 0.5  # records are read-only


def test_record_carries_a_read_only_example_config():
    assert dict(optimizer_info("vanilla_sgd").example_config) == {"learning_rate": 0.1}
    for name in ("momentum_sgd", "cmomentum_sgd"):
        assert dict(optimizer_info(name).example_config) == {"learning_rate": 0.1, "momentum": 0.9}
    with pytest.raises(TypeError):
        optimizer_info("momentum_sgd").example_config["momentum"] = 0.5


def test_example_config_is_kept_as_given_and_defaults_to_empty(clean_registry):
    given = {"learning_rate": 0.2, "clipnorm": 1.0}  # Keras's base options are constructor arguments too
    register_optimizer("with_example", example_config=given)(make_class("WithExample"))
    given["learning_rate"] = 0.9  # the record keeps its own copy
    assert dict(optimizer_info("with_example").example_config) == {"learning_rate": 0.2, "clipnorm": 1.0}
    register_optimizer("without_example")(make_class("WithoutExample"))
    assert dict(optimizer_info("without_example").example_config) == {}


@pytest.mark.parametrize(
    "config, error, match",
    [
        ({"momentum": 0.9}, ValueError, (
            r"example_config key 'momentum' of 'bad_example' is not a constructor argument of .*\.BadExample; "
            r"its own arguments are learning_rate, decay")),
        ({"learning_rat": 0.1}, ValueError, r"key 'learning_rat' .* \(did you mean 'learning_rate'\?\)"),
        ({"lr": 0.1}, ValueError, r"example_config key 'lr' of 'bad_example' is not a constructor argument"),
        ([("learning_rate", 0.1)], TypeError, r"example_config must be a dict of constructor arguments"),
        ({1: 0.1}, TypeError, r"example_config must be a dict of constructor arguments \(str keys\), got \{1: 0\.1\}"),
    ],
)
def test_bad_example_config_is_refused_at_registration(clean_registry, config, error, match):
    with pytest.raises(error, match=match):
        register_optimizer("bad_example", example_config=config)(make_class("BadExample"))
    assert "bad_example" not in list_optimizers()  # nothing half-registered


def test_list_optimizers_sorted_and_filtered():
    names = list_optimizers()
    assert names == sorted(names)
    assert list_optimizers("*momentum*") == ["cmomentum_sgd", "momentum_sgd"]
    assert list_optimizers("VANILLA*") == ["vanilla_sgd"]
    assert list_optimizers("nothing*") == []


def test_user_optimizer_gets_every_behaviour(clean_registry):
    Half = register_optimizer("half_sgd", aliases=("halfsgd",))(make_class())
    assert "half_sgd" in list_optimizers()
    assert optimizer_info("halfsgd").cls is Half
    assert type(keras.optimizers.get("half_sgd")) is Half
    assert type(keras.optimizers.get("halfsgd")) is Half
    assert type(get_optimizer("HALF_SGD", learning_rate=0.2)) is Half
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer="halfsgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert type(model.optimizer) is Half


def test_taken_name_is_refused_naming_both_classes(clean_registry):
    with pytest.raises(ValueError, match=r"'momentum_sgd' is already registered to kerasopt_plugins\.optimizers\.momentum_sgd\.MomentumSGD; cannot register .*\.Clash"):
        register_optimizer("momentum_sgd")(make_class("Clash"))
    with pytest.raises(ValueError, match=r"'vanilla_sgd' is already registered"):
        register_optimizer("other", aliases=("vanilla_sgd",))(make_class("Clash2"))
    assert "other" not in list_optimizers()  # nothing half-registered


def test_builtin_keras_names_are_protected(clean_registry):
    with pytest.raises(ValueError, match=r"'adam' is Keras's built-in .*Adam"):
        register_optimizer("adam")(make_class("MyAdam"))


def test_override_replaces_and_frees_the_old_names(clean_registry):
    First = register_optimizer("swap_me", aliases=("swap_alias",))(make_class("First"))
    Second = register_optimizer("swap_me", override=True)(make_class("Second"))
    assert optimizer_info("swap_me").cls is Second
    assert "swap_alias" not in keras.saving.get_custom_objects()
    with pytest.raises(UnknownOptimizerError):
        optimizer_info("swap_alias")
    assert First is not Second


def test_redefinition_of_the_same_class_is_accepted(clean_registry):
    register_optimizer("again")(make_class("Again"))
    Newer = register_optimizer("again")(make_class("Again"))  # a re-run notebook cell
    assert optimizer_info("again").cls is Newer


def test_the_same_class_twice_under_two_names_is_refused(clean_registry):
    cls = register_optimizer("once")(make_class("Once"))
    with pytest.raises(ValueError, match="already registered as 'once'; give extra names as aliases"):
        register_optimizer("twice")(cls)


@pytest.mark.parametrize("target", [object, keras.layers.Dense, "sgd", VanillaSGD()])
def test_decorating_a_non_optimizer_is_a_type_error(target):
    with pytest.raises(TypeError, match="can only decorate a keras.optimizers.Optimizer subclass"):
        register_optimizer("nope")(target)


@pytest.mark.parametrize("bad", ["Has Space", "CamelCase", "", "1abc"])
def test_malformed_names_are_refused(bad):
    with pytest.raises(ValueError, match="is not a valid optimizer name"):
        register_optimizer(bad)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownOptimizerError, match=r"Unknown optimizer 'cmomentum'\. Did you mean 'cmomentum_sgd'.*list_optimizers\(\)"):
        get_optimizer("cmomentum")
    with pytest.raises(ValueError, match="Unknown optimizer 'zzz'"):  # it is a ValueError
        get_optimizer("zzz")


def test_get_optimizer_forms():
    opt = get_optimizer("momentum_sgd", momentum=0.9, learning_rate=0.1)
    assert isinstance(opt, MomentumSGD) and opt.momentum == 0.9
    adam = get_optimizer("Adam", learning_rate=0.01)
    assert isinstance(adam, keras.optimizers.Adam)
    config = keras.optimizers.serialize(opt)
    again = get_optimizer(json.loads(json.dumps(config)), momentum=0.5)
    assert isinstance(again, MomentumSGD) and again.momentum == 0.5 and again.get_config()["learning_rate"] == 0.1
    assert get_optimizer(opt) is opt
    copy = get_optimizer(opt, momentum=0.3)
    assert copy is not opt and copy.momentum == 0.3 and opt.momentum == 0.9
    assert isinstance(get_optimizer({"class_name": "CMOMENTUM_SGD", "config": {"momentum": 0.5}}), CMomentumSGD)
    with pytest.raises(UnknownOptimizerError, match="Unknown optimizer 'NoSuch'"):
        get_optimizer({"class_name": "NoSuch", "config": {}})
    with pytest.raises(ValueError, match="needs 'class_name'"):
        get_optimizer({"momentum": 0.9})
    with pytest.raises(TypeError, match="got 3 of type int"):
        get_optimizer(3)


def test_unregister_unknown_name():
    with pytest.raises(UnknownOptimizerError):
        unregister_optimizer("never_registered")


USER_MODULE = '''
import keras
from kerasopt_plugins import PluginOptimizer, register_optimizer

@register_optimizer("user_sgd")
class UserSGD(PluginOptimizer):
    """A user's own optimizer, defined outside the package."""
    slot_names = ("velocity",)

    def update_step(self, gradient, variable, learning_rate):
        v = self.get_slot(variable, "velocity")
        self.assign(v, 0.5 * v + gradient)
        self.assign_sub(variable, keras.ops.cast(learning_rate, variable.dtype) * v)
'''


@pytest.mark.slow
def test_user_optimizer_saved_and_loaded_in_fresh_processes(tmp_path):
    (tmp_path / "user_opts.py").write_text(USER_MODULE)
    x, y = regression_data()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    env = {"PYTHONPATH": str(tmp_path)}
    run_python(
        """
        import numpy as np, keras, user_opts
        keras.utils.set_random_seed(0)
        d = np.load("data.npz")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="user_sgd", loss="mse")
        model.fit(d["x"], d["y"], batch_size=8, epochs=1, verbose=0)
        model.save("user.keras")
        """,
        cwd=tmp_path,
        env=env,
    )
    out = run_python(
        """
        import keras, user_opts
        model = keras.saving.load_model("user.keras")
        print(type(model.optimizer).__name__, int(model.optimizer.iterations), model.optimizer.name)
        """,
        cwd=tmp_path,
        env=env,
    )
    assert out.stdout.split() == ["UserSGD", "4", "user_sgd"]


# -- class names (Keras 2 wrote optimizers by class name; users write "Adam") -----------------

from kerasopt_plugins.registry import AmbiguousOptimizerNameError  # noqa: E402

#: The optimizer of a `.keras` file Keras 2.15 wrote for the tutorial's CMomentumSGD (measured:
#: tests/legacy/reference/data/keras2_facts.json): the bare class name, the user's module.
KERAS2_CMOMENTUM = {
    "module": "tut",
    "class_name": "CMomentumSGD",
    "config": {"name": "CMomentumSGD", "learning_rate": 0.10000000149011612, "decay": 0.0,
               "momentum": 0.8999999761581421, "centered": True},
    "registered_name": "CMomentumSGD",
}


def test_class_names_resolve_everywhere_keras_looks_any_case():
    for identifier in ("CMomentumSGD", "cmomentumsgd"):  # Keras's own lookups: as spelled and lower case
        assert type(keras.optimizers.get(identifier)) is CMomentumSGD
    for identifier in ("CMomentumSGD", "cmomentumsgd", "CMOMENTUMSGD", " cMomentumSgd "):
        assert type(get_optimizer(identifier, momentum=0.5)) is CMomentumSGD
        assert optimizer_info(identifier).name == "cmomentum_sgd"
    assert type(get_optimizer("RectifiedAdam")) is optimizer_info("rectified_adam").cls
    assert type(keras.optimizers.get("Yogi")) is optimizer_info("yogi").cls  # class name == name, any case
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer="CMomentumSGD", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert type(model.optimizer) is CMomentumSGD and int(model.optimizer.iterations) == 2


def test_a_config_with_the_bare_class_name_loads_as_keras_2_wrote_it():
    for optimizer in (
        keras.optimizers.deserialize(json.loads(json.dumps(KERAS2_CMOMENTUM))),
        keras.saving.deserialize_keras_object(json.loads(json.dumps(KERAS2_CMOMENTUM))),
        get_optimizer({"class_name": "cmomentumsgd", "config": KERAS2_CMOMENTUM["config"]}),
        get_optimizer({"class_name": "CMOMENTUMSGD", "config": KERAS2_CMOMENTUM["config"]}),
    ):
        assert type(optimizer) is CMomentumSGD
        assert optimizer.momentum == 0.8999999761581421 and optimizer.centered
        assert optimizer.name == "CMomentumSGD"


def test_class_names_never_shadow_keras_builtins(clean_registry):
    # the tfa port of AdamW is a class named AdamW: "AdamW" stays Keras's
    assert optimizer_info("addons_adamw").cls.__name__ == "AdamW"
    assert type(keras.optimizers.get("AdamW")) is keras.optimizers.AdamW
    assert type(get_optimizer("adamw")) is keras.optimizers.AdamW
    MyAdam = register_optimizer("my_adam")(make_class("Adam"))
    for identifier in ("Adam", "adam", "ADAM"):
        assert type(keras.optimizers.get(identifier)) is keras.optimizers.Adam
        assert type(get_optimizer(identifier)) is keras.optimizers.Adam
    assert type(keras.optimizers.deserialize({"class_name": "Adam", "config": {}})) is keras.optimizers.Adam
    assert type(get_optimizer({"class_name": "Adam", "config": {}})) is keras.optimizers.Adam
    assert type(get_optimizer("my_adam")) is MyAdam
    assert "Adam" not in keras.saving.get_custom_objects()


def test_two_classes_with_one_class_name_raise_at_lookup_naming_both(clean_registry, caplog):
    Other = register_optimizer("other_cmomentum")(make_class("CMomentumSGD"))  # registering works
    assert "class name 'CMomentumSGD' is ambiguous" in caplog.text
    both = (
        r"optimizer class name 'CMomentumSGD' is ambiguous: it is the class name of "
        r"kerasopt_plugins\.optimizers\.cmomentum_sgd\.CMomentumSGD \(registered as 'cmomentum_sgd'\) and "
        r"\S*test_registry\.CMomentumSGD \(registered as 'other_cmomentum'\)\. Use a registered name"
    )
    for lookup in (
        lambda: get_optimizer("CMomentumSGD"),
        lambda: get_optimizer("cmomentumsgd"),
        lambda: optimizer_info("CMomentumSGD"),
        lambda: get_optimizer({"class_name": "CMomentumSGD", "config": {}}),
        lambda: keras.optimizers.get("CMomentumSGD"),
        lambda: keras.optimizers.get("cmomentumsgd"),
        lambda: keras.optimizers.deserialize(dict(KERAS2_CMOMENTUM)),
        lambda: keras.saving.deserialize_keras_object(dict(KERAS2_CMOMENTUM)),
    ):
        with pytest.raises(AmbiguousOptimizerNameError, match=both):
            lookup()
    assert type(get_optimizer("other_cmomentum")) is Other  # the registered names tell them apart
    assert type(keras.optimizers.get("cmomentum_sgd")) is CMomentumSGD
    unregister_optimizer("other_cmomentum")
    assert type(keras.optimizers.get("CMomentumSGD")) is CMomentumSGD  # one class again: it resolves


def test_class_names_that_differ_only_in_case_are_ambiguous_too(clean_registry):
    register_optimizer("first_case")(make_class("FooOpt"))
    register_optimizer("second_case")(make_class("Fooopt"))
    for identifier in ("FooOpt", "Fooopt", "fooopt"):
        with pytest.raises(AmbiguousOptimizerNameError, match=r"'FooOpt' is ambiguous.*'first_case'.*'second_case'"):
            keras.optimizers.get(identifier)


def test_registered_names_and_users_own_custom_objects_come_before_class_names(clean_registry):
    Named = register_optimizer("zeta")(make_class("Named"))
    register_optimizer("zeta_one")(make_class("Zeta"))  # its class name, any case, is another's name
    assert type(get_optimizer("Zeta")) is Named and type(keras.optimizers.get("zeta")) is Named
    assert "Zeta" not in keras.saving.get_custom_objects()  # never resolves to the other class

    class Mine(CMomentumSGD):
        pass

    with keras.saving.custom_object_scope({"CMomentumSGD": Mine}):  # as load_model(custom_objects=...)
        assert type(keras.optimizers.get("CMomentumSGD")) is Mine
    custom = keras.saving.get_custom_objects()
    custom["VanillaSGD"] = Mine  # a user's own entry, Keras 2 style, survives registrations
    try:
        register_optimizer("after_mine")(make_class("AfterMine"))
        assert type(keras.optimizers.get("VanillaSGD")) is Mine
    finally:
        del custom["VanillaSGD"]
        unregister_optimizer("after_mine")
    assert type(keras.optimizers.get("VanillaSGD")) is VanillaSGD  # restored at the next change


@pytest.mark.slow
def test_compile_by_class_name_and_load_a_keras_2_style_config_in_fresh_processes(tmp_path):
    import zipfile

    x, y = regression_data()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    saved = json.loads(run_python(
        """
        import json, numpy as np, keras, kerasopt_plugins
        d = np.load("data.npz")
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(1)])
        model.compile(optimizer="CMomentumSGD", loss="mse")
        model.optimizer.momentum = 0.9  # so that the slots move
        model.fit(d["x"], d["y"], batch_size=8, epochs=1, verbose=0)
        model.save("k3.keras")
        print(json.dumps([v.numpy().tolist() for v in model.optimizer.variables]))
        """,
        cwd=tmp_path,
    ).stdout.splitlines()[-1])
    # what Keras 2.15 would have written: the bare class name and the user's module
    with zipfile.ZipFile(tmp_path / "k3.keras") as src, zipfile.ZipFile(tmp_path / "k2_style.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                assert config["compile_config"]["optimizer"]["registered_name"] == "kerasopt_plugins>cmomentum_sgd"
                config["compile_config"]["optimizer"] = {
                    **KERAS2_CMOMENTUM, "config": {**KERAS2_CMOMENTUM["config"], "learning_rate": 0.01, "momentum": 0.9}
                }
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    out = run_python(
        """
        import json, numpy as np, keras, kerasopt_plugins
        model = keras.saving.load_model("k2_style.keras")
        opt = model.optimizer
        print(type(opt).__module__, type(opt).__name__, opt.name, int(opt.iterations), opt.momentum)
        print(json.dumps([v.numpy().tolist() for v in opt.variables]))
        d = np.load("data.npz")
        model.fit(d["x"], d["y"], batch_size=8, epochs=1, verbose=0)
        print(int(opt.iterations), type(keras.optimizers.get("cmomentumsgd")).__name__)
        """,
        cwd=tmp_path,
    )
    head, variables, tail = out.stdout.splitlines()[-3:]
    assert head.split() == ["kerasopt_plugins.optimizers.cmomentum_sgd", "CMomentumSGD", "CMomentumSGD", "4", "0.9"]
    assert json.loads(variables) == saved  # the state came back with it
    assert tail.split() == ["8", "CMomentumSGD"]
