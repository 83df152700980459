"""Plugins installed for real: a session fixture pip-installs the sample plugin (and a package
fresh from `kerasopt new`) into a temporary folder, which subprocesses get on PYTHONPATH.

Nothing is installed into the test environment itself: the registry of this process, and the
suite parametrized over it, stay this package's own optimizers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import computed_once

REPOSITORY = Path(__file__).resolve().parents[2]
SAMPLE = REPOSITORY / "examples" / "sample_plugin"

#: What the scaffold test generates and installs beside the sample (distribution, optimizer).
SCAFFOLD_DISTRIBUTION = "kerasopt-scaffold-check"
SCAFFOLD_OPTIMIZER = "scaffold_momentum"


def pip_install(source: Path, site: Path) -> None:
    """``pip install --no-deps --no-build-isolation --no-index --target site source``: offline,
    with this environment's setuptools; builds in a copy, so `source` gets no build/ folder."""
    build = site.parent / f"build-{source.name}"
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(site), str(build)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise AssertionError(f"pip install {source} failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A folder where the sample plugin and a freshly generated scaffold are installed."""
    import importlib.util

    from kerasopt_plugins.scaffold import create_plugin

    if importlib.util.find_spec("setuptools") is None:  # --no-build-isolation builds with ours
        pytest.fail("installing the sample plugin offline needs setuptools in the test environment "
                    "(pip install 'setuptools>=64')")

    def install() -> str:  # once per session, whatever the number of xdist workers
        root = tmp_path_factory.mktemp("plugins")
        site = root / "site"
        generated = create_plugin(SCAFFOLD_DISTRIBUTION, root, optimizer=SCAFFOLD_OPTIMIZER)
        for source in (SAMPLE, generated):
            pip_install(source, site)
        return str(site)

    return Path(computed_once(tmp_path_factory, "plugin-site", install))


@pytest.fixture(scope="session")
def plugin_env(plugin_site) -> dict[str, str]:
    """The environment of a subprocess that sees the installed plugins."""
    path = os.pathsep.join(p for p in (str(plugin_site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}
