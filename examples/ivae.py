"""iVAE on the nonstationary-source simulation (Khemakhem et al. 2020), against VAE and β-VAE.

    python examples/ivae.py --seed 0 --out runs/ivae-0
    python examples/ivae.py --model vae --seed 0 --out runs/vae-0

The same run as ``pyrodisent train --model ivae --protocol nonstationary --seed 0 --out runs/ivae-0``
(protocol ``nonstationary``: pyrodisent.protocols.nonstationary). Writes config.json, training_log.csv/.png,
checkpoint.pt, metrics.json (mcc, mcc_sampled, mcc_spearman, elbo, train_seconds, khat_share_above_0_7,
…), matched_latents.png (each true source against its matched latent) and the posterior diagnosis
(inference_data.nc, khat.png).
"""
from pyrodisent.runs.command_line import run_command_line, run_example


def main(argv=None):
    return run_example("nonstationary", __doc__.split("\n\n")[0], argv, name="ivae")


if __name__ == "__main__":
    run_command_line(main)
