"""sVAE+ on the sparse mechanism shift simulation: train, check against the truth, diagnose the posterior.

    python examples/svae_plus.py                       # sVAE+ on simulated counts (≈ minutes on a laptop CPU)
    python examples/svae_plus.py --baselines           # also the VAE and the mean-shift (iVAE-style) baseline
    python examples/svae_plus.py --likelihood gaussian # the Gaussian-observation variant of the simulation

Held-out actions follow the transfer protocol of the paper: their shifts and masks are fitted on half
of their cells, and the held-out ELBO and IWAE (with the share of their cells whose PSIS k̂ > 0.7) are
scored on the other half. Every scored cell's posterior is first refined from the encoder's output
(semi-amortised inference, pyrodisent.refinement; --refine-steps 0 scores the encoder's own guide).

Writes to --out: config.json, metrics.json (mcc, mcc_spearman, r2, target_f1, target_precision,
target_recall, heldout_iwae, heldout_elbo, heldout_khat_share_above_0_7, khat_share_above_0_7 (refined
guide), khat_share_above_0_7_amortized, khat_median, train_seconds, eval_seconds, run_seconds, peak_rss_gb; with
--baselines also vae_* and mean_shift_* keys), training_log.csv/.png, checkpoint.pt, targets.png (true vs
inferred target matrix), khat.png, inference_data.nc (ArviZ), global_summary.csv, with --reference-cells
reference_check.csv (the guide against NUTS, per cell, before and after refinement), and
baselines/<model>/ run folders.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning (read when torch loads, so set before importing it; a
# user's own setting wins): the evaluation's --eval-threads then share the cores gracefully with
# anything else running, where spinning threads slowed its passes more than tenfold (README, Results).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent import diagnostics
from pyrodisent.data.sparse_shift import SparseShiftSimulation
from pyrodisent.diagnostics import MIN_IMPORTANCE_SAMPLES, khat_summary, psis_khat
from pyrodisent.evaluation import encode, importance_weighted_evaluation
from pyrodisent.experiment import (bad_input, build_model, experiment_parser, finish_run, format_comparison, open_run,
                                   parse_args, run_command_line, run_config)
from pyrodisent.flags import int_at_least, nonnegative_int, positive_float, positive_int, seed
from pyrodisent.metrics import aligned_targets, linear_r2, mcc, target_scores
from pyrodisent.plots import plot_target_matrices
from pyrodisent.reference_posterior import REFERENCE_TABLE, ReferencePosterior, reference_check, summarize_check
from pyrodisent.refinement import RefinedPosterior, refined_posterior
from pyrodisent.registry import MODELS
from pyrodisent.run_directory import RunDirectory, atomic_write_bytes
from pyrodisent.train import Trainer, fit_subset

BASELINES = {"mean_shift": "mean_shift_vae", "vae": "vae"}


def build_parser():
    parser = experiment_parser("svae_plus", __doc__.split("\n\n")[0])
    parser.add_argument("--likelihood", choices=["negative_binomial", "poisson", "gaussian"], default="negative_binomial",
                        help="counts likelihoods use the count simulation; gaussian uses its Gaussian-observation variant")
    parser.add_argument("--baselines", action="store_true", help="also train the VAE and the mean-shift baseline")
    parser.add_argument("--data-seed", type=seed, default=0)
    parser.add_argument("--num-actions", type=positive_int, default=100)
    parser.add_argument("--cells-per-action", type=positive_int, default=250)
    parser.add_argument("--latent-dim", type=positive_int, default=15)
    parser.add_argument("--num-genes", type=positive_int, default=100)
    parser.add_argument("--first-heldout-action", type=positive_int, default=80)
    parser.add_argument("--sparsity", type=positive_float, default=100.0, help="K of the Beta(1, K) prior on mask probabilities")
    parser.add_argument("--temperature", type=positive_float, default=1.0, help="Gumbel-sigmoid temperature at the start")
    parser.add_argument("--final-temperature", type=positive_float, default=0.2,
                        help="temperature reached linearly at the end of training")
    parser.add_argument("--epochs", type=positive_int, default=250)
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--lr", type=positive_float, default=5e-3)
    parser.add_argument("--standardize-inputs", action=argparse.BooleanOptionalAction, default=True,
                        help="the encoder standardises log(1 + x) per gene from the first minibatch (ActNorm)")
    parser.add_argument("--global-kl-warmup", action=argparse.BooleanOptionalAction, default=True,
                        help="warm the KL of the per-action shifts and masks up with the local KL, so the sparsity "
                             "prior does not switch masks off before the encoder has learned anything")
    parser.add_argument("--objective", choices=["elbo", "iwae"], default="elbo",
                        help="training objective of the local posterior: the ELBO, or the importance-weighted bound "
                             "(Burda et al. 2016) with --train-samples samples per cell")
    parser.add_argument("--train-samples", type=int_at_least(2, "an importance-weighted bound needs ≥ 2 samples"),
                        default=8, help="importance samples per cell and step with --objective iwae")
    parser.add_argument("--posterior-covariance", choices=["diagonal", "full"], default="diagonal",
                        help="the encoder's Gaussian: mean field or a full Cholesky factor")
    parser.add_argument("--posterior-flow-layers", type=nonnegative_int, default=0,
                        help="conditional affine autoregressive layers on top of the encoder's Gaussian (a flow "
                             "guide; scored without refinement, which starts from a Gaussian)")
    parser.add_argument("--kl-warmup-epochs", type=nonnegative_int, default=10)
    parser.add_argument("--heldout-epochs", type=positive_int, default=50,
                        help="epochs fitting the held-out actions' shifts and masks")
    parser.add_argument("--iwae-samples", type=positive_int, default=1000)
    parser.add_argument("--khat-samples", type=int_at_least(MIN_IMPORTANCE_SAMPLES, "PSIS fits its Pareto tail to the "
                                                             "largest fifth of the weights: it needs ≥ 5 of them"),
                        default=1000, help="importance samples per cell for PSIS k̂")
    parser.add_argument("--eval-cells", type=positive_int, default=500, help="cells for k̂ and the InferenceData")
    parser.add_argument("--refine-steps", type=nonnegative_int, default=200,
                        help="steps of semi-amortised refinement of each scored cell's posterior (0: the encoder's)")
    parser.add_argument("--refine-lr", type=positive_float, default=0.05, help="Adam learning rate of the refinement")
    parser.add_argument("--refine-particles", type=positive_int, default=4,
                        help="reparameterised draws per cell and refinement step")
    parser.add_argument("--reference-cells", type=nonnegative_int, default=0,
                        help="evaluation cells checked against a NUTS reference posterior (reference_check.csv, "
                             "before and after refinement)")
    parser.add_argument("--num-threads", type=positive_int, default=1,
                        help="CPU threads for torch while training (and fitting the held-out actions): minibatches "
                             "through these 128-unit MLPs gain nothing from more, and on a shared machine extra "
                             "threads stall")
    parser.add_argument("--eval-threads", type=positive_int, default=min(2, os.cpu_count() or 1),
                        help="CPU threads for torch in the evaluation's large batched passes (refinement, IWAE, "
                             "PSIS k̂), which do gain from them")
    return parser


def model_arguments(args, data, name):
    steps_per_epoch = -(-len(data) // args.batch_size)
    arguments = dict(
        observation_shape=data.observation_shape,
        latent_dim=args.latent_dim,
        num_data=len(data),
        encoder_args=dict(hidden=(128, 128), standardize_inputs=args.standardize_inputs),
        decoder_args=dict(hidden=(128, 128)),
        likelihood=args.likelihood,
        input_transform="none" if args.likelihood == "gaussian" else "log1p",
        kl_warmup_steps=args.kl_warmup_epochs * steps_per_epoch,
        global_kl_warmup=args.global_kl_warmup,
        posterior_covariance=args.posterior_covariance,
        posterior_flow_layers=args.posterior_flow_layers,
    )
    if name != "vae":
        arguments["num_actions"] = args.num_actions
    if name == "svae_plus":
        arguments.update(sparsity=args.sparsity, temperature=args.temperature,
                         final_temperature=args.final_temperature,
                         temperature_anneal_steps=args.epochs * steps_per_epoch)
    return arguments


def train_and_evaluate(name, args, simulation, train, heldout_fit, heldout_scored, run, progress):
    torch.set_num_threads(args.num_threads)
    arguments = model_arguments(args, train, name)
    model = build_model(args, name, **arguments)
    objective = {"objective": "iwae", "num_particles": args.train_samples} if args.objective == "iwae" else {}
    trainer = Trainer(model, train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_schedule="cosine",
                      seed=args.seed, **objective, run_dir=run, device=args.device, grad_clip=args.grad_clip,
                      progress=progress)
    result = trainer.fit(resume=args.resume and name == "svae_plus")
    start = time.perf_counter()
    z_true = train.factors.numpy()
    codes = encode(model, train)
    metrics = {
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
        fit_subset(model, heldout_fit, model.global_parameters(), rows=heldout_actions,
                   epochs=args.heldout_epochs, batch_size=args.batch_size, lr=args.lr * model.global_lr_factor,
                   seed=args.seed, device=args.device, grad_clip=args.grad_clip, progress=False)
    torch.set_num_threads(args.eval_threads)
    # Scored on the other cells of the held-out actions (the paper's transfer protocol), with the guide
    # refined point by point when --refine-steps > 0.
    with scoring_posterior(model, heldout_scored, args):
        scored = importance_weighted_evaluation(model, heldout_scored, num_samples=args.iwae_samples, seed=args.seed)
    metrics.update(heldout_elbo=scored["elbo"], heldout_iwae=scored["iwae"],
                   heldout_khat_share_above_0_7=khat_summary(scored["khat"])["khat_share_above_0_7"],
                   train_seconds=result.train_seconds, eval_seconds=time.perf_counter() - start)
    return model, metrics, codes


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GB (10⁹ bytes; Linux reports KiB, macOS bytes; NaN
    where the standard library cannot tell, e.g. on Windows)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e9


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


def scoring_posterior(model, data, args):
    """The guide that evaluation scores ``data`` with: the encoder's, or refined on ``data`` point by point."""
    if args.refine_steps == 0:
        return contextlib.nullcontext(model)
    refined = RefinedPosterior(model, data).fit(steps=args.refine_steps, lr=args.refine_lr,
                                                 num_particles=args.refine_particles)
    return refined_posterior(model, refined)


