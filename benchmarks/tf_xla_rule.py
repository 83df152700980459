"""TensorFlow: an elementwise rule compiled with XLA inside a tf.function without XLA, before and after.

PluginOptimizer runs an elementwise rule's update loop as one nested ``tf.function(jit_compile=
True)`` when the step is traced without XLA (Keras's default on a CPU; _fast_paths.py,
`_tf_xla_update`). This script times, in ONE process and interleaved (shuffled each round), each
chosen optimizer twice -- "before": Keras's loop, as with that path switched off on the instance
(every other fast path left on), and "after": as shipped -- beside its Keras twin (Adam for the
tensorflow-addons ports, SGD for the seeds), in `tf.function` without XLA and with XLA
(`--modes`). Reported per case: median step time, ratio of medians to the twin, the spread of
per-round ratios, and the seconds of the first call (trace, XLA compile and one step).

    python benchmarks/tf_xla_rule.py --scale 0.1                      # ports and seeds, one big + BERT mix
    python benchmarks/tf_xla_rule.py --optimizers yogi --layouts many_small --modes function
    python benchmarks/tf_xla_rule.py --smoke
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import step_time  # noqa: E402

SEEDS = {"momentum_sgd": "keras_sgd_momentum", "vanilla_sgd": "keras_sgd"}
DEFAULT = "yogi,adabelief,rectified_adam,cocob,addons_adamw,lazy_adam,proximal_adagrad,sgdw,momentum_sgd,vanilla_sgd"


def maker(name: str):
    import keras

    import kerasopt_plugins

    makers = {
        "keras_adam": lambda: keras.optimizers.Adam(**step_time.ADAM),
        "keras_sgd": lambda: keras.optimizers.SGD(step_time.LR),
        "keras_sgd_momentum": lambda: keras.optimizers.SGD(
            step_time.LR * (1 - step_time.BETA), momentum=step_time.BETA
        ),
        "momentum_sgd": lambda: kerasopt_plugins.MomentumSGD(step_time.LR, momentum=step_time.BETA),
        "vanilla_sgd": lambda: kerasopt_plugins.VanillaSGD(step_time.LR),
    }
    return makers.get(name, lambda: step_time.make_port(name))


def run_layout(layout, shapes, mode, names, repeats, steps):
    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
    cases, first, twin_of = {}, {}, {}
    plan = [(n, v) for n in names for v in ("before", "after")]
    plan += [(t, "") for t in dict.fromkeys(SEEDS.get(n, "keras_adam") for n in names)]
    for name, version in plan:
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = maker(name)()
        if version == "before":  # Keras's loop: what `_tf_xla_update` leaves untouched
            optimizer.__dict__["_tf_xla_update"] = lambda g, v, lr: (g, v)
        optimizer.build(variables)
        apply = step_time._bind(optimizer.apply, grads, variables)  # no default args: tf.function would trace them
        step = tf.function(apply, jit_compile=(mode == "xla"), autograph=False)
        case = f"{name}:{version}" if version else name
        start = time.perf_counter()
        step()
        first[case] = time.perf_counter() - start
        cases[case] = lambda s=step: [s() for _ in range(steps)]
        twin_of[case] = SEEDS.get(name, "keras_adam") if version else None
    times = _common.interleaved(cases, repeats)
    per_step = {c: [t / steps for t in ts] for c, ts in times.items()}
    rows = []
    for case, samples in per_step.items():
        row = {"layout": layout, "mode": mode, "case": case, "variables": len(shapes),
               "median_step_s": statistics.median(samples), "first_call_s": first[case]}
        if twin_of[case]:
            row["twin"] = twin_of[case]
            row.update(_common.ratio_stats(per_step, case, twin_of[case]))
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="layout scale as in step_time.py (default 0.1)")
    parser.add_argument("--layouts", default="one_big,bert_base", help="comma list of step_time.py's dense layouts")
    parser.add_argument("--optimizers", default=DEFAULT, help=f"comma list (default {DEFAULT})")
    parser.add_argument("--modes", default="function,xla", help="comma list of function, xla")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed sample (default 5)")
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.scale, args.repeats, args.steps, args.optimizers = 0.001, 2, 2, "yogi,vanilla_sgd"
    import keras

    if keras.backend.backend() != "tensorflow":
        parser.error("this benchmark is about the TensorFlow backend: set KERAS_BACKEND=tensorflow")
    names = args.optimizers.split(",")
    all_layouts = step_time.layouts(args.scale, small_count=100 if args.smoke else 1000)
    rows = []
    for layout in args.layouts.split(","):
        if layout not in all_layouts or layout in step_time.SPARSE:
            parser.error(f"--layouts: {layout!r} is not one of the dense layouts one_big, many_small, bert_base")
        for mode in args.modes.split(","):
            if mode not in ("function", "xla"):
                parser.error(f"--modes: {mode!r} is not function or xla")
            rows += run_layout(layout, all_layouts[layout], mode, names, args.repeats, args.steps)
    print(f"{'layout':10} {'mode':8} {'case':28} {'ms/step':>9} {'vs twin':>8} {'spread':>11} {'first s':>8}")
    for r in rows:
        ratio = f"{r['ratio_of_medians']:.3f}" if "twin" in r else ""
        spread = f"{r['round_ratio_min']:.2f}-{r['round_ratio_max']:.2f}" if "twin" in r else ""
        print(f"{r['layout']:10} {r['mode']:8} {r['case']:28} {r['median_step_s'] * 1e3:9.3f} {ratio:>8} "
              f"{spread:>11} {r['first_call_s']:8.2f}")
    _common.finish("tf_xla_rule", args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
