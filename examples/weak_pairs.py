"""Weakly supervised pairs (Locatello et al., ICML 2020): Ada-GVAE, Ada-ML-VAE, the latent shift and β-VAE.

    python examples/weak_pairs.py --model ada_gvae --pairs exact --seed 0 --out runs/ada_gvae-0
    python examples/weak_pairs.py --model beta_vae --seed 0            # the same images as independent points
    python examples/weak_pairs.py --model latent_shift --pairs approximate --share-radius 1
    python examples/weak_pairs.py --model ada_gvae --correlation 0.2   # posX, posY correlated in training
    python examples/weak_pairs.py --model ada_gvae --pairs mined       # nearest neighbours instead of pairs

--pairs exact is disentanglement_lib's weak protocol (1 or --k factors resampled), approximate lets the shared
factors move by up to --share-radius grid steps, mined pairs each image with a nearest neighbour in a VAE's
latent space (re-mined during training); --correlation σ correlates --correlated-factors in the training data
(evaluation is uncorrelated); --dataset any registered ground-truth image set. The same run as ``pyrodisent
train --model ada_gvae --protocol weak_pairs`` (pyrodisent.protocols.weak_pairs). Writes to --out:
config.json, metrics.json (mig, dci_disentanglement, dci_completeness, dci_informativeness, sap, modularity,
explicitness, irs, beta_vae_score, factor_vae_score, elbo, train_seconds, …, and for ada_gvae, ada_mlvae and
latent_shift changed_dims_precision, changed_dims_recall), reconstructions.png, traversals.png,
kl_per_dimension.png, training_log.csv/.png, checkpoint.pt and the posterior diagnosis.
"""
from pyrodisent.runs.command_line import run_command_line, run_example

MODELS = {"beta_vae": "beta_vae", "ada_gvae": "ada_gvae", "ada_mlvae": "ada_mlvae", "latent_shift": "latent_shift"}


def main(argv=None):
    return run_example("weak_pairs", __doc__.split("\n\n")[0], argv, name="weak_pairs",
                       model_flag=("--model", MODELS, "the model: beta_vae (the images as independent points), "
                                   "ada_gvae, ada_mlvae or latent_shift (pairs)"))


if __name__ == "__main__":
    run_command_line(main)
