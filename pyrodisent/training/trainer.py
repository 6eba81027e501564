"""The SVI trainer: any model of the zoo, any dataset, CPU or GPU. It knows no model.

One step: ``loss, terms = objective(model.model, model.guide, batch)``, backward, optimizer step,
then one step of each of the model's auxiliary objectives (e.g. a discriminator with its own Adam).

Parameters are collected as Pyro's SVI does: besides the model's ``nn.Module`` parameters, every
Pyro parameter that a first trace of model and guide touches — ``pyro.param`` in a prior or a global
site, a Pyro AutoGuide's lazily created parameters — is optimised, checkpointed and resumed. That
trace runs once, when the trainer is built (before the optimizer exists and before a checkpoint is
loaded), on the loader's first minibatch, and leaves every random-number generator as it found it.

Around it: device placement, seeds, KL annealing progress, learning-rate schedules, a tqdm progress
bar, a per-epoch CSV log, checkpoints after every epoch (model, optimizer, scheduler, the collected
Pyro parameters, the auxiliary optimizers and their second-minibatch stream, every random-number
generator, the loader's shuffling state), exact resume, and a guard that
stops on a NaN/inf loss — or a loss that has diverged, ``divergence_factor`` times the first step's —
naming the step and keeping the last good checkpoint. A checkpoint is written only for a state
verified finite: its parameters are finite and so is the loss it gives on a check batch (the first
minibatch of the data in order, evaluated without gradients and leaving every generator as it was),
so a step that blows the weights up never reaches the checkpoint, whichever batch of an epoch it is.
On resume the learning rate and gradient clipping may differ from the checkpoint's: the schedule is
rescaled to the new learning rate.

Data-parallel (``distributed=``, :mod:`pyrodisent.training.distributed`): every rank steps through the same
global minibatches, trains on its share of each, and the ranks' gradients are combined before the step —
the single-process step on the global batch; rank 0 alone writes the log and the checkpoints.
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pyro
import pyro.util
import torch
from pyro import poutine
from tqdm.auto import tqdm

from pyrodisent.training.auxiliary import IndependentMinibatches
from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.training.devices import resolve_device, set_seed
from pyrodisent.training.distributed import DistributedContext
from pyrodisent.infer.elbo import MeanFieldELBO, build_objective
from pyrodisent.training.run_directory import CsvLog, RunDirectory, atomic_write_bytes

LR_SCHEDULES = ("none", "plateau", "cosine")
CHECKPOINT_FORMAT = 3  # 2: Pyro parameters by name, auxiliary optimizers; 3: their second-minibatch stream (pass, position)


def build_adam(parameters, lr: float, weight_decay: float = 0.0, device: torch.device | None = None,
               betas=(0.9, 0.999)):
    """Adam; the fused kernel on CPU and CUDA (one kernel for all parameters instead of a loop over
    tensors, which dominates the optimizer's time on small networks; on CPU it needs torch >= 2.4)."""
    fused = device is not None and device.type in ("cpu", "cuda")
    return torch.optim.Adam(parameters, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=fused)


def collect_pyro_parameters(model, batch) -> Dict[str, torch.Tensor]:
    """The Pyro parameters (by param-store name, unconstrained tensors) that one trace of ``model.guide``
    and ``model.model`` on ``batch`` touches — the parameters Pyro's SVI would optimise — less those
    that are already parameters of the ``nn.Module`` ``model``.

    Runs with validation on, so a shape mistake is named here, and leaves every random-number
    generator as it found it.
    """
    rng = pyro.util.get_rng_state()
    try:
        with pyro.validation_enabled(True), poutine.trace(param_only=True) as capture:
            MeanFieldELBO.traces(model.model, model.guide, batch)
    finally:
        pyro.util.set_rng_state(rng)
    # after the trace: a PyroModule (an AutoGuide) attached to the model has created its parameters now
    own = {id(p) for p in model.parameters()} if isinstance(model, torch.nn.Module) else set()
    found: Dict[str, torch.Tensor] = {}
    for name, site in capture.trace.nodes.items():
        if site["type"] != "param":
            continue
        value = site["value"]
        unconstrained = value.unconstrained() if hasattr(value, "unconstrained") else value
        if id(unconstrained) in own or id(value) in own or not unconstrained.requires_grad:
            continue
        found[name] = unconstrained
    return found


def _generator_seed(seed: int, stream: int) -> int:
    """A seed for an independent random stream ``stream`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message names the step and the last good checkpoint."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model being trained."""


@dataclass
class TrainingResult:
    """What :meth:`Trainer.fit` returns: one dict per epoch, wall time and step count."""

    history: List[Dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    steps: int = 0

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else math.nan


class Trainer:
    """Stochastic variational inference for a :class:`~pyrodisent.model.LatentVariableModel`.

    :param model: the model (its ``model``/``guide`` methods are the Pyro programs).
    :param data: the training set.
    :param epochs: passes over the data.
    :param batch_size: minibatch size.
    :param lr: Adam learning rate.
    :param lr_schedule: ``none``, ``plateau`` (×``plateau_factor`` when the epoch loss stops improving
        for ``plateau_patience`` epochs, as the official iVAE code) or ``cosine`` (to 0 over training).
    :param objective: ``auto`` (the model's ``training_objective()``: the ELBO, or its regularised form),
        ``meanfield`` (analytic KL where available), ``trace`` (Pyro Trace_ELBO) or ``trace_meanfield``
        (Pyro TraceMeanField_ELBO); or a callable ``(model, guide, batch) → (loss, terms)``.
    :param seed: seeds the randomness of training — every generator from here on, the loader's
        shuffling, the second minibatches of auxiliary objectives. The networks' initial weights were
        drawn when the model was built: seed that (``MODELS.build(name, seed=...)`` or
        :func:`pyrodisent.set_seed` before building) for the same result from the same script.
    :param run_dir: where the CSV log and checkpoints go (None: nothing is written).
    :param device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
    :param grad_clip: clip the global gradient norm to this value (None: no clipping).
    :param divergence_factor: stop when a step's loss per point exceeds this many times the first
        step's in magnitude (at least 1 nat): training has diverged, long before float32 overflows.
    :param callbacks: functions ``(trainer, epoch, row)`` called after each epoch's log row is written.
    :param progress: show a tqdm progress bar.
    :param parameters: the parameters to optimise (default: the model's ``parameter_groups(lr)`` and the
        Pyro parameters of its model and guide, those at ``lr × model.global_lr_factor``); the others stay fixed.
    :param distributed: this process's rank in a data-parallel run (its device replaces ``device``); None:
        one process.
    """

    def __init__(
        self,
        model,
        data: ArrayDataset,
        *,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        lr_schedule: str = "none",
        plateau_factor: float = 0.1,
        plateau_patience: int = 0,
        objective: str | Callable = "auto",
        num_particles: int = 1,
        seed: int = 0,
        run_dir: Optional[RunDirectory] = None,
        device: str | torch.device | None = "auto",
        grad_clip: Optional[float] = None,
        divergence_factor: float = 1e6,
        weight_decay: float = 0.0,
        callbacks: Sequence[Callable] = (),
        progress: bool = True,
        parameters: Optional[Sequence[torch.nn.Parameter]] = None,
        distributed: Optional[DistributedContext] = None,
    ):
        if epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {epochs}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr}")
        if grad_clip is not None and not (math.isfinite(grad_clip) and grad_clip > 0):
            raise ValueError(f"grad_clip must be a finite number > 0 or None, got {grad_clip}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        num_data = getattr(model, "num_data", None)
        if num_data is not None and num_data != len(data):
            raise ValueError(
                f"model.num_data is {num_data} but the training set has {len(data)} points: the data plate must "
                "be sized to the full training set for unbiased minibatch ELBOs"
            )
        shape = getattr(model, "observation_shape", None)
        if shape is not None and tuple(shape) != data.observation_shape:
            raise ValueError(f"model expects observations of shape {tuple(shape)}, the data has {data.observation_shape}")
        self.distributed = distributed
        if distributed is not None:
            distributed.check_batches(len(data), batch_size)
            progress = progress and distributed.is_main
        self.device = distributed.device if distributed is not None else resolve_device(device)
        self.model = model.to(self.device)
        self.data = data.to(self.device)
        self.epochs = epochs
        self.seed = seed
        self.run_dir = run_dir
        self.grad_clip = grad_clip
        self.lr = lr
        self.divergence_factor = divergence_factor
        self.reference_loss: Optional[float] = None  # the first step's loss per point
        self.checkpoint_epoch: Optional[int] = None  # the epoch of the checkpoint written or loaded last
        self.callbacks = list(callbacks)
        self.progress = progress
        if objective == "auto":
            objective = (model.training_objective(num_particles) if hasattr(model, "training_objective")
                         else "meanfield")
        self.objective = build_objective(objective, num_particles) if isinstance(objective, str) else objective
        set_seed(seed)
        self.loader = self.data.loader(batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
        # Pyro parameters are created lazily: one trace before the optimizer exists, as SVI does.
        self.pyro_parameters = collect_pyro_parameters(self.model, self._first_batch())
        if distributed is not None:  # every rank starts from rank 0's weights
            distributed.broadcast_parameters([*self.model.parameters(), *self.model.buffers(),
                                              *self.pyro_parameters.values()])
        auxiliary = list(self.model.auxiliary_objectives()) if hasattr(self.model, "auxiliary_objectives") else []
        names = [objective.name for objective in auxiliary]
        if len(set(names)) != len(names):
            raise ValueError(f"auxiliary objectives need distinct names, got {names}")
        auxiliary_ids = {id(p) for objective in auxiliary for p in objective.parameters}
        if parameters is not None:
            groups = [{"params": list(parameters), "lr": lr}]
        else:
            groups = (self.model.parameter_groups(lr) if hasattr(self.model, "parameter_groups")
                      else [{"params": list(self.model.parameters()), "lr": lr}])
            grouped = {id(p) for group in groups for p in group["params"]}
            created = [p for p in self.pyro_parameters.values() if id(p) not in grouped]
            if created:
                groups = groups + [{"params": created, "lr": lr * getattr(self.model, "global_lr_factor", 1.0)}]
        groups = [{**group, "params": [p for p in group["params"] if id(p) not in auxiliary_ids]} for group in groups]
        groups = [group for group in groups if group["params"]]
        if not groups:
            raise ValueError("no parameters to optimise")
        self.optimizer = build_adam(groups, lr=lr, weight_decay=weight_decay, device=self.device)
        self.optimized_parameters = [p for group in groups for p in group["params"]]
        self.auxiliary = [
            (objective, build_adam(objective.parameters, lr=objective.lr, betas=objective.betas,
                                   weight_decay=objective.weight_decay, device=self.device))
            for objective in auxiliary
        ]
        self.second_batches = IndependentMinibatches(
            self.data, self.loader.batch_size, torch.Generator().manual_seed(_generator_seed(seed, 1)))
        self.lr_schedule = lr_schedule
        if lr_schedule == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=plateau_factor, patience=plateau_patience
            )
        elif lr_schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs)
        else:
            self.scheduler = None
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: List[Dict[str, float]] = []

    def _first_batch(self):
        """The loader's first minibatch, without advancing its shuffling."""
        state = self.loader.generator.get_state()
        try:
            return next(iter(self.loader))
        finally:
            self.loader.generator.set_state(state)

    def second_batch(self):
        """A minibatch of ``batch_size`` distinct points drawn independently of the epoch's shuffling
        (:class:`~pyrodisent.training.auxiliary.IndependentMinibatches`), for auxiliary objectives that need a
        second sample x' ~ p_data; the stream is checkpointed."""
        return self.second_batches.next()

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "model_class": type(self.model).__name__,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "loader_generator": self.loader.generator.get_state(),
            "rng": pyro.util.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "pyro_parameters": {name: value.detach() for name, value in self.pyro_parameters.items()},
            "auxiliary_optimizers": {objective.name: optimizer.state_dict() for objective, optimizer in self.auxiliary},
            "second_batches": self.second_batches.state_dict(),
            "settings": {"lr": self.lr, "grad_clip": self.grad_clip},
            "reference_loss": self.reference_loss,
        }

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory (one process, or rank 0 of several)."""
        return self.run_dir is not None and (self.distributed is None or self.distributed.is_main)

    def save_checkpoint(self) -> None:
        if not self.writes:
            return
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        atomic_write_bytes(self.run_dir.checkpoint_path, buffer.getvalue())
        self.checkpoint_epoch = self.epoch

    def load_checkpoint(self, path) -> None:
        """Restore everything :meth:`state_dict` saved; clear errors for unreadable or foreign files."""
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except FileNotFoundError:
            raise CheckpointError(f"no checkpoint at {path}: nothing to resume") from None
        except Exception as error:
            raise CheckpointError(f"checkpoint {path} could not be read ({type(error).__name__}: {error})") from error
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not a pyrodisent checkpoint (format {CHECKPOINT_FORMAT} expected)")
        if state["model_class"] != type(self.model).__name__:
            raise CheckpointError(
                f"checkpoint {path} holds a {state['model_class']}, but the model being trained is a "
                f"{type(self.model).__name__}"
            )
        own = self.model.state_dict()
        saved = {**self.model.optional_state(), **state["model"]}
        missing = sorted(set(own) - set(saved))
        unexpected = sorted(set(saved) - set(own))
        mismatched = sorted(k for k in set(own) & set(saved) if own[k].shape != saved[k].shape)
        if missing or unexpected or mismatched:
            details = "; ".join(
                part for part in (
                    f"missing {missing[:5]}" if missing else "",
                    f"unexpected {unexpected[:5]}" if unexpected else "",
                    ", ".join(f"{k}: saved {tuple(saved[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched[:5]),
                ) if part
            )
            raise CheckpointError(f"checkpoint {path} does not fit this model: {details}")
        saved_pyro = state["pyro_parameters"]
        if set(saved_pyro) != set(self.pyro_parameters) or any(
                saved_pyro[k].shape != v.shape for k, v in self.pyro_parameters.items()):
            raise CheckpointError(
                f"checkpoint {path} holds Pyro parameters {sorted((k, tuple(v.shape)) for k, v in saved_pyro.items())}, "
                f"but the model and guide create {sorted((k, tuple(v.shape)) for k, v in self.pyro_parameters.items())}"
            )
        saved_auxiliary = state["auxiliary_optimizers"]
        if set(saved_auxiliary) != {objective.name for objective, _ in self.auxiliary}:
            raise CheckpointError(
                f"checkpoint {path} holds optimizers of auxiliary objectives {sorted(saved_auxiliary)}, but the model "
                f"has {sorted(objective.name for objective, _ in self.auxiliary)}"
            )
        self.model.load_state_dict(saved)
        with torch.no_grad():
            for name, value in self.pyro_parameters.items():
                value.copy_(saved_pyro[name])  # in place: the optimizer holds these tensors
        self.optimizer.load_state_dict(self._regrouped_optimizer_state(state["optimizer"], path))
        for objective, optimizer in self.auxiliary:
            optimizer.load_state_dict(saved_auxiliary[objective.name])
        self.second_batches.load_state_dict(state["second_batches"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step, self.history = state["epoch"], state["step"], list(state["history"])
        self.loader.generator.set_state(state["loader_generator"])
        pyro.util.set_rng_state(state["rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.model.set_training_step(self.step)
        self.reference_loss = state.get("reference_loss")
        self.checkpoint_epoch = self.epoch
        saved_lr = state.get("settings", {}).get("lr", self.lr)
        if saved_lr != self.lr:  # resumed with another --lr: the whole schedule scales with it
            self._rescale_learning_rate(self.lr / saved_lr)

    def _regrouped_optimizer_state(self, saved: Dict[str, Any], path) -> Dict[str, Any]:
        """A saved optimizer state of one parameter group — written before the model trained some of its parameters
        at another rate (:meth:`~pyrodisent.model.LatentVariableModel.global_parameters`, e.g. CLAP's since stop 38)
        — spread over this optimizer's groups: each parameter keeps its Adam moments, each group the saved
        learning rate times its own factor. Any other state is returned as it is (torch checks it)."""
        current = self.optimizer.state_dict()["param_groups"]
        if len(saved["param_groups"]) != 1 or len(current) == 1:
            return saved
        optimized = {id(p) for p in self.optimized_parameters}
        order = [p for p in self.model.parameters() if id(p) in optimized]  # the one group's order
        if len(saved["param_groups"][0]["params"]) != len(self.optimized_parameters) or len(order) != len(optimized):
            return saved
        if self.scheduler is not None:
            raise CheckpointError(f"checkpoint {path} trained every parameter in one optimizer group; this model "
                                  f"trains {len(current)} groups, and this trainer's learning-rate schedule cannot be "
                                  "spread over them (resume without a schedule)")
        old_index = {id(p): i for i, p in enumerate(order)}
        group, saved_state = saved["param_groups"][0], saved["state"]
        state, groups, index = {}, [], 0
        for own in self.optimizer.param_groups:
            factor = own["lr"] / self.lr
            params = []
            for p in own["params"]:
                if old_index[id(p)] in saved_state:
                    state[index] = saved_state[old_index[id(p)]]
                params.append(index)
                index += 1
            groups.append({**group, "lr": group["lr"] * factor, "params": params})
        return {"state": state, "param_groups": groups}

    def _rescale_learning_rate(self, factor: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] *= factor
            if "initial_lr" in group:
                group["initial_lr"] *= factor
        if self.scheduler is not None and hasattr(self.scheduler, "base_lrs"):
            self.scheduler.base_lrs = [lr * factor for lr in self.scheduler.base_lrs]
        if self.scheduler is not None and hasattr(self.scheduler, "_last_lr"):
            self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _check_batch(self):
        """The first minibatch of the data in order: where each epoch's final state is checked."""
        return next(iter(self.data.loader(self.loader.batch_size, shuffle=False)))

    def verify_state(self) -> None:
        """Raise :class:`NonFiniteLossError` unless the parameters are finite and the loss on the check
        batch is finite and within the divergence bound; no gradients, every generator left as it was."""
        bad = [name for name, value in self.model.named_parameters() if not torch.isfinite(value).all()]
        # buffers may hold inf by design (GPyTorch's constraint bounds); NaN in one is a broken state
        bad += [name for name, value in self.model.named_buffers() if value.is_floating_point() and value.isnan().any()]
        bad += [name for name, value in self.pyro_parameters.items() if not torch.isfinite(value).all()]
        loss_value = math.nan
        if not bad:
            rng = pyro.util.get_rng_state()
            cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
            try:
                self.model.set_training_step(self.step)
                with torch.no_grad(), pyro.validation_enabled(False):  # NaN parameters of q or p: a NaN loss
                    loss, _ = self.objective(self.model.model, self.model.guide, self._check_batch())
                loss_value = float(loss)
                if self.distributed is not None:  # the ranks' noise differs: decide on their mean, together
                    loss_value = float(self.distributed.combine(loss.detach(), 1.0 / self.distributed.world_size))
            finally:
                pyro.util.set_rng_state(rng)
                if cuda_rng is not None:
                    torch.cuda.set_rng_state_all(cuda_rng)
        bound = self.divergence_factor * max(abs(self.reference_loss or 0.0), 1.0)
        if bad or not math.isfinite(loss_value) or abs(loss_value / len(self.data)) > bound:
            what = (f"parameters {bad[:5]} hold NaN or inf" if bad else
                    f"the loss on the check batch is {loss_value:.6g}, {abs(loss_value / len(self.data)):.3g} per "
                    f"point against the first step's {self.reference_loss or math.nan:.4g}")
            raise NonFiniteLossError(
                f"after epoch {self.epoch} (step {self.step}) {what}: the last update blew the weights up; training "
                f"stopped and {self._kept_checkpoint()}. {self._advice()}")

    def _kept_checkpoint(self) -> str:
        last = self.run_dir.checkpoint_path if self.run_dir is not None else None
        if last is None or not last.exists():
            return "no checkpoint was written"
        epoch = self.checkpoint_epoch if self.checkpoint_epoch is not None else "of an earlier run"
        return f"the last good checkpoint (epoch {epoch}, {last}) is kept"

    def _advice(self) -> str:
        return ("Lower the learning rate or clip gradients (grad_clip; the examples' --resume --lr … --grad-clip … "
                "continue from the last good checkpoint), or check the data.")

    # ------------------------------------------------------------------ training
    def fit(self, resume: bool = False) -> TrainingResult:
        """Train until ``epochs``; with ``resume``, continue from the run directory's checkpoint."""
        if resume:
            if self.run_dir is None:
                raise ValueError("resume=True needs a run_dir holding a checkpoint")
            if self.run_dir.checkpoint_path.exists() or self.run_dir.log_path.exists():
                self.load_checkpoint(self.run_dir.checkpoint_path)
            # else: stopped before its first checkpoint; starting over is exactly what it would have done
        log = None
        if self.writes:
            log = CsvLog(self.run_dir.log_path, rows=self.history)  # the checkpoint's rows (none on a fresh run)
        start = time.perf_counter()
        elapsed_before = self.history[-1]["seconds"] if self.history else 0.0
        total_steps = self.epochs * len(self.loader)
        bar = tqdm(total=total_steps, initial=self.step, disable=not self.progress, unit="step", dynamic_ncols=True,
                   desc=type(self.model).__name__)
        self.model.train()
        try:
            while self.epoch < self.epochs:
                if self.distributed is not None:  # each rank's own noise, reproducible from (seed, epoch, rank)
                    pyro.set_rng_seed(self.distributed.noise_seed(self.seed, self.epoch))
                row = self._train_epoch(bar, start, elapsed_before)
                self.history.append(row)
                self.epoch += 1
                if self.scheduler is not None:
                    if self.lr_schedule == "plateau":
                        self.scheduler.step(row["loss"])
                    else:
                        self.scheduler.step()
                self.verify_state()
                self.save_checkpoint()
                if log is not None:
                    log.append(row)
                bar.set_postfix(epoch=self.epoch, loss=f"{row['loss']:.4g}")
                for callback in self.callbacks:
                    callback(self, self.epoch, row)
        finally:
            bar.close()
            self.model.eval()
        seconds = elapsed_before + time.perf_counter() - start
        return TrainingResult(history=list(self.history), train_seconds=seconds, steps=self.step)

    def train_step(self, batch, batch_in_epoch: int = 0):
        """One SVI step on ``batch``: returns the loss (a float) and its detached parts. Data-parallel, ``batch``
        is the global minibatch: this rank trains on its share and the ranks' gradients, loss and parts
        are combined with weights share / batch (see :mod:`pyrodisent.training.distributed`)."""
        weight = 1.0
        if self.distributed is not None:
            local = self.data.batch(self.distributed.shard(batch.index))
            weight = local.size / batch.size
            batch = local
        self.model.set_training_step(self.step)
        # Validate shapes and supports on the run's first step; then run without checks for speed.
        with pyro.validation_enabled(self.step == 0):
            loss, terms = self.objective(self.model.model, self.model.guide, batch)
        if self.distributed is not None:
            loss_value = float(self.distributed.combine(loss.detach(), weight))
            terms = {name: self.distributed.combine(torch.as_tensor(value), weight).float()
                     for name, value in terms.items()}
        else:
            loss_value = float(loss.detach())
        per_point = loss_value / len(self.data)
        if self.reference_loss is None and math.isfinite(per_point):
            self.reference_loss = per_point
        bound = self.divergence_factor * max(abs(self.reference_loss or 0.0), 1.0)
        if not math.isfinite(loss_value) or abs(per_point) > bound:
            what = ("" if not math.isfinite(loss_value) else
                    f", {abs(per_point):.3g} per point against the first step's {self.reference_loss:.4g}: training "
                    f"diverged (the bound is {self.divergence_factor:g} times that, at least 1 nat)")
            raise NonFiniteLossError(
                f"loss became {loss_value:.6g} at step {self.step} (epoch {self.epoch + 1}, batch {batch_in_epoch + 1})"
                f"{what}; training stopped and {self._kept_checkpoint()}. {self._advice()}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.distributed is not None:
            self.distributed.combine_gradients(self.optimized_parameters, weight)
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.optimized_parameters, self.grad_clip)
        self.optimizer.step()
        for objective, optimizer in self.auxiliary:
            auxiliary_loss = (objective.loss(batch, self.second_batch()) if objective.second_batch
                              else objective.loss(batch))
            optimizer.zero_grad(set_to_none=True)
            auxiliary_loss.backward()
            if self.distributed is not None:
                self.distributed.combine_gradients(objective.parameters, weight)
            optimizer.step()
        if hasattr(self.model, "after_step"):
            self.model.after_step(batch, terms)
        self.step += 1
        return loss_value, terms

    def _train_epoch(self, bar, start: float, elapsed_before: float) -> Dict[str, float]:
        totals: Dict[str, torch.Tensor] = {}
        loss_sum = 0.0
        num_batches = 0
        for batch in self.loader:
            loss_value, terms = self.train_step(batch, num_batches)
            loss_sum += loss_value
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value
            num_batches += 1
            bar.update(1)
        num_data = len(self.data)
        row = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "loss": loss_sum / num_batches / num_data,  # per data point: comparable across batch sizes
            **{name: float(value) / num_batches / num_data for name, value in totals.items()},
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": elapsed_before + time.perf_counter() - start,
        }
        return row


