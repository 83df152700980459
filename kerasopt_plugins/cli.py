"""The `kerasopt` command: argument parsing and printing; the work is in compare/ and registry.

This module imports only the standard library at the top (and `_entry_points`, which does too): `kerasopt --help`, `--version` and
bad arguments are answered before the backend is imported (`_startup` parses the command line
first when this process is the `kerasopt` command).

Exit status: 0 done; 2 bad input (one line on stderr, before any training: `UsageError`, and
modules named by ``--import`` / ``KERASOPT_IMPORT`` that cannot be imported); 130 Ctrl-C (what
was finished is written). Anything else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from kerasopt_plugins._entry_points import first_line as _first_line

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Modules to import before any command runs, as ``--import`` does: separated by commas (or
#: the path separator, ':' on POSIX); each a module name or a .py file.
ENV_IMPORT = "KERASOPT_IMPORT"

SCHEDULES = (
    "cosine_decay, cosine_decay_restarts, exponential_decay, inverse_time_decay, polynomial_decay, "
    "cyclical_learning_rate, triangular_cyclical_learning_rate, triangular2_cyclical_learning_rate, "
    "exponential_cyclical_learning_rate"
)

COMPARE_EXAMPLES = f"""examples:
  kerasopt compare                                  the tutorial's comparison on the 'seed' problem
  kerasopt compare vanilla_sgd adam:learning_rate=0.1 --problem quadratic
  kerasopt compare momentum_sgd:momentum=0.9,learning_rate=0.01 sgd --steps 500 --out runs/q
  kerasopt compare radam lookahead+radam lookahead:sync_period=5+radam:learning_rate=0.01
  kerasopt compare swa:average_period=5+sgd:momentum=0.9 moving_average+lookahead+adam
  kerasopt compare adam momentum_sgd:momentum=0.9 --problem rosenbrock --learning-rate 0.002 --steps 3000
  kerasopt compare sgd adam --schedule cosine_decay --learning-rate 0.1 --problem quadratic
  kerasopt compare sign_momentum adam --import my_optimizers      an optimizer from your own module

A SPEC is NAME or NAME:KEY=VALUE,KEY=VALUE; NAME is a registered optimizer (kerasopt list) or a
Keras built-in (adam, sgd, rmsprop, ...). Wrappers go in front, joined by '+', outermost first:
WRAPPER[:KEY=VALUE,...]+...+NAME[:KEY=VALUE,...], e.g. lookahead:sync_period=5+radam is
Lookahead(RectifiedAdam(), sync_period=5). Wrappers: lookahead, swa, moving_average. The learning
rate belongs on the last level. Specs without learning_rate use --learning-rate, else the
problem's default. --schedule NAME[:KEY=VALUE,...] gives every optimizer that schedule, starting
at its learning rate and decaying over --steps; NAME is one of {SCHEDULES}.

Writes trajectory.png, loss.png, slots.png (when an optimizer has slots), learning_rate.png (when
a rate changes over the steps), paths.png (2-D problems), series.csv and summary.json into --out,
and removes the files an earlier kerasopt compare wrote there that this run did not (listed in
.kerasopt-compare-manifest.json); other files there are left alone. Ctrl-C writes what was
finished and exits with status 130.
"""

LIST_EXAMPLES = """examples:
  kerasopt list                   every registered optimizer, then the wrappers and Keras's built-ins
  kerasopt list momentum          names containing 'momentum' (a plain word matches anywhere)
  kerasopt list '*_sgd'           an fnmatch pattern
  kerasopt list --import my_optimizers
  kerasopt list --long adam       every field of each record: reference, ranges, capabilities, ...
  kerasopt list --has amsgrad --has sparse_lazy     those with every capability named
  kerasopt list --json > optimizers.json            the records as one JSON document

An optimizer provided by an installed plugin (entry point group kerasopt_plugins.optimizers)
shows its distribution: (from kerasopt-sample-plugin 0.1.0). Capabilities: elementwise,
sparse_dense, sparse_lazy, amsgrad, weight_decay, has_momentum, has_betas, has_eps, constrained.
"""

NEW_EXAMPLES = """examples:
  kerasopt new my-optimizer                      ./my-optimizer/, optimizer 'my_optimizer'
  kerasopt new my-optimizer --optimizer qhm --dir plugins

Writes NAME/setup.cfg (the kerasopt_plugins.optimizers entry point), NAME/pyproject.toml,
NAME/README.md, NAME/MODULE/__init__.py, NAME/MODULE/optimizer.py (a working rule,
heavy-ball momentum, on PluginOptimizer, to edit into yours) and NAME/tests/test_optimizer.py
(the conformance kit). Then: pip install -e NAME && pytest NAME. See docs/plugins.md.
"""

INSPECT_EXAMPLES = """examples:
  kerasopt inspect model.keras
  kerasopt inspect model.keras --json > state.json
  kerasopt inspect model.keras --import my_optimizers     a model trained with your own optimizer
  kerasopt inspect old.h5         a Keras 2 file (.h5, or .keras of Keras 2.13-2.15), read as
                                  kerasopt_plugins.legacy.load_model reads it; nothing is written
