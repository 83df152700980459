"""What every benchmark here shares: machine details, interleaved repeats, saving results."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).parent / "results"
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def example_module(name: str):
    """Import docs/examples/<name>.py once per process (its optimizer registers itself on import).

    Loaded by path, not by putting docs/examples on sys.path; cached in sys.modules under its
    own name, so a second call (step_time and fit_time in one process) does not register the
    same name twice.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def optimizer_memory(optimizer) -> dict:
    """Bytes an optimizer holds: `state_bytes` (its per-parameter variables, scalars such as the
    step count excluded) and `workspace_bytes` (what it holds outside `optimizer.variables`,
    e.g. scratch buffers, as its own `workspace_bytes()` reports; 0 where it has no such method).
    """
    import math

    import numpy as np

    state = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in optimizer.variables if len(v.shape))
    workspace = getattr(optimizer, "workspace_bytes", lambda: 0)()
    return {"state_bytes": int(state), "workspace_bytes": int(workspace)}


def human_bytes(n: float) -> str:
    """1234567 -> '1.2M' (powers of 1024): short enough for a table column."""
    if n < 1024:
        return f"{n:.0f}"
    for unit in ("K", "M", "G"):
        n /= 1024
        if n < 1024 or unit == "G":
            return f"{n:.1f}{unit}"


def machine() -> dict:
    """Where and with what the numbers were measured."""
    import keras
    import numpy as np

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    backend = info["backend"]
    if backend == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    elif backend == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
    elif backend == "torch":
        import torch

        info["torch"] = torch.__version__
    try:
        info["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except OSError:
        pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def interleaved(cases: dict[str, Callable[[], None]], repeats: int, seed: int = 0) -> dict[str, list[float]]:
    """Run every case once per round, in a shuffled order each round; return seconds per case."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for _ in range(repeats):
        rng.shuffle(names)
        for name in names:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return times


def summarize(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "runs": len(ordered),
    }


def ratio_stats(times: dict[str, list[float]], name: str, baseline: str) -> dict:
    """Ratio of medians, and the spread of per-round ratios (rounds are interleaved pairs)."""
    per_round = sorted(a / b for a, b in zip(times[name], times[baseline]))
    return {
        "ratio_of_medians": statistics.median(times[name]) / statistics.median(times[baseline]),
        # the least-disturbed run of each: robust where the machine adds noise, never less work
        "ratio_of_minimums": min(times[name]) / min(times[baseline]),
        "round_ratio_median": statistics.median(per_round),
        "round_ratio_min": per_round[0],
        "round_ratio_max": per_round[-1],
    }


def save(name: str, payload: dict, out: Path | None = None) -> Path:
    out = out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = out / f"{name}-{payload['machine']['backend']}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def add_output_options(parser) -> None:
    """The options every benchmark script shares."""
    parser.add_argument("--smoke", action="store_true", help="tiny run that only checks it works")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")


def finish(name: str, args, results, **extra) -> None:
    """Save the run with machine details (always for a full run; for --smoke only with --out)."""
    if args.smoke and not args.out:
        return
    payload = {"benchmark": name, "machine": machine(), "settings": vars(args), "results": results, **extra}
    print(f"saved {save(name, payload, None if args.out is None else Path(args.out))}")
