"""The figures show what they claim (issue #16): read through matplotlib's own objects (axes
limits, scales, line styles, legend boxes) and, once per figure, the PNG's pixels."""

from __future__ import annotations

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from kerasopt_plugins.compare import compare_optimizers
from kerasopt_plugins.compare.plotting import (
    figure_learning_rate,
    figure_loss,
    figure_paths,
    figure_slots,
    figure_trajectory,
    save_all,
)

SEED_SPECS = ["vanilla_sgd", "momentum_sgd:momentum=0.9", "cmomentum_sgd:momentum=0.9"]


@pytest.fixture(scope="module")
def seed():
    return compare_optimizers(SEED_SPECS, problem="seed")


@pytest.fixture(scope="module")
def diverging():
    """vanilla_sgd at 0.1 explodes on the quadratic (|1 - 0.1*25| = 1.5 per step along y)."""
    return compare_optimizers(["vanilla_sgd:learning_rate=0.1", "momentum_sgd:momentum=0.9", "adam:learning_rate=0.1"],
                              problem="quadratic")


@pytest.fixture(scope="module")
def nan_run():
    """A rate of 1e30 overflows float32 at once: inf, then NaN."""
    return compare_optimizers(["vanilla_sgd:learning_rate=1e30", "momentum_sgd:momentum=0.9"], problem="quadratic")


def run_lines(ax, result):
    """The line of each run on `ax`, by its legend label (which starts with "[i] label")."""
    return [next(line for line in ax.get_lines() if line.get_label().startswith(f"[{i + 1}] {run.label}"))
            for i, run in enumerate(result.runs)]


