"""`fit` end to end on a small model: each plugin optimizer against its Keras twin.

Same MLP, data and steps for every case; one `fit` call per sample, compiled once beforehand;
cases interleaved in a shuffled order each round.

    python benchmarks/fit_time.py [--steps 400] [--repeats 15] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from step_time import BETA, LR, TWINS  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=256)
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.width = 10, 2, 16

    import keras
    import numpy as np

    import kerasopt_plugins

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * args.batch, 32)).astype("float32")
    y = rng.integers(0, 10, size=(args.steps * args.batch,))
    makers = {
        "momentum_sgd": lambda: kerasopt_plugins.MomentumSGD(LR, momentum=BETA),
        "keras_sgd_momentum": lambda: keras.optimizers.SGD(LR * (1 - BETA), momentum=BETA),
        "vanilla_sgd": lambda: kerasopt_plugins.VanillaSGD(LR),
        "keras_sgd": lambda: keras.optimizers.SGD(LR),
    }
    cases = {}
    for name, make in makers.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((32,)), keras.layers.Dense(args.width, activation="relu"),
             keras.layers.Dense(args.width, activation="relu"), keras.layers.Dense(10)]
        )
        model.compile(make(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)  # compile once
        cases[name] = (lambda m=model: m.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False))
    times = _common.interleaved(cases, args.repeats)
    rows = {}
    for name in makers:
        rows[name] = {**_common.summarize(times[name]), "ms_per_step": 1e3 * _common.summarize(times[name])["median_s"] / args.steps}
        if TWINS.get(name) in times:
            rows[name].update({"twin": TWINS[name], **_common.ratio_stats(times, name, TWINS[name])})
    print(f"{'optimizer':20} {'ms/step':>8} {'vs Keras':>9} {'spread':>12}")
    for name, row in rows.items():
        ratio = f"{row['ratio_of_medians']:.3f}" if "twin" in row else ""
        spread = f"{row['round_ratio_min']:.2f}–{row['round_ratio_max']:.2f}" if "twin" in row else ""
        print(f"{name:20} {row['ms_per_step']:8.3f} {ratio:>9} {spread:>12}")
    _common.finish("fit_time", args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
