"""The `kerasopt` command: argument parsing and printing; the work is in compare/ and registry."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

EXIT_USAGE = 2

COMPARE_EXAMPLES = """examples:
  kerasopt compare                                  the tutorial's comparison on the 'seed' problem
  kerasopt compare vanilla_sgd adam:learning_rate=0.1 --problem quadratic
  kerasopt compare momentum_sgd:momentum=0.9,learning_rate=0.01 sgd --steps 500 --out runs/q
  kerasopt compare radam lookahead+radam lookahead:sync_period=5+radam:learning_rate=0.01
  kerasopt compare swa:average_period=5+sgd:momentum=0.9 moving_average+lookahead+adam
  kerasopt compare --problem rosenbrock --out rosen

A SPEC is NAME or NAME:KEY=VALUE,KEY=VALUE; NAME is a registered optimizer (kerasopt list) or a
Keras built-in (adam, sgd, rmsprop, ...). Wrappers go in front, joined by '+', outermost first:
WRAPPER[:KEY=VALUE,...]+...+NAME[:KEY=VALUE,...], e.g. lookahead:sync_period=5+radam is
Lookahead(RectifiedAdam(), sync_period=5). Wrappers: lookahead, swa, moving_average. The learning
rate belongs on the last level. Specs without learning_rate use the problem's default.
Writes trajectory.png, loss.png, learning_rate.png (and paths.png for 2-D problems), series.csv
and summary.json into --out; other files there are left alone.
"""

LIST_EXAMPLES = """examples:
  kerasopt list
  kerasopt list '*momentum*'
"""

INSPECT_EXAMPLES = """examples:
  kerasopt inspect model.keras
  kerasopt inspect model.keras --json > state.json
"""

DEFAULT_SPECS = ("vanilla_sgd", "momentum_sgd:momentum=0.9", "cmomentum_sgd:momentum=0.9")


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit status 2."""


