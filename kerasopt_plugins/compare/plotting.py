"""Figures for a ComparisonResult, drawn with matplotlib's Agg canvas (no pyplot, no GUI).

matplotlib is imported inside each function, so `import kerasopt_plugins` does not pay for it,
and no global backend is changed in the caller's process.

What every figure does so that it shows what it claims:

- each run has its own colour, line style, width and markers (placed at staggered steps), and
  the earlier runs are drawn wider underneath: two runs on the same path both stay visible,
  and the legend says "same path as [1] until step 60";
- a diverged run (NaN, inf, or a loss over `DIVERGENCE_FACTOR` times its start) is drawn up to
  the step it diverged at, marked with an X where it leaves the axes, and labelled "diverged at
  step k"; the axis limits come from the runs that did not diverge;
- a loss that spans more than two decades is drawn on a log scale;
- the legend sits below the axes, never over the data.

`figure_*` return the matplotlib `Figure` (tests read its axes); `plot_*` save one to a path;
`save_all` writes every figure that fits the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasopt_plugins.compare.problems import AnalyticProblem
from kerasopt_plugins.compare.runner import ComparisonResult, Run

__all__ = [
    "figure_learning_rate",
    "figure_loss",
    "figure_paths",
    "figure_slots",
    "figure_trajectory",
    "plot_learning_rate",
    "plot_loss",
    "plot_paths",
    "plot_slots",
    "plot_trajectory",
    "rates_vary",
    "save_all",
]

LINESTYLES = ("-", (0, (5, 2)), (0, (3, 1, 1, 1)), (0, (1, 1.2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: At most this many slot keys get a row in slots.png (the CSV has them all).
MAX_SLOT_ROWS = 8
DPI = 110


def _figure(width=8.0, height=4.0, rows=1, cols=1, sharex=True):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        raise ModuleNotFoundError("plots need matplotlib: pip install 'kerasopt_plugins[plot]'") from None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=sharex)
    return fig, axes


def _style(index: int, total: int, length: int, wide: bool = True) -> dict:
    """Line properties of run `index`: its colour, dash pattern and markers (staggered between
    runs); with `wide`, earlier runs are drawn wider underneath, for paths that may coincide
    (series that oscillate step by step read better thin)."""
    every = max(1, length // 10)
    return {
        "color": f"C{index % 10}",
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
        "linewidth": max(1.3, 3.2 - 0.7 * index) if wide else 1.4,
        "marker": MARKERS[index % len(MARKERS)],
        "markersize": 4.5,
        "markevery": (min(length - 1, (index * every) // max(total, 1)) if length > 1 else 0, every),
        "zorder": 2 + index,
    }


def _shown_until(run: Run) -> int:
    """How many leading points of the run's series are drawn: up to and including the step it
    diverged at (non-finite values there are left out by matplotlib), else all."""
    return len(run.loss) if run.diverged_at is None else run.diverged_at + 1


def _same_path(result: ComparisonResult) -> dict[int, tuple[int, int | None]]:
    """run index -> (earlier run index, the step their tracked parameters part, None: never)
    for runs that follow an earlier one for at least 5 steps and 5% of the run. Only the
    points drawn count (a diverged run's up to its divergence)."""
    shown = [r.params[: _shown_until(r)] for r in result.runs]
    reference = [r.params[: _shown_until(r)] for r in _reference_runs(result)]
    span = _finite_range(reference)
    tolerance = 1e-4 * (span[1] - span[0] if span else 1.0) + 1e-9
    found: dict[int, tuple[int, int | None]] = {}
    for j, later in enumerate(shown):
        for i in range(j):
            n = min(len(later), len(shown[i]))
            apart = np.any(~(np.abs(later[:n] - shown[i][:n]) <= tolerance), axis=1)
            parted = int(np.argmax(apart)) if apart.any() else None
            shared = n if parted is None else parted
            if shared >= max(5, 0.05 * result.steps):
                found[j] = (i, None if parted is None and n == len(later) else (parted if parted is not None else n))
                break
    return found


def _labels(result: ComparisonResult, same: dict | None = None) -> list[str]:
    labels = []
    for index, run in enumerate(result.runs):
        text = f"[{index + 1}] {run.label}"
        if same and index in same:
            other, parted = same[index]
            text += f" — same path as [{other + 1}]" + (" throughout" if parted is None else f" until step {parted}")
        if run.diverged_at is not None:
            text += f" — diverged at step {run.diverged_at}"
        elif run.interrupted:
            text += f" — interrupted after step {run.steps_run}"
        labels.append(text)
    return labels


def _finite_range(arrays) -> tuple[float, float] | None:
    pieces = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    values = np.concatenate(pieces) if pieces else np.zeros(0)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    return float(values.min()), float(values.max())


def _padded(lo: float, hi: float, fraction: float = 0.06) -> tuple[float, float]:
    span = hi - lo
    pad = fraction * span if span > 0 else max(abs(hi), 1.0) * 0.05
    return lo - pad, hi + pad


def _reference_runs(result: ComparisonResult) -> list[Run]:
    """The runs that set the axis limits: those that did not diverge (all runs if every one did)."""
    calm = [r for r in result.runs if r.diverged_at is None]
    return calm or result.runs


def _mark_divergence(ax, run: Run, x, y, style: dict, log: bool = False) -> None:
    """An X where a diverged run leaves the view: (x, y) clamped into the axes' limits."""
    lo, hi = ax.get_ylim()
    if not np.isfinite(y):
        y = hi
    y = float(np.clip(y, min(lo, hi), max(lo, hi)))
    xlo, xhi = ax.get_xlim()
    x = float(np.clip(x, min(xlo, xhi), max(xlo, xhi))) if np.isfinite(x) else xhi
    ax.plot([x], [y], marker="X", markersize=11, color=style["color"], markeredgecolor="black",
            linestyle="none", clip_on=False, zorder=20)


def _legend(fig, ax, labels: list[str], extra=()) -> None:
    handles = [line for line in ax.get_lines() if line.get_label() in labels]
    handles.sort(key=lambda h: labels.index(h.get_label()))
    handles += list(extra)
    columns = 1 if max((len(h.get_label()) for h in handles), default=0) > 55 else 2
    fig.legend(handles=handles, loc="outside lower center", fontsize=8, ncols=columns, frameon=False)


def _series_axes(ax, result: ComparisonResult, series: list[np.ndarray], labels: list[str],
                 log: bool | None = None, floor: float | None = None, wide: bool = True) -> bool:
    """Draw one series per run against the step on `ax`; limits from the runs that did not
    diverge; log scale when asked, or (log=None) when every value is positive and they span
    more than two decades. Returns whether the scale is log."""
    shown = [values[: _shown_until(run)] for run, values in zip(result.runs, series)]
    reference = [s for run, s in zip(result.runs, shown) if run in _reference_runs(result)]
    span = _finite_range(reference)
    if log is None:
        positive = span is not None and span[0] > 0
        log = bool(positive and span[1] / span[0] > 100)
    for index, (run, values) in enumerate(zip(result.runs, shown)):
        values = np.where(np.isfinite(values), values, np.nan)
        if log and floor is not None:
            values = np.where(values > 0, values, floor)
        ax.plot(np.arange(len(values)), values, label=labels[index],
                **_style(index, len(result.runs), len(values), wide and run.diverged_at is None))
    if log:
        ax.set_yscale("log")
    if span is not None:
        lo, hi = span
        if log:
            lo = max(lo, floor or lo, hi * 1e-12) if lo > 0 else (floor or hi * 1e-12)
            ax.set_ylim(lo / 1.6, hi * 1.6)
        else:
            ax.set_ylim(*_padded(lo, hi))
    ax.set_xlim(0, result.steps)
    for index, (run, values) in enumerate(zip(result.runs, shown)):
        if run.diverged_at is not None:
            k = run.diverged_at
            _mark_divergence(ax, run, k, values[k] if k < len(values) else np.nan,
                             _style(index, len(result.runs), len(values)), log)
    ax.grid(alpha=0.3)
    return log


def figure_trajectory(result: ComparisonResult):
    """Each tracked parameter per step, one line per optimizer, the optimum dashed."""
    problem = result.problem
    dims = result.runs[0].params.shape[1]
    fig, axes = _figure(height=1.2 + 2.6 * dims, rows=dims)
    labels = _labels(result, _same_path(result))
    names = result.tracked or [f"parameter {d}" for d in range(dims)]
    for d, ax in enumerate(axes[:, 0]):
        _series_axes(ax, result, [run.params[:, d] for run in result.runs], labels, log=False)
        if isinstance(problem, AnalyticProblem):
            ax.axhline(problem.optimum[d], color="black", linestyle="--", linewidth=0.8, label="optimum", zorder=1)
            ax.set_ylabel(f"parameter {names[d]}")
        else:
            ax.set_ylabel(f"weight {names[d]}", fontsize=8)
    axes[-1, 0].set_xlabel("step")
    if isinstance(problem, AnalyticProblem):
        title = f"Parameter trajectory on '{problem.name}': {problem.description}"
    else:
        title = (f"Trajectory of the {dims} weights with the largest initial gradient on '{problem.name}' "
                 f"(seed {result.seed})")
    axes[0, 0].set_title(title, fontsize=9)
    _legend(fig, axes[0, 0], labels, [line for line in axes[0, 0].get_lines() if line.get_label() == "optimum"])
    return fig


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.array([values[: k + 1].mean() for k in range(window - 1)])
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def figure_loss(result: ComparisonResult):
    """The loss per step; log scale where it spans decades. For a model problem: the running
    mean of the minibatch losses, each step faint behind it, and a dot for the final loss on
    all the data."""
    problem = result.problem
    fig, axes = _figure(height=4.6)
    ax = axes[0, 0]
    labels = _labels(result, _same_path(result))
    if isinstance(problem, AnalyticProblem):
        positive = _finite_range([r.loss[: _shown_until(r)][r.loss[: _shown_until(r)] > 0] for r in _reference_runs(result)])
        floor = None if positive is None else positive[0]
        log = _series_axes(ax, result, [run.loss for run in result.runs], labels, floor=floor, wide=False)
        ax.set_ylabel("loss" + (" (log scale)" if log else ""))
        ax.set_title(f"Loss per step on '{problem.name}'", fontsize=10)
    else:
        window = max(1, result.steps // 25)
        smooth = []
        for run in result.runs:
            batch = run.loss[:-1] if run.steps_run == result.steps else run.loss
            smooth.append(np.append(_running_mean(batch, window), np.nan) if run.steps_run == result.steps else _running_mean(batch, window))
        log = _series_axes(ax, result, smooth, labels, wide=False)
        for index, run in enumerate(result.runs):
            style = _style(index, len(result.runs), len(run.loss))
            ax.plot(np.arange(run.steps_run), run.loss[: run.steps_run], color=style["color"], linewidth=0.6,
                    alpha=0.25, zorder=1)
            if run.steps_run == result.steps and run.diverged_at is None:
                ax.plot([result.steps], [run.loss[-1]], marker="o", markersize=7, color=style["color"],
                        markeredgecolor="black", linestyle="none", zorder=30, clip_on=False)
        ax.set_ylabel("minibatch loss" + (" (log scale)" if log else ""))
        ax.set_title(f"Loss per step on '{problem.name}': running mean over {window} steps\n(faint: each "
                     f"step's minibatch loss; dot: the loss on all the data after the last step)", fontsize=9)
    ax.set_xlabel("step")
    _legend(fig, ax, labels)
    return fig


def rates_vary(result: ComparisonResult) -> bool:
    """Whether any run's applied learning rate changes over its steps (decay, a schedule)."""
    for run in result.runs:
        rates = run.learning_rate[np.isfinite(run.learning_rate)]
        if rates.size > 1 and not np.allclose(rates, rates[0], rtol=1e-6, atol=0):
            return True
    return False


def figure_learning_rate(result: ComparisonResult):
    """The learning rate each step applied; runs with a constant rate say so in the legend."""
    fig, axes = _figure(height=4.2)
    ax = axes[0, 0]
    labels = []
    for index, run in enumerate(result.runs):
        rates = run.learning_rate[np.isfinite(run.learning_rate)]
        text = f"[{index + 1}] {run.label}"
        if not rates.size:
            text += " — no learning rate"
        elif np.allclose(rates, rates[0], rtol=1e-6, atol=0):
            text += f" — constant {rates[0]:.4g}"
        same = next((j for j in range(index) if result.runs[j].learning_rate.shape == run.learning_rate.shape
                     and np.allclose(result.runs[j].learning_rate, run.learning_rate, rtol=1e-6, atol=0)), None)
        if same is not None and rates.size:
            text += f" — same rates as [{same + 1}]"
        labels.append(text)
    series = [np.append(run.learning_rate, np.nan) for run in result.runs]  # one point per step applied
    log = _series_axes(ax, result, series, labels, wide=False)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate applied" + (" (log scale)" if log else ""))
    ax.set_title(f"Learning rate each step applied on '{result.problem.name}'", fontsize=10)
    _legend(fig, ax, labels)
    return fig


def _slot_keys(result: ComparisonResult) -> list[str]:
    return list(dict.fromkeys(key for run in result.runs for key in run.slots))


def figure_slots(result: ComparisonResult):
    """Each slot's values per step (the momentum of the seed's optimizers, from zero), one row
    per slot key, one column per tracked parameter; for a model problem, each slot's L2 norm
    over all the weights."""
    keys = _slot_keys(result)[:MAX_SLOT_ROWS]
    analytic = isinstance(result.problem, AnalyticProblem)
    cols = result.runs[0].params.shape[1] if analytic else 1
    fig, axes = _figure(width=8.0 if cols == 1 else 11.0, height=1.4 + 2.3 * len(keys), rows=len(keys), cols=cols)
    labels = _labels(result)
    names = result.tracked or [str(d) for d in range(cols)]
    used = set()
    for row, key in enumerate(keys):
        for col in range(cols):
            ax = axes[row, col]
            holders = [(i, run) for i, run in enumerate(result.runs) if key in run.slots]
            shown = [run.slots[key][: _shown_until(run), col] for _, run in holders]
            calm = [s for (_, run), s in zip(holders, shown) if run.diverged_at is None] or shown
            span = _finite_range(calm)
            for (index, run), values in zip(holders, shown):
                ax.plot(np.arange(len(values)), np.where(np.isfinite(values), values, np.nan), label=labels[index],
                        **_style(index, len(result.runs), len(values), wide=False))
                used.add(labels[index])
            scale = ""
            if span is not None:
                magnitudes = np.abs(np.concatenate([np.ravel(c) for c in calm]))
                magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
                small = float(np.percentile(magnitudes, 5)) if magnitudes.size else 0.0
                if span[0] > 0 and span[1] / span[0] > 100:
                    ax.set_yscale("log")
                    ax.set_ylim(span[0] / 1.6, span[1] * 1.6)
                    scale = " (log scale)"
                elif small > 0 and magnitudes.max() / small > 100:  # a large start hides the rest
                    linthresh = float(magnitudes.max()) / 100
                    ax.set_yscale("symlog", linthresh=linthresh)
                    ax.set_ylim(*_padded(*span))
                    # decade ticks, none crowding zero: the linear part (|y| < linthresh) takes one
                    # decade's height around 0, so a tick at >= 2 * linthresh sits >= 1.3 from it
                    lo, hi = ax.get_ylim()
                    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
                    spaced = [t for t in ticks if t == 0 or abs(t) >= 2 * linthresh]
                    ax.set_yticks(spaced if len(spaced) >= 3 else ticks)
                    scale = " (symmetric log scale)"
                else:
                    ax.set_ylim(*_padded(*span))
            ax.set_xlim(0, result.steps)
            for (index, run), values in zip(holders, shown):
                if run.diverged_at is not None and run.diverged_at < len(values):
                    _mark_divergence(ax, run, run.diverged_at, values[run.diverged_at],
                                     _style(index, len(result.runs), len(values)))
            ax.axhline(0.0, color="black", linewidth=0.5, zorder=1)
            what = f"slot '{key}'" if analytic else f"slot '{key}': L2 norm over all the weights"
            ax.set_title(what + (f", parameter {names[col]}" if cols > 1 else "") + scale, fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1, :]:
        ax.set_xlabel("step")
    more = len(_slot_keys(result)) - len(keys)
    note = f" ({more} more slots in series.csv)" if more > 0 else ""
    fig.suptitle(f"Optimizer state (slots) per step on '{result.problem.name}'{note}", fontsize=10)
    handles = {}
    for ax in axes.ravel():
        for line in ax.get_lines():
            if line.get_label() in used:
                handles.setdefault(line.get_label(), line)
    ordered = [handles[label] for label in labels if label in handles]
    columns = 1 if max((len(h.get_label()) for h in ordered), default=0) > 55 else 2
    fig.legend(handles=ordered, loc="outside lower center", fontsize=8, ncols=columns, frameon=False)
    return fig


def _contour_levels(grid: np.ndarray, floor: float, count: int = 18) -> np.ndarray:
    top = float(np.nanmax(grid))
    low = max(float(np.nanmin(grid)), floor, top * 1e-9)
    return np.geomspace(low, top, count) if top > low else np.array([low, low * 10])


def figure_paths(result: ComparisonResult):
    """For 2-D analytic problems: every optimizer's path over a contour map of the loss."""
    from matplotlib.colors import LogNorm  # noqa: PLC0415

    problem = result.problem
    fig, axes = _figure(width=7.5, height=7.6)
    ax = axes[0, 0]
    labels = _labels(result, _same_path(result))
    reference = [r.params[: _shown_until(r)] for r in _reference_runs(result)]
    points = np.concatenate(reference + [np.array([problem.optimum, problem.initial])])
    points = points[np.isfinite(points).all(axis=1)]
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.12 * np.maximum(hi - lo, 1e-3)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 240)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 240)
    grid = np.array([[problem.loss(np.array([x, y])) for x in xs] for y in ys])
    optimum_loss = problem.loss(np.asarray(problem.optimum, dtype=np.float64))
    floor = max(problem.tolerance * 0.1, 1e-8) if optimum_loss <= 0 else optimum_loss
    levels = _contour_levels(grid, floor)
    shaded = np.clip(grid, levels[0], levels[-1])
    ax.contourf(xs, ys, shaded, levels=levels, norm=LogNorm(levels[0], levels[-1]), cmap="Blues_r", alpha=0.35, zorder=0)
    ax.contour(xs, ys, shaded, levels=levels, colors="grey", linewidths=0.5, alpha=0.8, zorder=1)
    for index, run in enumerate(result.runs):
        path = run.params[: _shown_until(run)]
        ax.plot(path[:, 0], path[:, 1], label=labels[index],
                **_style(index, len(result.runs), len(path), wide=run.diverged_at is None))
    start, = ax.plot(*problem.initial, "o", color="black", markersize=7, label="start", zorder=30)
    optimum, = ax.plot(*problem.optimum, "*", color="gold", markeredgecolor="black", markersize=15,
                       label="optimum", zorder=30)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    for index, run in enumerate(result.runs):
        if run.diverged_at is not None:
            k = run.diverged_at
            point = run.params[k] if np.all(np.isfinite(run.params[k])) else run.params[max(k - 1, 0)]
            style = _style(index, len(result.runs), k + 1)
            x = float(np.clip(point[0], xs[0], xs[-1])) if np.isfinite(point[0]) else xs[-1]
            y = float(np.clip(point[1], ys[0], ys[-1])) if np.isfinite(point[1]) else ys[-1]
            ax.plot([x], [y], marker="X", markersize=11, color=style["color"], markeredgecolor="black",
                    linestyle="none", clip_on=False, zorder=31)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Paths on '{problem.name}' over the loss contours (log-spaced levels)", fontsize=10)
    _legend(fig, ax, labels, [start, optimum])
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return Path(path)


