"""The ``pyrodisent`` command: any registered model on any benchmark protocol, from one command line.

    pyrodisent list [KIND ...]                                  what is registered, one line each
    pyrodisent train --model ivae --protocol nonstationary [--set trainer.epochs=50 ...] [--config FILE]
    pyrodisent evaluate RUN_DIR                                 metrics and pictures of a trained run, again
    pyrodisent diagnose RUN_DIR                                 ArviZ InferenceData, PSIS k̂, global summaries
    pyrodisent compare RUN_DIR ... --out DIR                    one HTML page and a Markdown summary
    pyrodisent sweep STUDY.yaml --out DIR [--workers N | --ray [ADDRESS]]   a study: models × settings × seeds

``train`` writes a run directory whose ``config.json`` is the complete specification of the run:
``pyrodisent train --config RUN/config.json`` repeats it. Also runs as ``python -m pyrodisent``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TextIO

from pyrodisent.registry import Registry
from pyrodisent.runs.flags import positive_int
from pyrodisent.training.distributed import environment_is_distributed
from pyrodisent.runs.command_line import (BAD_INPUT_STATUS, FAILURE_STATUS, ExperimentParser, _describe,
                                          add_run_flags, add_spec_flags, bad_input, check_run_args, default_run_directory,
                                          format_table)

#: exit status of a bad command line (argparse's own)
USAGE_STATUS = BAD_INPUT_STATUS

EXAMPLES = """examples:
  pyrodisent list protocols
  pyrodisent train --model ivae --protocol nonstationary --seed 0 --out runs/ivae-0
  pyrodisent train --model beta_vae --protocol nonstationary --set model.beta=2 --set trainer.epochs=50
  pyrodisent train --config runs/ivae-0/config.json --out runs/ivae-0-again
  pyrodisent train --model-file my_prior.py --model my_prior --protocol nonstationary
  pyrodisent evaluate runs/ivae-0
  pyrodisent diagnose runs/ivae-0
  pyrodisent compare runs/ivae-* runs/vae-* --out reports/nonstationary
  pyrodisent train --model beta_vae --protocol nonstationary --nproc 2     data-parallel over 2 processes
  pyrodisent sweep study.yaml --out studies/beta --workers 4
  pyrodisent compare studies/beta
