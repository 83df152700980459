"""How much the logging callbacks add to `fit`: a small MLP trained with and without each.

Every case trains the same model for the same steps (one `fit` call each, compiled once
beforehand); cases are interleaved in a shuffled order each round, and the ratio to the
no-callback fit is reported as the ratio of medians with the spread of per-round ratios.
Each case keeps one callback instance across rounds (as one long `fit` would), so the one-off
cost of compiling a logger's capture function is measured separately: "first_fit_s" per case,
and "slot_logger_setup_s", the set-up of a new `SlotLogger` on a layout this process has not
compiled (a 12-layer 64-wide MLP with Adam, 48 slot variables; a 4-step `fit` with a fresh
logger minus the faster of the next two with the same logger), printed and saved, never asserted.

    python benchmarks/callback_overhead.py            # full run, saves benchmarks/results/
    python benchmarks/callback_overhead.py --smoke    # seconds; what CI runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

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


def setup_cost(repeats: int, depth: int = 12, width: int = 64) -> list[float]:
    """Seconds a new SlotLogger adds to its first `fit` (trace and compile of its capture
    function), on a deep model; the process-wide cache of capture functions is emptied first,
    so each repeat pays what a new process would."""
    import keras
    import numpy as np

    from kerasopt_plugins.callbacks import SlotLogger, _base

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(width, activation="tanh") for _ in range(depth - 1)]
    model = keras.Sequential([keras.Input((4,)), *layers, keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")

    def fit(callbacks):
        start = time.perf_counter()
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=callbacks, shuffle=False)
        return time.perf_counter() - start

    fit([])  # compile the train step
    seconds = []
    for _ in range(repeats):
        _base._SHARED.clear()
        logger = SlotLogger()
        first = fit([logger])
        seconds.append(first - min(fit([logger]), fit([logger])))  # the faster of two: less noise
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="training steps per fit (default 1000)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--optimizer", default="momentum_sgd", help="momentum_sgd (default) or adam")
    parser.add_argument("--setup-repeats", type=int, default=5, help="new SlotLoggers timed for the set-up cost")
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.width, args.setup_repeats = 20, 2, 16, 1

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
    setup = setup_cost(args.setup_repeats)
    print(
        f"SlotLogger one-off set-up (12x64 MLP, Adam, 48 slot variables): median {statistics.median(setup):.3f} s, "
        f"range {min(setup):.3f}–{max(setup):.3f} s over {len(setup)} new loggers"
    )
    setup_row = {"slot_logger_setup_s": _common.summarize(setup), "raw_seconds": setup}
    _common.finish("callback_overhead", args, rows, raw_seconds=times, setup=setup_row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