"""

UPGRADE_EXAMPLES = """examples:
  kerasopt upgrade old.h5 new.keras                  optimizer and its state restored (iterations, slots)
  kerasopt upgrade old.h5 new.keras --force          replace new.keras if it exists
  kerasopt upgrade old.h5 new.keras --optimizer fresh   the same optimizer configuration, fresh state
  kerasopt upgrade old.h5 new.keras --optimizer skip    the model and its weights only, uncompiled
  kerasopt upgrade old.h5 new.keras --import my_optimizers   a Keras 2 file trained with your own optimizer

OLD is a model file Keras 2 wrote: an .h5 from model.save, or a .keras of Keras 2.13-2.15. NEW is
written with Keras 3's model.save, loaded back with keras.saving.load_model and checked (weights,
optimizer variables, step counter); a file that does not load back the same is removed. Loading
NEW later needs the optimizer's module imported first (import kerasopt_plugins for its ports of
tensorflow-addons' optimizers and wrappers), as for any Keras custom object.
"""

#: `kerasopt upgrade --optimizer`: the strings `kerasopt_plugins.legacy.load_model(optimizer=...)`
#: accepts (kept here so that `--help` answers without importing Keras).
UPGRADE_OPTIMIZER_CHOICES = ("restore", "fresh", "skip")

IMPORT_HELP = (
    "import this module first (a module name, found in the current folder or installed, or a .py "
    f"file), e.g. one that registers your optimizers; repeatable. ${ENV_IMPORT} does the same "
    "(names separated by commas)"
)

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


def version() -> str:
    """The package's version, read from its source without importing the package (and Keras)."""
    text = Path(__file__).with_name("__init__.py").read_text(encoding="utf-8")
    found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, flags=re.M)
    return found.group(1) if found else "unknown"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``kerasopt: error: --steps must be a positive integer, got 'abc'``."""

    def error(self, message: str):
        message = re.sub(r"^argument (\S+): (must .*)$", r"\1 \2", message)
        self.exit(EXIT_USAGE, f"kerasopt: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    import math  # noqa: PLC0415

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kerasopt",
        description="Compare, list and inspect Keras optimizers; upgrade Keras 2 model files; start a plugin package (kerasopt_plugins).",
        epilog="examples:\n  kerasopt compare\n  kerasopt list\n  kerasopt inspect model.keras\n"
        "  kerasopt upgrade old.h5 new.keras\n"
        "  kerasopt new my-optimizer\n"
        "Run 'kerasopt COMMAND --help' for each command's options. Also: python -m kerasopt_plugins.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kerasopt {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help=IMPORT_HELP)

    def command(name: str, summary: str, examples: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=summary, epilog=examples,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    compare = command("compare", "train several optimizers on one problem in a single run and plot them", COMPARE_EXAMPLES)
    compare.add_argument(
        "specs", nargs="*", metavar="SPEC",
        help="optimizers to compare, NAME[:KEY=VALUE,...] with wrappers in front joined by '+' "
        "(lookahead+radam); default: the tutorial's three",
    )
    compare.add_argument("--problem", default="seed", help="seed (default), quadratic, rosenbrock or digits")
    compare.add_argument("--steps", type=_positive_int, help="update steps per optimizer (default: the problem's)")
    compare.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                         help="learning rate of every SPEC that gives none (default: the problem's)")
    compare.add_argument("--schedule", metavar="NAME[:KEY=VALUE,...]",
                         help="a learning-rate schedule for every optimizer, e.g. cosine_decay or "
                         "exponential_decay:decay_rate=0.1 (starts at the optimizer's rate, decays over --steps)")
    compare.add_argument("--out", default="kerasopt-compare", help="output directory (default: ./kerasopt-compare)")
    compare.add_argument("--seed", type=int, default=0, help="weight init and batch order for 'digits' (default 0)")
    compare.add_argument("--no-plots", action="store_true", help="write CSV and summary only")
    compare.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")

    listing = command("list", "optimizers by name: registered ones (aliases, slots, hyperparameters), wrappers, Keras built-ins", LIST_EXAMPLES)
    listing.add_argument("pattern", nargs="?",
                         help="a word found anywhere in the name or an alias (case-insensitive), or an fnmatch "
                         "pattern with * ? [ ], e.g. '*_sgd'")
    listing.add_argument("--long", "-l", action="store_true",
                         help="every field of each registered optimizer's record")
    listing.add_argument("--json", action="store_true",
                         help="the registered optimizers' records as one JSON document (a list)")
    listing.add_argument("--has", action="append", default=[], metavar="CAPABILITY",
                         help="only registered optimizers with this capability (amsgrad, elementwise, "
                         "sparse_lazy, ...; see below); repeatable")

    inspect = command("inspect", "a saved model's optimizer (a .keras file, or a Keras 2 file): class, config, iterations, slot statistics", INSPECT_EXAMPLES)
    inspect.add_argument("model", metavar="MODEL.keras",
                         help="a model saved with model.save('....keras'), or a Keras 2 model file "
                         "(.h5, or .keras of Keras 2.13-2.15)")
    inspect.add_argument("--json", action="store_true", help="print one JSON document instead of tables")

    upgrade = command("upgrade", "a Keras 2 model file as a Keras 3 .keras file, with its optimizer and the optimizer's state", UPGRADE_EXAMPLES)
    upgrade.add_argument("source", metavar="OLD", help="the Keras 2 file: an .h5 from model.save, or a .keras of Keras 2.13-2.15")
    upgrade.add_argument("target", metavar="NEW.keras", help="the Keras 3 file to write (must end in .keras)")
    upgrade.add_argument("--optimizer", choices=UPGRADE_OPTIMIZER_CHOICES, default="restore",
                         help="restore (default): the file's optimizer with its saved state; fresh: the same "
                         "configuration, fresh state; skip: no optimizer (the model and weights, uncompiled)")
    upgrade.add_argument("--force", action="store_true", help="replace NEW.keras if it exists")
    upgrade.add_argument("--json", action="store_true", help="print the report as one JSON document")

    new = command("new", "create a plugin package for your optimizer: entry point, optimizer skeleton, conformance test", NEW_EXAMPLES)
    new.add_argument("name", metavar="NAME", help="the package (distribution) and folder name, e.g. my-optimizer")
    new.add_argument("--dir", default=".", help="the existing folder to create NAME/ in (default: the current one)")
    new.add_argument("--optimizer", metavar="OPTIMIZER",
                     help="the registered optimizer name (default: NAME with '_' for '-')")
    return parser


def parse_early(argv: Sequence[str]) -> None:
    """Parse the command line before the backend is imported: ``--help``, ``--version`` and bad
    arguments are answered here, and the process exits (argparse's SystemExit)."""
    _build_parser().parse_args(list(argv))


# -- --import / KERASOPT_IMPORT -----------------------------------------------------------------


def requested_imports(cli_imports: Sequence[str], environ=os.environ) -> list[tuple[str, str]]:
    """(source, module) pairs: those of $KERASOPT_IMPORT first, then ``--import``'s, once each."""
    found: list[tuple[str, str]] = []
    for item in re.split(rf"[,{re.escape(os.pathsep)}]", environ.get(ENV_IMPORT, "")):
        if item.strip():
            found.append((ENV_IMPORT, item.strip()))
    found += [("--import", item.strip()) for item in cli_imports]
    seen, unique = set(), []
    for source, item in found:
        if item not in seen:
            seen.add(item)
            unique.append((source, item))
    return unique


def _where(err: BaseException) -> str:
    import traceback  # noqa: PLC0415

    frames = traceback.extract_tb(err.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def import_user_module(source: str, item: str):
    """Import a module named on the command line: a module name (the current folder is searched
    first, as `python -m` does) or a path to a .py file (imported under its stem, its folder
    put on sys.path). Any failure is a `UsageError` naming the module."""
    import importlib  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    if item.endswith(".py") or "/" in item or os.sep in item:
        path = Path(item).expanduser()
        if not path.is_file():
            raise UsageError(f"{source} {item}: no such file")
        name = path.stem
        if not name.isidentifier():
            raise UsageError(f"{source} {item}: {name!r} is not a valid module name")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # noqa: BLE001 - the user's module: one line naming it
            sys.modules.pop(name, None)
            raise UsageError(f"{source} {item} failed: {type(err).__name__}: {_first_line(err)}{_where(err)}") from None
        return module
    if not all(part.isidentifier() for part in item.split(".")):
        raise UsageError(f"{source} {item!r}: not a module name or a .py file")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(item)
    except ModuleNotFoundError as err:
        if err.name is not None and (item == err.name or item.startswith(err.name + ".")):
            raise UsageError(
                f"{source} {item}: no module named {err.name!r} (looked in the current folder and the installed packages)"
            ) from None
        raise UsageError(f"{source} {item} failed: {type(err).__name__}: {_first_line(err)}{_where(err)}") from None
    except Exception as err:  # noqa: BLE001 - the user's module: one line naming it
        raise UsageError(f"{source} {item} failed: {type(err).__name__}: {_first_line(err)}{_where(err)}") from None


# -- output helpers -------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


class ProgressPrinter:
    """Progress of `compare` on stderr. On a terminal: one line per optimizer, rewritten in
    place (steps done, steps per second, time left). Otherwise (a log file): a line when each
    optimizer starts, then one every `every_s` seconds of a long run, and one at its end if
    it ran that long."""

    def __init__(self, stream=None, every_s: float = 10.0):
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self._last = 0.0
        self._open = False

    def _text(self, p) -> str:
        head = f"[{p.index + 1}/{p.total}] {p.label}"
        if p.done:
            return f"{head}: {p.step} steps in {p.seconds:.1f} s"
        if p.step == 0:
            return head
        rate = p.step / p.seconds if p.seconds > 0 else 0.0
        left = (p.steps - p.step) / rate if rate > 0 else float("nan")
        return f"{head}: {p.step}/{p.steps} steps, {rate:.0f} steps/s, {left:.0f} s left"

    def __call__(self, p) -> None:
        text = self._text(p)
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            if len(text) > width:
                text = text[: width - 1] + "…"
            self.stream.write("\r\x1b[K" + text + ("\n" if p.done else ""))
            self.stream.flush()
            self._open = not p.done
            return
        now = time.monotonic()
        if p.step == 0 and not p.done:
            self._last = now
            print(text, file=self.stream, flush=True)
        elif p.done:
            if p.seconds >= self.every_s:
                print(text, file=self.stream, flush=True)
        elif now - self._last >= self.every_s:
            self._last = now
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End a line left open on a terminal (before an error or the interrupt message)."""
        if self.tty and self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


# -- compare ----------------------------------------------------------------------------------------


def _final_loss(run) -> str:
    if run.diverged_at is not None:
        return f"diverged at step {run.diverged_at}"
    if run.interrupted:
        return f"interrupted after step {run.steps_run}"
    return f"{run.loss[-1]:.6g}"


def _check_environment(problem, plots: bool) -> None:
    import importlib.util  # noqa: PLC0415

    if plots and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("plots need matplotlib: pip install 'kerasopt_plugins[plot]' (or pass --no-plots)")
    if problem.name == "digits" and importlib.util.find_spec("sklearn") is None:
        raise UsageError("the 'digits' problem needs scikit-learn: pip install 'kerasopt_plugins[digits]'")


def cmd_compare(args, command: Sequence[str] | None = None) -> int:
    from kerasopt_plugins.compare import PROBLEMS, compare_optimizers  # noqa: PLC0415
    from kerasopt_plugins.compare.report import check_writable, write_report  # noqa: PLC0415
    from kerasopt_plugins.compare.runner import ComparisonInterrupted  # noqa: PLC0415
    from kerasopt_plugins.compare.specs import SpecError  # noqa: PLC0415
    from kerasopt_plugins.registry import UnknownOptimizerError  # noqa: PLC0415

    specs = [check_spec(s) for s in (args.specs or DEFAULT_SPECS)]
    if args.problem not in PROBLEMS:
        raise UsageError(f"unknown problem {args.problem!r}; choose from {', '.join(PROBLEMS)}")
    problem = PROBLEMS[args.problem]
    plots = not args.no_plots
    _check_environment(problem, plots)
    try:
        out = check_writable(args.out)
    except OSError as err:
        raise UsageError(_first_line(err)) from None
    progress = None if args.quiet else ProgressPrinter()
    try:
        result = compare_optimizers(
            specs, problem=problem.name, steps=args.steps, seed=args.seed, learning_rate=args.learning_rate,
            schedule=args.schedule, progress=progress,
        )
    except (SpecError, UnknownOptimizerError) as err:
        raise UsageError(" ".join(str(err).split())) from None
    except ComparisonInterrupted as stop:
        if progress is not None:
            progress.close()
        result = stop.result
        paths = write_report(result, out, plots=plots, command=command) if result.runs else []
        last = result.runs[-1] if result.runs else None
        where = f" in {last.label} after step {last.steps_run} of {result.steps}" if last is not None and last.interrupted else ""
        finished = sum(not r.interrupted for r in result.runs)
        wrote = f"; wrote what was computed to {out}" if paths else "; nothing was written"
        print(f"kerasopt: interrupted{where}: {finished} of {len(result.planned)} optimizers finished{wrote}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    paths = write_report(result, out, plots=plots, command=command)
    rows = []
    for run in result.runs:
        reached = run.steps_to(problem.tolerance)
        rows.append([run.label, _final_loss(run), "-" if reached is None else str(reached), f"{run.seconds:.2f}"])
    print(f"problem {problem.name}: {problem.description}; {result.steps} steps")
    print(_table(rows, ["optimizer", "final loss", f"steps to loss<={problem.tolerance:g}", "seconds"]))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


# -- list -------------------------------------------------------------------------------------------


def _matches(pattern: str | None, names: Sequence[str]) -> bool:
    import fnmatch  # noqa: PLC0415

    if pattern is None:
        return True
    pattern = pattern.lower()
    if any(c in pattern for c in "*?["):
        return any(fnmatch.fnmatchcase(n.lower(), pattern) for n in names)
    return any(pattern in n.lower() for n in names)


def _builtins() -> list[tuple[str, type, dict]]:
    """Keras's optimizers that compare accepts by name: (name, class, hyperparameters), those
    whose every constructor argument has a default (not LossScaleOptimizer, MultiOptimizer)."""
    import inspect  # noqa: PLC0415

    import keras  # noqa: PLC0415

    from kerasopt_plugins.compare.specs import BASE_OPTIONS  # noqa: PLC0415

    found = []
    for key, cls in sorted(vars(keras.optimizers).items(), key=lambda kv: kv[0].lower()):
        if not isinstance(cls, type) or not issubclass(cls, keras.optimizers.Optimizer) or cls is keras.optimizers.Optimizer:
            continue
        try:
            params = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            continue
        own = {n: p.default for n, p in params.items() if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}
        if any(d is inspect.Parameter.empty for d in own.values()):
            continue
        found.append((key.lower(), cls, {n: d for n, d in own.items() if n not in BASE_OPTIONS}))
    return found


def _distribution_text(info) -> str:
    if info.distribution is None:
        return ""
    return f"; from {info.distribution} {info.distribution_version}"


def _long_text(info) -> list[str]:
    """Every field of a record, one per line, as ``kerasopt list --long`` prints it."""
    record = info.as_dict()
    hyper = ", ".join(
        f"{k}={v!r}" + (f" in {record['hyperparameter_ranges'][k]}" if k in record["hyperparameter_ranges"] else "")
        for k, v in info.hyperparameters.items()
    )
    lines = [
        f"aliases: {', '.join(info.aliases) or '-'}",
        f"reference: {info.reference or '-'}",
        f"slots: {', '.join(info.slot_names) or '-'}",
        f"hyperparameters: {hyper or '-'}",
        f"example_config: {dict(info.example_config) or '{} (the defaults)'}",
        f"capabilities: {', '.join(info.capabilities) or '-'}",
        f"sparse: {info.sparse or 'not declared'}",
        f"legacy_keys: {', '.join(info.legacy_keys) or '-'}",
    ]
    if info.distribution is not None:
        lines.append(f"distribution: {info.distribution} {info.distribution_version} (entry point {info.entry_point})")
    return lines


def cmd_list(args) -> int:
    from kerasopt_plugins import list_optimizers, optimizer_info  # noqa: PLC0415
    from kerasopt_plugins.compare.specs import wrapper_class, wrapper_names  # noqa: PLC0415
    from kerasopt_plugins.registry import CAPABILITIES  # noqa: PLC0415

    unknown = [c for c in args.has if c not in CAPABILITIES]
    if unknown:
        raise UsageError(f"--has {unknown[0]!r} is not a capability; the capabilities are {', '.join(CAPABILITIES)}")
    records = [
        info for info in map(optimizer_info, list_optimizers())
        if _matches(args.pattern, info.names) and all(c in info.capabilities for c in args.has)
    ]
    if args.json:
        print(json.dumps([info.as_dict() for info in records], indent=2))
        return 0
    shown = len(records)
    for info in records:
        print(f"{info.name}  ({info.cls.__module__}.{info.cls.__qualname__}{_distribution_text(info)})")
        print(f"    {info.description}")
        if args.long:
            print("\n".join(f"    {line}" for line in _long_text(info)))
            continue
        hyper = ", ".join(f"{k}={v!r}" for k, v in info.hyperparameters.items())
        print(f"    aliases: {', '.join(info.aliases) or '-'}    slots: {', '.join(info.slot_names) or '-'}")
        print(f"    hyperparameters: {hyper}")
    if args.has:  # capabilities are the registered optimizers': no wrapper or built-in is listed
        if not shown:
            print(f"no registered optimizer has {' and '.join(args.has)}"
                  + (f" and matches {args.pattern!r}" if args.pattern else ""))
        return 0
    wrappers = [w for w in wrapper_names() if _matches(args.pattern, [w, wrapper_class(w).__name__])]
    if wrappers:
        print("\nwrappers (go in front of an optimizer in a compare SPEC: lookahead+radam):")
        for name in wrappers:
            cls = wrapper_class(name)
            print(f"{name}  ({cls.__module__}.{cls.__qualname__}; wrapper)")
        shown += len(wrappers)
    builtins = [b for b in _builtins() if _matches(args.pattern, [b[0], b[1].__name__])]
    if builtins:
        print("\nKeras built-ins (compare and compile accept these names too):")
        width = max(len(name) for name, _, _ in builtins)
        for name, cls, hyper in builtins:
            values = ", ".join(f"{k}={v!r}" for k, v in hyper.items())
            print(f"{name.ljust(width)}  (keras.optimizers.{cls.__name__}; built-in)  {values}")
        shown += len(builtins)
    if not shown:
        print(f"no optimizer matches {args.pattern!r} (registered, wrapper or Keras built-in)")
    return 0


# -- new --------------------------------------------------------------------------------------------


def cmd_new(args) -> int:
    from kerasopt_plugins.scaffold import ScaffoldError, create_plugin  # noqa: PLC0415

    try:
        target = create_plugin(args.name, args.dir, optimizer=args.optimizer)
    except ScaffoldError as err:
        raise UsageError(str(err)) from None
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    print(f"created {target}/: {', '.join(files)}")
    print("next: edit the rule in the optimizer.py, its NumPy copy in tests/test_optimizer.py, then")
    print(f"  pip install -e {target} && pytest {target}")
    return 0


# -- inspect ----------------------------------------------------------------------------------------


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


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SKIPPED_STATE = "Skipping variable loading for optimizer"


def _check_model_file(path: Path) -> bool:
    """A precise message for what `inspect` cannot read: no file, a folder, a weights file, neither
    a zip archive nor HDF5. Returns whether the file is HDF5 (a Keras 2 `.h5`, if anything)."""
    import zipfile  # noqa: PLC0415

    shown = str(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            raise UsageError(
                f"{shown!r} is a TensorFlow SavedModel folder, which holds no Keras optimizer config; "
                "inspect reads a .keras file (model.save('model.keras'))"
            )
        raise UsageError(f"{shown!r} is a folder; inspect reads a .keras file (model.save('model.keras'))")
    if not path.exists():
        raise UsageError(f"no such file: {shown!r}")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == HDF5_SIGNATURE:
        if path.name.endswith(".weights.h5"):
            raise UsageError(f"{shown!r} is a weights file (.weights.h5) without the optimizer's config; inspect the .keras file")
        return True
    if not zipfile.is_zipfile(path):
        raise UsageError(f"{shown!r} is not a Keras model file (a .keras zip archive, or a Keras 2 .h5)")
    return False


def _is_keras2_file(path: Path, hdf5: bool) -> bool:
    """Whether Keras 2 wrote the file (an .h5, or a .keras of Keras 2.13-2.15, which Keras 3's
    loader cannot read); an HDF5 file that Keras 2 did not write is refused here."""
    import zipfile  # noqa: PLC0415

    from kerasopt_plugins import legacy  # noqa: PLC0415

    reason = ""
    try:
        found = legacy.is_keras2_file(path)
    except (OSError, zipfile.BadZipFile) as err:  # h5py or zipfile cannot open it
        found, reason = False, f" ({_first_line(err)})"
    if hdf5 and not found:
        raise UsageError(
            f"{str(path)!r} is an HDF5 file, but not a model file that Keras 2 wrote{reason}; inspect reads "
            ".keras files and the .h5 files of Keras 2's model.save"
        )
    return found


def _load_keras2(path: Path) -> tuple[Any, dict]:
    """A Keras 2 file's model, loaded with `kerasopt_plugins.legacy.load_model` (which writes
    nothing), and `legacy.describe_keras2_file`'s account of the file."""
    from kerasopt_plugins import legacy  # noqa: PLC0415

    try:
        described = legacy.describe_keras2_file(path)
        with _user_warnings() as caught:
            model = legacy.load_model(path)
    except (legacy.Keras2LoadError, legacy.NotAKeras2FileError) as err:  # the user's file
        raise UsageError(_legacy_error(err, "inspect")) from None
    _print_warnings(caught, "while loading")
    return model, described


def _legacy_error(err: Exception, command: str) -> str:
    """`kerasopt_plugins.legacy`'s message, with the command-line options its advice maps to."""
    message = str(err)
    options = ["--import MODULE (the module that registers it)"] if "register_optimizer" in message else []
    if command == "upgrade":
        options += [f"--optimizer {choice}" for choice in ("fresh", "skip") if f"optimizer={choice!r}" in message]
    return f"{message} (kerasopt {command}: {' or '.join(options)})" if options else message


@contextlib.contextmanager
def _user_warnings():
    """Record the UserWarnings raised inside (for `_print_warnings`); silence the others."""
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", UserWarning)
        yield caught


def _print_warnings(caught, where: str = "") -> None:
    for w in caught:
        print(f"kerasopt: warning{' ' + where if where else ''}: {' '.join(str(w.message).split())}", file=sys.stderr)


def _keras2_state_note(described: dict) -> str:
    """Why a Keras 2 file holds no optimizer state."""
    version = described["keras_version"]
    if described["format"] == "keras":
        return (
            f"Keras {version} saved no variables of this optimizer in the .keras file (it saved none for "
            "OptimizerV2 optimizers: Keras 2's legacy ones, tensorflow-addons', custom ones) and restarted "
            "it with fresh state when it loaded the file; kerasopt_plugins.legacy.load_model does the same"
        )
    return f"the optimizer had made no variables yet when Keras {version} saved the model (it was not trained)"


def _saved_mixed_policy(path: Path) -> str | None:
    """The mixed dtype policy ('mixed_float16') the saved model's layers use, or None."""
    import zipfile  # noqa: PLC0415

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile):
        return None
    pending = [config]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if str(item.get("class_name", "")).endswith("DTypePolicy"):
                name = (item.get("config") or {}).get("name")
                if isinstance(name, str) and name.startswith("mixed_"):
                    return name
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def _load(path: Path, policy: str | None = None):
    """(model, the warning Keras gave when it skipped the optimizer state, or None)."""
    import warnings  # noqa: PLC0415

    import keras  # noqa: PLC0415

    previous = keras.mixed_precision.global_policy()
    try:
        if policy is not None:
            keras.mixed_precision.set_global_policy(policy)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.saving.load_model(path)  # safe_mode stays on
    finally:
        keras.mixed_precision.set_global_policy(previous)
    skipped = next((str(w.message).strip() for w in caught if SKIPPED_STATE in str(w.message)), None)
    for w in caught:
        if SKIPPED_STATE not in str(w.message):
            print(f"kerasopt: warning while loading: {str(w.message).strip().splitlines()[0]}", file=sys.stderr)
    return model, skipped


