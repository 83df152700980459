"""Plot the newest step_time result of each (backend, mode, layout, case): plugin / Keras ratios.

A run of a few layouts (say `--layouts sparse_embedding`) replaces only those layouts' bars;
the others keep the newest run that measured them.

    python benchmarks/plot.py [--out docs/images/step-time.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def newest_rows(backend: str) -> list[dict]:
    """The newest row of each (mode, layout, case) over all of a backend's saved runs."""
    rows: dict[tuple, dict] = {}
    for path in sorted(RESULTS.glob(f"step_time-{backend}-*.json")):  # oldest first, by timestamp
        for r in json.loads(path.read_text())["results"]:
            if "twin" in r:
                rows[(r["mode"], r["layout"], r["case"])] = dict(r, backend=backend, file=path.name)
    return list(rows.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent.parent / "docs" / "images" / "step-time.png"))
    args = parser.parse_args(argv)
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    rows = []
    for backend in ("tensorflow", "jax", "torch"):
        rows += newest_rows(backend)
    cases = list(dict.fromkeys(r["case"] for r in rows))  # every case that has a twin, in table order
    groups = sorted({(r["backend"], r["mode"], r["layout"]) for r in rows}, key=lambda g: (g[0], g[1], g[2]))
    figure = Figure(figsize=(max(12, 0.8 * len(groups)), 5))
    axes = figure.subplots()
    width = 0.8 / max(len(cases), 1)
    for i, case in enumerate(cases):
        xs, ys, lo, hi = [], [], [], []
        for j, group in enumerate(groups):
            match = [r for r in rows if (r["backend"], r["mode"], r["layout"]) == group and r["case"] == case]
            if match:
                r = match[0]
                xs.append(j + (i - (len(cases) - 1) / 2) * width)
                ys.append(r["ratio_of_medians"])
                lo.append(r["ratio_of_medians"] - r["round_ratio_min"])
                hi.append(r["round_ratio_max"] - r["ratio_of_medians"])
        if xs:
            axes.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=f"{case} / its Keras twin")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_yticks([0.25, 0.5, 0.75, 1, 1.5, 2, 4, 8], ["0.25", "0.5", "0.75", "1", "1.5", "2", "4", "8"])
    axes.yaxis.set_minor_formatter(NullFormatter())  # only the labelled ticks
    short = {"tensorflow": "TF", "one_big": "one big", "many_small": "1000 small", "bert_base": "BERT mix",
             "sparse_embedding": "sparse emb."}
    labels = [f"{short.get(b, b)}\n{m}\n{short.get(l, l)}" for b, m, l in groups]
    axes.set_xticks(range(len(groups)), labels, fontsize=7)
    axes.set_ylabel("step time ratio (median; bars: per-round spread)")
    axes.set_title("Optimizer step time relative to Keras's built-in doing the same math (CPU, 2 cores)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