def legend_clear_of_axes(fig):
    """The legend's box and every axes' box on the rendered canvas do not overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    return all(not legend.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


def test_identical_paths_stay_visible_and_the_legend_says_so(seed):
    """The tutorial's point: CMomentumSGD follows VanillaSGD exactly for 60 steps. Both lines
    must be seen: different dash patterns and markers, the one underneath wider, and a note."""
    fig = figure_trajectory(seed)
    ax = fig.axes[0]
    vanilla, momentum, centered = run_lines(ax, seed)
    np.testing.assert_allclose(vanilla.get_ydata()[:60], centered.get_ydata()[:60], atol=1e-6)  # same data ...
    assert vanilla.get_linestyle() != centered.get_linestyle()  # ... drawn differently
    assert vanilla.get_marker() != centered.get_marker()
    assert vanilla.get_linewidth() > centered.get_linewidth() and vanilla.get_zorder() < centered.get_zorder()
    assert centered.get_markevery()[0] != vanilla.get_markevery()[0]  # markers at other steps
    assert "same path as [1] until step 6" in centered.get_label()
    assert "same path" not in momentum.get_label()
    assert ax.get_ylabel() == "parameter w"
    assert legend_clear_of_axes(fig)


def test_the_seed_loss_is_on_a_log_scale_and_shows_the_oscillations(seed):
    fig = figure_loss(seed)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"  # 3.0 down to ~1e-6: six decades
    lo, hi = ax.get_ylim()
    after = np.concatenate([run.loss[70:] for run in seed.runs])
    assert lo < after.min() and hi > 3.0  # the oscillations after step 60 are inside the view
    assert hi / lo > 1e5
    assert legend_clear_of_axes(fig)


def test_slot_values_are_plotted_from_zero(seed):
    fig = figure_slots(seed)
    (ax,) = fig.axes
    assert ax.get_title() == "slot 'm'"
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("[2] momentum_sgd") for label in labels)
    assert not any(label.startswith("[1] vanilla_sgd") for label in labels)  # it has no slot
    momentum = next(line for line in ax.get_lines() if line.get_label().startswith("[2]"))
    np.testing.assert_allclose(momentum.get_ydata(), seed.runs[1].slots["m"][:, 0])
    assert momentum.get_ydata()[0] == 0.0 and momentum.get_ydata().max() > 0.9


def test_a_constant_rate_gets_no_figure_and_a_decaying_one_does(seed, tmp_path):
    names = {p.name for p in save_all(seed, tmp_path / "constant")}
    assert names == {"trajectory.png", "loss.png", "slots.png"}
    decaying = compare_optimizers(["vanilla_sgd:decay=0.05", "momentum_sgd:momentum=0.9"], problem="seed", steps=40)
    names = {p.name for p in save_all(decaying, tmp_path / "decay")}
    assert "learning_rate.png" in names
    ax = figure_learning_rate(decaying).axes[0]
    decayed, constant = run_lines(ax, decaying)
    np.testing.assert_allclose(decayed.get_ydata()[:40], 0.05 / (1 + 0.05 * np.arange(40)), rtol=1e-6)
    assert "constant 0.05" in constant.get_label() and "constant" not in decayed.get_label()


def test_a_diverging_run_is_clipped_out_of_the_axes_and_marked(diverging):
    exploded, calm, adam = diverging.runs
    assert exploded.diverged_at is not None and calm.diverged_at is None and adam.diverged_at is None
    assert exploded.status == "diverged" and np.max(np.abs(exploded.params)) > 1e30  # went on, exploding
    for figure in (figure_trajectory, figure_paths):
        fig = figure(diverging)
        calm_span = np.abs(np.concatenate([calm.params, adam.params])).max()
        for ax in fig.axes:
            lo, hi = ax.get_ylim()
            assert max(abs(lo), abs(hi)) < 3 * calm_span, (figure.__name__, ax.get_ylim())  # not a 1e35 axis
        label = next(line.get_label() for line in fig.axes[0].get_lines() if line.get_label().startswith("[1]"))
        assert label.endswith(f"diverged at step {exploded.diverged_at}")
        marks = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "X"]
        assert marks, "the divergence is marked"
        for mark in marks:  # at the edge of the view, not off it
            lo, hi = mark.axes.get_ylim()
            assert lo <= mark.get_ydata()[0] <= hi
    loss = figure_loss(diverging).axes[0]
    assert loss.get_yscale() == "log" and loss.get_ylim()[1] < 10 * calm.loss.max()


def test_a_nan_run_keeps_the_contours_and_finite_limits(nan_run):
    broken, calm = nan_run.runs
    assert broken.diverged_at == 1 and not np.all(np.isfinite(broken.params[-1]))
    assert broken.steps_run == 2 and np.all(np.isfinite(broken.params[1]))  # stopped at the first inf
    fig = figure_paths(nan_run)
    ax = fig.axes[0]
    assert all(np.isfinite(ax.get_xlim())) and all(np.isfinite(ax.get_ylim()))
    filled = [c for c in ax.collections if hasattr(c, "levels")]
    assert filled and all(np.all(np.isfinite(c.levels)) and len(c.levels) > 5 for c in filled)
    for figure in (figure_trajectory, figure_loss, figure_slots):
        assert all(np.all(np.isfinite(a.get_ylim())) for a in figure(nan_run).axes)


def test_rosenbrocks_legend_does_not_cover_the_paths():
    result = compare_optimizers(["adam:learning_rate=0.02", "momentum_sgd:momentum=0.9"], problem="rosenbrock", steps=300)
    fig = figure_paths(result)
    assert legend_clear_of_axes(fig)
    ax = fig.axes[0]
    xs, ys = ax.get_xlim(), ax.get_ylim()
    for run in result.runs:  # every path inside the view
        assert xs[0] <= run.params[:, 0].min() and run.params[:, 0].max() <= xs[1]
        assert ys[0] <= run.params[:, 1].min() and run.params[:, 1].max() <= ys[1]


def test_the_png_files_hold_the_drawn_lines(seed, tmp_path):
    """The saved pixels, not only the objects: the trajectory's three run colours are all on the
    canvas (a line hidden under another would leave its colour out)."""
    paths = {p.name: p for p in save_all(seed, tmp_path)}
    image = matplotlib.image.imread(paths["trajectory.png"])[..., :3]
    for colour in ("C0", "C1", "C2"):
        rgb = np.array(matplotlib.colors.to_rgb(colour))
        close = np.all(np.abs(image - rgb) < 0.08, axis=-1)
        assert close.sum() > 200, colour


@pytest.mark.slow
def test_the_digits_trajectory_tracks_weights_that_move():
    """Not the weights fed by pixel 0, which is 0 in every image (flat lines): the two with the
    largest gradient at the start; every optimizer moves each of them."""
    pytest.importorskip("sklearn")
    result = compare_optimizers(["vanilla_sgd", "momentum_sgd:momentum=0.9"], problem="digits", steps=40)
    assert len(result.tracked) == 2 and all("[" in name for name in result.tracked)
    assert not any(name.endswith("kernel[0,0]") or name.endswith("kernel[0,1]") for name in result.tracked)
    for run in result.runs:
        for column in range(2):
            assert np.ptp(run.params[:, column]) > 0.01, (run.label, result.tracked[column])
    fig = figure_trajectory(result)
    assert [ax.get_ylabel() for ax in fig.axes] == [f"weight {name}" for name in result.tracked]
    loss = figure_loss(result)
    assert "running mean" in loss.axes[0].get_title()


def test_symmetric_log_slot_axes_have_no_ticks_crowding_zero():
    """Momentum of x on the quadratic spans 1e-3..1.5: a symmetric log axis, whose linear part
    (|y| < linthresh) takes a decade's height around 0. Ticks inside it or just past it (the
    default +-1e-2 beside 0 at linthresh 0.029) print on top of each other."""
    result = compare_optimizers(["momentum_sgd:momentum=0.9,learning_rate=0.03"], problem="quadratic")
    fig = figure_slots(result)
    symlog = [ax for ax in fig.axes if ax.get_yscale() == "symlog"]
    assert symlog, "the quadratic's momentum should need a symmetric log axis"
    for ax in symlog:
        linthresh = ax.yaxis.get_transform().linthresh
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert 0.0 in ticks and len(ticks) >= 3, ticks
        assert all(t == 0 or abs(t) >= 2 * linthresh for t in ticks), (linthresh, ticks)
