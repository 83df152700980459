"""compare_optimizers: train several optimizers on one problem, from identical starts, and keep every step."""

from __future__ import annotations

import dataclasses
import math
import platform
import sys
import time
from typing import Any, Callable, Sequence

import keras
import numpy as np

from kerasopt_plugins.callbacks import find_slots, levels, unwrap
from kerasopt_plugins.compare import specs
from kerasopt_plugins.compare.problems import AnalyticProblem, ModelProblem, get_problem
from kerasopt_plugins.optimizers import check_integer
from kerasopt_plugins.registry import (
    UnknownOptimizerError,
    get_optimizer,
    hyperparameter_defaults,
    optimizer_info,
    registered_name,
)

__all__ = [
    "DIVERGENCE_FACTOR",
    "ComparisonInterrupted",
    "ComparisonResult",
    "Progress",
    "Run",
    "compare_optimizers",
    "describe_optimizer",
    "environment",
]

#: `compare_optimizers` calls its `progress` callback at most this often during a run (seconds).
PROGRESS_EVERY_S = 0.2

#: A run has diverged at the first step whose loss is NaN or infinite, or above this many times
#: its initial loss (a run stops at the first non-finite value; an exploding one goes on).
DIVERGENCE_FACTOR = 1e4


@dataclasses.dataclass
class Run:
    """One optimizer's record.

    Attributes:
        label: the optimizer with its non-default hyperparameters, for legends and tables
            (a wrapped one level by level: ``lookahead(sync_period=5)+radam(...)``).
        name: its registry or Keras name (wrapped: ``lookahead+rectified_adam``).
        config: its `get_config()` before training.
        params: (n+1, k) the tracked parameters before each step and after the last of the
            n steps run (n is the comparison's `steps` unless the run stopped early).
        loss: (n+1,) the loss at those parameters (for `digits`, the minibatch loss of each
            step and, last, the loss on the whole data set).
        learning_rate: (n,) the rate each step applied (wrapped: the inner optimizer's).
        slots: slot key -> (n+1, k) values (analytic problems) or L2 norms (`digits`);
            a wrapped optimizer's include each wrapper's (``"slow"``, ``"average"``).
        seconds: wall time of the run.
        diverged_at: the first step whose loss was NaN, infinite or above `DIVERGENCE_FACTOR`
            times the initial loss, or None. A run stops at the first NaN or infinite value.
        interrupted: the run was stopped by Ctrl-C (KeyboardInterrupt) after n steps.
    """

    label: str
    name: str
    config: dict
    params: np.ndarray
    loss: np.ndarray
    learning_rate: np.ndarray
    slots: dict[str, np.ndarray]
    seconds: float
    diverged_at: int | None = None
    interrupted: bool = False

    @property
    def steps_run(self) -> int:
        """How many update steps the run applied."""
        return len(self.loss) - 1

    @property
    def status(self) -> str:
        """"diverged", "interrupted" or "completed"."""
        if self.diverged_at is not None:
            return "diverged"
        return "interrupted" if self.interrupted else "completed"

    def steps_to(self, tolerance: float) -> int | None:
        """The first step count after which the loss is <= tolerance, or None."""
        hits = np.flatnonzero(self.loss <= tolerance)
        return int(hits[0]) if hits.size else None


