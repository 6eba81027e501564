"""The β-VAE family on the image benchmarks of Locatello et al. (2019), scored with the whole metric suite.

    python examples/disentanglement.py --model beta_tcvae --dataset dsprites_procedural --steps 3000
    python examples/disentanglement.py --model vae --dataset dsprites --data-path /data   # the real .npz

The same run as ``pyrodisent train --model beta_tcvae --protocol dsprites_procedural`` (protocols
``dsprites``, ``dsprites_procedural``, ``shapes3d``: pyrodisent.protocols.image_benchmarks). Writes to
--out: config.json, metrics.json (mig, dci_disentanglement, dci_completeness, dci_informativeness, sap,
modularity, explicitness, irs, beta_vae_score, factor_vae_score, elbo, train_seconds, …),
training_log.csv/.png, checkpoint.pt, reconstructions.png, traversals.png, kl_per_dimension.png.
"""
from pyrodisent.runs.command_line import run_command_line, run_example

DATASETS = {"dsprites_procedural": "dsprites_procedural", "dsprites": "dsprites", "shapes3d": "shapes3d"}


def main(argv=None):
    return run_example("dsprites_procedural", __doc__.split("\n\n")[0], argv, name="disentanglement",
                       protocol_flag=("--dataset", DATASETS, "the benchmark (each is a protocol of that name)"))


if __name__ == "__main__":
    run_command_line(main)
