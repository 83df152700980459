"""The API reference (mkdocs.yml, docs/api/): every public name is documented and rendered.

The public modules are found from the code, not from a list: the package, each of its direct
submodules whose name has no leading underscore and that defines `__all__`, and any module a
public module exports. Every name in a public module's `__all__` must have a non-empty docstring
(read statically by griffe, as mkdocstrings reads it) and a `::: module` page in docs/api/; the
strict build must pass and its objects.inv must hold ``module.name`` for each of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DIR = ROOT / "docs" / "api"
PACKAGE = "kerasopt_plugins"

griffe = pytest.importorskip("griffe", reason="the docs tools are not installed (pip install -e '.[docs]')")


def _name(export) -> str:
    return export if isinstance(export, str) else export.name  # griffe gives str or ExprName


@pytest.fixture(scope="module")
def package():
    return griffe.load(PACKAGE, search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False)


def public_modules(package) -> dict[str, list[str]]:
    """Public module path -> its `__all__` (as griffe reads it, statically)."""
    found: dict[str, list[str]] = {}
    todo = [package] + [m for n, m in package.modules.items() if not n.startswith("_") and m.exports is not None]
    while todo:
        module = todo.pop()
        if module.path in found:
            continue
        found[module.path] = [_name(e) for e in module.exports or ()]
        for name in found[module.path]:
            member = module.members.get(name)
            if member is not None and member.is_module:
                todo.append(member.final_target if member.is_alias else member)
    return found


def documented_modules() -> dict[str, str]:
    """Module path -> the docs/api page with its ``::: path`` directive."""
    pages = {}
    for page in sorted(API_DIR.glob("*.md")):
        for path in re.findall(r"^::: *([\w.]+) *$", page.read_text(encoding="utf-8"), flags=re.M):
            pages[path] = page.name
    return pages


def read_inventory(path: Path) -> dict[str, str]:
    """Object name -> URI of the primary entries (priority 1) of a Sphinx objects.inv, version 2.

    Secondary entries (priority 2) are the other paths an object is known by (an alias rendered
    on another page); they do not show that a name is rendered where its module is documented.
    """
    data = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = data.index(b"\n", header_end) + 1
    assert data[:header_end].startswith(b"# Sphinx inventory version 2"), data[:header_end]
    entries = {}
    for line in zlib.decompress(data[header_end:]).decode("utf-8").splitlines():
        match = re.match(r"(\S+)\s+\S+:\S+\s+(-?\d+)\s+(\S*)\s", line)
        if match and match[2] == "1":
            entries[match[1]] = match[3].replace("$", match[1])  # "$" stands for the name
    return entries


def test_public_modules_are_found_and_agree_with_runtime_all(package):
    modules = public_modules(package)
    # a floor, so a discovery that finds nothing cannot pass: the modules README and docs name
    assert {f"{PACKAGE}{s}" for s in ("", ".optimizers", ".callbacks", ".wrappers", ".addons.optimizers")} <= set(modules)
    for path, exports in modules.items():
        runtime = importlib.import_module(path).__all__
        assert sorted(exports) == sorted(runtime), f"griffe reads {path}.__all__ differently from Python"


def test_every_public_name_has_a_docstring_and_a_page(package):
    modules = public_modules(package)
    pages = documented_modules()
    problems = [f"{path}: no docs/api page with '::: {path}'" for path in modules if path not in pages]
    for path, exports in modules.items():
        module = package.get_member(path.removeprefix(PACKAGE).lstrip(".")) if path != PACKAGE else package
        for name in exports:
            member = module.members.get(name)
            if member is None:
                problems.append(f"{path}.{name}: in __all__ but not defined or imported where griffe can see it")
                continue
            target = member.final_target if member.is_alias else member
            if target.docstring is None or not target.docstring.value.strip():
                problems.append(f"{path}.{name}: no docstring ({target.path})")
    index = (API_DIR / "index.md").read_text(encoding="utf-8")
    problems += [f"docs/api/index.md does not link {page}" for page in set(pages.values()) if f"]({page})" not in index]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_mkdocs_build_strict_renders_every_public_name_without_importing_the_package(package, tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.skip("mkdocs / mkdocstrings[python] are not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    code = (
        "import json, logging, sys\n"
        "logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')\n"
        "from mkdocs.commands.build import build\n"
        "from mkdocs.config import load_config\n"
        "build(load_config('mkdocs.yml', site_dir=sys.argv[1], strict=True))\n"
        "heavy = ('tensorflow', 'keras', 'jax', 'torch', 'kerasopt_plugins')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] in heavy)))\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site)], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    seconds = time.perf_counter() - start
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING mkdocs")]  # what strict counts
    assert proc.returncode == 0 and not warnings, f"mkdocs build --strict failed:\n{proc.stderr[-6000:]}"
    assert json.loads(proc.stdout.splitlines()[-1]) == [], "building the docs imported the package or a backend"
    inventory = read_inventory(site / "objects.inv")
    pages = documented_modules()
    missing = []
    for path, exports in public_modules(package).items():
        for name in exports:  # rendered under its own heading, on its module's page
            expected = f"api/{Path(pages[path]).stem}/#{path}.{name}"
            if inventory.get(f"{path}.{name}") != expected:
                missing.append(f"{path}.{name} (want {expected}, got {inventory.get(f'{path}.{name}')})")
    assert not missing, "public names not rendered in the API reference:\n" + "\n".join(missing)
    assert (site / "api" / "index.html").is_file()
    print(f"mkdocs build --strict: {seconds:.1f} s")