@dataclasses.dataclass
class ComparisonResult:
    """Every run of a comparison, with what it ran on.

    Attributes:
        problem, steps, seed: as given to `compare_optimizers`.
        runs: one `Run` per optimizer that started, in the order given.
        planned: the labels of every optimizer asked for (more than `runs` after Ctrl-C).
        tracked: the name of each tracked parameter (``"x"``, ``"y"``; for `digits`,
            ``"dense/kernel[12,5]"``: the weights with the largest gradient at the start).
        learning_rate: the rate used where a spec gave none (None: the problem's).
        schedule: the ``--schedule`` text applied to every spec, or None.
        environment: backend and library versions (`environment()`).
    """

    problem: AnalyticProblem | ModelProblem
    steps: int
    seed: int
    runs: list[Run]
    planned: list[str] = dataclasses.field(default_factory=list)
    tracked: list[str] = dataclasses.field(default_factory=list)
    learning_rate: float | None = None
    schedule: str | None = None
    environment: dict = dataclasses.field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return any(r.interrupted for r in self.runs) or len(self.runs) < len(self.planned)

    def summary(self) -> dict[str, Any]:
        """What `summary.json` holds: per run, final loss, steps to tolerance, time, status.

        Every value is JSON: NaN and infinities become None (`null`).
        """
        return _jsonable({
            "problem": self.problem.name,
            "steps": self.steps,
            "seed": self.seed,
            "tolerance": self.problem.tolerance,
            "learning_rate": self.problem.learning_rate if self.learning_rate is None else self.learning_rate,
            "schedule": self.schedule,
            "tracked": self.tracked,
            "interrupted": self.interrupted,
            "not_run": self.planned[len(self.runs):],
            "environment": self.environment,
            "runs": [
                {
                    "label": r.label,
                    "optimizer": r.name,
                    "config": r.config,
                    "status": r.status,
                    "steps_run": r.steps_run,
                    "diverged_at": r.diverged_at,
                    "final_loss": float(r.loss[-1]),
                    "final_params": r.params[-1].tolist(),
                    "steps_to_tolerance": r.steps_to(self.problem.tolerance),
                    "seconds": round(r.seconds, 4),
                }
                for r in self.runs
            ],
        })


def _jsonable(value: Any) -> Any:
    """`value` with NaN and infinities as None, NumPy scalars as Python ones, tuples as lists,
    and anything else JSON cannot hold as its `str`."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclasses.dataclass(frozen=True)
class Progress:
    """What `compare_optimizers` tells its `progress` callback.

    Attributes:
        index, total: the run (0-based) and how many there are.
        label: the run's optimizer.
        step, steps: steps done so far and steps planned for this run.
        seconds: since this run started.
        done: the run has ended (all steps, stopped at a NaN, or interrupted).
    """

    index: int
    total: int
    label: str
    step: int
    steps: int
    seconds: float
    done: bool = False


class ComparisonInterrupted(KeyboardInterrupt):
    """Ctrl-C during `compare_optimizers`: `.result` holds every finished run and the part of
    the interrupted one that ran (its `interrupted` is True)."""

    def __init__(self, result: ComparisonResult):
        super().__init__("comparison interrupted")
        self.result = result


class SpecTypeError(specs.SpecError, TypeError):
    """An optimizer refused a spec's argument with a TypeError; the message names the spec."""


def environment() -> dict[str, Any]:
    """The backend and the versions of what the numbers depend on, for `summary.json`."""
    from importlib import metadata  # noqa: PLC0415

    backend = keras.backend.backend()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__}
    for dist in ("kerasopt_plugins", {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)):
        if dist is None:
            continue
        module = sys.modules.get(dist)
        version = getattr(module, "__version__", None)
        if version is None:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                version = None
        versions[dist] = version
    return {"backend": backend, "versions": versions, "platform": platform.platform()}


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
    if isinstance(value, dict):  # a serialized schedule: its class and initial rate
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        start = config.get("initial_learning_rate")
        name = value.get("class_name", "schedule")
        return f"{name}({start:g})" if isinstance(start, (int, float)) else str(name)
    return repr(value)


