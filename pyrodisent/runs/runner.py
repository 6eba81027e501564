"""Carry a run out: one code path for ``pyrodisent train``, the examples and Python.

:func:`prepare` turns a :class:`~pyrodisent.runs.spec.RunSpec` into data and a built model — every check
that can fail on bad input happens here, before a file is written. :func:`run` then opens the run
directory, trains (resuming from its checkpoint when asked), evaluates with the protocol, diagnoses the
posterior, trains the protocol's baselines when asked, and writes ``metrics.json`` with the pictures.
:func:`restore` reopens a finished run (its model at the last checkpoint) for ``evaluate`` and ``diagnose``.
:func:`run_data_parallel` is :func:`run` as one rank of a data-parallel run (``train --nproc N``, torchrun):
every rank trains, rank 0 alone opens the run directory, evaluates and writes.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from pyrodisent.evaluation.diagnostics import diagnose
from pyrodisent.protocols.base import ProtocolData, RunContext
from pyrodisent.protocols.settings import nested_update
from pyrodisent.runs.command_line import format_comparison, format_table
from pyrodisent.runs.spec import RESUMABLE_SETTINGS, ResolvedSpec, RunSpec
from pyrodisent.training.distributed import DistributedContext
from pyrodisent.training.run_directory import RunDirectory, RunDirectoryError
from pyrodisent.training.trainer import Trainer, TrainingResult

#: the folder below a run directory where the protocol's baselines are trained
BASELINES = "baselines"


class NotARunError(ValueError):
    """A path given as a run directory that holds no finished run."""


@dataclass
class PreparedRun:
    """A resolved spec with its data, the trainer's and the model's arguments, and the model built
    (its initial weights drawn under the spec's seed)."""

    resolved: ResolvedSpec
    data: ProtocolData
    training: Dict[str, Any]
    model_arguments: Dict[str, Any]
    model: Any
    baselines: Dict[str, "PreparedRun"] = field(default_factory=dict)

    def config(self) -> Dict[str, Any]:
        return self.resolved.config(self.data.config, self.model_arguments, self.training)

    def title(self) -> str:
        return self.resolved.protocol.title(self.resolved.model, self.resolved.seed)


def prepare(spec: RunSpec | ResolvedSpec, data: Optional[ProtocolData] = None,
            with_baselines: bool = True) -> PreparedRun:
    """Resolve ``spec``, load the protocol's data (unless given) and build the model — and the protocol's
    baselines when its ``baselines`` setting is on (and ``with_baselines``). Raises on bad input; writes
    nothing."""
    from pyrodisent.registry import MODELS

    resolved = spec.resolve() if isinstance(spec, RunSpec) else spec
    protocol = resolved.protocol
    if data is None:
        data = protocol.load(resolved.model, resolved.seed)
    training = protocol.training_arguments(dict(resolved.training), data, resolved.model)
    arguments = nested_update(protocol.model_arguments(resolved.model, data, training), resolved.model_settings)
    model = MODELS.build(resolved.model, seed=resolved.seed, **arguments)
    prepared = PreparedRun(resolved, data, training, arguments, model)
    if with_baselines and getattr(protocol, "baselines", False) is True:
        for prefix, name in protocol.baseline_models.items():
            prepared.baselines[prefix] = prepare(resolved.for_model(name), data, with_baselines=False)
    return prepared


def run(spec: RunSpec | PreparedRun, out, resume: bool = False, overwrite: bool = False, device: str = "auto",
        progress: bool = True, file=None, distributed: Optional[DistributedContext] = None) -> Dict[str, Any]:
    """Train, evaluate and diagnose one run into the directory ``out``; return its metrics.

    :param spec: a spec (prepared here) or a run :func:`prepare` returned.
    :param resume: continue the run in ``out`` from its checkpoint (only ``RESUMABLE_SETTINGS`` may differ).
    :param overwrite: replace the run in ``out``.
    :param file: where the closing table is printed (default: stdout).
    :param distributed: this process's rank in a data-parallel run: every rank trains; rank 0 alone writes
        the run directory, evaluates and returns the metrics (the other ranks return an empty dict).
    """
    started = time.perf_counter()
    prepared = spec if isinstance(spec, PreparedRun) else prepare(spec)
    if distributed is not None:
        failure = None
        if distributed.is_main:
            try:
                run_dir = RunDirectory(out).create(prepared.config(), resume=resume, overwrite=overwrite,
                                                   may_change=RESUMABLE_SETTINGS)
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"
                distributed.broadcast_object(failure)
                raise
        failure = distributed.broadcast_object(failure)
        if failure is not None:
            raise RunDirectoryError(f"rank 0 could not open the run directory {out}: {failure}")
        if not distributed.is_main:  # trains its share; reads the checkpoint on resume, writes nothing
            build_trainer(prepared, RunDirectory(out), device=device, progress=False,
                          distributed=distributed).fit(resume=resume)
            return {}
    else:
        run_dir = RunDirectory(out).create(prepared.config(), resume=resume, overwrite=overwrite,
                                           may_change=RESUMABLE_SETTINGS)
    try:
        metrics = train_and_evaluate(prepared, run_dir, device=device, progress=progress, resume=resume,
                                     distributed=distributed)
        metrics["run_seconds"] = time.perf_counter() - started  # data, training, evaluation
        metrics["peak_rss_gb"] = peak_rss_gb()
        if prepared.baselines:
            metrics.update(train_baselines(prepared, run_dir, metrics, device=device, progress=progress, file=file))
        finish_run(run_dir, metrics, prepared.title(), file=file)
    finally:
        run_dir.release()
    return metrics


def train_and_evaluate(prepared: PreparedRun, run_dir: RunDirectory, device: str = "auto", progress: bool = True,
                       resume: bool = False, distributed: Optional[DistributedContext] = None) -> Dict[str, Any]:
    """Train the prepared model into ``run_dir`` and return its metrics (evaluation and diagnosis)."""
    trainer = build_trainer(prepared, run_dir, device=device, progress=progress, distributed=distributed)
    result = trainer.fit(resume=resume)
    return evaluate_model(prepared, run_dir, result, device=str(trainer.device), progress=progress)


def build_trainer(prepared: PreparedRun, run_dir: Optional[RunDirectory], device: str = "auto",
                  progress: bool = True, distributed: Optional[DistributedContext] = None) -> Trainer:
    """The prepared run's trainer (``num_threads`` sets torch's CPU threads for what follows), with the
    protocol's training callbacks."""
    arguments = dict(prepared.training)
    threads = arguments.pop("num_threads", None)
    if threads:
        torch.set_num_threads(threads)
    callbacks = prepared.resolved.protocol.training_callbacks(prepared.data, prepared.resolved.seed)
    return Trainer(prepared.model, prepared.data.train, seed=prepared.resolved.seed, run_dir=run_dir, device=device,
                   progress=progress, callbacks=callbacks, distributed=distributed, **arguments)


def evaluate_model(prepared: PreparedRun, run_dir: RunDirectory, result: TrainingResult, device: str = "cpu",
                   progress: bool = False) -> Dict[str, Any]:
    """The protocol's metrics and pictures, then (unless the protocol diagnoses itself or
    ``diagnosis_points`` is 0) the posterior diagnosis: inference_data.nc, khat.png, global_summary.csv."""
    resolved = prepared.resolved
    protocol = resolved.protocol
    context = RunContext(model_name=resolved.model, seed=resolved.seed, settings=protocol.values,
                         training=prepared.training, run=run_dir, result=result, device=device, progress=progress)
    metrics = protocol.evaluate(prepared.model, prepared.data, context)
    metrics.update(diagnose_model(prepared, run_dir))
    return metrics


def diagnose_model(prepared: PreparedRun, run_dir: RunDirectory, **sizes: int) -> Dict[str, float]:
    """The posterior diagnosis with the protocol's sizes (``sizes`` override them: num_draws, num_obs,
    num_samples); nothing when the protocol has none or its ``diagnosis_points`` is 0."""
    protocol = prepared.resolved.protocol
    if not protocol.diagnosis:
        return {}
    chosen = dict(num_draws=protocol.diagnosis_draws, num_obs=protocol.diagnosis_points,
                  num_samples=protocol.diagnosis_samples)
    chosen.update(sizes)
    if chosen["num_obs"] == 0:
        return {}
    return diagnose(prepared.model, protocol.diagnosis_data(prepared.data), run_dir, khat_num_obs=chosen["num_obs"],
                    seed=prepared.resolved.seed, **chosen)


def train_baselines(prepared: PreparedRun, run_dir: RunDirectory, metrics: Mapping[str, Any], device: str = "auto",
                    progress: bool = True, file=None) -> Dict[str, Any]:
    """Train each of the protocol's baselines into ``baselines/<model>``; their metrics by prefix
    (``vae_mcc``), and a table of the main model beside them."""
    table = {prepared.resolved.model: dict(metrics)}
    prefixed: Dict[str, Any] = {}
    for prefix, baseline in prepared.baselines.items():
        name = baseline.resolved.model
        baseline_dir = RunDirectory(run_dir.path / BASELINES / name).create(baseline.config(), overwrite=True)
        try:
            baseline_metrics = train_and_evaluate(baseline, baseline_dir, device=device, progress=progress)
            baseline_dir.write_metrics(baseline_metrics)
        finally:
            baseline_dir.release()
        table[name] = baseline_metrics
        prefixed.update({f"{prefix}_{key}": value for key, value in baseline_metrics.items()})
    columns = prepared.resolved.protocol.comparison_columns
    if columns:
        print(format_comparison(table, columns, f"{prepared.resolved.model} against its baselines"),
              file=file or sys.stdout)
    return prefixed


def finish_run(run_dir: RunDirectory, metrics: Mapping[str, Any], title: str, file=None) -> None:
    """Write ``metrics.json``, draw the training curve, print a short table, release the run directory."""
    import pyrodisent.figures.plots as plots  # looked up at call time (the fault-injection tests hook it)

    run_dir.write_metrics(metrics)
    if run_dir.log_path.exists():
        plots.plot_training_log(run_dir.log_path, run_dir.file("training_log.png"))
    print(format_table(metrics, title), file=file or sys.stdout)
    print(f"run directory: {run_dir.path}", file=file or sys.stdout)
    run_dir.release()


def restore(path, device: str = "auto") -> Tuple[PreparedRun, Trainer, RunDirectory]:
    """A finished run's prepared spec, its trainer at the last checkpoint, and its (unlocked) directory.
    Raises :class:`NotARunError` for a folder that holds no run or an unfinished one; writes nothing."""
    run_dir = RunDirectory(path)
    if not Path(path).is_dir() or not run_dir.exists():
        raise NotARunError(f"{path} is not a run directory (expected a folder with config.json and checkpoint.pt, "
                           "written by pyrodisent train or an example)")
    if not run_dir.checkpoint_path.exists():
        raise NotARunError(f"{path} is not a run directory with a trained model: it has no checkpoint.pt (its "
                           "training stopped before the first epoch ended; continue it with train --resume)")
    prepared = prepare(RunSpec.from_mapping(run_dir.read_config(), source=str(run_dir.config_path)))
    trainer = build_trainer(prepared, None, device=device, progress=False)
    trainer.load_checkpoint(run_dir.checkpoint_path)
    if trainer.epoch < trainer.epochs:
        raise NotARunError(f"{path} is not a run directory of a finished run: training stopped after epoch "
                           f"{trainer.epoch} of {trainer.epochs}; finish it with pyrodisent train --config "
                           f"{run_dir.config_path} --out {path} --resume")
    trainer.model.eval()
    return prepared, trainer, run_dir


def run_data_parallel(spec: RunSpec, out, resume: bool = False, overwrite: bool = False, device: str = "auto",
                      progress: bool = True) -> Dict[str, Any]:
    """:func:`run` as one rank of the process group the environment describes (torchrun's variables, or
    :func:`pyrodisent.training.distributed.launch`); the rank's torch threads are its share of the cores."""
    import os

    from pyrodisent.training.distributed import finish, initialise

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("WORLD_SIZE", "1"))))
    context = initialise(device)
    try:
        return run(spec, out, resume=resume, overwrite=overwrite, device=str(context.device),
                   progress=progress and context.is_main, distributed=context)
    finally:
        finish()


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GB (10⁹ bytes; Linux reports KiB, macOS bytes; NaN
    where the standard library cannot tell, e.g. on Windows)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e9
