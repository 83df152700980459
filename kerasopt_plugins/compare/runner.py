"""compare_optimizers: train several optimizers on one problem, from identical starts, and keep every step."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

import keras
import numpy as np

from kerasopt_plugins.callbacks import find_slots, levels, unwrap
from kerasopt_plugins.compare import specs
from kerasopt_plugins.compare.problems import AnalyticProblem, ModelProblem, get_problem
from kerasopt_plugins.registry import (
    UnknownOptimizerError,
    get_optimizer,
    hyperparameter_defaults,
    optimizer_info,
    registered_name,
)

__all__ = ["ComparisonResult", "Run", "compare_optimizers", "describe_optimizer"]


@dataclasses.dataclass
class Run:
    """One optimizer's record.

    Attributes:
        label: the optimizer with its non-default hyperparameters, for legends and tables
            (a wrapped one level by level: ``lookahead(sync_period=5)+radam(...)``).
        name: its registry or Keras name (wrapped: ``lookahead+rectified_adam``).
        config: its `get_config()` before training.
        params: (steps+1, k) the tracked parameters before each step and after the last.
        loss: (steps+1,) the loss at those parameters (for `digits`, the minibatch loss of each
            step and, last, the loss on the whole data set).
        learning_rate: (steps,) the rate each step applied (wrapped: the inner optimizer's).
        slots: slot key -> (steps+1, k) values (analytic problems) or L2 norms (`digits`);
            a wrapped optimizer's include each wrapper's (``"slow"``, ``"average"``).
        seconds: wall time of the run.
    """

    label: str
    name: str
    config: dict
    params: np.ndarray
    loss: np.ndarray
    learning_rate: np.ndarray
    slots: dict[str, np.ndarray]
    seconds: float

    def steps_to(self, tolerance: float) -> int | None:
        """The first step count after which the loss is <= tolerance, or None."""
        hits = np.flatnonzero(self.loss <= tolerance)
        return int(hits[0]) if hits.size else None


@dataclasses.dataclass
class ComparisonResult:
    problem: AnalyticProblem | ModelProblem
    steps: int
    seed: int
    runs: list[Run]

    def summary(self) -> dict[str, Any]:
        """What `summary.json` holds: per run, final loss, steps to tolerance, time."""
        return {
            "problem": self.problem.name,
            "steps": self.steps,
            "seed": self.seed,
            "tolerance": self.problem.tolerance,
            "runs": [
                {
                    "label": r.label,
                    "optimizer": r.name,
                    "config": r.config,
                    "final_loss": float(r.loss[-1]),
                    "final_params": r.params[-1].tolist(),
                    "steps_to_tolerance": r.steps_to(self.problem.tolerance),
                    "seconds": round(r.seconds, 4),
                }
                for r in self.runs
            ],
        }


def describe_optimizer(optimizer: keras.optimizers.Optimizer) -> tuple[str, str]:
    """(name, label): label lists the learning rate and every hyperparameter not at its default.

    A wrapped optimizer is described level by level, outermost first, joined by "+" as in a
    spec: ``("lookahead+radam", "lookahead(sync_period=5)+radam(learning_rate=0.01)")``; a
    wrapper shows the hyperparameters it was given that differ from its defaults.
    """
    chain = levels(optimizer)
    names, labels = [], []
    for level in chain[:-1]:
        name, label = _describe_wrapper(level)
        names.append(name)
        labels.append(label)
    name, label = _describe_plain(chain[-1])
    return "+".join([*names, name]), "+".join([*labels, label])


def _describe_plain(optimizer: keras.optimizers.Optimizer) -> tuple[str, str]:
    cls = type(optimizer)
    name = registered_name(cls) or cls.__name__.lower()
    config = optimizer.get_config()
    try:
        defaults = cls().get_config()
    except Exception:  # noqa: BLE001 - an optimizer without defaults: show everything
        defaults = {}
    shown = {"learning_rate": config.get("learning_rate")}
    for key, value in config.items():
        if key not in ("name", "learning_rate") and (key not in defaults or defaults[key] != value):
            shown[key] = value
    text = ", ".join(f"{k}={_short(v)}" for k, v in shown.items())
    return name, f"{name}({text})"


def _describe_wrapper(wrapper: keras.optimizers.Optimizer) -> tuple[str, str]:
    name = specs.snake_case(type(wrapper).__name__)
    defaults = hyperparameter_defaults(type(wrapper))
    shown = {
        key: value
        for key, value in wrapper.get_config().items()
        if key not in ("name", "optimizer", "inner_optimizer")  # the inner one: the next level
        and (key not in defaults or defaults[key] != value)
    }
    text = ", ".join(f"{k}={_short(v)}" for k, v in shown.items())
    return name, f"{name}({text})" if text else name


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return value.get("class_name", "schedule")
    return repr(value)


def _numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def compare_optimizers(
    optimizers: Sequence[Any],
    problem: str = "seed",
    steps: int | None = None,
    seed: int = 0,
    learning_rate: float | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ComparisonResult:
    """Train each optimizer on the same problem from the same start; return every step.

    Args:
        optimizers: each a spec as `kerasopt compare` takes it (a registry name, a Keras
            built-in name ``"adam"``, ``"adam:learning_rate=0.1"``, wrappers in front:
            ``"lookahead:sync_period=5+radam"``; see `specs`), a config dict, a
            ``(name, {hyperparameters})`` pair, a list of such pairs for a wrapped optimizer
            (outermost first), or an unbuilt optimizer instance (wrapped or not).
        problem: a name from `kerasopt_plugins.compare.PROBLEMS`.
        steps: update steps per optimizer (default: the problem's).
        seed: weight initialisation and batch order for `digits`; the analytic problems are
            deterministic and ignore it.
        learning_rate: used for every optimizer that was not given one (default: the problem's).
        progress: called as ``progress(index, total, label)`` before each run.
    """
    spec = get_problem(problem)
    steps = spec.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if isinstance(optimizers, (str, dict)) or not len(optimizers):
        raise ValueError("optimizers must be a non-empty list of optimizer specs")
    default_lr = spec.learning_rate if learning_rate is None else learning_rate
    built = [_make(item, default_lr) for item in optimizers]  # all errors before any training
    runs = []
    for index, optimizer in enumerate(built):
        name, label = describe_optimizer(optimizer)
        if progress is not None:
            progress(index, len(built), label)
        started = time.perf_counter()
        config = optimizer.get_config()
        if isinstance(spec, AnalyticProblem):
            params, loss, rates, slots = _run_analytic(spec, optimizer, steps)
        else:
            params, loss, rates, slots = _run_model(spec, optimizer, steps, seed)
        runs.append(Run(label, name, config, params, loss, rates, slots, time.perf_counter() - started))
    return ComparisonResult(problem=spec, steps=steps, seed=seed, runs=runs)


def _takes_learning_rate(name: str) -> bool:
    """False for a registered optimizer whose `learning_rate` defaults to None (COCOB sets its
    own step per element and refuses one); True otherwise, Keras's built-ins included."""
    try:
        info = optimizer_info(name)
    except UnknownOptimizerError:
        return True
    return info.hyperparameters.get("learning_rate", 0.0) is not None


def _applied_rate(optimizer) -> float:
    # the innermost optimizer's: wrappers apply its steps. NaN for an optimizer without a
    # learning rate (COCOB: its `learning_rate` is None)
    optimizer = unwrap(optimizer)
    if not _takes_learning_rate(registered_name(type(optimizer)) or ""):
        return math.nan
    return float(_numpy(optimizer.learning_rate))


def _make(item: Any, default_lr: float) -> keras.optimizers.Optimizer:
    if isinstance(item, keras.optimizers.Optimizer):
        if item.built:
            raise ValueError(f"optimizer {item.name!r} is already built; pass a fresh one")
        return item
    if isinstance(item, str):
        return _make_levels(specs.parse_spec(item), default_lr, item)
    if isinstance(item, list) and item and all(isinstance(level, tuple) and len(level) == 2 for level in item):
        return _make_levels([(name, dict(hyper)) for name, hyper in item], default_lr)
    if isinstance(item, tuple) and len(item) == 2:
        name, hyper = item
        return _make_plain(name, dict(hyper), default_lr)
    if isinstance(item, dict):
        config = dict(item.get("config", {}))
        if _takes_learning_rate(str(item.get("class_name", ""))):
            config.setdefault("learning_rate", default_lr)
        return get_optimizer({**item, "config": config})
    raise TypeError(f"cannot make an optimizer from {item!r}")


def _make_plain(name: str, hyper: dict, default_lr: float) -> keras.optimizers.Optimizer:
    if _takes_learning_rate(name):
        hyper.setdefault("learning_rate", default_lr)
    return get_optimizer(name, **hyper)


def _make_levels(chain: list, default_lr: float, spec: str | None = None) -> keras.optimizers.Optimizer:
    """The optimizer of parsed spec levels (outermost first): the last one built, then each
    wrapper around it. Errors name the spec."""
    spec = specs.format_spec(chain) if spec is None else spec
    specs.check_levels(chain, spec)
    if len(chain) == 1:  # a plain name: errors as get_optimizer words them ("Did you mean ...")
        return _make_plain(chain[0][0], dict(chain[0][1]), default_lr)
    try:
        optimizer = _make_plain(chain[-1][0], dict(chain[-1][1]), default_lr)
        for name, hyper in reversed(chain[:-1]):
            optimizer = specs.wrapper_class(name)(optimizer, **hyper)
    except TypeError as err:
        raise TypeError(f"optimizer spec {spec!r}: {err}") from None
    except ValueError as err:
        raise ValueError(f"optimizer spec {spec!r}: {err}") from None
    return optimizer


def _run_analytic(problem: AnalyticProblem, optimizer, steps: int):
    var = keras.Variable(np.asarray(problem.initial, dtype="float32"), name="params")
    optimizer.build([var])
    slot_vars = {k: v[0] for k, v in find_slots(optimizer, [var]).items() if v[0] is not None}
    params = np.empty((steps + 1, problem.dim))
    loss = np.empty(steps + 1)
    rates = np.empty(steps)
    slots = {k: np.empty((steps + 1, problem.dim)) for k in slot_vars}
    for k in range(steps + 1):
        p = _numpy(var)
        params[k], loss[k] = p, problem.loss(p)
        for key, slot in slot_vars.items():
            slots[key][k] = _numpy(slot)
        if k == steps:
            break
        rates[k] = _applied_rate(optimizer)
        gradient = problem.gradient(p).astype("float32")
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [var])
    return params, loss, rates, slots


def _run_model(problem: ModelProblem, optimizer, steps: int, seed: int):
    x, y, template = problem.load(seed)
    model = keras.models.clone_model(template)
    model.set_weights(template.get_weights())
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    optimizer.build(model.trainable_variables)  # slots exist (at zero) before the first step
    slot_vars = {
        key: [v for v in variables if v is not None]
        for key, variables in find_slots(optimizer, model.trainable_variables).items()
    }
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(math.ceil(steps * problem.batch_size / len(x)) + 1)])
    kernel = model.trainable_variables[0]
    params = np.empty((steps + 1, problem.tracked))
    loss = np.empty(steps + 1)
    rates = np.empty(steps)
    slots = {key: np.empty((steps + 1, 1)) for key in slot_vars}
    for k in range(steps + 1):
        params[k] = _numpy(kernel).ravel()[: problem.tracked]
        for key, variables in slot_vars.items():
            slots[key][k] = math.sqrt(sum(float(np.sum(_numpy(v) ** 2)) for v in variables))
        if k == steps:
            break
        rates[k] = _applied_rate(optimizer)
        batch = order[k * problem.batch_size : (k + 1) * problem.batch_size]
        loss[k] = float(model.train_on_batch(x[batch], y[batch]))
    loss[steps] = float(model.evaluate(x, y, verbose=0, batch_size=len(x)))
    return params, loss, rates, slots
