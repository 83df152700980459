"""The entry-point loader on real distributions: `*.dist-info` folders written into a temporary
folder, read back by importlib.metadata as pip-installed ones are, their modules imported for real."""

from __future__ import annotations

import sys
import textwrap
import warnings
from importlib.metadata import distributions

import keras
import pytest

from kerasopt_plugins import PluginWarning, _entry_points, registry

OPTIMIZER = '''
from keras import ops
from kerasopt_plugins import PluginOptimizer, register_optimizer

{decorator}
class {cls}(PluginOptimizer):
    """{cls}: plain gradient descent."""

    def update_step(self, gradient, variable, learning_rate):
        self.assign_sub(variable, ops.multiply(ops.cast(gradient, variable.dtype), ops.cast(learning_rate, variable.dtype)))
'''


def optimizer_source(cls: str, name: str | None) -> str:
    decorator = f"@register_optimizer({name!r})" if name else ""
    return OPTIMIZER.format(decorator=decorator, cls=cls)


@pytest.fixture
def site(tmp_path, monkeypatch, clean_registry):
    """A folder on sys.path to install fake distributions into; undone after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_PLUGIN_MODULES", {})
    monkeypatch.delenv(_entry_points.ENV_SWITCH, raising=False)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def install(site, distribution: str, version: str, entry_points: dict[str, str], modules: dict[str, str]):
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{_entry_points.GROUP}]\n{lines}")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


def entry_points(site):
    """The group's entry points of the distributions in `site`, as importlib.metadata lists them."""
    found = [d for d in distributions(path=[str(site)])]
    found.sort(key=lambda d: d.metadata["Name"])
    return [ep for d in found for ep in d.entry_points if ep.group == _entry_points.GROUP]


def load(site):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = _entry_points.load_plugins(entry_points(site))
    return loaded, [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]


def test_an_entry_point_registers_its_optimizer_with_the_distribution_in_the_record(site):
    install(site, "acme-optimizers", "1.2", {"acme_sgd": "acme_opt:AcmeSGD"},
            {"acme_opt": optimizer_source("AcmeSGD", "acme_sgd")})
    assert load(site) == (["acme_sgd"], [])
    info = registry.optimizer_info("acme_sgd")
    assert info.cls.__module__ == "acme_opt"
    assert (info.distribution, info.distribution_version) == ("acme-optimizers", "1.2")
    assert info.entry_point == "acme_sgd = acme_opt:AcmeSGD"
    assert type(keras.optimizers.get("acme_sgd")) is info.cls
    assert keras.saving.get_custom_objects()["kerasopt_plugins>acme_sgd"] is info.cls


def test_an_unregistered_class_is_registered_under_the_entry_point_name(site):
    install(site, "bare", "0.3", {"bare_sgd": "bare_opt:BareSGD"}, {"bare_opt": optimizer_source("BareSGD", None)})
    assert load(site) == (["bare_sgd"], [])
    info = registry.optimizer_info("bare_sgd")
    assert info.cls.__name__ == "BareSGD" and info.distribution == "bare"


def test_a_module_entry_point_gives_every_optimizer_of_the_module_its_distribution(site):
    source = optimizer_source("OneSGD", "one_sgd") + optimizer_source("TwoSGD", "two_sgd")
    install(site, "pair", "2.0", {"pair": "pair_opt"}, {"pair_opt": source})
    assert load(site) == (["pair"], [])
    assert {registry.optimizer_info(n).distribution for n in ("one_sgd", "two_sgd")} == {"pair"}


def test_a_broken_plugin_is_one_warning_naming_it_and_the_others_still_load(site):
    install(site, "broken-plugin", "0.1", {"broken": "broken_opt:Broken"},
            {"broken_opt": "raise RuntimeError('needs a GPU library')\n"})
    install(site, "good-plugin", "0.1", {"good_sgd": "good_opt:GoodSGD"}, {"good_opt": optimizer_source("GoodSGD", "good_sgd")})
    loaded, messages = load(site)
    assert loaded == ["good_sgd"]
    assert len(messages) == 1
    assert "entry point 'broken = broken_opt:Broken'" in messages[0]
    assert "of broken-plugin 0.1 could not be loaded: RuntimeError: needs a GPU library" in messages[0]
    assert "broken" not in registry.list_optimizers()


def test_a_name_two_plugins_register_stays_with_the_first_and_the_second_warns(site):
    install(site, "first-plugin", "1.0", {"dup_sgd": "first_opt:DupSGD"}, {"first_opt": optimizer_source("DupSGD", "dup_sgd")})
    install(site, "second-plugin", "1.0", {"dup_sgd": "second_opt:DupSGD"}, {"second_opt": optimizer_source("DupSGD", "dup_sgd")})
    loaded, messages = load(site)
    assert loaded == ["dup_sgd"]
    assert registry.optimizer_info("dup_sgd").cls.__module__ == "first_opt"
    assert registry.optimizer_info("dup_sgd").distribution == "first-plugin"
    assert len(messages) == 1 and "of second-plugin 1.0 could not be loaded" in messages[0]
    assert "'dup_sgd' is already registered to first_opt.DupSGD" in messages[0]


def test_an_entry_point_naming_something_else_warns(site):
    install(site, "odd", "0.1", {"odd": "odd_opt:VALUE"}, {"odd_opt": "VALUE = 3\n"})
    loaded, messages = load(site)
    assert loaded == [] and len(messages) == 1
    assert "names 3, which is neither a module nor a keras.optimizers.Optimizer subclass" in messages[0]


def test_kerasopt_plugins_0_loads_nothing(site, monkeypatch):
    install(site, "acme-optimizers", "1.2", {"acme_sgd": "acme_opt:AcmeSGD"},
            {"acme_opt": optimizer_source("AcmeSGD", "acme_sgd")})
    monkeypatch.setenv(_entry_points.ENV_SWITCH, "0")
    assert load(site) == ([], [])
    assert "acme_opt" not in sys.modules


def test_a_plugin_module_that_imports_kerasopt_plugins_first_registers_itself(site):
    """`import my_plugin` before kerasopt_plugins: the entry point then names a module still being
    imported. The loader leaves it to finish (no warning); its record still names the distribution."""
    hook = site / "circ_hook.py"
    hook.write_text("ENTRY_POINTS = []\n")
    source = (
        "import circ_hook\n"
        "from kerasopt_plugins import _entry_points\n"
        "LOADED = _entry_points.load_plugins(circ_hook.ENTRY_POINTS)  # what `import kerasopt_plugins` does\n"
        + optimizer_source("CircSGD", "circ_sgd")
    )
    install(site, "circ", "0.1", {"circ_sgd": "circ_opt:CircSGD"}, {"circ_opt": source})
    import circ_hook

    circ_hook.ENTRY_POINTS = entry_points(site)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import circ_opt
    assert circ_opt.LOADED == ["circ_sgd"]
    assert not [w for w in caught if issubclass(w.category, PluginWarning)]
    assert registry.optimizer_info("circ_sgd").distribution == "circ"
