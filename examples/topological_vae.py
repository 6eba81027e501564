"""Topology-aware latent spaces: the Gaussian, tilted and product priors on sprites with circular factors.

    python examples/topological_vae.py --prior product --seed 0 --out runs/product-0
    python examples/topological_vae.py --prior normal --seed 0      # the β-VAE's Gaussian prior
    python examples/topological_vae.py --prior tilted --seed 0      # the tilted prior (Floto et al. 2023)
    python examples/topological_vae.py --prior product --dataset shapes3d --data-path /data   # the real 3dshapes.h5

--prior product is ``topological_vae`` with one block per factor (``--blocks "points(3), segment, loop,
loop, segment, segment"``), each annealed from flat to sharp over ``--anneal-fraction`` of training;
normal is ``beta_vae`` and tilted ``tilted_vae``, at the same β and budget. The same run as ``pyrodisent
train --model topological_vae --protocol circular_sprites`` (pyrodisent.protocols.topology_benchmarks).
Writes to --out: config.json, metrics.json (per factor: orientation_circular_corr, hue_circular_corr,
shape_purity, scale_spearman, pos_x_spearman, pos_y_spearman; loop_circular_corr, points_purity,
segment_spearman; mig, dci_*, sap, …, elbo, train_seconds), topology.png (each factor's matched latents
coloured by the factor: a recovered loop draws a ring), reconstructions.png, traversals.png,
kl_per_dimension.png, training_log.csv/.png, checkpoint.pt and the posterior diagnosis.
"""
from pyrodisent.runs.command_line import run_command_line, run_example

PRIORS = {"product": "topological_vae", "normal": "beta_vae", "tilted": "tilted_vae"}
DATASETS = {"circular": "circular_sprites", "shapes3d": "shapes3d"}


def main(argv=None):
    return run_example("circular_sprites", __doc__.split("\n\n")[0], argv, name="topological_vae",
                       protocol_flag=("--dataset", DATASETS, "the benchmark (each is a protocol of that name)"),
                       model_flag=("--prior", PRIORS, "the prior: product (topology blocks), normal (β-VAE) or "
                                   "tilted (Floto et al.)"))


if __name__ == "__main__":
    run_command_line(main)