def fit_subset(model, data: ArrayDataset, parameters: Sequence[torch.nn.Parameter], rows: Optional[torch.Tensor] = None,
               **trainer_args) -> TrainingResult:
    """Fit only ``parameters`` (and, with ``rows``, only those rows of each) on ``data``, all else frozen.

    Used to adapt a trained model to new data — e.g. the shifts of held-out actions on their cells.
    The model's data plate is resized to ``len(data)`` for the fit and restored afterwards. The model's
    other parameters stop requiring gradients for the fit (so backward does not run through networks
    that stay fixed) and are restored afterwards, also when the fit fails; the parameters of the model's
    auxiliary objectives, which the trainer steps with their own optimizers, keep theirs.

    :param rows: indices along the first dimension of every parameter that may change.
    """
    fitted = {id(p) for p in parameters}
    if hasattr(model, "auxiliary_objectives"):
        fitted |= {id(p) for objective in model.auxiliary_objectives() for p in objective.parameters}
    frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in fitted]
    hooks = []
    if rows is not None:
        for parameter in parameters:
            keep = torch.zeros(parameter.shape[0], *([1] * (parameter.dim() - 1)), device=parameter.device)
            keep[rows] = 1.0
            hooks.append(parameter.register_hook(lambda grad, keep=keep: grad * keep))
    saved_num_data = model.num_data
    model.num_data = len(data)
    try:
        for parameter in frozen:
            parameter.requires_grad_(False)
        return Trainer(model, data, parameters=parameters, **trainer_args).fit()
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
        model.num_data = saved_num_data
        for hook in hooks:
            hook.remove()
