"""The golden-data cases, shared by generate_keras2.py (Keras 2.15) and tests/legacy (Keras 3).

A case names an optimizer class of tutorial_optimizers.py or own_optimizers.py, how to construct
it (`make`, called with the loaded module), the problem it trains on, and hyperparameters to
change between steps. `load` executes a case module: as it is for Keras 2, or with its one
``# OptimizerV2 import`` line replaced by kerasopt_plugins.legacy's import for Keras 3.

Runs on both sides: it imports nothing but the standard library, NumPy and TensorFlow.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE / "data"
STEPS = 10
SEED = 20261126

MARKER = "# OptimizerV2 import"
KERAS2_IMPORT = "from tensorflow.keras.optimizers.legacy import Optimizer as OptimizerV2  # OptimizerV2 import"
KERAS3_IMPORT = "from kerasopt_plugins.legacy import OptimizerV2"
#: The import line of the article itself (TF 2.3); on TF 2.15 it is TF's frozen copy of Keras.
ARTICLE_IMPORT = "from tensorflow.python.keras.optimizer_v2.optimizer_v2 import OptimizerV2"


def source(module: str, import_line: str | None = None) -> str:
    """The text of case module `module` ("tutorial_optimizers" or "own_optimizers"), with its
    OptimizerV2 import line replaced by `import_line` if given (the only line that differs)."""
    text = (HERE / f"{module}.py").read_text()
    lines = text.splitlines(keepends=True)
    marked = [i for i, line in enumerate(lines) if line.rstrip("\n") == KERAS2_IMPORT]
    if len(marked) != 1:
        raise ValueError(f"{module}.py must hold the line {KERAS2_IMPORT!r} exactly once")
    if import_line is not None:
        lines[marked[0]] = import_line + "\n"
    return "".join(lines)


def load(module: str, import_line: str | None = None, name: str | None = None) -> types.ModuleType:
    """Execute case module `module` (see `source`) as a fresh module called `name`."""
    name = name or f"kerasopt_legacy_cases_{module}"
    mod = types.ModuleType(name)
    mod.__file__ = str(HERE / f"{module}.py")
    sys.modules[name] = mod  # classes pickle and register under their module's name
    exec(compile(source(module, import_line), mod.__file__, "exec"), mod.__dict__)
    return mod


# -- problems: deterministic variables and per-step gradients -------------------------------

def dense_problem(dtype: str = "float32") -> dict:
    """Least squares ``mean((x @ w + b - y)^2)`` on fixed data: the gradients depend on the
    trajectory, so the generator computes them with TensorFlow and records them."""
    rng = np.random.RandomState(SEED)
    return {
        "kind": "dense",
        "dtype": dtype,
        "init": {"w": rng.normal(size=(3, 2)).astype(dtype), "b": rng.normal(size=(2,)).astype(dtype)},
        "x": rng.normal(size=(8, 3)).astype(dtype),
        "y": rng.normal(size=(8, 2)).astype(dtype),
    }


def dense_loss(problem: dict, variables: dict) -> Any:
    x, y = tf.constant(problem["x"]), tf.constant(problem["y"])
    return tf.reduce_mean(tf.square(tf.matmul(x, variables["w"]) + variables["b"] - y))


def sparse_problem() -> dict:
    """A 6x3 embedding table fed IndexedSlices with repeated indices, plus a dense bias."""
    rng = np.random.RandomState(SEED + 1)
    grads = []
    for _ in range(STEPS):
        indices = rng.choice(6, size=5, replace=True)
        indices[-1] = indices[0]  # at least one repeat, as an embedding lookup gives
        grads.append({
            "table": {"indices": indices.astype(np.int64), "values": rng.normal(size=(5, 3)).astype(np.float32)},
            "bias": rng.normal(size=(3,)).astype(np.float32),
        })
    return {
        "kind": "sparse",
        "dtype": "float32",
        "init": {"table": rng.normal(size=(6, 3)).astype(np.float32), "bias": rng.normal(size=(3,)).astype(np.float32)},
        "grads": grads,
        "dense_shape": [6, 3],
    }


PROBLEMS: dict[str, Callable[[], dict]] = {
    "dense": dense_problem,
    "dense64": lambda: dense_problem("float64"),
    "sparse": sparse_problem,
}


# -- the cases --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    module: str  # "tutorial_optimizers" or "own_optimizers"
    make: Callable[[types.ModuleType], Any]
    problem: str = "dense"
    changes: dict = dataclasses.field(default_factory=dict)  # step -> {attribute: value}, set before it
    note: str = ""


def schedules():
    return tf.keras.optimizers.schedules


CASES: dict[str, Case] = {
    "tutorial_vanilla_sgd": Case("tutorial_optimizers", lambda m: m.VanillaSGD(learning_rate=0.1)),
    "tutorial_vanilla_sgd_lr_and_decay": Case(
        "tutorial_optimizers",
        lambda m: m.VanillaSGD(lr=0.2, decay=0.5),
        note="lr= is honoured; decay is not: VanillaSGD reads _get_hyper, not _decayed_lr",
    ),
    "tutorial_vanilla_sgd2_decay_clipnorm": Case(
        "tutorial_optimizers", lambda m: m.VanillaSGD2(learning_rate=0.1, decay=0.5, clipnorm=0.5)
    ),
    "tutorial_momentum_sgd_changed_midway": Case(
        "tutorial_optimizers",
        lambda m: m.MomentumSGD(0.1, momentum=0.9, decay=0.05, global_clipnorm=1.0),
        changes={5: {"momentum": 0.5, "lr": 0.05}},
        note="optimizer.momentum = 0.5 and optimizer.lr = 0.05 before step 5",
    ),
    "tutorial_cmomentum_sgd": Case("tutorial_optimizers", lambda m: m.CMomentumSGD(0.1, momentum=0.9)),
    "tutorial_cmomentum_sgd_schedule_clipvalue": Case(
        "tutorial_optimizers",
        lambda m: m.CMomentumSGD(
            learning_rate=schedules().ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5),
            momentum=0.8,
            clipvalue=0.5,
        ),
    ),
    "tutorial_cmomentum_sgd_uncentered_float64": Case(
        "tutorial_optimizers", lambda m: m.CMomentumSGD(0.05, momentum=0.9, centered=False), problem="dense64"
    ),
    "own_sparse_momentum": Case("own_optimizers", lambda m: m.SparseMomentum(0.1, momentum=0.9), problem="sparse"),
    "own_sparse_momentum_dense": Case(
        "own_optimizers", lambda m: m.SparseMomentum(0.1, momentum=0.7, decay=0.1)
    ),
    "own_scaled_adagrad_schedule_decay": Case(
        "own_optimizers",
        lambda m: m.ScaledAdagrad(
            schedules().PiecewiseConstantDecay([3, 6], [0.5, 0.2, 0.1]), decay=0.1, scale=lambda: 0.75
        ),
        problem="sparse",
    ),
    "own_clipped_sparse_sgd": Case(
        "own_optimizers", lambda m: m.ClippedSparseSGD(0.1, clip=0.3), problem="sparse"
    ),
}