def cmd_inspect(args) -> int:
    import shlex  # noqa: PLC0415

    path = Path(args.model)
    hdf5 = _check_model_file(path)
    from kerasopt_plugins.callbacks import levels, slot_groups, unwrap  # noqa: PLC0415
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    policy = None
    if _is_keras2_file(path, hdf5):
        model, described = _load_keras2(path)
        loaded = bool((described.get("state") or {}).get("in_file", True))
        state_note = None if loaded else _keras2_state_note(described)
        state_headline = "NONE IN THE FILE"
        source = {
            "format": f"keras2-{described['format']}",
            "keras_version": described["keras_version"],
            "optimizer_in_file": (described.get("optimizer") or {}).get("class_name"),
            "upgrade_with": f"kerasopt upgrade {shlex.quote(str(path))} NEW.keras",
        }
    else:
        try:
            model, skipped = _load(path)
            if skipped is not None:
                # Keras records compile(optimizer="...") without the LossScaleOptimizer it added
                # under a mixed policy, and re-adds it only under that policy: retry under it.
                policy = _saved_mixed_policy(path)
                if policy is not None:
                    model, skipped = _load(path, policy)
        except Exception as err:  # noqa: BLE001 - any failure to load is the user's file
            raise UsageError(f"cannot load {str(path)!r} as a Keras model: {_first_line(err)}") from None
        loaded = skipped is None
        state_note = None if loaded else f"Keras did not load the optimizer's saved state: {skipped}"
        state_headline = "NOT LOADED"
        source = {"format": "keras3"}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise UsageError(f"{str(path)!r} was saved without an optimizer (compile the model before saving)")
    inner = unwrap(optimizer)
    chain = levels(optimizer)
    groups = slot_groups(optimizer, model.trainable_variables)
    stats = []
    for group in groups if loaded else ():
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
        **source,
        "optimizer": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}",
        "inner_optimizer": None if inner is optimizer else f"{type(inner).__module__}.{type(inner).__qualname__}",
        "config": optimizer.get_config(),
        "state_loaded": loaded,
        "state_note": state_note,
        "loaded_under_policy": policy if loaded else None,
        "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)) if loaded else None,
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
    if report["format"].startswith("keras2"):
        extension = ".h5" if report["format"] == "keras2-h5" else ".keras"
        print(f"Keras 2 file ({extension}, Keras {report['keras_version']}): read with "
              "kerasopt_plugins.legacy.load_model; nothing is written")
        print(f"to write it as a Keras 3 file: {report['upgrade_with']}")
        print(f"optimizer in the file: {report['optimizer_in_file']}")
    print(f"optimizer: {report['optimizer']}")
    if report["inner_optimizer"]:
        print(f"wrapping:  {report['inner_optimizer']}")
        print("nesting (outermost first):")
        lines = [("  " * i + ("> " if i else "") + level["summary"], level["slots"]) for i, level in enumerate(report["levels"])]
        width = max(len(text) for text, _ in lines)
        for text, slots in lines:
            print(f"  {text.ljust(width)}  slots: {', '.join(slots) or '-'}")
    if policy is not None and loaded:
        print(f"loaded under the dtype policy it was trained with ({policy}): Keras restores a mixed-precision "
              "model's optimizer state only under it")
    if not loaded:
        print(f"optimizer state: {state_headline}. {report['state_note']}")
        print("(iterations and slots are not shown: they would be a fresh optimizer's zeros)")
    else:
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
    elif loaded:
        print("slots: none (the optimizer keeps no per-variable state, or was never built)")
    return 0


