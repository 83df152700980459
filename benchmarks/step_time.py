"""Optimizer step time: each plugin optimizer against the Keras built-in doing the same math.

Pairs (same update, bit for bit up to rounding), with the words read + written per parameter:
  MomentumSGD(lr, b)  vs  keras SGD(lr * (1 - b), momentum=b)     5 (g, m, w read; m, w written)
  VanillaSGD(lr)      vs  keras SGD(lr)                            3 (g, w read; w written)
  GuideAdam           vs  keras Adam                               7 (g, m, v, w read; m, v, w written)
(GuideAdam is docs/examples/guide_adam.py: Adam written with `update_step` in keras.ops alone;
both with learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7), and, on JAX with optax
installed, optax.sgd(lr * (1 - b), momentum=b) against Keras's SGD(momentum).

Parameter layouts: one big tensor, many small ones, a BERT-base-like mix of 197 variables, and
`sparse_embedding`: one 30522 x 256 embedding table whose gradient touches 64 rows each step
(the same 64 random rows for the whole run). On TensorFlow that gradient is a `tf.IndexedSlices`
(values 64 x 256), taken from a GradientTape over a keras Embedding layer: what Keras passes the
optimizer for an Embedding in `fit`. There the bytes counted for a plain gradient step are those
of the touched rows only; momentum and Adam decay every row's state, so they count every
parameter. On JAX and torch Keras hands optimizers dense gradients, so the gradient is dense,
zero outside those rows, and every case counts every parameter.

For each layout and each execution mode of the backend (TensorFlow: eager, tf.function, XLA;
JAX: jit with several steps per compiled program; torch: eager), the cases run interleaved in a
shuffled order, several steps per sample; a plain dense copy of the same layout (read + write)
runs in the same rounds as the bandwidth ceiling. Reported per case: median step time and
spread, bytes moved per step, GB/s, fraction of the copy ceiling, ratio to its built-in twin,
and memory: `state_bytes` (the optimizer's per-parameter variables) and `workspace_bytes` (what
it holds outside `optimizer.variables`, from its `workspace_bytes()` method where it has one).

    python benchmarks/step_time.py                     # full run, saves benchmarks/results/
    python benchmarks/step_time.py --smoke             # tiny (scale 0.001, many_small 100 variables); CI
    python benchmarks/step_time.py --layouts sparse_embedding --pairs vanilla,momentum
    python benchmarks/step_time.py --pairs ports       # every tensorflow-addons port vs Adam
    python benchmarks/step_time.py --pairs wrappers    # Lookahead, SWA, MovingAverage, decoupled decay around Adam vs Adam
    KERAS_BACKEND=jax python benchmarks/step_time.py   # other backends
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

LR, BETA = 0.01, 0.9
ADAM = {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
WORDS = {"momentum": 5, "vanilla": 3, "adam": 7, "copy": 2}  # words read + written per parameter and step
# (the ceiling is JAX's 2-word copy, or TensorFlow's and torch's 3-word in-place pass)
EMBEDDING_ROWS, EMBEDDING_WIDTH, TOUCHED_ROWS = 30522, 256, 64


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


def layouts(scale: float, small_count: int = 1000) -> dict[str, list[tuple[int, ...]]]:
    n = max(int(10_000_000 * scale), 1000)
    return {
        "one_big": [(n,)],
        "many_small": [(max(n // 1000, 1),)] * small_count,  # --smoke: 100 (tracing 1000 takes minutes)
        "bert_base": bert_base_shapes(scale),
        # the vocabulary stays whole (64 touched rows of 30522); the width scales like BERT's
        "sparse_embedding": [(EMBEDDING_ROWS, max(int(EMBEDDING_WIDTH * scale), 8))],
    }


SPARSE = {"sparse_embedding"}  # layouts whose gradient touches a few rows of one table

# pair -> (plugin case, Keras twin); the plugin's rows carry the ratio to the twin
PAIRS = {
    "momentum": ("momentum_sgd", "keras_sgd_momentum"),
    "vanilla": ("vanilla_sgd", "keras_sgd"),
    "adam": ("guide_adam", "keras_adam"),
}
TWINS = {plugin: twin for plugin, twin in PAIRS.values()}
TWINS["optax_sgd_momentum"] = "keras_sgd_momentum"
#: pairs whose plain step touches only an IndexedSlices gradient's rows (TensorFlow)
ROWS_ONLY = {"vanilla", "lazy_adam"}


def tfa_ports() -> list[str]:
    """The registered ports of tensorflow-addons' optimizers: records with an ``Addons>`` key."""
    import kerasopt_plugins

    return [
        name for name in kerasopt_plugins.list_optimizers()
        if any(k.startswith("Addons>") for k in kerasopt_plugins.optimizer_info(name).legacy_keys)
    ]


