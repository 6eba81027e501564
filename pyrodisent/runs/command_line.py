"""The command line every example and ``pyrodisent train`` share: flags from the protocol's and the
trainer's settings, one-line errors, exit codes.

An example is a few lines: ``run_example("nonstationary", doc, argv)`` builds a parser whose flags are the
protocol's settings (``--num-segments``), the trainer's (``--epochs``, ``--lr``) and ``--model``, ``--set
KEY=VALUE``, ``--seed``, ``--out``, ``--device``, …; turns them into a :class:`~pyrodisent.runs.spec.RunSpec`
and hands it to :func:`pyrodisent.runs.runner.run` — the code path of ``pyrodisent train``, so both write
the same config.json and metrics.json. Errors become one line on stderr — exit status 2 for bad input
(before anything is written), 1 for a failed run — with the traceback only under ``--debug``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Tuple

from pyrodisent.runs.flags import seed
from pyrodisent.training.devices import resolve_device

#: exit status of bad input (argparse's own), and of a run that failed
BAD_INPUT_STATUS = 2
FAILURE_STATUS = 1
#: flags that steer the run but are not its settings (not in config.json)
RUN_CONTROL_FLAGS = ("out", "resume", "overwrite", "quiet", "device", "debug")


class ExperimentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``prog: error: argument --lr: expected …``) and
    exit with status 2, without the long usage text of an example with many flags."""

    def error(self, message: str):
        self.exit(BAD_INPUT_STATUS, f"{self.prog}: error: {message} (see --help)\n")


def add_run_flags(parser: argparse.ArgumentParser, name: str) -> None:
    """``--seed``, ``--out``, ``--device``, ``--resume``, ``--overwrite``, ``--quiet`` and ``--debug``."""
    parser.add_argument("--seed", type=seed, default=0, help="seed of the model's initialisation and training")
    parser.add_argument("--out", type=Path, default=None, help=f"run directory (default: runs/{name}-<time>)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N or mps")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (only --lr and --grad-clip may "
                             "change)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out (all its files)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, no warnings the example expects")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def add_spec_flags(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable) and ``--model-file``."""
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="set any setting: model.KEY (a constructor argument of the model), protocol.KEY or "
                             "trainer.KEY; the prefix may be left out where the key is unambiguous; values are "
                             "read as YAML (4, 1e-3, true, [64, 64]); repeatable")
    parser.add_argument("--model-file", default=None, metavar="FILE.py",
                        help="a Python file registering your own model(s) with @MODELS.register (or protocols)")


def example_parser(name: str, description: str, protocol_class, models: Sequence[str], default_model: str,
                   protocol_flag: Optional[Tuple[str, Mapping[str, str], str]] = None,
                   model_flag: Optional[Tuple[str, Mapping[str, str], str]] = None) -> argparse.ArgumentParser:
    """An example's parser: run flags, ``--model``, ``--set``, the protocol's settings and the trainer's.

    :param protocol_flag: ``(flag, {value: protocol name}, help)`` where the example serves several
        protocols (``--dataset``, ``--graph``); its value was read before (see :func:`run_example`).
    :param model_flag: ``(flag, {value: model name}, help)``: the example names its models by another flag
        (``--prior normal`` for ``beta_vae``) instead of ``--model``.
    """
    from pyrodisent.runs.spec import trainer_settings

    parser = ExperimentParser(prog=f"{name}.py", description=description,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.set_defaults(experiment_name=name)
    add_run_flags(parser, name)
    if model_flag is None:
        parser.add_argument("--model", choices=list(models), default=default_model, help="the model to train")
    else:
        flag, names, help_text = model_flag
        default = next((key for key, value in names.items() if value == default_model), next(iter(names)))
        parser.add_argument(flag, dest="model", choices=list(names), default=default, help=help_text)
        parser.set_defaults(model_names=dict(names))
    if protocol_flag is not None:
        flag, names, help_text = protocol_flag
        parser.add_argument(flag, choices=list(names), default=next(iter(names)), help=help_text)
    add_spec_flags(parser)
    own = parser.add_argument_group(f"protocol {protocol_class.name}", protocol_class.describe())
    for setting in protocol_class.declared():
        setting.add_flag(own)
    trainer = parser.add_argument_group("trainer")
    for setting in trainer_settings(protocol_class):
        if setting.name not in protocol_class.declared():  # a protocol's own setting of that name wins
            setting.add_flag(trainer)
    return parser


def example_spec(args: argparse.Namespace, protocol_class):
    """The :class:`~pyrodisent.runs.spec.RunSpec` of an example's parsed flags."""
    from pyrodisent.runs.spec import RunSpec, trainer_settings

    protocol_settings = {s.name: getattr(args, s.name) for s in protocol_class.declared()}
    trainer = {s.name: getattr(args, s.name) for s in trainer_settings(protocol_class)
               if s.name not in protocol_settings}
    model = getattr(args, "model_names", {}).get(args.model, args.model)
    spec = RunSpec(model=model, protocol=protocol_class.name, seed=args.seed, protocol_settings=protocol_settings,
                   trainer_settings=trainer, model_file=args.model_file)
    return spec.with_assignments(args.assignments)