# -- upgrade ----------------------------------------------------------------------------------------


def _check_upgrade_paths(source: Path, target: Path, force: bool) -> None:
    """What `upgrade` refuses before reading anything: no OLD; a NEW that does not end in .keras,
    exists (without --force), is OLD, is a folder, or is in a folder that does not exist."""
    if not source.exists():
        raise UsageError(f"no such file: {str(source)!r}")
    if not target.name.endswith(".keras"):
        raise UsageError(f"NEW.keras must end in .keras (Keras 3's format), got {str(target)!r}")
    if target.exists():
        if target.is_dir():
            raise UsageError(f"{str(target)!r} is a folder; NEW.keras is the file to write")
        if source.is_file() and os.path.samefile(source, target):
            raise UsageError(f"{str(target)!r} is OLD itself; write the Keras 3 file elsewhere")
        if not force:
            raise UsageError(f"{str(target)!r} exists; pass --force to replace it")
    if not target.absolute().parent.is_dir():
        raise UsageError(f"cannot write {str(target)!r}: no such folder {str(target.parent)!r}")


def _loss_metric_names(value: Any) -> list[str]:
    """The names of the losses or metrics in a saved compile config, in order: a string as it is,
    a serialized object by its config's name (`mae`, `huber_loss`)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "class_name" in value:
        config = value.get("config")
        name = config.get("name") if isinstance(config, dict) else config
        return [name if isinstance(name, str) else str(value["class_name"])]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
    return [name for item in items for name in _loss_metric_names(item)]


def _keras3_compile_names(path: Path) -> list[str]:
    """The loss and metric names in a Keras 3 `.keras` file's compile config (config.json)."""
    import zipfile  # noqa: PLC0415

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    compiled = config.get("compile_config") or {}
    return [n for key in ("loss", "metrics") for n in _loss_metric_names(compiled.get(key))]


