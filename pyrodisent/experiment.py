"""What every example shares: the common flags, the run directory, the closing table, the exit codes.

An example parses its flags with :func:`experiment_parser` and :func:`parse_args` (each value is
checked as it is read, by the validators of :mod:`pyrodisent.flags`), builds data and model inside
:func:`bad_input` (so that a value only the data or the model can judge still fails before anything
is written), opens the run with :func:`open_run`, trains with :class:`~pyrodisent.train.Trainer`,
and closes with :func:`finish_run`. Its ``__main__`` calls :func:`run_command_line`, which turns
errors into one line on stderr — exit status 2 for bad input, 1 for a failed run — and shows the
traceback only under ``--debug``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Sequence

from pyrodisent.device import resolve_device, set_seed
from pyrodisent.flags import positive_float, positive_int, seed  # noqa: F401  (positive_int: for the examples)
from pyrodisent.plots import plot_training_log
from pyrodisent.run_directory import RunDirectory, RunDirectoryError  # noqa: F401

#: exit status of bad input (argparse's own), and of a run that failed
BAD_INPUT_STATUS = 2
FAILURE_STATUS = 1
#: settings that ``--resume`` may change (recorded in config.json under ``resume_changes``): the
#: optimiser's, not the model's, the data's or the schedule's length
RESUMABLE_SETTINGS = ("lr", "grad_clip")
#: flags that steer the run but are not its settings (not in config.json)
RUN_CONTROL_FLAGS = ("out", "resume", "overwrite", "quiet", "device", "debug")


class ExperimentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``prog: error: argument --lr: expected …``) and
    exit with status 2, without the long usage text of an example with many flags."""

    def error(self, message: str):
        self.exit(BAD_INPUT_STATUS, f"{self.prog}: error: {message} (see --help)\n")


def experiment_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A parser with ``--seed``, ``--out``, ``--device``, ``--grad-clip``, ``--resume``, ``--overwrite``,
    ``--quiet`` and ``--debug``."""
    parser = ExperimentParser(prog=f"{name}.py", description=description,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.set_defaults(experiment_name=name)
    parser.add_argument("--seed", type=seed, default=0, help="seed of the model's initialisation and training")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"run directory (default: runs/{name}-<time>)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N or mps")
    parser.add_argument("--grad-clip", type=positive_float, default=None,
                        help="clip the global gradient norm to this value (default: no clipping); may change on "
                             "--resume")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (--lr and --grad-clip may change)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out (all its files)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, no warnings the example expects")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


#: warnings an example may meet and a user can do nothing about mid-run; ``--quiet`` hides them:
#: what the libraries below us say about their own internals (by module of origin), and the warnings
#: of ours and theirs that an example expects (a data file's slow layout, a metric's classifier that
#: stops at its iteration limit)
EXPECTED_WARNING_MODULES = ("sklearn", "arviz", "xarray", "gpytorch", "pyro", "torch", "matplotlib")


def expected_warning_categories() -> tuple:
    from sklearn.exceptions import ConvergenceWarning

    from pyrodisent.data.shapes3d import SlowLayoutWarning

    return (SlowLayoutWarning, ConvergenceWarning)


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, then check the flags every example shares (device, run directory); under ``--quiet``
    silence the warnings an example expects (``EXPECTED_WARNING_MODULES``, :func:`expected_warning_categories`)."""
    args = parser.parse_args(argv)
    try:
        args.device = str(resolve_device(args.device))
    except ValueError as error:
        parser.error(f"argument --device: {error}")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    if args.out is None:
        if args.resume:
            parser.error("--resume needs --out (the run to continue)")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = Path("runs") / f"{args.experiment_name}-{stamp}"
    if args.quiet:
        for module in EXPECTED_WARNING_MODULES:
            warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
        for category in expected_warning_categories():
            warnings.filterwarnings("ignore", category=category)
    return args


@contextlib.contextmanager
def bad_input(args: argparse.Namespace) -> Iterator[None]:
    """Around the building of data and model: a ValueError (or a missing file or name) raised inside is
    bad input — one line on stderr and exit status 2 (the traceback under ``--debug``). Nothing may be
    written inside: the run directory is opened after."""
    try:
        yield
    except (ValueError, KeyError, FileNotFoundError) as error:
        if getattr(args, "debug", False):
            raise
        print(f"{args.experiment_name}.py: error: {_describe(error)}", file=sys.stderr)
        sys.exit(BAD_INPUT_STATUS)


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    if isinstance(error, OSError) and error.strerror and not isinstance(error, FileNotFoundError):
        return f"{error.strerror}" + (f": {error.filename}" if error.filename else "")
    text = str(error)
    return text if text else type(error).__name__


def run_command_line(main: Callable[[], Any], argv: Sequence[str] | None = None) -> None:
    """Run an example's ``main`` as a command: an exception becomes one line on stderr naming its kind
    and exit status 1 (the full traceback with ``--debug``); bad input has already exited with 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if "--debug" in argv:
            raise
        print(f"error: {type(error).__name__}: {_describe(error)} (run with --debug for the traceback)",
              file=sys.stderr)
        sys.exit(FAILURE_STATUS)


def run_config(args: argparse.Namespace, **extra: Any) -> Dict[str, Any]:
    """The config written to ``config.json``: every flag (minus run-control flags) plus ``extra``."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k not in RUN_CONTROL_FLAGS}
    config.update(extra)
    return config


def build_model(args: argparse.Namespace, name: str, **arguments: Any):
    """``MODELS.build(name, seed=args.seed, **arguments)``: the initial weights drawn under ``--seed``."""
    from pyrodisent.registry import MODELS

    return MODELS.build(name, seed=args.seed, **arguments)


def open_run(args: argparse.Namespace, config: Mapping[str, Any]) -> RunDirectory:
    """Create (or, with --resume, reopen) and lock the run directory, and seed every generator.

    On ``--resume`` the settings of ``RESUMABLE_SETTINGS`` may differ from the saved ones (the change
    is recorded in config.json); any other difference is refused.
    """
    run = RunDirectory(args.out).create(config, resume=args.resume, overwrite=args.overwrite,
                                        may_change=RESUMABLE_SETTINGS)
    set_seed(args.seed)
    return run


def finish_run(run: RunDirectory, metrics: Mapping[str, Any], title: str, file=None) -> None:
    """Write ``metrics.json``, draw the training curve, print a short table, release the run directory."""
    run.write_metrics(metrics)
    if run.log_path.exists():
        plot_training_log(run.log_path, run.file("training_log.png"))
    print(format_table(metrics, title), file=file or sys.stdout)
    print(f"run directory: {run.path}", file=file or sys.stdout)
    run.release()


def format_table(metrics: Mapping[str, Any], title: str) -> str:
    width = max(len(k) for k in metrics) if metrics else 0
    lines = [title, "-" * max(len(title), width + 14)]
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown:>12}")
    return "\n".join(lines)


def format_comparison(rows: Mapping[str, Mapping[str, Any]], columns, title: str) -> str:
    """A table with one row per model and the given metric columns."""
    name_width = max(len(name) for name in rows)
    header = f"{'model':<{name_width}}  " + "  ".join(f"{c:>12}" for c in columns)
    lines = [title, header, "-" * len(header)]
    for name, values in rows.items():
        cells = []
        for column in columns:
            value = values.get(column)
            cells.append(f"{value:>12.4f}" if isinstance(value, float) else f"{str(value):>12}")
        lines.append(f"{name:<{name_width}}  " + "  ".join(cells))
    return "\n".join(lines)