"""


def registries() -> Dict[str, Registry]:
    """The registries ``list`` shows, by the plural the command takes; importing them registers the built-ins."""
    import pyrodisent.data  # noqa: F401  (registers the datasets)
    import pyrodisent.likelihoods  # noqa: F401
    import pyrodisent.nn  # noqa: F401
    from pyrodisent.gp import KERNELS
    from pyrodisent.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS, PROTOCOLS

    return {"models": MODELS, "protocols": PROTOCOLS, "networks": NETWORKS, "likelihoods": LIKELIHOODS,
            "kernels": KERNELS, "datasets": DATASETS}


def format_listing(kinds: Sequence[str], known: Dict[str, Registry]) -> str:
    """A section per kind: its heading, then one ``name  description`` line per entry, names aligned."""
    sections = []
    for kind in kinds:
        registry = known[kind]
        names = registry.names()
        width = max((len(name) for name in names), default=0)
        lines = [f"{kind} ({len(names)})"]
        lines += [f"  {name:<{width}}  {registry.describe(name)}".rstrip() for name in names]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


# ------------------------------------------------------------------ the parser
def build_parser(kinds: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrodisent", description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=ExperimentParser)

    listing = commands.add_parser("list", help="registered models, protocols, networks, likelihoods, kernels, datasets",
                                  description="Every registered name of each kind with one line on what it is.")
    listing.add_argument("kinds", nargs="*", metavar="KIND", help=f"any of {', '.join(kinds)} (default: all)")
    listing.add_argument("--settings", metavar="PROTOCOL",
                         help="instead: every setting of PROTOCOL and of the trainer, with defaults and help, and the "
                              "models that run on it")

    train = commands.add_parser(
        "train", help="train a model on a protocol and evaluate it",
        description="Train MODEL on PROTOCOL, evaluate it with everything the protocol's ground truth allows, "
                    "diagnose its posterior and write a run directory (config.json reproduces the run).",
        epilog="settings: `pyrodisent list --settings PROTOCOL` shows the protocol's and the trainer's; a model's "
               "are its constructor's arguments (`model.beta`, `model.encoder_args.hidden`).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.set_defaults(experiment_name="pyrodisent train", prog="pyrodisent train")
    train.add_argument("--model", help="a registered model (pyrodisent list models)")
    train.add_argument("--protocol", help="a registered protocol (pyrodisent list protocols)")
    train.add_argument("--config", metavar="FILE", help="a run's config.json, or a YAML/JSON file with keys model, "
                       "protocol, seed, model_settings, protocol_settings, trainer_settings; flags given too win")
    add_run_flags(train, "<model>-<protocol>")
    train.set_defaults(seed=None)
    add_spec_flags(train)
    train.add_argument("--nproc", type=positive_int, default=1, metavar="N",
                       help="data-parallel training over N processes on this machine (torch.distributed: gloo on "
                            "CPU, NCCL on CUDA); under torchrun, its processes are used instead")

    for name, text in (("evaluate", "compute a trained run's metrics and pictures again (rewrites metrics.json)"),
                       ("diagnose", "ArviZ InferenceData, PSIS k̂ and global summaries of a trained run")):
        command = commands.add_parser(name, help=text, description=text[0].upper()
                                      + text[1:] + ", from its config.json and checkpoint.pt.")
        command.set_defaults(experiment_name=f"pyrodisent {name}", prog=f"pyrodisent {name}")
        command.add_argument("run", type=Path, metavar="RUN_DIR", help="a run directory written by train or an example")
        command.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
        command.add_argument("--quiet", action="store_true", help="no progress bars")
        command.add_argument("--debug", action="store_true", help="show the full traceback of an error")
        if name == "diagnose":
            command.add_argument("--num-draws", type=int, default=None, help="guide draws in the InferenceData "
                                 "(default: the protocol's)")
            command.add_argument("--num-obs", type=int, default=None, help="points in the InferenceData")
            command.add_argument("--num-samples", type=int, default=None, help="importance samples per point for k̂")

    compare = commands.add_parser(
        "compare", help="compare runs: one HTML page and a Markdown summary",
        description="Per protocol: every metric per model (mean ± sd over seeds) with strip plots, training curves "
                    "overlaid, ArviZ PSIS-LOO where runs share evaluation points, and pictures side by side. Reads "
                    "run directories only.")
    compare.set_defaults(experiment_name="pyrodisent compare", prog="pyrodisent compare")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                         help="run directories, or folders holding run directories (searched below), or a study "
                              "directory written by sweep (its runs, grouped by model and each swept setting)")
    compare.add_argument("--out", type=Path, default=None, help="folder for report.html, report.md, runs.csv "
                         "(default for a study directory: STUDY_DIR/report)")
    compare.add_argument("--title", default=None, help="the report's title")
    compare.add_argument("--group-by", nargs="*", default=[], metavar="KEY",
                         help="config keys that split a model's runs, e.g. model_settings.beta")
    compare.add_argument("--debug", action="store_true", help="show the full traceback of an error")

    sweep = commands.add_parser(
        "sweep", help="run a study: models × protocols × settings grids × seeds, resumable, aggregated",
        description="Expand STUDY.yaml into runs (each checked before any starts), run them in local worker "
                    "processes or on Ray, one run directory each under --out; rerunning skips finished runs and "
                    "resumes interrupted ones; writes study.csv and study.parquet (a row per run).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sweep.set_defaults(experiment_name="pyrodisent sweep", prog="pyrodisent sweep")
    sweep.add_argument("study", type=Path, metavar="STUDY.yaml", help="the study file (README: Studies)")
    sweep.add_argument("--out", type=Path, required=True, help="the study directory")
    sweep.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="runs at a time: local worker processes, or the CPUs of a local Ray instance")
    sweep.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="run on Ray: alone, a local instance with --workers CPUs; with ADDRESS (e.g. "
                            "auto, or ray://head:10001), the cluster `ray start --head` started")
    sweep.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads per run")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


# ------------------------------------------------------------------ the commands
def list_command(args, parser, known, out) -> int:
    if args.settings:
        with bad_input(argparse.Namespace(prog="pyrodisent list", debug=False)):
            print(format_settings(args.settings), file=out)
        return 0
    unknown = [kind for kind in args.kinds if kind not in known]
    if unknown:
        parser.exit(USAGE_STATUS, f"pyrodisent list: unknown kind {unknown[0]!r}; expected any of "
                                  f"{', '.join(known)}\n")
    print(format_listing(args.kinds or list(known), known), file=out)
    return 0


def format_settings(protocol_name: str) -> str:
    """A protocol's settings and the trainer's (name, default, help) and the models that run on it."""
    from pyrodisent.registry import PROTOCOLS
    from pyrodisent.runs.spec import compatible_model_names, trainer_settings

    protocol = PROTOCOLS.get(protocol_name)
    lines = [f"protocol {protocol_name}: {protocol.describe()}", "",
             f"models: {', '.join(compatible_model_names(protocol))} (default {protocol.default_model})", ""]
    for title, settings in (("protocol settings (protocol.KEY)", list(protocol.declared())),
                            ("trainer settings (trainer.KEY)", list(trainer_settings(protocol)))):
        lines.append(title)
        width = max(len(s.name) for s in settings)
        for setting in settings:
            default = "none" if setting.default is None else setting.default
            lines.append(f"  {setting.name:<{width}}  {str(default):<14}  {setting.help}".rstrip())
        lines.append("")
    lines.append("model settings (model.KEY): the model's constructor arguments (pyrodisent list models)")
    return "\n".join(lines)


def train_command(args) -> int:
    from pyrodisent.registry import MODELS, PROTOCOLS
    from pyrodisent.runs.runner import prepare, run
    from pyrodisent.runs.spec import RunSpec, load_model_file

    with bad_input(args):
        if args.model_file:
            load_model_file(args.model_file)
        spec = RunSpec.from_file(args.config) if args.config else None
        if spec is None and not (args.model and args.protocol):
            raise ValueError("train needs --model and --protocol (or --config FILE); see pyrodisent list models "
                             "protocols")
        spec = spec or RunSpec(model=args.model, protocol=args.protocol)
        if args.model:
            spec.model = args.model
        if args.protocol:
            spec.protocol = args.protocol
        if args.seed is not None:
            spec.seed = args.seed
        if args.model_file:
            spec.model_file = args.model_file
        MODELS.get(spec.model), PROTOCOLS.get(spec.protocol)  # unknown names first, with suggestions
        prepared = prepare(spec.with_assignments(args.assignments))
    if args.out is None:
        args.out = default_run_directory(f"{spec.model}-{spec.protocol}")
    spec = spec.with_assignments(args.assignments)
    if args.nproc > 1 or environment_is_distributed():
        from pyrodisent.runs.runner import run_data_parallel
        from pyrodisent.training.distributed import launch

        options = (spec, args.out, args.resume, args.overwrite, args.device, not args.quiet)
        if environment_is_distributed():  # started by torchrun: this process is one rank
            run_data_parallel(*options)
        else:
            launch(args.nproc, run_data_parallel, options)
        return 0
    run(prepared, args.out, resume=args.resume, overwrite=args.overwrite, device=args.device,
        progress=not args.quiet)
    return 0


def sweep_command(args) -> int:
    from pyrodisent.runs.study import Study
    from pyrodisent.runs.sweep import run_study

    with bad_input(args):
        study = Study.from_file(args.study)
        plan = study.plan(args.out)
    summary = run_study(plan, workers=args.workers, ray_address=args.ray, threads=args.threads,
                        progress=not args.quiet)
    print(summary.describe())
    return 0 if summary.failed == 0 else FAILURE_STATUS


def evaluate_command(args) -> int:
    from pyrodisent.runs.runner import evaluate_model, finish_run, restore
    from pyrodisent.training.trainer import TrainingResult

    with bad_input(args):
        prepared, trainer, run_dir = restore(args.run, device=args.device)
    run_dir.create(prepared.config(), resume=True)  # the lock; its config must be the one it was trained with
    try:
        history = list(trainer.history)
        result = TrainingResult(history=history, train_seconds=history[-1]["seconds"] if history else 0.0,
                                steps=trainer.step)
        metrics = evaluate_model(prepared, run_dir, result, device=str(trainer.device), progress=not args.quiet)
        protocol = prepared.resolved.protocol
        finish_run(run_dir, metrics, protocol.title(prepared.resolved.model, prepared.resolved.seed))
    finally:
        run_dir.release()
    return 0


def diagnose_command(args) -> int:
    from pyrodisent.runs.runner import diagnose_model, restore

    with bad_input(args):
        prepared, _, run_dir = restore(args.run, device=args.device)
        if not prepared.resolved.protocol.diagnosis:
            raise ValueError(f"protocol {prepared.resolved.protocol.name} diagnoses the posterior in its evaluation: "
                             f"run pyrodisent evaluate {args.run}")
        sizes = {}
        for key in ("num_draws", "num_obs", "num_samples"):
            value = getattr(args, key)
            if value is not None:
                if value < 1:
                    raise ValueError(f"argument --{key.replace('_', '-')}: expected an integer ≥ 1, got {value}")
                sizes[key] = value
    run_dir.create(prepared.config(), resume=True)  # the lock; its config must be the one it was trained with
    try:
        summary = diagnose_model(prepared, run_dir, **sizes)
        if run_dir.metrics_path.exists():
            run_dir.write_metrics({**run_dir.read_metrics(), **summary})
    finally:
        run_dir.release()
    print(format_table(summary, f"posterior diagnosis of {run_dir.path}"))
    print(f"wrote inference_data.nc, khat.png and global_summary.csv to {run_dir.path}")
    return 0


def compare_command(args) -> int:
    from pyrodisent.report import write_report
    from pyrodisent.runs.study import StudyManifest

    with bad_input(args):
        manifest = StudyManifest.read(args.runs[0]) if len(args.runs) == 1 else None
        if manifest is not None:  # a study directory: its finished runs, grouped by what it sweeps
            runs = manifest.finished_runs()
            if not runs:
                raise ValueError(f"study {args.runs[0]} has no finished run yet (expected run directories with "
                                 "metrics.json; run pyrodisent sweep first)")
            group_by = args.group_by or manifest.group_by()
            out = args.out or Path(args.runs[0]) / "report"
            title = args.title or f"Study {manifest.name}"
        elif args.out is None:
            raise ValueError("compare needs --out DIR (the folder for the report) unless it is given one study "
                             "directory")
        else:
            runs, group_by, out, title = find_runs(args.runs), args.group_by, args.out, args.title
        paths = write_report(runs, out, title=title, group_by=group_by)
    print(f"compared {len(runs)} runs: {paths['html']} (open in a browser), {paths['markdown']}, {paths['table']}")
    return 0


def find_runs(paths: Sequence[Path]) -> List[Path]:
    """Run directories: each path that is one, and the run directories below each path that is not."""
    runs: List[Path] = []
    for path in paths:
        path = Path(path)
        if (path / "config.json").is_file():
            runs.append(path)
            continue
        if not path.is_dir():
            raise ValueError(f"{path} is not a run directory (expected a folder with config.json and metrics.json)")
        below = sorted(config.parent for config in path.rglob("config.json") if (config.parent / "metrics.json").exists())
        if not below:
            raise ValueError(f"{path} is not a run directory and holds none (expected folders with config.json and "
                             "metrics.json)")
        runs.extend(below)
    return runs


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    known = registries()
    parser = build_parser(list(known))
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    args = parser.parse_args(argv)
    if args.command == "list":
        return list_command(args, parser, known, out or sys.stdout)
    if args.command == "train":
        check_run_args(parser, args, default_out=False)
    commands = {"train": train_command, "evaluate": evaluate_command, "diagnose": diagnose_command,
                "compare": compare_command, "sweep": sweep_command}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        return 130
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        print(f"error: {type(error).__name__}: {_describe(error)} (run with --debug for the traceback)",
              file=sys.stderr)
        return FAILURE_STATUS


if __name__ == "__main__":
    sys.exit(main())
