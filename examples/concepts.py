"""Label-conditioned concepts: CCVAE, CLAP and β-VAE (read with linear probes) on labels of ground-truth factors.

    python examples/concepts.py --model ccvae --labelled-fraction 1.0 --dataset dsprites_procedural --seed 0 --out runs/ccvae-0
    python examples/concepts.py --model ccvae --labelled-fraction 0.1 --seed 0   # semi-supervised: 10 % labelled
    python examples/concepts.py --model clap --labelled-fraction 1.0 --seed 0
    python examples/concepts.py --model beta_vae --seed 0                         # no labels, linear probes
    python examples/concepts.py --model ccvae --dataset circular_sprites --labels red hue_third large

Labels are functions of the factors (pyrodisent.data.labels: "shape is heart", "scale in the upper half", "posX
third", two over one factor); --labelled-fraction of the training images are labelled; --dataset any ground-truth
image set with a label set. The same run as ``pyrodisent train --model ccvae --protocol concepts``
(pyrodisent.protocols.concepts). Writes to --out: config.json, metrics.json (label_accuracy, localisation,
intervention_success and per label label_accuracy_<name>, localisation_<name>, intervention_success_<name>,
concept_dim_<name>; mig, dci_*, sap, modularity, explicitness, irs, beta_vae_score, factor_vae_score, elbo,
train_seconds, …), conditional_generation.png (each label set to each class, the style kept), core_walks.png (a
walk along each label's block), reconstructions.png, traversals.png, kl_per_dimension.png, training_log.csv/.png,
checkpoint.pt and the posterior diagnosis.
"""
from pyrodisent.runs.command_line import run_command_line, run_example

MODELS = {"ccvae": "ccvae", "clap": "clap", "beta_vae": "beta_vae"}


def main(argv=None):
    return run_example("concepts", __doc__.split("\n\n")[0], argv, name="concepts",
                       model_flag=("--model", MODELS, "the model: ccvae (one label-conditioned latent per label), "
                                   "clap (core and style, linear classifier, group lasso) or beta_vae (no labels; read "
                                   "with linear probes)"))


if __name__ == "__main__":
    run_command_line(main)