def make_port(name: str):
    """A tfa port with its defaults and Adam's learning rate (where it takes one)."""
    import kerasopt_plugins

    import inspect

    cls = kerasopt_plugins.optimizer_info(name).cls
    own = inspect.signature(inspect.unwrap(cls.__init__)).parameters.get("learning_rate")
    takes_rate = own is not None and own.default is not None  # COCOB takes none
    return cls(**({"learning_rate": ADAM["learning_rate"]} if takes_rate else {}))


def add_port_pairs() -> list[str]:
    """Add one pair per tfa port, each against Keras's Adam (the issue's yardstick); return them.

    Words per parameter: gradient and weight read, weight written, and each per-element slot
    read and written (measured on a 1000-element variable: a per-variable scalar such as
    NovoGrad's second moment does not count).
    """
    import keras
    import numpy as np

    ports = tfa_ports()
    for name in ports:
        PAIRS[name] = (name, "keras_adam")
        TWINS[name] = "keras_adam"
        optimizer = make_port(name)
        optimizer.build([keras.Variable(np.zeros(1000, "float32"))])
        per_element = _common.optimizer_memory(optimizer)["state_bytes"] // (4 * 1000)
        WORDS[name] = 3 + 2 * per_element
    return ports


#: wrapper pairs: (constructor, words per parameter and step of the wrapper's own pass,
#: averaged over its period). Each wraps Keras's Adam and is timed against Adam alone: the
#: claim is a ratio near (7 + own words) / 7. Lookahead syncs every 6th step (read slow and w,
#: write both: 4 words; 5 on torch, a lerp then a copy); SWA with average_period=1 and MovingAverage update every step (read
#: the average and w, write the average: 3); decoupled decay reads and writes w (2).
WRAPPERS = {
    "lookahead": (lambda w, a: w.Lookahead(a), 4 / 6),
    "swa": (lambda w, a: w.SWA(a, average_period=1), 3),
    "moving_average": (lambda w, a: w.MovingAverage(a), 3),
    "decoupled_adam": (lambda w, a: w.extend_with_decoupled_weight_decay(_keras_adam_class())(1e-4, **ADAM), 2),
}


def add_wrapper_pairs() -> list[str]:
    """Add one pair per wrapper, each around and against Keras's Adam; return them."""
    for name, (_, own) in WRAPPERS.items():
        PAIRS[name] = (name, "keras_adam")
        TWINS[name] = "keras_adam"
        WORDS[name] = WORDS["adam"] + own
    return list(WRAPPERS)


def _keras_adam_class():
    import keras

    return keras.optimizers.Adam


def make_wrapped(name: str):
    from kerasopt_plugins import wrappers

    return WRAPPERS[name][0](wrappers, _keras_adam_class()(**ADAM))


def guide_adam_class():
    """GuideAdam from docs/examples/guide_adam.py (registers "guide_adam" on first import)."""
    return _common.example_module("guide_adam").GuideAdam


