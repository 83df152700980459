"""Optimizer step time: each plugin optimizer against the Keras built-in doing the same math.

Pairs (same update, bit for bit up to rounding):
  MomentumSGD(lr, b)  vs  keras SGD(lr * (1 - b), momentum=b)     5 words moved per parameter
  VanillaSGD(lr)      vs  keras SGD(lr)                            3 words moved per parameter
and, on JAX with optax installed, optax.sgd(lr * (1 - b), momentum=b).

For each parameter layout (one big tensor, many small ones, a BERT-base-like mix of 197
variables) and each execution mode of the backend (TensorFlow: eager, tf.function, XLA; JAX:
jit with several steps per compiled program; torch: eager), the cases run interleaved in a
shuffled order, several steps per sample; a plain copy of the same layout (read + write) runs in
the same rounds as the bandwidth ceiling. Reported per case: median step time and spread, bytes
moved per step, GB/s, fraction of the copy ceiling, ratio to its built-in twin, and the bytes of
optimizer state.

    python benchmarks/step_time.py                     # full run, saves benchmarks/results/
    python benchmarks/step_time.py --smoke             # seconds; what CI runs
    KERAS_BACKEND=jax python benchmarks/step_time.py   # other backends
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

LR, BETA = 0.01, 0.9
WORDS = {"momentum": 5, "vanilla": 3, "copy": 2}  # words read + written per parameter and step
# (the ceiling is JAX's 2-word copy, or TensorFlow's and torch's 3-word in-place pass)


def bert_base_shapes(scale: float = 1.0) -> list[tuple[int, ...]]:
    """The 197 trainable variables of BERT-base without pooler (109M parameters at scale 1)."""
    h, ffn, vocab = int(768 * scale) or 1, int(3072 * scale) or 1, 30522
    shapes = [(vocab, h), (512, h), (2, h), (h,), (h,)]
    for _ in range(12):
        shapes += [(h, h), (h,)] * 4  # query, key, value, attention output
        shapes += [(h,), (h,)]  # attention layer norm
        shapes += [(h, ffn), (ffn,), (ffn, h), (h,)]  # feed-forward
        shapes += [(h,), (h,)]  # output layer norm
    return shapes


def layouts(scale: float) -> dict[str, list[tuple[int, ...]]]:
    n = max(int(10_000_000 * scale), 1000)
    return {
        "one_big": [(n,)],
        "many_small": [(max(n // 1000, 1),)] * 1000,
        "bert_base": bert_base_shapes(scale),
    }


def make_optimizers():
    import keras

    import kerasopt_plugins

    return {
        "momentum_sgd": ("momentum", lambda: kerasopt_plugins.MomentumSGD(LR, momentum=BETA)),
        "keras_sgd_momentum": ("momentum", lambda: keras.optimizers.SGD(LR * (1 - BETA), momentum=BETA)),
        "vanilla_sgd": ("vanilla", lambda: kerasopt_plugins.VanillaSGD(LR)),
        "keras_sgd": ("vanilla", lambda: keras.optimizers.SGD(LR)),
    }


TWINS = {"momentum_sgd": "keras_sgd_momentum", "vanilla_sgd": "keras_sgd", "optax_sgd_momentum": "keras_sgd_momentum"}


def state_bytes(optimizer) -> int:
    """Bytes of per-parameter optimizer state (slots; scalars such as the step count excluded)."""
    import math

    import numpy as np

    return sum(
        math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in optimizer.variables if len(v.shape)
    )


# -- backends: each returns {case: (run_k_steps(), words, state_bytes)} --------------------------


def _bind(fn, *args):
    return lambda: fn(*args)


def tensorflow_cases(shapes, mode, k):
    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    cases = {}
    grads = [tf.constant(rng.standard_normal(s, dtype=np.float32)) for s in shapes]

    def compiled(fn):
        if mode == "eager":
            return fn
        return tf.function(fn, jit_compile=(mode == "xla"), autograph=False)

    for name, (kind, make) in make_optimizers().items():
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = make()
        optimizer.build(variables)
        step = compiled(_bind(optimizer.apply, grads, variables))  # no default args: tf.function would trace them
        step()
        cases[name] = (lambda s=step: [s() for _ in range(k)], WORDS[kind], state_bytes(optimizer))
    targets = [tf.Variable(tf.zeros(s)) for s in shapes]
    # the cheapest full pass TensorFlow has: in place, read t and g, write t (3 words). A plain
    # assign(g) may alias g's buffer, and assign(-g) allocates and copies (4 words).
    copy = compiled(lambda: [t.assign_sub(g) for t, g in zip(targets, grads)])
    copy()
    cases["copy"] = (lambda: [copy() for _ in range(k)], 3, 0)
    return cases


def jax_cases(shapes, mode, k):
    import jax
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    grads = [jax.numpy.asarray(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
    cases = {}

    def k_steps(update):
        # Keras's trainer order: trainable variables, then optimizer variables (then the data).
        # k steps per compiled program amortise host dispatch; a fori_loop keeps XLA from fusing
        # consecutive steps into one pass (which would move fewer bytes than k real steps);
        # gradients are arguments, so nothing is constant-folded at compile time; and each step
        # multiplies them by ones[i] (exact, fused into the update), so XLA cannot hoist work
        # that depends on the gradient alone (e.g. (1-b)*g) out of the loop as if it were free.
        def program(params, state, grads, ones):
            def body(i, carry):
                step_grads = [g * ones[i] for g in grads]
                return update(carry[0], carry[1], step_grads)

            return jax.lax.fori_loop(0, k, body, (params, state))

        compiled = jax.jit(program, donate_argnums=(0, 1))
        ones = jax.numpy.ones((k,), dtype="float32")
        return lambda params, state, grads: compiled(params, state, grads, ones)

    for name, (kind, make) in make_optimizers().items():
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = make()
        optimizer.build(variables)
        program = k_steps(lambda p, s, g, o=optimizer: o.stateless_apply(s, g, p))
        holder = {"p": [v.value for v in variables], "s": [v.value for v in optimizer.variables]}

        def run(program=program, holder=holder):
            holder["p"], holder["s"] = program(holder["p"], holder["s"], grads)
            jax.block_until_ready(holder["p"])

        run()
        cases[name] = (run, WORDS[kind], state_bytes(optimizer))
    try:
        import optax
    except ModuleNotFoundError:
        optax = None
    if optax is not None:
        tx = optax.sgd(LR * (1 - BETA), momentum=BETA)
        params = [jax.numpy.asarray(rng.standard_normal(s, dtype=np.float32)) for s in shapes]

        def optax_update(p, s, g):
            updates, s = tx.update(g, s, p)
            return optax.apply_updates(p, updates), s

        program = k_steps(optax_update)
        holder = {"p": params, "s": tx.init(params)}

        def run_optax(program=program, holder=holder):
            holder["p"], holder["s"] = program(holder["p"], holder["s"], grads)
            jax.block_until_ready(holder["p"])

        run_optax()
        cases["optax_sgd_momentum"] = (run_optax, WORDS["momentum"], sum(int(np.prod(s)) * 4 for s in shapes))
    targets = [jax.numpy.zeros(s) for s in shapes]
    copy = k_steps(lambda p, s, g: ([-x for x in g], s))  # read every element, write every element
    holder = {"p": targets, "s": []}

    def run_copy():
        holder["p"], holder["s"] = copy(holder["p"], holder["s"], grads)
        jax.block_until_ready(holder["p"])

    run_copy()
    cases["copy"] = (run_copy, WORDS["copy"], 0)
    return cases


def torch_cases(shapes, mode, k):
    import keras
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    grads = [torch.as_tensor(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
    cases = {}
    for name, (kind, make) in make_optimizers().items():
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = make()
        optimizer.build(variables)
        optimizer.apply(grads, variables)
        cases[name] = (
            lambda o=optimizer, v=variables: [o.apply(grads, v) for _ in range(k)],
            WORDS[kind],
            state_bytes(optimizer),
        )
    targets = [torch.zeros(s) for s in shapes]

    def copy():
        with torch.no_grad():
            for _ in range(k):
                for t, g in zip(targets, grads):
                    t.sub_(g)  # in place: read t and g, write t

    cases["copy"] = (copy, 3, 0)
    return cases


BACKENDS = {
    "tensorflow": (tensorflow_cases, ("eager", "function", "xla")),
    "jax": (jax_cases, ("jit",)),
    "torch": (torch_cases, ("eager",)),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="parameter count scale (1.0: 10M; BERT-base 109M)")
    parser.add_argument("--layouts", default="one_big,many_small,bert_base")
    parser.add_argument("--modes", default=None, help="comma list; default: all the backend has")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed sample (default 5)")
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.scale, args.repeats, args.steps = 0.001, 2, 2

    import keras

    backend = keras.backend.backend()
    make_cases, all_modes = BACKENDS[backend]
    modes = all_modes if args.modes is None else tuple(args.modes.split(","))
    chosen = {name: shapes for name, shapes in layouts(args.scale).items() if name in args.layouts.split(",")}
    rows = []
    for layout, shapes in chosen.items():
        parameters = sum(int(__import__("math").prod(s)) for s in shapes)
        for mode in modes:
            cases = make_cases(shapes, mode, args.steps)
            times = _common.interleaved({n: c[0] for n, c in cases.items()}, args.repeats)
            per_step = {n: [t / args.steps for t in ts] for n, ts in times.items()}
            copy_s = statistics.median(per_step["copy"])
            ceiling = cases["copy"][1] * 4 * parameters / copy_s
            for name, (_, words, state) in cases.items():
                median = statistics.median(per_step[name])
                moved = words * 4 * parameters
                row = {
                    "words": words,
                    "layout": layout, "mode": mode, "case": name, "parameters": parameters,
                    "variables": len(shapes), "median_step_s": median,
                    "min_step_s": min(per_step[name]), "max_step_s": max(per_step[name]),
                    "bytes_per_step": moved, "gb_per_s": moved / median / 1e9,
                    "fraction_of_copy_ceiling": (moved / median) / ceiling, "state_bytes": state,
                }
                twin = TWINS.get(name)
                if twin in per_step:
                    row["twin"] = twin
                    row.update(_common.ratio_stats(per_step, name, twin))
                rows.append(row)
    print(f"{'layout':11} {'mode':8} {'case':20} {'ms/step':>9} {'GB/s':>7} {'ceil%':>6} {'vs twin':>8} {'spread':>13}")
    for r in rows:
        ratio = f"{r['ratio_of_medians']:.3f}" if "twin" in r else ""
        spread = f"{r['round_ratio_min']:.2f}–{r['round_ratio_max']:.2f}" if "twin" in r else ""
        print(
            f"{r['layout']:11} {r['mode']:8} {r['case']:20} {r['median_step_s'] * 1e3:9.3f} "
            f"{r['gb_per_s']:7.2f} {100 * r['fraction_of_copy_ceiling']:6.1f} {ratio:>8} {spread:>13}"
        )
    _common.finish("step_time", args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
