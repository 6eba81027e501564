"""sVAE+ on the sparse mechanism shift simulation: train, check against the truth, diagnose the posterior.

    python examples/svae_plus.py                       # sVAE+ on simulated counts (≈ minutes on a laptop CPU)
    python examples/svae_plus.py --baselines           # also the VAE and the mean-shift (iVAE-style) baseline
    python examples/svae_plus.py --likelihood gaussian # the Gaussian-observation variant of the simulation

The same run as ``pyrodisent train --model svae_plus --protocol sparse_shift`` (pyrodisent.protocols.
sparse_shift, which describes the transfer protocol of held-out actions and the semi-amortised refinement).

Writes to --out: config.json, metrics.json (mcc, mcc_spearman, r2, target_f1, target_precision,
target_recall, heldout_iwae, heldout_elbo, heldout_khat_share_above_0_7, khat_share_above_0_7 (refined
guide), khat_share_above_0_7_amortized, khat_median, train_seconds, eval_seconds, run_seconds, peak_rss_gb; with
--baselines also vae_* and mean_shift_* keys), training_log.csv/.png, checkpoint.pt, targets.png (true vs
inferred target matrix), khat.png, inference_data.nc (ArviZ), global_summary.csv, with --reference-cells
reference_check.csv (the guide against NUTS, per cell, before and after refinement), and
baselines/<model>/ run folders.
"""
from pyrodisent.runs.command_line import run_command_line, run_example


def main(argv=None):
    return run_example("sparse_shift", __doc__.split("\n\n")[0], argv, name="svae_plus")


if __name__ == "__main__":
    run_command_line(main)
