"""`fit` end to end: each plugin optimizer against its Keras twin, on a model with real weight.

Models (`--model`):
  embedding (default)  token ids (vocabulary 5000, 32 per example) -> Embedding(5000, 64)
                       -> GlobalAveragePooling1D -> Dense(256, relu) x 2 -> Dense(10):
                       405K parameters, 320K of them in the table. On TensorFlow the table's
                       gradient reaches the optimizer as a tf.IndexedSlices (the rows of the
                       batch's tokens); on JAX and torch as a dense array.
  mlp                  32 features -> Dense(256, relu) x 2 -> Dense(10).
Both are 10-class classification with SparseCategoricalCrossentropy(from_logits=True), on
whichever backend KERAS_BACKEND selects.

Pairs (`--pairs`, the same table as step_time.py): MomentumSGD vs Keras SGD(momentum), VanillaSGD
vs Keras SGD, GuideAdam (docs/examples/guide_adam.py) vs Keras Adam. Every case gets the same
initial weights, data and steps; each model is compiled and run through one `fit` beforehand,
then one `fit` call (one epoch, no shuffling) per sample, cases interleaved in a shuffled order
each round. Reported: ms per step (median, spread) and the ratio to the Keras twin with the
spread of per-round ratios.

    python benchmarks/fit_time.py [--model embedding|mlp] [--steps 300] [--repeats 15] [--smoke]
    KERAS_BACKEND=jax python benchmarks/fit_time.py
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from step_time import PAIRS, TWINS, make_optimizers  # noqa: E402

CLASSES = 10
MLP_FEATURES = 32


def build_model(args):
    import keras

    layers = keras.layers
    if args.model == "embedding":
        head = [keras.Input((args.sequence,), dtype="int32"), layers.Embedding(args.vocabulary, args.embedding_width),
                layers.GlobalAveragePooling1D()]
    else:
        head = [keras.Input((MLP_FEATURES,))]
    return keras.Sequential(
        head + [layers.Dense(args.width, activation="relu"), layers.Dense(args.width, activation="relu"),
                layers.Dense(CLASSES)]
    )


def make_data(args):
    import numpy as np

    rng = np.random.default_rng(0)
    n = args.steps * args.batch
    if args.model == "embedding":
        x = rng.integers(0, args.vocabulary, size=(n, args.sequence)).astype("int32")
    else:
        x = rng.normal(size=(n, MLP_FEATURES)).astype("float32")
    return x, rng.integers(0, CLASSES, size=(n,))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("embedding", "mlp"), default="embedding")
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma list of {', '.join(PAIRS)} (default all)")
    parser.add_argument("--steps", type=int, default=300, help="steps per fit (default 300)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=256, help="Dense layer width (default 256)")
    parser.add_argument("--vocabulary", type=int, default=5000, help="embedding model: table rows (default 5000)")
    parser.add_argument("--embedding-width", type=int, default=64, help="embedding model: table width (default 64)")
    parser.add_argument("--sequence", type=int, default=32, help="embedding model: tokens per example (default 32)")
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.width = 10, 2, 16
        args.vocabulary, args.embedding_width, args.sequence = 500, 8, 8
    pairs = tuple(args.pairs.split(","))
    unknown = [p for p in pairs if p not in PAIRS]
    if unknown:
        parser.error(f"--pairs: unknown {', '.join(unknown)}; choose from {', '.join(PAIRS)}")

    import keras

    x, y = make_data(args)
    keras.utils.set_random_seed(0)
    initial = build_model(args).get_weights()  # the same starting point for every case
    makers = make_optimizers(pairs)
    cases, models = {}, {}
    for name, (_, make) in makers.items():
        model = build_model(args)
        model.set_weights(initial)
        model.compile(make(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)  # compile once
        models[name] = model
        cases[name] = lambda m=model: m.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    times = _common.interleaved(cases, args.repeats)
    rows = {}
    for name in makers:
        summary = _common.summarize(times[name])
        rows[name] = {
            **summary, "ms_per_step": 1e3 * summary["median_s"] / args.steps, "model": args.model,
            "parameters": models[name].count_params(), **_common.optimizer_memory(models[name].optimizer),
        }
        if TWINS.get(name) in times:
            rows[name].update({"twin": TWINS[name], **_common.ratio_stats(times, name, TWINS[name])})
    print(f"model {args.model}, {rows[next(iter(rows))]['parameters']:,} parameters, {args.steps} steps of batch {args.batch}")
    print(f"{'optimizer':20} {'ms/step':>8} {'vs Keras':>9} {'spread':>12} {'state':>7} {'workspace':>9}")
    for name, row in rows.items():
        ratio = f"{row['ratio_of_medians']:.3f}" if "twin" in row else ""
        spread = f"{row['round_ratio_min']:.2f}–{row['round_ratio_max']:.2f}" if "twin" in row else ""
        print(
            f"{name:20} {row['ms_per_step']:8.3f} {ratio:>9} {spread:>12} "
            f"{_common.human_bytes(row['state_bytes']):>7} {_common.human_bytes(row['workspace_bytes']):>9}"
        )
    _common.finish("fit_time", args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