def parse_value(text: str) -> Any:
    """'0.9' -> 0.9, 'true' -> True, 'none' -> None, else the text (as specs read values)."""
    from kerasopt_plugins.compare.specs import parse_value as parse  # noqa: PLC0415

    return parse(text)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'momentum_sgd:momentum=0.9,learning_rate=0.01' -> ('momentum_sgd', {...}): one level."""
    from kerasopt_plugins.compare.specs import SpecError, parse_level  # noqa: PLC0415

    try:
        return parse_level(spec)
    except SpecError as err:
        raise UsageError(str(err)) from None


def check_spec(spec: str) -> str:
    """A whole SPEC, wrappers included, checked before any work; returned as given."""
    from kerasopt_plugins.compare.specs import SpecError, parse_spec as parse  # noqa: PLC0415

    try:
        parse(spec)
    except SpecError as err:
        raise UsageError(str(err)) from None
    return spec


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasopt",
        description="Compare, list and inspect Keras optimizers (kerasopt_plugins).",
        epilog="examples:\n  kerasopt compare\n  kerasopt list\n  kerasopt inspect model.keras\n"
        "Run 'kerasopt COMMAND --help' for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    compare = commands.add_parser(
        "compare",
        help="train several optimizers on one problem in a single run and plot them",
        epilog=COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "specs", nargs="*", metavar="SPEC",
        help="optimizers to compare, NAME[:KEY=VALUE,...] with wrappers in front joined by '+' "
        "(lookahead+radam); default: the tutorial's three",
    )
    compare.add_argument("--problem", default="seed", help="seed (default), quadratic, rosenbrock or digits")
    compare.add_argument("--steps", type=int, help="update steps per optimizer (default: the problem's)")
    compare.add_argument("--out", default="kerasopt-compare", help="output directory (default: ./kerasopt-compare)")
    compare.add_argument("--seed", type=int, default=0, help="weight init and batch order for 'digits' (default 0)")
    compare.add_argument("--no-plots", action="store_true", help="write CSV and summary only")

    listing = commands.add_parser(
        "list",
        help="registered optimizers with aliases, slots and hyperparameters",
        epilog=LIST_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("pattern", nargs="?", help="fnmatch pattern on the name, e.g. '*momentum*'")

    inspect = commands.add_parser(
        "inspect",
        help="a saved model's optimizer: class, config, iterations, slot statistics",
        epilog=INSPECT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("model", metavar="MODEL.keras", help="a model saved with model.save('....keras')")
    inspect.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    return parser


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def cmd_compare(args) -> int:
    from kerasopt_plugins.compare import compare_optimizers, get_problem  # noqa: PLC0415
    from kerasopt_plugins.compare.report import check_writable, write_report  # noqa: PLC0415

    specs = [check_spec(s) for s in (args.specs or DEFAULT_SPECS)]
    problem = get_problem(args.problem)
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be a positive integer, got {args.steps}")
    out = check_writable(args.out)

    def progress(index, total, label):
        print(f"[{index + 1}/{total}] {label}", file=sys.stderr, flush=True)

    result = compare_optimizers(specs, problem=problem.name, steps=args.steps, seed=args.seed, progress=progress)
    paths = write_report(result, out, plots=not args.no_plots)
    rows = []
    for run in result.runs:
        reached = run.steps_to(problem.tolerance)
        rows.append([run.label, f"{run.loss[-1]:.6g}", "-" if reached is None else str(reached), f"{run.seconds:.2f}"])
    print(f"problem {problem.name}: {problem.description}; {result.steps} steps")
    print(_table(rows, ["optimizer", "final loss", f"steps to loss<={problem.tolerance:g}", "seconds"]))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_list(args) -> int:
    from kerasopt_plugins import list_optimizers, optimizer_info  # noqa: PLC0415

    names = list_optimizers(args.pattern)
    if not names:
        print(f"no registered optimizer matches {args.pattern!r}")
        return 0
    for name in names:
        info = optimizer_info(name)
        hyper = ", ".join(f"{k}={v!r}" for k, v in info.hyperparameters.items())
        print(f"{info.name}  ({info.cls.__module__}.{info.cls.__qualname__})")
        print(f"    {info.description}")
        print(f"    aliases: {', '.join(info.aliases) or '-'}    slots: {', '.join(info.slot_names) or '-'}")
        print(f"    hyperparameters: {hyper}")
    return 0


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return str(value.get("class_name", "schedule"))
    return repr(value)


#: Config keys that hold the wrapped optimizer (shown as the next level, not as a value).
_INNER_KEYS = ("optimizer", "inner_optimizer")


def _own_config(optimizer) -> dict:
    return {k: v for k, v in optimizer.get_config().items() if k not in _INNER_KEYS}


def _level_text(optimizer, innermost: bool) -> str:
    """'Lookahead(sync_period=6, slow_step_size=0.5)': a wrapper with all its hyperparameters;
    the innermost optimizer with its learning rate and what differs from its defaults."""
    config = _own_config(optimizer)
    config.pop("name", None)
    if innermost:
        try:
            defaults = type(optimizer)().get_config()
        except Exception:  # noqa: BLE001 - an optimizer without defaults: show everything
            defaults = {}
        shown = {"learning_rate": config.get("learning_rate")} if "learning_rate" in config else {}
        shown.update((k, v) for k, v in config.items() if k != "learning_rate" and (k not in defaults or defaults[k] != v))
    else:
        shown = config
    return f"{type(optimizer).__name__}({', '.join(f'{k}={_short(v)}' for k, v in shown.items())})"


def cmd_inspect(args) -> int:
    import zipfile  # noqa: PLC0415

    if not os.path.isfile(args.model):
        raise UsageError(f"no such file: {args.model!r}")
    if not zipfile.is_zipfile(args.model):
        raise UsageError(f"{args.model!r} is not a Keras model file (.keras zip archive)")
    from kerasopt_plugins.callbacks import levels, slot_groups, unwrap  # noqa: PLC0415
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    try:
        model = keras.saving.load_model(args.model)  # safe_mode stays on
    except Exception as err:  # noqa: BLE001 - any failure to load is the user's file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"cannot load {args.model!r} as a Keras model: {first}") from None
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise UsageError(f"{args.model!r} was saved without an optimizer (compile the model before saving)")
    inner = unwrap(optimizer)
    chain = levels(optimizer)
    groups = slot_groups(optimizer, model.trainable_variables)
    stats = []
    for group in groups:
        for var, slot_var in zip(model.trainable_variables, group.variables):
            if slot_var is None:
                continue
            a = np.asarray(keras.ops.convert_to_numpy(slot_var), dtype=np.float64)
            stats.append({
                "slot": group.key, "level": group.level, "variable": var.path, "shape": list(a.shape),
                "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
                "max": float(a.max()), "l2": float(np.sqrt(np.sum(a * a))),
            })
    report = {
        "optimizer": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}",
        "inner_optimizer": None if inner is optimizer else f"{type(inner).__module__}.{type(inner).__qualname__}",
        "config": optimizer.get_config(),
        "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
        # outermost first; each level's config without the optimizer it wraps (the next level)
        "levels": [
            {
                "class": f"{type(level).__module__}.{type(level).__qualname__}",
                "summary": _level_text(level, innermost=index == len(chain) - 1),
                "config": _own_config(level),
                "slots": [g.key for g in groups if g.level == index],
            }
            for index, level in enumerate(chain)
        ],
        "slots": stats,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"optimizer: {report['optimizer']}")
    if report["inner_optimizer"]:
        print(f"wrapping:  {report['inner_optimizer']}")
        print("nesting (outermost first):")
        lines = [("  " * i + ("> " if i else "") + level["summary"], level["slots"]) for i, level in enumerate(report["levels"])]
        width = max(len(text) for text, _ in lines)
        for text, slots in lines:
            print(f"  {text.ljust(width)}  slots: {', '.join(slots) or '-'}")
    print(f"iterations: {report['iterations']}")
    for level in report["levels"] if report["inner_optimizer"] else report["levels"][:1]:
        print(f"config of {level['class'].rsplit('.', 1)[-1]}:" if report["inner_optimizer"] else "config:")
        for key, value in level["config"].items():
            print(f"    {key}: {value!r}")
    if stats:
        wrapped = report["inner_optimizer"] is not None
        names = [level["class"].rsplit(".", 1)[-1] for level in report["levels"]]
        rows = [[s["slot"], *([names[s["level"]]] if wrapped else []), s["variable"],
                 "x".join(map(str, s["shape"])) or "scalar",
                 *(f"{s[k]:.4g}" for k in ("mean", "std", "min", "max", "l2"))] for s in stats]
        header = ["slot", *(["level"] if wrapped else []), "variable", "shape", "mean", "std", "min", "max", "l2"]
        print(_table(rows, header))
    else:
        print("slots: none (the optimizer keeps no per-variable state, or was never built)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler = {"compare": cmd_compare, "list": cmd_list, "inspect": cmd_inspect}[args.command]
    try:
        return handler(args)
    except UsageError as err:
        message = str(err)
    except (ValueError, TypeError, OSError, ModuleNotFoundError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
    print(f"kerasopt: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