def run_example(protocol: str, description: str, argv: Optional[Sequence[str]] = None,
                protocol_flag: Optional[Tuple[str, Mapping[str, str], str]] = None, name: Optional[str] = None,
                model_flag: Optional[Tuple[str, Mapping[str, str], str]] = None):
    """An example's ``main``: parse the flags, check everything, run, and return the metrics.

    :param protocol: the protocol's name, or with ``protocol_flag`` the default of that flag's choices.
    :param protocol_flag: ``(flag, {value: protocol name}, help)`` for examples serving several protocols.
    :param model_flag: ``(flag, {value: model name}, help)`` for examples naming their models otherwise.
    """
    from pyrodisent.registry import PROTOCOLS
    from pyrodisent.runs.runner import prepare, run
    from pyrodisent.runs.spec import compatible_model_names, load_model_file

    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    name = name or Path(sys.argv[0]).stem
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--model-file", default=None)
    if protocol_flag is not None:
        early.add_argument(protocol_flag[0], default=None)
    known, _ = early.parse_known_args(argv)
    if known.model_file:
        with bad_input(argparse.Namespace(experiment_name=name, debug="--debug" in argv)):
            load_model_file(known.model_file)
    if protocol_flag is not None:
        choice = getattr(known, protocol_flag[0].lstrip("-").replace("-", "_"))
        protocol = protocol_flag[1].get(choice, protocol) if choice else protocol
    protocol_class = PROTOCOLS.get(protocol)
    parser = example_parser(name, description, protocol_class, compatible_model_names(protocol_class),
                            protocol_class.default_model, protocol_flag, model_flag)
    args = parse_args(parser, argv)
    with bad_input(args):
        prepared = prepare(example_spec(args, protocol_class))
    return run(prepared, args.out, resume=args.resume, overwrite=args.overwrite, device=args.device,
               progress=not args.quiet)


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
    """Parse, then :func:`check_run_args`."""
    return check_run_args(parser, parser.parse_args(argv))


def check_run_args(parser: argparse.ArgumentParser, args: argparse.Namespace,
                   default_out: bool = True) -> argparse.Namespace:
    """Check the flags every run shares (device, run directory); under ``--quiet`` silence the warnings an
    example expects (``EXPECTED_WARNING_MODULES``, :func:`expected_warning_categories`).

    :param default_out: without ``--out``, name the run directory ``runs/<name>-<time>`` here (else the
        caller names it once it knows the run).
    """
    try:
        args.device = str(resolve_device(args.device))
    except ValueError as error:
        parser.error(f"argument --device: {error}")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    if args.out is None:
        if args.resume:
            parser.error("--resume needs --out (the run to continue)")
        if default_out:
            args.out = default_run_directory(args.experiment_name)
    if args.quiet:
        silence_expected_warnings()
    return args


def silence_expected_warnings() -> None:
    """Ignore the warnings an example expects (``--quiet``, and a study's workers)."""
    for module in EXPECTED_WARNING_MODULES:
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
    for category in expected_warning_categories():
        warnings.filterwarnings("ignore", category=category)


def default_run_directory(name: str) -> Path:
    """``runs/<name>-<date>-<time>``."""
    return Path("runs") / f"{name}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


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
        prog = getattr(args, "prog", None) or f"{args.experiment_name}.py"
        print(f"{prog}: error: {_describe(error)}", file=sys.stderr)
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