def make_optimizers(pairs=tuple(PAIRS)) -> dict[str, tuple[str, Callable]]:
    """{case: (pair, constructor)} for the chosen pairs, plugin first, then its Keras twin."""
    import keras

    import kerasopt_plugins

    makers = {
        "momentum_sgd": lambda: kerasopt_plugins.MomentumSGD(LR, momentum=BETA),
        "keras_sgd_momentum": lambda: keras.optimizers.SGD(LR * (1 - BETA), momentum=BETA),
        "vanilla_sgd": lambda: kerasopt_plugins.VanillaSGD(LR),
        "keras_sgd": lambda: keras.optimizers.SGD(LR),
        "guide_adam": lambda: guide_adam_class()(**ADAM),
        "keras_adam": lambda: keras.optimizers.Adam(**ADAM),
    }
    for pair in pairs:
        if pair in WRAPPERS:  # add_wrapper_pairs
            makers[pair] = lambda name=pair: make_wrapped(name)
        elif pair not in makers and pair in PAIRS:  # a tfa port (add_port_pairs)
            makers[pair] = lambda name=pair: make_port(name)
    return {case: (pair, makers[case]) for pair in pairs for case in PAIRS[pair]}


@dataclass
class Gradients:
    """One layout's gradients as NumPy arrays, dense; `rows` set where only those rows are nonzero."""

    dense: list
    rows: object = None  # int32 row indices (sparse layouts), else None
    values: object = None  # the touched rows' values, (len(rows), width)

    @classmethod
    def make(cls, layout: str, shapes, rng) -> Gradients:
        import numpy as np

        if layout not in SPARSE:
            return cls([rng.standard_normal(s, dtype=np.float32) for s in shapes])
        ((vocabulary, width),) = shapes
        rows = rng.choice(vocabulary, size=TOUCHED_ROWS, replace=False).astype(np.int32)
        values = rng.standard_normal((TOUCHED_ROWS, width), dtype=np.float32)
        dense = np.zeros((vocabulary, width), dtype=np.float32)
        dense[rows] = values
        return cls([dense], rows, values)

    @property
    def touched(self) -> int:
        """Elements of the gradient that can be nonzero."""
        return sum(g.size for g in self.dense) if self.rows is None else self.values.size


@dataclass
class Case:
    """One timed case: `run` does k steps; `words` per element of `elements`; memory read after timing."""

    run: Callable[[], object]
    words: int
    elements: int
    optimizer: object = None
    memory: dict = field(default_factory=lambda: {"state_bytes": 0, "workspace_bytes": 0})

    def read_memory(self) -> dict:
        return self.memory if self.optimizer is None else _common.optimizer_memory(self.optimizer)


# -- backends: each returns {case: Case} ------------------------------------------------------


def _bind(fn, *args):
    return lambda: fn(*args)


def tf_embedding_gradient(rows, values, vocabulary):
    """The gradient Keras's TensorFlow trainer hands the optimizer for an Embedding layer whose
    output is multiplied by `values` and summed: a tf.IndexedSlices (values, rows, dense shape)."""
    import keras
    import tensorflow as tf

    embedding = keras.layers.Embedding(vocabulary, values.shape[1])
    embedding.build((None,))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(embedding(rows) * values)
    (gradient,) = tape.gradient(loss, embedding.trainable_variables)
    if not isinstance(gradient, tf.IndexedSlices):
        raise TypeError(f"expected an Embedding gradient to be tf.IndexedSlices, got {type(gradient).__name__}")
    return gradient


def tensorflow_cases(layout, shapes, mode, k, pairs):
    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    gradients = Gradients.make(layout, shapes, rng)
    dense = [tf.constant(g) for g in gradients.dense]
    grads = dense if gradients.rows is None else [tf_embedding_gradient(gradients.rows, gradients.values, shapes[0][0])]
    parameters = sum(math.prod(s) for s in shapes)
    cases = {}

    def compiled(fn):
        if mode == "eager":
            return fn
        return tf.function(fn, jit_compile=(mode == "xla"), autograph=False)

    for name, (pair, make) in make_optimizers(pairs).items():
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = make()
        optimizer.build(variables)
        step = compiled(_bind(optimizer.apply, grads, variables))  # no default args: tf.function would trace them
        step()
        # a plain gradient step needs only the rows an IndexedSlices touches; momentum and Adam
        # decay every row's state
        elements = gradients.touched if pair in ROWS_ONLY else parameters
        cases[name] = Case(lambda s=step: [s() for _ in range(k)], WORDS[pair], elements, optimizer)
    targets = [tf.Variable(tf.zeros(s)) for s in shapes]
    # the cheapest full pass TensorFlow has: in place, read t and g, write t (3 words). A plain
    # assign(g) may alias g's buffer, and assign(-g) allocates and copies (4 words).
    copy = compiled(lambda: [t.assign_sub(g) for t, g in zip(targets, dense)])
    copy()
    cases["copy"] = Case(lambda: [copy() for _ in range(k)], 3, parameters)
    return cases


