"""Correlated VAEs (Tang et al. 2019) on graph data: CVAE_corr and CVAE_ind against a VAE.

    python examples/cvae_corr.py --model cvae_corr --graph tree --seed 0 --out runs/cvae_corr-tree-0
    python examples/cvae_corr.py --model vae --graph general --seed 1 --out runs/vae-general-1
    python examples/cvae_corr.py --model cvae_ind --graph images --out runs/cvae_ind-images

Graphs (each a protocol: pyrodisent.protocols.graph_benchmarks): ``tree`` — ``tree_graph``, the paper's
synthetic protocol (random recursive tree of 10,000 vertices, τ = 0.99, 1,000 binary features);
``general`` — ``general_graph``, the same tree plus 20% extra edges to grandparents (cycles: edge weights
are effective resistances); ``images`` — ``sprite_graph``, procedural dSprites images joined when they
differ in exactly k factors. 10% of the edges are held out. ``--graph tree`` is the same run as
``pyrodisent train --model cvae_corr --protocol tree_graph``.

Writes config.json, training_log.csv/.png, checkpoint.pt and metrics.json: ncrr (link prediction of
held-out edges ranked by E_q‖z_i − z_j‖²), cluster_accuracy (k-means on posterior means against the
labels), elbo (the whole graph's, per vertex), train_seconds, and resistance_seconds (edge weights).
"""
from pyrodisent.runs.command_line import run_command_line, run_example

GRAPHS = {"tree": "tree_graph", "general": "general_graph", "images": "sprite_graph"}


def main(argv=None):
    return run_example("tree_graph", __doc__.split("\n\n")[0], argv, name="cvae_corr",
                       protocol_flag=("--graph", GRAPHS, "the graph (each is a protocol)"))


if __name__ == "__main__":
    run_command_line(main)
