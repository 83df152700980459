"""`import kerasopt_plugins` time beyond `import keras`, in fresh processes.

Two measures, both in fresh interpreters run alternately:
  * `-X importtime` of `import keras; import kerasopt_plugins`: the cumulative time of the
    kerasopt_plugins line counts only what it imports beyond keras (the number to compare with
    the 100 ms target);
  * wall time of `import keras` vs `import keras, kerasopt_plugins`, whole process.

    python benchmarks/import_time.py [--repeats 9] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

TARGET_MS = 100.0


def importtime_ms() -> float:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import keras; import kerasopt_plugins"],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True,
    )
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "kerasopt_plugins":
            return int(parts[1]) / 1000.0
    raise RuntimeError("kerasopt_plugins not found in -X importtime output")


def wall_s(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                   capture_output=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    cumulative = [importtime_ms() for _ in range(args.repeats)]
    times = _common.interleaved(
        {"keras": lambda: wall_s("import keras"), "keras+kerasopt_plugins": lambda: wall_s("import keras, kerasopt_plugins")},
        args.repeats,
    )
    result = {
        "importtime_beyond_keras_ms": {"median": statistics.median(cumulative), "min": min(cumulative), "max": max(cumulative)},
        "target_ms": TARGET_MS,
        "wall": {name: _common.summarize(ts) for name, ts in times.items()},
        "wall_difference_ms_median": 1000 * (statistics.median(times["keras+kerasopt_plugins"]) - statistics.median(times["keras"])),
    }
    print(f"import kerasopt_plugins beyond keras (-X importtime): median {result['importtime_beyond_keras_ms']['median']:.1f} ms "
          f"(min {min(cumulative):.1f}, max {max(cumulative):.1f}; target <= {TARGET_MS:.0f} ms)")
    for name, row in result["wall"].items():
        print(f"  wall {name:24} median {row['median_s']:.3f} s (min {row['min_s']:.3f}, max {row['max_s']:.3f})")
    _common.finish("import_time", args, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
