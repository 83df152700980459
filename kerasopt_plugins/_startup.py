"""Start-up of the `kerasopt` command: parse first, then import the backend quietly.

When (and only when) this process is the `kerasopt` command — the console script, or
``python -m kerasopt_plugins`` — `import kerasopt_plugins` first parses the command line
(`cli.parse_early`, standard library only), so ``--help``, ``--version`` and bad arguments are
answered in a fraction of a second instead of after the backend's import (seconds). Then the
backend is imported with stderr pointed at /dev/null: TensorFlow's C++ runtime prints several
lines when it loads, before any Python logging setting can stop it, which would bury the
command's one-line errors. A library user's process is never touched.
"""

from __future__ import annotations

import contextlib
import os
import sys

PACKAGE = "kerasopt_plugins"


def cli_arguments() -> list[str] | None:
    """The command-line arguments when this process is the `kerasopt` command, else None."""
    argv = sys.argv if sys.argv else [""]
    name = os.path.basename(argv[0])
    if name in ("kerasopt", "kerasopt.exe", "kerasopt-script.py"):
        return list(argv[1:])
    # `python -m kerasopt_plugins`: while the package is imported, argv[0] is "-m"
    original = list(getattr(sys, "orig_argv", []))
    if argv[0] == "-m" and "-m" in original:
        position = original.index("-m")
        if original[position + 1 : position + 2] == [PACKAGE]:
            return list(argv[1:])
    return None


def _is_cli() -> bool:
    return cli_arguments() is not None


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_backend_quietly_for_cli() -> None:
    arguments = cli_arguments()
    if arguments is None or "keras" in sys.modules:
        return
    from kerasopt_plugins import cli  # noqa: PLC0415  (standard library only at import)

    cli.parse_early(arguments)  # --help, --version, bad arguments: answered and exited here
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import keras  # noqa: F401, PLC0415
