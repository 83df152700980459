"""How much the logging callbacks add to `fit`: a small MLP trained with and without each.

Every case trains the same model for the same steps (one `fit` call each, compiled once
beforehand); cases are interleaved in a shuffled order each round, and the ratio to the
no-callback fit is reported as the ratio of medians with the spread of per-round ratios.
Each case keeps one callback instance across rounds (as one long `fit` would), so the one-off
cost of compiling a logger's capture function is measured separately, as "first_fit_s".

    python benchmarks/callback_overhead.py            # full run, saves benchmarks/results/
    python benchmarks/callback_overhead.py --smoke    # seconds; what CI runs
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

TARGETS = {  # from issue #3: fit time with the callback / without
    "noop_batch_callback": None,  # not ours: what any batch-level callback costs in Keras
    "slot_logger_every_100": 1.03,
    "slot_logger_every_1": 1.25,
    "learning_rate_logger_every_1": 1.05,
    "iteration_logger_every_1": 1.05,
}


def build(steps: int, batch: int, width: int, optimizer: str):
    import keras
    import numpy as np

    import kerasopt_plugins

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch, 32)).astype("float32")
    y = rng.integers(0, 10, size=(steps * batch,))
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    opt = kerasopt_plugins.get_optimizer(optimizer, momentum=0.9) if optimizer != "adam" else keras.optimizers.Adam()
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile the train step once
    return model, x, y


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="training steps per fit (default 1000)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--optimizer", default="momentum_sgd", help="momentum_sgd (default) or adam")
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.width = 20, 2, 16

    import keras

    from kerasopt_plugins.callbacks import IterationLogger, LearningRateLogger, SlotLogger

    model, x, y = build(args.steps, args.batch, args.width, args.optimizer)
    class KerasNoOpBatchCallback(keras.callbacks.Callback):
        """Any callback with a batch hook: Keras then converts the logs on the host every step."""

        def on_train_batch_end(self, batch, logs=None):
            pass

    instances = {
        "no_callback": [],
        "noop_batch_callback": [KerasNoOpBatchCallback()],
        "slot_logger_every_100": [SlotLogger(every=100, max_records=1000)],
        "slot_logger_every_1": [SlotLogger(every=1, max_records=1000)],
        "learning_rate_logger_every_1": [LearningRateLogger(every=1, max_records=1000)],
        "iteration_logger_every_1": [IterationLogger(every=1, max_records=1000)],
    }

    def case(callbacks):
        return lambda: model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, callbacks=callbacks, shuffle=False)

    first = _common.interleaved({name: case(cbs) for name, cbs in instances.items()}, 1)
    times = _common.interleaved({name: case(cbs) for name, cbs in instances.items()}, args.repeats)
    rows = {}
    for name in instances:
        rows[name] = _common.summarize(times[name])
        rows[name]["first_fit_s"] = first[name][0]
        if name != "no_callback":
            rows[name].update(_common.ratio_stats(times, name, "no_callback"))
            rows[name]["target"] = TARGETS[name]
    print(f"{'case':32} {'median s':>9} {'ratio':>7} {'min ratio':>9} {'round spread':>13} {'target':>7}")
    for name, row in rows.items():
        ratio = row.get("ratio_of_medians")
        spread = f"{row['round_ratio_min']:.2f}–{row['round_ratio_max']:.2f}" if ratio else ""
        print(
            f"{name:32} {row['median_s']:9.4f} {ratio or 1:7.3f} {row.get('ratio_of_minimums', 1):9.3f} "
            f"{spread:>13} {row.get('target') or '':>7}"
        )
    _common.finish("callback_overhead", args, rows, raw_seconds=times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