def _numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def compare_optimizers(
    optimizers: Sequence[Any],
    problem: str = "seed",
    steps: int | None = None,
    seed: int = 0,
    learning_rate: float | None = None,
    progress: Callable[[Progress], None] | None = None,
    schedule: str | None = None,
) -> ComparisonResult:
    """Train each optimizer on the same problem from the same start; return every step.

    Every optimizer is made (and every argument checked) before the first one trains.

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
        progress: called with a `Progress` when each run starts, about every 0.2 s during it,
            and when it ends.
        schedule: a learning-rate schedule for every optimizer made from a spec, string, pair
            or dict (not instances, which carry their own), as ``NAME[:KEY=VALUE,...]``
            (``"cosine_decay"``, ``"exponential_decay:decay_rate=0.5"``; `specs.make_schedule`):
            its initial rate is the optimizer's learning rate and its decay steps `steps`.

    Raises:
        ValueError, TypeError: a bad argument, before any training (`specs.SpecError` names
            the spec; `UnknownOptimizerError` an unknown name).
        ComparisonInterrupted: Ctrl-C; its `result` holds what was computed.
    """
    spec = get_problem(problem)
    steps = spec.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    check_integer("seed", seed)
    if learning_rate is not None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0 \
                or not math.isfinite(learning_rate):
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
        learning_rate = float(learning_rate)
    if isinstance(optimizers, (str, dict)) or not len(optimizers):
        raise ValueError("optimizers must be a non-empty list of optimizer specs")
    if schedule is not None:
        specs.make_schedule(schedule, 0.1, steps)  # the schedule's own errors, once, up front
    default_lr = spec.learning_rate if learning_rate is None else learning_rate
    built = [_make(item, default_lr, schedule, steps) for item in optimizers]  # all errors before any training
    tracked = (
        (["w"] if spec.dim == 1 else [("x", "y", "z")[d] if spec.dim <= 3 else f"p{d}" for d in range(spec.dim)])
        if isinstance(spec, AnalyticProblem) else None
    )
    selection = None
    if isinstance(spec, ModelProblem):
        selection = _tracked_weights(spec, seed)
        tracked = [name for _, _, name in selection]
    described = [describe_optimizer(optimizer) for optimizer in built]
    result = ComparisonResult(
        problem=spec, steps=steps, seed=seed, runs=[], planned=[label for _, label in described],
        tracked=tracked, learning_rate=learning_rate, schedule=schedule, environment=environment(),
    )
    for index, (optimizer, (name, label)) in enumerate(zip(built, described)):
        recorder = _Recorder(steps, index, len(built), label, progress)
        config = optimizer.get_config()
        try:
            if isinstance(spec, AnalyticProblem):
                _run_analytic(spec, optimizer, steps, recorder)
            else:
                _run_model(spec, optimizer, steps, seed, selection, recorder)
        except KeyboardInterrupt:
            result.runs.append(recorder.run(name, label, config, interrupted=True))
            raise ComparisonInterrupted(result) from None
        result.runs.append(recorder.run(name, label, config))
    return result


class _Recorder:
    """One run's series as they are computed, so an interrupted run keeps what it did."""

    def __init__(self, steps: int, index: int, total: int, label: str, progress):
        self.steps, self.index, self.total, self.label = steps, index, total, label
        self.progress = progress
        self.started = time.perf_counter()
        self.last_report = self.started
        self.done = -1  # the last step whose values are recorded
        self.params = self.loss = self.rates = None
        self.slots: dict[str, np.ndarray] = {}
        self._report(0)

    def start(self, dim: int, slot_keys: Sequence[str], slot_dim: int) -> None:
        self.params = np.full((self.steps + 1, dim), np.nan)
        self.loss = np.full(self.steps + 1, np.nan)
        self.rates = np.full(self.steps, np.nan)
        self.slots = {key: np.full((self.steps + 1, slot_dim), np.nan) for key in slot_keys}

    def record(self, k: int, params, loss: float | None, slots: dict) -> None:
        self.params[k] = params
        if loss is not None:
            self.loss[k] = loss
        for key, value in slots.items():
            self.slots[key][k] = value
        self.done = k
        now = time.perf_counter()
        if self.progress is not None and now - self.last_report >= PROGRESS_EVERY_S:
            self.last_report = now
            self._report(k)

    def _report(self, k: int, done: bool = False) -> None:
        if self.progress is not None:
            self.progress(Progress(self.index, self.total, self.label, k, self.steps,
                                   time.perf_counter() - self.started, done))

    def run(self, name: str, label: str, config: dict, interrupted: bool = False) -> Run:
        n = max(self.done, 0)
        if self.params is None:  # interrupted before the first value
            self.start(1, (), 1)
        loss = self.loss[: n + 1]
        bad = ~np.isfinite(loss) | (loss > DIVERGENCE_FACTOR * max(abs(float(loss[0])), 1e-12))
        bad |= ~np.all(np.isfinite(self.params[: n + 1]), axis=1)
        diverged_at = int(np.flatnonzero(bad)[0]) if bad.any() and self.done >= 0 else None
        run = Run(
            label, name, config, self.params[: n + 1].copy(), loss.copy(), self.rates[:n].copy(),
            {key: values[: n + 1].copy() for key, values in self.slots.items()},
            time.perf_counter() - self.started, diverged_at=diverged_at,
            interrupted=interrupted and self.done < self.steps,
        )
        self._report(n, done=True)
        return run


