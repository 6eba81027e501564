"""Sparse mechanism shift (Lopez et al. 2023, sVAE+ §5): cells under perturbations (actions), each action
shifting a sparse set of latents; counts (or Gaussian observations) decoded from the latents.

Scored on the training actions by MCC, Spearman MCC and linear R² of the latents, and, for models that
infer which latents each action moves, the target F1 / precision / recall against the true targets.
Held-out actions follow the transfer protocol of the paper: their shifts (and masks) are fitted on half
of their cells, and the held-out ELBO and IWAE (with the share of their cells whose PSIS k̂ > 0.7) are
scored on the other half. Every scored cell's posterior is first refined from the encoder's output
(semi-amortised inference, :mod:`pyrodisent.evaluation.refinement`; ``refine_steps`` 0 scores the
encoder's own guide). The posterior diagnosis (inference_data.nc, khat.png, global_summary.csv, with
``reference_cells`` a NUTS check, reference_check.csv) runs on ``eval_cells`` training cells.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Dict

import numpy as np
import pandas as pd
import torch

from pyrodisent.data.sparse_shift import SparseShiftSimulation
from pyrodisent.evaluation import diagnostics
from pyrodisent.evaluation.diagnostics import MIN_IMPORTANCE_SAMPLES, khat_summary, psis_khat
from pyrodisent.evaluation.reference_posterior import (REFERENCE_TABLE, ReferencePosterior, reference_check,
                                                       summarize_check)
from pyrodisent.evaluation.refinement import RefinedPosterior, refined_posterior
from pyrodisent.evaluation.scoring import encode, importance_weighted_evaluation
from pyrodisent.figures.plots import plot_target_matrices
from pyrodisent.metrics import aligned_targets, linear_r2, mcc, target_scores
from pyrodisent.protocols.base import ACTION, Protocol, ProtocolData, RunContext
from pyrodisent.protocols.settings import Setting
from pyrodisent.registry import PROTOCOLS
from pyrodisent.runs.flags import int_at_least, nonnegative_int, positive_float, positive_int, seed
from pyrodisent.training.run_directory import atomic_write_bytes
from pyrodisent.training.trainer import fit_subset


@PROTOCOLS.register("sparse_shift")
class SparseShift(Protocol):
    """Sparse mechanism shift (sVAE+, Lopez et al. 2023): which latents each perturbation moves, with held-out actions."""

    name = "sparse_shift"
    provides = frozenset({ACTION})
    default_model = "svae_plus"
    baseline_models = {"mean_shift": "mean_shift_vae", "vae": "vae"}
    comparison_columns = ("mcc", "r2", "target_f1", "heldout_iwae", "train_seconds")
    # one thread while training: minibatches through 128-unit MLPs gain nothing from more, and on a shared
    # machine extra threads stall; the evaluation takes eval_threads
    training = dict(epochs=250, batch_size=256, lr=5e-3, lr_schedule="cosine", num_threads=1)
    diagnosis: Dict[str, Any] = {}  # the protocol diagnoses its evaluation cells itself (refined guide, NUTS check)
    settings = (
        Setting("likelihood", "negative_binomial", "counts likelihoods use the count simulation; gaussian uses its "
                "Gaussian-observation variant", choices=("negative_binomial", "poisson", "gaussian")),
        Setting("baselines", False, "also train the VAE and the mean-shift baseline (into baselines/<model>)"),
        Setting("data_seed", 0, "seed of the simulation", seed),
        Setting("num_actions", 100, "actions (perturbations)", positive_int),
        Setting("cells_per_action", 250, "cells per action", positive_int),
        Setting("latent_dim", 15, "latent dimensions (true and fitted)", positive_int),
        Setting("num_genes", 100, "observed features", positive_int),
        Setting("first_heldout_action", 80, "actions from this index on are held out", positive_int),
        Setting("sparsity", 100.0, "K of the Beta(1, K) prior on mask probabilities", positive_float),
        Setting("temperature", 1.0, "Gumbel-sigmoid temperature at the start", positive_float),
        Setting("final_temperature", 0.2, "temperature reached linearly at the end of training", positive_float),
        Setting("standardize_inputs", True, "the encoder standardises log(1 + x) per gene from the first minibatch "
                "(ActNorm)"),
        Setting("global_kl_warmup", True, "warm the KL of the per-action shifts and masks up with the local KL, so "
                "the sparsity prior does not switch masks off before the encoder has learned anything"),
        Setting("objective", "elbo", "training objective of the local posterior: the ELBO, or the importance-weighted "
                "bound (Burda et al. 2016) with train_samples samples per cell", choices=("elbo", "iwae")),
        Setting("train_samples", 8, "importance samples per cell and step with objective iwae",
                int_at_least(2, "an importance-weighted bound needs ≥ 2 samples")),
        Setting("posterior_covariance", "diagonal", "the encoder's Gaussian: mean field or a full Cholesky factor",
                choices=("diagonal", "full")),
        Setting("posterior_flow_layers", 0, "conditional affine autoregressive layers on top of the encoder's Gaussian "
                "(a flow guide; scored without refinement, which starts from a Gaussian)", nonnegative_int),
        Setting("kl_warmup_epochs", 10, "epochs of linear KL warm-up", nonnegative_int),
        Setting("heldout_epochs", 50, "epochs fitting the held-out actions' shifts and masks", positive_int),
        Setting("iwae_samples", 1000, "importance samples per held-out cell for the IWAE", positive_int),
        Setting("khat_samples", 1000, "importance samples per cell for PSIS k̂",
                int_at_least(MIN_IMPORTANCE_SAMPLES, "PSIS fits its Pareto tail to the largest fifth of the weights: "
                             "it needs ≥ 5 of them")),
        Setting("eval_cells", 500, "cells for k̂ and the InferenceData", positive_int),
        Setting("refine_steps", 200, "steps of semi-amortised refinement of each scored cell's posterior (0: the "
                "encoder's)", nonnegative_int),
        Setting("refine_lr", 0.05, "Adam learning rate of the refinement", positive_float),
        Setting("refine_particles", 4, "reparameterised draws per cell and refinement step", positive_int),
        Setting("reference_cells", 0, "evaluation cells checked against a NUTS reference posterior "
                "(reference_check.csv, before and after refinement)", nonnegative_int),
        Setting("eval_threads", min(2, os.cpu_count() or 1), "CPU threads for torch in the evaluation's large batched "
                "passes (refinement, IWAE, PSIS k̂), which do gain from them", positive_int),
    )

    def load(self, model_name: str, seed: int) -> ProtocolData:
        if self.posterior_flow_layers and self.refine_steps:
            raise ValueError("argument --posterior-flow-layers: refinement starts from a Gaussian guide; "
                             "score a flow guide as it is with --refine-steps 0")
        simulation = SparseShiftSimulation(num_actions=self.num_actions, cells_per_action=self.cells_per_action,
                                           latent_dim=self.latent_dim, num_genes=self.num_genes,
                                           first_heldout_action=self.first_heldout_action,
                                           observation="gaussian" if self.likelihood == "gaussian" else "counts",
                                           seed=self.data_seed)
        train = simulation.training_set()
        if self.eval_cells > len(train):
            raise ValueError(f"argument --eval-cells: expected at most the {len(train)} training cells, "
                             f"got {self.eval_cells}")
        heldout_fit, heldout_scored = split_heldout(simulation.heldout_set(), self.data_seed)
        return ProtocolData(train=train, config=simulation.config(), simulation=simulation, heldout_fit=heldout_fit,
                            heldout_scored=heldout_scored)

    def training_arguments(self, training: Dict[str, Any], data: ProtocolData, model_name: str) -> Dict[str, Any]:
        arguments = dict(training)
        if self.objective == "iwae":
            arguments.update(objective="iwae", num_particles=self.train_samples)
        return arguments

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        steps_per_epoch = -(-len(data.train) // training["batch_size"])
        arguments = dict(
            super().model_arguments(model_name, data, training),
            latent_dim=self.latent_dim,
            encoder_args=dict(hidden=(128, 128), standardize_inputs=self.standardize_inputs),
            decoder_args=dict(hidden=(128, 128)),
            likelihood=self.likelihood,
            input_transform="none" if self.likelihood == "gaussian" else "log1p",
            kl_warmup_steps=self.kl_warmup_epochs * steps_per_epoch,
            global_kl_warmup=self.global_kl_warmup,
            posterior_covariance=self.posterior_covariance,
            posterior_flow_layers=self.posterior_flow_layers,
        )
        if model_name != "vae":
            arguments["num_actions"] = self.num_actions
        if model_name == "svae_plus":
            arguments.update(sparsity=self.sparsity, temperature=self.temperature,
                             final_temperature=self.final_temperature,
                             temperature_anneal_steps=training["epochs"] * steps_per_epoch)
        return arguments

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        start = time.perf_counter()
        train, simulation = data.train, data.simulation
        z_true = train.factors.numpy()
        codes = encode(model, train)
        metrics: Dict[str, Any] = {
            "mcc": mcc(z_true, codes),
            "mcc_spearman": mcc(z_true, codes, method="spearman"),
            "r2": linear_r2(z_true, codes),
        }
        training = simulation.training_actions
        if hasattr(model, "predicted_targets"):
            predicted = model.predicted_targets().cpu().numpy()[training]
            metrics.update(target_scores(simulation.targets[training], predicted, z_true, codes))
            heldout_actions = torch.as_tensor(simulation.heldout_actions, device=model.device)
            # Held-out actions: their per-action global posteriors (shift and, for sVAE+, mask) start afresh
            # and are fitted on their cells, everything else frozen (the paper's transfer protocol).
            model.reset_actions(heldout_actions)
            fit_subset(model, data.heldout_fit, model.global_parameters(), rows=heldout_actions,
                       epochs=self.heldout_epochs, batch_size=context.training["batch_size"],
                       lr=context.training["lr"] * model.global_lr_factor, seed=context.seed, device=context.device,
                       grad_clip=context.training["grad_clip"], progress=False)
        torch.set_num_threads(self.eval_threads)
        # Scored on the other cells of the held-out actions (the paper's transfer protocol), with the guide
        # refined point by point when refine_steps > 0.
        with self.scoring_posterior(model, data.heldout_scored):
            scored = importance_weighted_evaluation(model, data.heldout_scored, num_samples=self.iwae_samples,
                                                    seed=context.seed)
        metrics.update(heldout_elbo=scored["elbo"], heldout_iwae=scored["iwae"],
                       heldout_khat_share_above_0_7=khat_summary(scored["khat"])["khat_share_above_0_7"],
                       train_seconds=context.result.train_seconds)
        if hasattr(model, "mask_probabilities"):
            true, predicted = aligned_targets(simulation.targets[training],
                                              model.mask_probabilities().cpu().numpy()[training], z_true, codes)
            plot_target_matrices(true, predicted, context.run.file("targets.png"),
                                 title=f"sVAE+ targets (F1 {metrics['target_f1']:.2f})")
        metrics.update(self.diagnose(model, train, context))
        metrics["eval_seconds"] = time.perf_counter() - start
        return metrics

    def diagnose(self, model, train, context: RunContext) -> Dict[str, Any]:
        """k̂ of the encoder's and of the refined guide on ``eval_cells`` training cells, the InferenceData,
        and with ``reference_cells`` the check against NUTS before and after refinement."""
        metrics: Dict[str, Any] = {}
        eval_cells = train.subset(np.random.default_rng(context.seed).choice(len(train), self.eval_cells,
                                                                             replace=False))
        points = list(range(self.reference_cells))
        before = reference_check(model, eval_cells, points, seed=context.seed)[0] if points else None
        if self.refine_steps:
            amortized = psis_khat(model, eval_cells, num_samples=self.khat_samples, seed=context.seed)
            metrics["khat_share_above_0_7_amortized"] = khat_summary(amortized)["khat_share_above_0_7"]
        with self.scoring_posterior(model, eval_cells):
            reference = ReferencePosterior(model, eval_cells, points, seed=context.seed).run() if points else None
            summary = diagnostics.diagnose(model, eval_cells, context.run, num_samples=self.khat_samples,
                                           seed=context.seed, reference=reference)
            after = reference.compare_guide() if points else None
        if points:
            table = pd.concat([before.assign(guide="amortized"),
                               after.assign(guide="refined" if self.refine_steps else "amortized")])
            atomic_write_bytes(context.run.file(REFERENCE_TABLE), table.to_csv(index=False).encode())
            metrics.update(summarize_check(after))
        metrics["khat_share_above_0_7"] = summary["khat_share_above_0_7"]
        metrics["khat_median"] = summary["khat_median"]
        return metrics

    def scoring_posterior(self, model, data):
        """The guide that evaluation scores ``data`` with: the encoder's, or refined on ``data`` point by point."""
        if self.refine_steps == 0:
            return contextlib.nullcontext(model)
        refined = RefinedPosterior(model, data).fit(steps=self.refine_steps, lr=self.refine_lr,
                                                     num_particles=self.refine_particles)
        return refined_posterior(model, refined)

    def title(self, model_name: str, seed: int) -> str:
        return f"{model_name} on the sparse-shift simulation ({self.likelihood}), seed {seed}"


def split_heldout(heldout, seed):
    """The held-out cells of each action split in two halves at random: (fit, scored) data sets."""
    rng = np.random.default_rng(seed)
    actions = heldout.extras["action"].cpu().numpy()
    fit, scored = [], []
    for action in np.unique(actions):
        cells = rng.permutation(np.flatnonzero(actions == action))
        fit.append(cells[: len(cells) // 2])
        scored.append(cells[len(cells) // 2:])
    return heldout.subset(np.concatenate(fit)), heldout.subset(np.concatenate(scored))
