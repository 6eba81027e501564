"""Correlated VAEs (Tang et al. 2019) on graph data: CVAE_corr and CVAE_ind against a VAE.

    python examples/cvae_corr.py --model cvae_corr --graph tree --seed 0 --out runs/cvae_corr-tree-0
    python examples/cvae_corr.py --model vae --graph general --seed 1 --out runs/vae-general-1
    python examples/cvae_corr.py --model cvae_ind --graph images --out runs/cvae_ind-images

Graphs: ``tree`` — the paper's synthetic protocol (random recursive tree of 10,000 vertices, τ = 0.99,
1,000 binary features); ``general`` — the same tree plus 20% extra edges to grandparents (cycles: edge
weights are effective resistances); ``images`` — procedural dSprites images joined when they differ in
exactly k factors. 10% of the edges are held out.

Writes config.json, training_log.csv/.png, checkpoint.pt and metrics.json: ncrr (link prediction of
held-out edges ranked by E_q‖z_i − z_j‖²), cluster_accuracy (k-means on posterior means against the
labels), elbo (the whole graph's, per vertex), train_seconds, and resistance_seconds (edge weights).
"""
from __future__ import annotations

import time


import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import CorrelatedTreeSimulation, SpriteGraph
from pyrodisent.evaluation import encode
from pyrodisent.experiment import (bad_input, build_model, experiment_parser, finish_run, open_run, parse_args,
                                   run_command_line, run_config)
from pyrodisent.flags import nonnegative_float, number, positive_float, positive_int, probability_below_one, seed
from pyrodisent.graph_evaluation import expected_squared_distance_rows, graph_evidence_lower_bound
from pyrodisent.metrics import clustering_accuracy, ncrr
from pyrodisent.train import Trainer

# One budget for every model. Minibatches as the paper (64 vertices, 256 edges, 256 pairs). Latent size
# 64: with 16 every model stalls (PCA of x to 16 dimensions already ranks links about as well). Adam 2e-3
# with a cosine decay over 15 epochs; CVAE_ind's advantage over a VAE is mostly in how fast the encoder
# learns, so it depends on the budget, while CVAE_corr leads both under either schedule. Figures: README,
# "Results".
DEFAULTS = dict(epochs=15, batch_size=64, edge_batch_size=256, pair_batch_size=256, lr=2e-3, lr_schedule="cosine",
                latent_dim=64, hidden=[256])


def build_parser():
    parser = experiment_parser("cvae_corr", __doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["vae", "cvae_ind", "cvae_corr"], default="cvae_corr")
    parser.add_argument("--graph", choices=["tree", "general", "images"], default="tree")
    parser.add_argument("--num-vertices", type=positive_int, default=10_000, help="tree/general: vertices")
    parser.add_argument("--num-features", type=positive_int, default=1_000, help="tree/general: binary features")
    parser.add_argument("--data-latent-dim", type=positive_int, default=100, help="tree/general: true latent size")
    parser.add_argument("--tau", type=probability_below_one, default=0.99,
                        help="correlation along an edge (data and prior)")
    parser.add_argument("--extra-edge-fraction", type=nonnegative_float, default=0.2,
                        help="general: extra edges per tree edge")
    parser.add_argument("--num-images", type=positive_int, default=256, help="images: number of sprites")
    parser.add_argument("--differing-factors", type=positive_int, default=1,
                        help="images: an edge joins images that differ in exactly this many factors")
    parser.add_argument("--heldout-fraction", type=number(float, above=0, below=1, name="fraction"), default=0.1,
                        help="edges held out for link prediction")
    parser.add_argument("--data-seed", type=seed, default=0)
    parser.add_argument("--resistance-method", choices=["auto", "exact", "projection"], default="auto")
    parser.add_argument("--latent-dim", type=positive_int, default=DEFAULTS["latent_dim"])
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=DEFAULTS["hidden"],
                        help="hidden widths of encoder and decoder MLPs")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULTS["epochs"], help="passes over the vertices")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULTS["batch_size"], help="vertices per step")
    parser.add_argument("--edge-batch-size", type=positive_int, default=DEFAULTS["edge_batch_size"])
    parser.add_argument("--pair-batch-size", type=positive_int, default=DEFAULTS["pair_batch_size"])
    parser.add_argument("--lr", type=positive_float, default=DEFAULTS["lr"])
    parser.add_argument("--lr-schedule", choices=["none", "plateau", "cosine"], default=DEFAULTS["lr_schedule"])
    parser.add_argument("--non-edge-weight", type=nonnegative_float, default=1000.0,
                        help="γ of CVAE_corr's non-edge term")
    parser.add_argument("--num-threads", type=positive_int, default=1, help="CPU threads for torch")
    return parser


def build_data(args):
    if args.graph == "images":
        return SpriteGraph(num_images=args.num_images, differing_factors=args.differing_factors,
                           heldout_fraction=args.heldout_fraction, seed=args.data_seed)
    return CorrelatedTreeSimulation(num_vertices=args.num_vertices, num_features=args.num_features,
                                    latent_dim=args.data_latent_dim, correlation=args.tau, graph=args.graph,
                                    extra_edge_fraction=args.extra_edge_fraction,
                                    heldout_fraction=args.heldout_fraction, seed=args.data_seed)


def model_arguments(args, data) -> dict:
    nets = dict(hidden=tuple(args.hidden), activation_name="relu")
    arguments = dict(observation_shape=data.observation_shape, latent_dim=args.latent_dim, num_data=len(data),
                     encoder_args=nets, decoder_args=nets, likelihood="bernoulli")
    if args.model != "vae":
        arguments["correlation"] = args.tau
    if args.model == "cvae_corr":
        arguments["non_edge_weight"] = args.non_edge_weight
    return arguments


def main(argv=None):
    args = parse_args(build_parser(), argv)
    torch.set_num_threads(args.num_threads)
    with bad_input(args):
        source = build_data(args)
        start = time.perf_counter()
        data = source.training_set(edge_batch_size=args.edge_batch_size, pair_batch_size=args.pair_batch_size,
                                   resistance_args=dict(method=args.resistance_method))
        resistance_seconds = time.perf_counter() - start
        arguments = model_arguments(args, data)
        model = build_model(args, args.model, **arguments)
    run = open_run(args, run_config(args, model_arguments=arguments, data=source.config()))
    trainer = Trainer(model, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      lr_schedule=args.lr_schedule, seed=args.seed, run_dir=run, device=args.device,
                      grad_clip=args.grad_clip, progress=not args.quiet)
    result = trainer.fit(resume=args.resume)

    codes = encode(model, data)
    metrics = {
        "ncrr": ncrr(expected_squared_distance_rows(model, data), len(data), data.edges_numpy(), data.heldout_edges),
        "cluster_accuracy": clustering_accuracy(codes, source.labels, seed=args.seed),
        "elbo": graph_evidence_lower_bound(model, data, seed=args.seed),
        "train_seconds": result.train_seconds,
        "resistance_seconds": resistance_seconds,
        "epochs": trainer.epoch,
    }
    finish_run(run, metrics, f"{args.model} on the {args.graph} graph, seed {args.seed}")
    return metrics


if __name__ == "__main__":
    run_command_line(main)