def _takes_learning_rate(name: str) -> bool:
    """False for a registered optimizer whose `learning_rate` defaults to None (COCOB sets its
    own step per element and refuses one); True otherwise, Keras's built-ins included."""
    try:
        info = optimizer_info(name)
    except UnknownOptimizerError:
        return True
    return info.hyperparameters.get("learning_rate", 0.0) is not None


def _rate_reader(optimizer) -> Callable[[], float]:
    # the innermost optimizer's: wrappers apply its steps. NaN for an optimizer without a
    # learning rate (COCOB: its `learning_rate` is None)
    inner = unwrap(optimizer)
    if not _takes_learning_rate(registered_name(type(inner)) or ""):
        return lambda: math.nan
    return lambda: float(_numpy(inner.learning_rate))


def _make(item: Any, default_lr: float, schedule: str | None, steps: int) -> keras.optimizers.Optimizer:
    if isinstance(item, keras.optimizers.Optimizer):
        if item.built:
            raise ValueError(f"optimizer {item.name!r} is already built; pass a fresh one")
        return item
    if isinstance(item, str):
        return _make_levels(specs.parse_spec(item), default_lr, schedule, steps, item)
    if isinstance(item, list) and item and all(isinstance(level, tuple) and len(level) == 2 for level in item):
        return _make_levels([(name, dict(hyper)) for name, hyper in item], default_lr, schedule, steps)
    if isinstance(item, tuple) and len(item) == 2:
        name, hyper = item
        return _make_levels([(name, dict(hyper))], default_lr, schedule, steps)
    if isinstance(item, dict):
        config = dict(item.get("config", {}))
        if _takes_learning_rate(str(item.get("class_name", ""))):
            config.setdefault("learning_rate", default_lr)
            if schedule is not None:
                config["learning_rate"] = specs.make_schedule(schedule, float(config["learning_rate"]), steps)
        return get_optimizer({**item, "config": config})
    raise TypeError(f"cannot make an optimizer from {item!r}")


def _with_rate(name: str, hyper: dict, default_lr: float, schedule: str | None, steps: int) -> dict:
    if _takes_learning_rate(name):
        hyper.setdefault("learning_rate", default_lr)
        if schedule is not None and isinstance(hyper["learning_rate"], (int, float)):
            hyper["learning_rate"] = specs.make_schedule(schedule, float(hyper["learning_rate"]), steps)
    return hyper


def _make_levels(chain: list, default_lr: float, schedule: str | None, steps: int,
                 spec: str | None = None) -> keras.optimizers.Optimizer:
    """The optimizer of parsed spec levels (outermost first): the last one built, then each
    wrapper around it. Every argument is checked for its kind first; errors name the spec."""
    spec = specs.format_spec(chain) if spec is None else spec
    specs.check_levels(chain, spec)
    name, hyper = chain[-1]
    cls = specs.optimizer_class(name)
    if cls is None:
        if len(chain) == 1:  # a plain name: the error as get_optimizer words it ("Did you mean ...")
            return get_optimizer(name, **hyper)
    else:
        specs.check_arguments(cls, hyper, spec, specs.format_spec([chain[-1]]))
    for level_name, level_hyper in chain[:-1]:
        specs.check_arguments(specs.wrapper_class(level_name), level_hyper, spec, specs.format_spec([(level_name, level_hyper)]))
    try:
        optimizer = get_optimizer(name, **_with_rate(name, dict(hyper), default_lr, schedule, steps))
        for level_name, level_hyper in reversed(chain[:-1]):
            optimizer = specs.wrapper_class(level_name)(optimizer, **level_hyper)
    except UnknownOptimizerError as err:
        raise UnknownOptimizerError(f"optimizer spec {spec!r}: {err}") from None
    except specs.SpecError:
        raise
    except TypeError as err:
        raise SpecTypeError(f"optimizer spec {spec!r}: {err}") from None
    except ValueError as err:
        raise specs.SpecError(f"optimizer spec {spec!r}: {err}") from None
    return optimizer


