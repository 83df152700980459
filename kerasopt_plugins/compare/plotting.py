"""Figures for a ComparisonResult, drawn with matplotlib's Agg canvas (no pyplot, no GUI).

matplotlib is imported inside each function, so `import kerasopt_plugins` does not pay for it,
and no global backend is changed in the caller's process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasopt_plugins.compare.problems import AnalyticProblem
from kerasopt_plugins.compare.runner import ComparisonResult

__all__ = ["save_all", "plot_learning_rate", "plot_loss", "plot_paths", "plot_trajectory"]


def _figure(width=8.0, height=4.5, rows=1):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        raise ModuleNotFoundError(
            "plots need matplotlib: pip install 'kerasopt_plugins[plot]'"
        ) from None
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, squeeze=False)[:, 0]


def plot_trajectory(result: ComparisonResult, path: Path) -> Path:
    """Each tracked parameter per step, one line per optimizer, the optimum dashed."""
    problem = result.problem
    dims = result.runs[0].params.shape[1]
    fig, axes = _figure(rows=dims)
    steps = np.arange(result.steps + 1)
    for d, ax in enumerate(axes):
        for run in result.runs:
            ax.plot(steps, run.params[:, d], label=run.label, linewidth=1.2)
        if isinstance(problem, AnalyticProblem):
            ax.axhline(problem.optimum[d], color="black", linestyle="--", linewidth=0.8, label="optimum")
            ax.set_ylabel(f"parameter {d}" if dims > 1 else "weight w")
        else:
            ax.set_ylabel(f"kernel weight {d}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"Parameter trajectory on '{problem.name}': {problem.description}", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def _plot_per_step(result: ComparisonResult, path: Path, series: str, ylabel: str, title: str, log: bool) -> Path:
    """One line per optimizer of the run attribute `series` against the step."""
    fig, (ax,) = _figure()
    for run in result.runs:
        values = getattr(run, series)
        ax.plot(np.arange(len(values)), values, label=run.label, linewidth=1.2)
    if log and all(np.all(getattr(r, series) > 0) for r in result.runs):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title} on '{result.problem.name}'", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def plot_loss(result: ComparisonResult, path: Path) -> Path:
    return _plot_per_step(result, path, "loss", "loss", "Loss per step", log=result.problem.log_loss)


def plot_learning_rate(result: ComparisonResult, path: Path) -> Path:
    return _plot_per_step(result, path, "learning_rate", "learning rate applied", "Learning rate per step", log=False)


def plot_paths(result: ComparisonResult, path: Path) -> Path:
    """For 2-D analytic problems: every optimizer's path over a contour map of the loss."""
    problem = result.problem
    fig, (ax,) = _figure(width=7.0, height=6.0)
    points = np.concatenate([r.params for r in result.runs] + [np.array([problem.optimum])])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1e-3)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 200)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 200)
    grid = np.array([[problem.loss(np.array([x, y])) for x in xs] for y in ys])
    levels = np.geomspace(max(grid.min(), 1e-6), grid.max(), 25)
    ax.contour(xs, ys, grid, levels=levels, cmap="Greys", linewidths=0.6)
    for run in result.runs:
        ax.plot(run.params[:, 0], run.params[:, 1], label=run.label, linewidth=1.2)
    ax.plot(*problem.initial, "ko", markersize=5, label="start")
    ax.plot(*problem.optimum, "k*", markersize=10, label="optimum")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Paths on '{problem.name}'", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def save_all(result: ComparisonResult, out_dir: Path) -> list[Path]:
    """Write every figure that fits the problem into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    paths = [
        plot_trajectory(result, out_dir / "trajectory.png"),
        plot_loss(result, out_dir / "loss.png"),
        plot_learning_rate(result, out_dir / "learning_rate.png"),
    ]
    if isinstance(result.problem, AnalyticProblem) and result.problem.dim == 2:
        paths.append(plot_paths(result, out_dir / "paths.png"))
    return paths
