"""Quiet start-up for the `kerasopt` command only.

TensorFlow's C++ runtime prints several lines on stderr when it loads, before any Python
logging setting can stop it, which would bury the command's one-line errors. When (and only
when) this process is the `kerasopt` console script, the backend is imported with stderr
pointed at /dev/null. A library user's process is never touched.
"""

from __future__ import annotations

import contextlib
import os
import sys


def _is_cli() -> bool:
    return os.path.basename(sys.argv[0] if sys.argv else "") == "kerasopt"


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
    if not _is_cli() or "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import keras  # noqa: F401, PLC0415