def _run_analytic(problem: AnalyticProblem, optimizer, steps: int, recorder: _Recorder) -> None:
    var = keras.Variable(np.asarray(problem.initial, dtype="float32"), name="params")
    optimizer.build([var])
    slot_vars = {k: v[0] for k, v in find_slots(optimizer, [var]).items() if v[0] is not None}
    recorder.start(problem.dim, list(slot_vars), problem.dim)
    rate = _rate_reader(optimizer)
    with np.errstate(all="ignore"):  # a diverging run overflows: it is recorded, not warned about
        for k in range(steps + 1):
            p = _numpy(var)
            recorder.record(k, p, problem.loss(p), {key: _numpy(slot) for key, slot in slot_vars.items()})
            if k == steps or not np.all(np.isfinite(p)) or not math.isfinite(recorder.loss[k]):
                break  # NaN or inf: every later step would be too
            recorder.rates[k] = rate()
            gradient = problem.gradient(p).astype("float32")
            optimizer.apply([keras.ops.convert_to_tensor(gradient)], [var])


def _tracked_weights(problem: ModelProblem, seed: int) -> list[tuple[int, int, str]]:
    """The `problem.tracked` weights with the largest gradient of the whole data set's loss at the
    initial weights: (variable index, flat index, name). Weights fed by pixels that are 0 in
    every image (digits' corners) get no gradient and would draw flat lines."""
    x, y, template = problem.load(seed)
    probe = keras.models.clone_model(template)
    probe.set_weights(template.get_weights())
    probe.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.asarray(w, dtype=np.float64) for w in probe.get_weights()]
    probe.train_on_batch(x, y)  # one full-batch step with rate 1: w - g
    moved = [np.abs(b - np.asarray(a, dtype=np.float64)).ravel() for b, a in zip(before, probe.get_weights())]
    flat = np.concatenate(moved)
    order = np.argsort(-flat, kind="stable")[: problem.tracked]
    offsets = np.cumsum([0] + [m.size for m in moved])
    chosen = []
    for position in sorted(order.tolist()):
        v = int(np.searchsorted(offsets, position, side="right") - 1)
        index = position - int(offsets[v])
        variable = template.trainable_variables[v]
        where = ",".join(map(str, np.unravel_index(index, tuple(variable.shape))))
        chosen.append((v, index, f"{variable.path}[{where}]"))
    return chosen


def _run_model(problem: ModelProblem, optimizer, steps: int, seed: int, selection, recorder: _Recorder) -> None:
    x, y, template = problem.load(seed)
    model = keras.models.clone_model(template)
    model.set_weights(template.get_weights())
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    optimizer.build(model.trainable_variables)  # slots exist (at zero) before the first step
    slot_vars = {
        key: [v for v in variables if v is not None]
        for key, variables in find_slots(optimizer, model.trainable_variables).items()
    }
    recorder.start(len(selection), list(slot_vars), 1)
    rate = _rate_reader(optimizer)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(math.ceil(steps * problem.batch_size / len(x)) + 1)])
    variables = model.trainable_variables
    for k in range(steps + 1):
        params = [_numpy(variables[v]).ravel()[i] for v, i, _ in selection]
        norms = {key: math.sqrt(sum(float(np.sum(_numpy(v) ** 2)) for v in vs)) for key, vs in slot_vars.items()}
        if k == steps:
            recorder.record(k, params, float(model.evaluate(x, y, verbose=0, batch_size=len(x))), norms)
            break
        recorder.rates[k] = rate()
        batch = order[k * problem.batch_size : (k + 1) * problem.batch_size]
        loss = float(model.train_on_batch(x[batch], y[batch]))  # the loss at the weights before the step
        recorder.record(k, params, loss, norms)
        if not math.isfinite(loss):
            break
