"""The β-VAE family on the image benchmarks of Locatello et al. (2019), scored with the whole metric suite.

    python examples/disentanglement.py --model beta_tcvae --dataset dsprites_procedural --steps 3000
    python examples/disentanglement.py --model vae --dataset dsprites --data-path /data   # the real .npz

Writes to --out: config.json, metrics.json (mig, dci_disentanglement, dci_completeness, dci_informativeness,
sap, modularity, explicitness, irs, beta_vae_score, factor_vae_score, elbo, train_seconds),
training_log.csv/.png, checkpoint.pt, reconstructions.png, traversals.png, kl_per_dimension.png.
"""
from __future__ import annotations

import math
import time


import numpy as np

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.evaluation import evidence_lower_bound, representation_function
from pyrodisent.experiment import (bad_input, build_model, experiment_parser, finish_run, open_run, parse_args,
                                   run_command_line, run_config)
from pyrodisent.flags import nonnegative_float, positive_float, positive_int
from pyrodisent.image_figures import plot_kl_per_dimension, plot_latent_traversals, plot_reconstructions
from pyrodisent.metrics import disentanglement_metrics
from pyrodisent.registry import DATASETS
from pyrodisent.train import Trainer

IMAGE_MODELS = ["vae", "beta_vae", "annealed_vae", "beta_tcvae", "dip_vae", "dip_vae_ii", "factor_vae"]


def build_parser():
    parser = experiment_parser("disentanglement", __doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=IMAGE_MODELS, default="beta_tcvae")
    parser.add_argument("--dataset", choices=["dsprites", "dsprites_procedural", "shapes3d"], default="dsprites_procedural")
    parser.add_argument("--data-path", default=None, help="file or folder of the real data (else $PYRODISENT_DATA)")
    parser.add_argument("--grid", choices=["full", "small"], default="full", help="procedural dSprites grid")
    parser.add_argument("--train-size", type=positive_int, default=20_000, help="images in the training set")
    parser.add_argument("--steps", type=positive_int, default=3_000, help="optimizer steps (rounded up to epochs)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--lr", type=positive_float, default=5e-4, help="Adam (the study: 1e-4 for 300k steps)")
    parser.add_argument("--latent-dim", type=positive_int, default=10)
    parser.add_argument("--beta", type=positive_float, default=4.0, help="β of beta_vae")
    parser.add_argument("--tc-weight", type=nonnegative_float, default=6.0, help="β of beta_tcvae")
    parser.add_argument("--gamma", type=nonnegative_float, default=10.0,
                        help="γ of factor_vae; annealed_vae uses 1000")
    parser.add_argument("--lambda-od", type=nonnegative_float, default=10.0, help="λ_od of dip_vae / dip_vae_ii")
    parser.add_argument("--max-capacity", type=nonnegative_float, default=25.0, help="C_max of annealed_vae")
    parser.add_argument("--metric-train", type=positive_int, default=10_000, help="points to fit metric classifiers")
    parser.add_argument("--metric-test", type=positive_int, default=5_000, help="held-out points for the metrics")
    return parser


def build_dataset(args):
    if args.dataset == "dsprites_procedural":
        return DATASETS.build(args.dataset, grid=args.grid, seed=args.seed)
    return DATASETS.build(args.dataset, path=args.data_path)


def model_arguments(args, dataset, num_data, steps):
    arguments = dict(observation_shape=dataset.observation_shape, latent_dim=args.latent_dim, num_data=num_data,
                     encoder="conv_encoder", decoder="conv_decoder", likelihood="bernoulli")
    extra = {
        "beta_vae": dict(beta=args.beta),
        "beta_tcvae": dict(tc_weight=args.tc_weight),
        "factor_vae": dict(gamma=args.gamma),
        "annealed_vae": dict(gamma=1000.0, max_capacity=args.max_capacity, capacity_steps=steps),
        "dip_vae": dict(lambda_od=args.lambda_od),
        "dip_vae_ii": dict(lambda_od=args.lambda_od),
    }
    return {**arguments, **extra.get(args.model, {})}


def main(argv=None):
    args = parse_args(build_parser(), argv)
    with bad_input(args):
        dataset = build_dataset(args)
        start = time.perf_counter()
        data = dataset.training_set(args.train_size, np.random.default_rng(args.seed))
        data_seconds = time.perf_counter() - start
        steps_per_epoch = math.ceil(len(data) / args.batch_size)
        epochs = math.ceil(args.steps / steps_per_epoch)
        arguments = model_arguments(args, dataset, len(data), epochs * steps_per_epoch)
        model = build_model(args, args.model, **arguments)
    run = open_run(args, run_config(args, model_arguments=arguments, epochs=epochs, data=dataset.config()))
    trainer = Trainer(model, data, epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      run_dir=run, device=args.device, grad_clip=args.grad_clip, progress=not args.quiet)
    result = trainer.fit(resume=args.resume)

    metrics = disentanglement_metrics(dataset, representation_function(model), np.random.default_rng(args.seed + 1),
                                      num_train=args.metric_train, num_test=args.metric_test,
                                      num_votes_train=args.metric_train, num_votes_eval=args.metric_test,
                                      progress=not args.quiet)
    metrics.update(elbo=evidence_lower_bound(model, data, seed=args.seed), train_seconds=result.train_seconds,
                   data_seconds=data_seconds, steps=result.steps)
    plot_reconstructions(model, data, run.file("reconstructions.png"))
    plot_latent_traversals(model, data, run.file("traversals.png"))
    plot_kl_per_dimension(model, data, run.file("kl_per_dimension.png"))
    finish_run(run, metrics, f"{args.model} on {args.dataset}, seed {args.seed}")
    return metrics


if __name__ == "__main__":
    run_command_line(main)