def main(argv=None):
    started = time.perf_counter()
    args = parse_args(build_parser(), argv)
    observation = "gaussian" if args.likelihood == "gaussian" else "counts"
    with bad_input(args):  # bad arguments fail before any file is written
        simulation = SparseShiftSimulation(num_actions=args.num_actions, cells_per_action=args.cells_per_action,
                                           latent_dim=args.latent_dim, num_genes=args.num_genes,
                                           first_heldout_action=args.first_heldout_action, observation=observation,
                                           seed=args.data_seed)
        train, heldout = simulation.training_set(), simulation.heldout_set()
        if args.posterior_flow_layers and args.refine_steps:
            raise ValueError("argument --posterior-flow-layers: refinement starts from a Gaussian guide; "
                             "score a flow guide as it is with --refine-steps 0")
        if args.eval_cells > len(train):
            raise ValueError(f"argument --eval-cells: expected at most the {len(train)} training cells, "
                             f"got {args.eval_cells}")
        for name in ["svae_plus", *(BASELINES.values() if args.baselines else ())]:
            MODELS.build(name, **model_arguments(args, train, name))
    run = open_run(args, run_config(args, data=simulation.config()))

    heldout_fit, heldout_scored = split_heldout(heldout, args.data_seed)
    model, metrics, codes = train_and_evaluate("svae_plus", args, simulation, train, heldout_fit, heldout_scored, run,
                                               not args.quiet)
    training = simulation.training_actions
    true, predicted = aligned_targets(simulation.targets[training], model.mask_probabilities().cpu().numpy()[training],
                                      train.factors.numpy(), codes)
    plot_target_matrices(true, predicted, run.file("targets.png"), title=f"sVAE+ targets (F1 {metrics['target_f1']:.2f})")
    eval_cells = train.subset(np.random.default_rng(args.seed).choice(len(train), args.eval_cells, replace=False))
    start = time.perf_counter()
    points = list(range(args.reference_cells))
    before = reference_check(model, eval_cells, points, seed=args.seed)[0] if points else None
    if args.refine_steps:
        amortized = psis_khat(model, eval_cells, num_samples=args.khat_samples, seed=args.seed)
        metrics["khat_share_above_0_7_amortized"] = khat_summary(amortized)["khat_share_above_0_7"]
    with scoring_posterior(model, eval_cells, args):
        reference = ReferencePosterior(model, eval_cells, points, seed=args.seed).run() if points else None
        summary = diagnostics.diagnose(model, eval_cells, run, num_samples=args.khat_samples, seed=args.seed,
                                       reference=reference)
        after = reference.compare_guide() if points else None
    if points:
        table = pd.concat([before.assign(guide="amortized"), after.assign(guide="refined" if args.refine_steps
                                                                                 else "amortized")])
        atomic_write_bytes(run.file(REFERENCE_TABLE), table.to_csv(index=False).encode())
        metrics.update(summarize_check(after))
    metrics["khat_share_above_0_7"] = summary["khat_share_above_0_7"]
    metrics["khat_median"] = summary["khat_median"]
    metrics["eval_seconds"] += time.perf_counter() - start
    metrics["run_seconds"] = time.perf_counter() - started  # the whole sVAE+ run: data, training, evaluation
    metrics["peak_rss_gb"] = peak_rss_gb()

    table = {"svae_plus": metrics}
    if args.baselines:
        for prefix, name in BASELINES.items():
            baseline_run = RunDirectory(run.path / "baselines" / name).create(
                run_config(args, model=name), overwrite=True)
            _, baseline, _ = train_and_evaluate(name, args, simulation, train, heldout_fit, heldout_scored, baseline_run,
                                                not args.quiet)
            baseline_run.write_metrics(baseline)
            baseline_run.release()
            table[name] = baseline
            metrics.update({f"{prefix}_{key}": value for key, value in baseline.items()})
        print(format_comparison(table, ["mcc", "r2", "target_f1", "heldout_iwae", "train_seconds"],
                                "sVAE+ against its baselines"))
    finish_run(run, metrics, f"sVAE+ on the sparse-shift simulation ({args.likelihood}), seed {args.seed}")
    return metrics


if __name__ == "__main__":
    run_command_line(main)
