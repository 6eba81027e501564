"""GP-VAE (Fortuin et al. 2020) imputing sprite sequences with pixels missing not at random, against a
per-frame VAE and mean / forward-fill imputation.

    python examples/gp_vae.py --kernel cauchy --seed 0 --out runs/gp_vae-0
    python examples/gp_vae.py --model vae --seed 0 --out runs/vae-0

The same run as ``pyrodisent train --model gp_vae --protocol sprite_sequences`` (the Healing-MNIST
protocol on procedural sprites: pyrodisent.protocols.sprite_sequences). Writes config.json,
training_log.csv/.png, checkpoint.pt, imputations.png (original / observed / imputed sequences) and
metrics.json: missing_nll, missing_mse, auroc, mcc, train_seconds for the model, and mean_fill_* and
forward_fill_* (missing_nll, missing_mse, auroc) for the baselines on the same data.
"""
from pyrodisent.runs.command_line import run_command_line, run_example


def main(argv=None):
    return run_example("sprite_sequences", __doc__.split("\n\n")[0], argv, name="gp_vae")


if __name__ == "__main__":
    run_command_line(main)