def jax_cases(layout, shapes, mode, k, pairs):
    import jax
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    grads = [jax.numpy.asarray(g) for g in Gradients.make(layout, shapes, rng).dense]
    parameters = sum(math.prod(s) for s in shapes)
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

    for name, (pair, make) in make_optimizers(pairs).items():
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = make()
        optimizer.build(variables)
        program = k_steps(lambda p, s, g, o=optimizer: o.stateless_apply(s, g, p))
        holder = {"p": [v.value for v in variables], "s": [v.value for v in optimizer.variables]}

        def run(program=program, holder=holder):
            holder["p"], holder["s"] = program(holder["p"], holder["s"], grads)
            jax.block_until_ready(holder["p"])

        run()
        cases[name] = Case(run, WORDS[pair], parameters, optimizer)
    try:
        import optax
    except ModuleNotFoundError:
        optax = None
    if optax is not None and "momentum" in pairs:
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
        optax_state = {"state_bytes": 4 * parameters, "workspace_bytes": 0}  # one float32 trace
        cases["optax_sgd_momentum"] = Case(run_optax, WORDS["momentum"], parameters, memory=optax_state)
    targets = [jax.numpy.zeros(s) for s in shapes]
    copy = k_steps(lambda p, s, g: ([-x for x in g], s))  # read every element, write every element
    holder = {"p": targets, "s": []}

    def run_copy():
        holder["p"], holder["s"] = copy(holder["p"], holder["s"], grads)
        jax.block_until_ready(holder["p"])

    run_copy()
    cases["copy"] = Case(run_copy, WORDS["copy"], parameters)
    return cases