def plot_trajectory(result: ComparisonResult, path: Path) -> Path:
    return _save(figure_trajectory(result), path)


def plot_loss(result: ComparisonResult, path: Path) -> Path:
    return _save(figure_loss(result), path)


def plot_learning_rate(result: ComparisonResult, path: Path) -> Path:
    return _save(figure_learning_rate(result), path)


def plot_slots(result: ComparisonResult, path: Path) -> Path:
    return _save(figure_slots(result), path)


def plot_paths(result: ComparisonResult, path: Path) -> Path:
    return _save(figure_paths(result), path)


def save_all(result: ComparisonResult, out_dir: Path) -> list[Path]:
    """Write every figure that fits the result into `out_dir`; return their paths.

    trajectory.png and loss.png always; learning_rate.png where some run's rate changes over
    time (a constant rate is in the table's labels and series.csv); slots.png where some run
    has slots; paths.png for 2-D analytic problems.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_trajectory(result, out_dir / "trajectory.png"), plot_loss(result, out_dir / "loss.png")]
    if rates_vary(result):
        paths.append(plot_learning_rate(result, out_dir / "learning_rate.png"))
    if any(run.slots for run in result.runs):
        paths.append(plot_slots(result, out_dir / "slots.png"))
    if isinstance(result.problem, AnalyticProblem) and result.problem.dim == 2:
        paths.append(plot_paths(result, out_dir / "paths.png"))
    return paths