def _renamed(old: list[str], new: list[str]) -> dict[str, str]:
    """Keras 2 name -> Keras 3 name, for the losses and metrics whose name changed."""
    if len(old) != len(new):
        return {" ".join(old) or "-": " ".join(new) or "-"} if old != new else {}
    return {a: b for a, b in zip(old, new) if a != b}


def _import_hint(optimizer: str | None) -> str:
    """Which modules `keras.saving.load_model` of the written file needs imported first."""
    modules = sorted({c.rsplit(".", 1)[0].split(".")[0] for c in (optimizer or "").split(" > ") if "." in c} - {"keras"})
    return f" after `import {', '.join(modules)}`" if modules else ""


def cmd_upgrade(args) -> int:
    source, target = Path(args.source), Path(args.target)
    _check_upgrade_paths(source, target, args.force)
    import keras  # noqa: PLC0415

    from kerasopt_plugins import legacy  # noqa: PLC0415

    try:
        with _user_warnings() as caught:
            report = legacy.upgrade(source, target, optimizer=args.optimizer, overwrite=args.force)
    except (legacy.Keras2LoadError, legacy.NotAKeras2FileError) as err:  # the user's file; nothing written
        raise UsageError(_legacy_error(err, "upgrade")) from None
    saved = [n for key in ("loss", "metrics") for n in _loss_metric_names(report.get(key))]
    written = _keras3_compile_names(target)
    report["renamed"] = _renamed(saved, written) if written else {}
    _print_warnings(caught)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    kind = ".h5" if report["format"] == "h5" else ".keras"
    print(f"upgraded {report['source']} (Keras {report['keras_version']}, {kind}) -> {report['target']} (Keras {keras.__version__})")
    state = report["state"]
    if report["optimizer_in_file"] is None:
        print("optimizer: none (the model was saved uncompiled)")
    elif state == "skipped":
        print(f"optimizer: {report['optimizer_in_file']} not loaded (--optimizer skip): the model and its weights, uncompiled")
    else:
        print(f"optimizer: {report['optimizer_in_file']} -> {report['optimizer']}")
        print(f"state: {state}" + ("" if report["iterations"] is None else f"; iterations {report['iterations']}"))
    if report["slots"]:
        print("slots (Keras 2 -> Keras 3): " + ", ".join(f"{k} -> {v}" for k, v in report["slots"].items()))
    for slot, why in report["not_restored"].items():
        print(f"not restored: {slot}: {why}")
    for fix in report["model_config_fixes"]:
        print(f"model config fixed: {fix}")
    if report["renamed"]:
        print("renamed for Keras 3: " + ", ".join(f"{a} -> {b}" for a, b in report["renamed"].items()))
    elif written:
        print(f"loss and metrics: {', '.join(written)} (the same names as in the Keras 2 file)")
    print(f"load it with keras.saving.load_model({report['target']!r}){_import_hint(report['optimizer'])}")
    return 0


# -- main -------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = list(sys.argv) if argv is None else ["kerasopt", *argv]
    args = _build_parser().parse_args(argv)
    try:
        for source, item in requested_imports(args.imports):
            import_user_module(source, item)
        if args.command == "compare":
            return cmd_compare(args, command)
        return {"list": cmd_list, "inspect": cmd_inspect, "upgrade": cmd_upgrade, "new": cmd_new}[args.command](args)
    except UsageError as err:
        print(f"kerasopt: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kerasopt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