def torch_cases(layout, shapes, mode, k, pairs):
    import keras
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    grads = [torch.as_tensor(g) for g in Gradients.make(layout, shapes, rng).dense]
    parameters = sum(math.prod(s) for s in shapes)
    cases = {}
    for name, (pair, make) in make_optimizers(pairs).items():
        variables = [keras.Variable(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        optimizer = make()
        optimizer.build(variables)
        optimizer.apply(grads, variables)
        cases[name] = Case(
            lambda o=optimizer, v=variables: [o.apply(grads, v) for _ in range(k)],
            WORDS[pair], parameters, optimizer,
        )
    targets = [torch.zeros(s) for s in shapes]

    def copy():
        with torch.no_grad():
            for _ in range(k):
                for t, g in zip(targets, grads):
                    t.sub_(g)  # in place: read t and g, write t

    cases["copy"] = Case(copy, 3, parameters)
    return cases


BACKENDS = {
    "tensorflow": (tensorflow_cases, ("eager", "function", "xla")),
    "jax": (jax_cases, ("jit",)),
    "torch": (torch_cases, ("eager",)),
}


def gradient_kind(backend: str, layout: str) -> str:
    """What the optimizer is handed on this backend for this layout."""
    if layout not in SPARSE:
        return "dense"
    return "IndexedSlices" if backend == "tensorflow" else "dense, zero outside the touched rows"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="parameter count scale (1.0: 10M; BERT-base 109M; embedding 30522 x 256)")
    parser.add_argument("--layouts", default=",".join(layouts(1.0)),
                        help=f"comma list of {', '.join(layouts(1.0))} (default all)")
    parser.add_argument("--pairs", default=",".join(PAIRS),
                        help=f"comma list of {', '.join(PAIRS)} (plugin vs Keras twin; default all), "
                        "or 'ports': every tensorflow-addons port against Keras's Adam, "
                        "or 'wrappers': each wrapper around Adam against Adam")
    parser.add_argument("--modes", default=None, help="comma list; default: all the backend has")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed sample (default 5)")
    _common.add_output_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.scale, args.repeats, args.steps = 0.001, 2, 2
    pairs = tuple(args.pairs.split(","))
    if "ports" in pairs:
        ports = add_port_pairs()
        pairs = tuple(p for p in pairs if p != "ports") + tuple(ports)
    if "wrappers" in pairs:
        pairs = tuple(p for p in pairs if p != "wrappers") + tuple(add_wrapper_pairs())
    chosen_layouts = args.layouts.split(",")
    for value, known, option in ((pairs, PAIRS, "--pairs"), (chosen_layouts, layouts(1.0), "--layouts")):
        unknown = [v for v in value if v not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")

    import keras

    backend = keras.backend.backend()
    make_cases, all_modes = BACKENDS[backend]
    modes = all_modes if args.modes is None else tuple(args.modes.split(","))
    small_count = 100 if args.smoke else 1000
    chosen = {name: shapes for name, shapes in layouts(args.scale, small_count).items() if name in chosen_layouts}
    rows = []
    for layout, shapes in chosen.items():
        parameters = sum(math.prod(s) for s in shapes)
        for mode in modes:
            cases = make_cases(layout, shapes, mode, args.steps, pairs)
            times = _common.interleaved({n: c.run for n, c in cases.items()}, args.repeats)
            per_step = {n: [t / args.steps for t in ts] for n, ts in times.items()}
            copy = cases["copy"]
            ceiling = copy.words * 4 * copy.elements / statistics.median(per_step["copy"])
            for name, case in cases.items():
                median = statistics.median(per_step[name])
                moved = case.words * 4 * case.elements
                row = {
                    "words": case.words, "elements": case.elements,
                    "layout": layout, "mode": mode, "case": name, "parameters": parameters,
                    "variables": len(shapes), "gradient": gradient_kind(backend, layout),
                    "median_step_s": median,
                    "min_step_s": min(per_step[name]), "max_step_s": max(per_step[name]),
                    "bytes_per_step": moved, "gb_per_s": moved / median / 1e9,
                    "fraction_of_copy_ceiling": (moved / median) / ceiling, **case.read_memory(),
                }
                twin = TWINS.get(name)
                if twin in per_step:
                    row["twin"] = twin
                    row.update(_common.ratio_stats(per_step, name, twin))
                rows.append(row)
    print(
        f"{'layout':16} {'mode':8} {'case':20} {'ms/step':>9} {'GB/s':>7} {'ceil%':>7} {'vs twin':>8} "
        f"{'spread':>13} {'state':>7} {'workspace':>9}"
    )
    for r in rows:
        ratio = f"{r['ratio_of_medians']:.3f}" if "twin" in r else ""
        spread = f"{r['round_ratio_min']:.2f}–{r['round_ratio_max']:.2f}" if "twin" in r else ""
        print(
            f"{r['layout']:16} {r['mode']:8} {r['case']:20} {r['median_step_s'] * 1e3:9.3f} "
            f"{r['gb_per_s']:7.2f} {100 * r['fraction_of_copy_ceiling']:7.1f} {ratio:>8} {spread:>13} "
            f"{_common.human_bytes(r['state_bytes']):>7} {_common.human_bytes(r['workspace_bytes']):>9}"
        )
    for layout in chosen:
        if layout in SPARSE:
            print(
                f"{layout}: gradient {gradient_kind(backend, layout)} ({TOUCHED_ROWS} of {EMBEDDING_ROWS} rows); "
                + ("the plain gradient steps count the touched rows' bytes only" if backend == "tensorflow"
                   else "Keras hands dense gradients on this backend, so every case counts every parameter")
            )
    _common.finish("step_time", args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
