"""What every example shares: the common flags, the run directory, the closing table.

An example parses its flags with :func:`experiment_parser`, builds data and model (bad input fails
here, before anything is written), opens the run with :func:`open_run`, trains with
:class:`~pyrodisent.train.Trainer`, and closes with :func:`finish_run`.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any, Dict, Mapping


from pyrodisent.device import resolve_device, set_seed
from pyrodisent.plots import plot_training_log
from pyrodisent.run_directory import RunDirectory, RunDirectoryError


def experiment_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A parser with ``--seed``, ``--out``, ``--device``, ``--resume``, ``--overwrite``, ``--quiet``."""
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.set_defaults(experiment_name=name)
    parser.add_argument("--seed", type=int, default=0, help="seed of the model's initialisation and training")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"run directory (default: runs/{name}-<time>)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, then check the flags every example shares (seed, device, run directory)."""
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be ≥ 0, got {args.seed}")
    try:
        args.device = str(resolve_device(args.device))
    except ValueError as error:
        parser.error(str(error))
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    if args.out is None:
        if args.resume:
            parser.error("--resume needs --out (the run to continue)")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = Path("runs") / f"{args.experiment_name}-{stamp}"
    return args


def run_config(args: argparse.Namespace, **extra: Any) -> Dict[str, Any]:
    """The config written to ``config.json``: every flag (minus run-control flags) plus ``extra``."""
    skip = {"out", "resume", "overwrite", "quiet", "device"}
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in skip}
    config.update(extra)
    return config


def build_model(args: argparse.Namespace, name: str, **arguments: Any):
    """``MODELS.build(name, seed=args.seed, **arguments)``: the initial weights drawn under ``--seed``."""
    from pyrodisent.registry import MODELS

    return MODELS.build(name, seed=args.seed, **arguments)


def open_run(args: argparse.Namespace, config: Mapping[str, Any]) -> RunDirectory:
    """Create (or, with --resume, reopen) the run directory and seed every generator."""
    try:
        run = RunDirectory(args.out).create(config, resume=args.resume, overwrite=args.overwrite)
    except RunDirectoryError as error:
        sys.exit(f"error: {error}")
    set_seed(args.seed)
    return run


def finish_run(run: RunDirectory, metrics: Mapping[str, Any], title: str, file=None) -> None:
    """Write ``metrics.json``, draw the training curve, print a short table."""
    run.write_metrics(metrics)
    if run.log_path.exists():
        plot_training_log(run.log_path, run.file("training_log.png"))
    print(format_table(metrics, title), file=file or sys.stdout)
    print(f"run directory: {run.path}", file=file or sys.stdout)


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
