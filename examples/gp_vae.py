"""GP-VAE (Fortuin et al. 2020) imputing sprite sequences with pixels missing not at random, against a
per-frame VAE and mean / forward-fill imputation.

    python examples/gp_vae.py --kernel cauchy --seed 0 --out runs/gp_vae-0
    python examples/gp_vae.py --model vae --seed 0 --out runs/vae-0

The protocol of Healing MNIST (Fortuin et al., AISTATS 2020) on procedural sprites
(``pyrodisent.data.SpriteSequences``): T frames per sequence, orientation and position random walks,
foreground pixels missing more often than background ones. Scored on held-out sequences: NLL and MSE
of the missing pixels, AUROC of a logistic regression for the sprite's shape trained on imputed
training frames and tested on imputed held-out frames, MCC between per-frame posterior means and the
continuous factors (scale, orientation, posX, posY).

Writes config.json, training_log.csv/.png, checkpoint.pt, imputations.png (original / observed /
imputed sequences) and metrics.json: missing_nll, missing_mse, auroc, mcc, train_seconds for the model,
and mean_fill_* and forward_fill_* (missing_nll, missing_mse, auroc) for the baselines on the same data.
"""
from __future__ import annotations



import numpy as np
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import SpriteSequences, as_generator
from pyrodisent.data.sprite_sequences import CONTINUOUS_FACTORS, SequenceSet, flatten_frames
from pyrodisent.evaluation import encode
from pyrodisent.experiment import (bad_input, build_model, experiment_parser, finish_run, format_comparison, open_run,
                                   parse_args, run_command_line, run_config)
from pyrodisent.flags import nonnegative_int, number, positive_float, positive_int, probability_below_one, seed
from pyrodisent.gp import KERNELS
from pyrodisent.image_figures import plot_imputed_sequences
from pyrodisent.imputation import forward_fill, impute, mean_fill, observed_means
from pyrodisent.metrics import downstream_auroc, mcc, missing_entry_scores
from pyrodisent.train import Trainer

# Sized for one CPU thread (2000 training sequences of 10 frames of 32 × 32).
# Healing MNIST's settings (Fortuin et al. 2020: Cauchy σ = 1, ℓ = 2, β = 0.8, encoder window 3, frame MLPs
# of width 256), with 16 latent channels rather than 256 (sprites have 5 factors, not a digit's shape).
# Tuned on seed 0, both models alike. With fewer pixels missing the GP-VAE and the VAE were level; with the
# Healing-MNIST share (the default: about 60% missing, one sprite pixel in ten seen) pooling frames pays,
# and Adam 3e-3 converges within the 30 epochs. Figures: README, "Results".
DEFAULTS = dict(num_train=2000, num_test=500, latent_dim=16, epochs=30, batch_size=64, lr=3e-3, beta=0.8,
                width=256, window=3, kl_warmup_steps=0)


def build_parser():
    parser = experiment_parser("gp_vae", __doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["gp_vae", "vae"], default="gp_vae",
                        help="gp_vae: GP prior over each latent channel's path in time; vae: a per-frame VAE")
    parser.add_argument("--kernel", default="cauchy",
                        help=f"GP kernel: one of {', '.join(KERNELS.names())}, or sums/products like 'rbf+periodic'")
    parser.add_argument("--length-scale", type=positive_float, default=2.0, help="kernel length scale ℓ, in frames")
    parser.add_argument("--kernel-scale", type=positive_float, default=1.0, help="prior variance σ of each latent")
    parser.add_argument("--period", type=positive_float, default=10.0, help="period of the periodic kernel, in frames")
    parser.add_argument("--learn-kernel", action="store_true", help="learn the kernel hyperparameters per channel")
    parser.add_argument("--window", type=number(int, at_least=1, odd=True, name="odd_int"),
                        default=DEFAULTS["window"],
                        help="frames seen by the GP-VAE encoder's temporal convolution (odd)")
    parser.add_argument("--latent-dim", type=positive_int, default=DEFAULTS["latent_dim"])
    parser.add_argument("--beta", type=positive_float, default=DEFAULTS["beta"],
                        help="weight of the KL term (reference: 0.8)")
    parser.add_argument("--kl-warmup-steps", type=nonnegative_int, default=DEFAULTS["kl_warmup_steps"],
                        help="the KL weight grows linearly from 0 to β over this many steps")
    parser.add_argument("--width", type=positive_int, default=DEFAULTS["width"], help="hidden width of the networks")
    parser.add_argument("--num-frames", type=positive_int, default=10)
    parser.add_argument("--image-size", type=positive_int, default=32)
    parser.add_argument("--missing-foreground", type=probability_below_one, default=0.9,
                        help="probability that a sprite pixel is missing")
    parser.add_argument("--missing-background", type=probability_below_one, default=0.6,
                        help="probability that a background pixel is missing (with 0.9: ~62%% missing overall)")
    parser.add_argument("--num-train", type=positive_int, default=DEFAULTS["num_train"], help="training sequences")
    parser.add_argument("--num-test", type=positive_int, default=DEFAULTS["num_test"], help="held-out sequences")
    parser.add_argument("--data-seed", type=seed, default=0, help="seed of the sequences and their missingness")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULTS["epochs"])
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULTS["batch_size"],
                        help="sequences per step (the VAE takes the same number of frames: batch × T)")
    parser.add_argument("--lr", type=positive_float, default=DEFAULTS["lr"])
    parser.add_argument("--classifier-frames", type=positive_int, default=5000,
                        help="imputed training frames the AUROC classifier is fit on")
    parser.add_argument("--num-threads", type=positive_int, default=1, help="CPU threads for torch")
    return parser


def model_arguments(args, observation_shape, num_data: int) -> dict:
    width = args.width
    arguments = dict(observation_shape=observation_shape, latent_dim=args.latent_dim, num_data=num_data,
                     likelihood="bernoulli", beta=args.beta,
                     kl_warmup_steps=args.kl_warmup_steps, decoder_args=dict(hidden=(width, width)))
    if args.model == "gp_vae":
        arguments.update(encoder_args=dict(hidden=(width,)), features=width, window=args.window, kernel=args.kernel,
                         length_scale=args.length_scale, kernel_scale=args.kernel_scale, period=args.period,
                         learn_kernel=args.learn_kernel)
    else:
        arguments.update(encoder_args=dict(hidden=(width, width)))
    return arguments


def imputation_scores(train: SequenceSet, test: SequenceSet, train_imputed, test_imputed, args) -> dict:
    scores = missing_entry_scores(test.complete, test_imputed, test.observed_mask)
    per_frame = lambda labels: np.repeat(labels, train.num_frames)  # noqa: E731
    scores["auroc"] = downstream_auroc(flatten_frames(train_imputed), per_frame(train.labels),
                                       flatten_frames(test_imputed), per_frame(test.labels),
                                       max_train=args.classifier_frames, random_state=args.seed)
    return scores


def main(argv=None):
    args = parse_args(build_parser(), argv)
    torch.set_num_threads(args.num_threads)
    with bad_input(args):
        source = SpriteSequences(num_frames=args.num_frames, image_size=args.image_size,
                                 missing_foreground=args.missing_foreground, missing_background=args.missing_background,
                                 seed=args.data_seed)
        rng = as_generator(args.data_seed)
        train, test = source.sample(args.num_train, rng), source.sample(args.num_test, rng)
        sequence_model = args.model == "gp_vae"
        data, test_data = (train.sequences(), test.sequences()) if sequence_model else (train.frames(), test.frames())
        arguments = model_arguments(args, data.observation_shape, len(data))
        model = build_model(args, args.model, **arguments)
    run = open_run(args, run_config(args, model_arguments=arguments, data=source.config()))
    batch_size = args.batch_size if sequence_model else args.batch_size * args.num_frames
    trainer = Trainer(model, data, epochs=args.epochs, batch_size=batch_size, lr=args.lr, seed=args.seed,
                      run_dir=run, device=args.device, grad_clip=args.grad_clip, progress=not args.quiet)
    result = trainer.fit(resume=args.resume)

    shape = lambda imputed, n: imputed.reshape(n, *train.complete.shape[1:])  # noqa: E731
    imputations = {args.model: (shape(impute(model, data), len(train)), shape(impute(model, test_data), len(test)))}
    means = observed_means(train.masked, train.observed_mask)
    imputations["mean_fill"] = (mean_fill(train.masked, train.observed_mask, means),
                                mean_fill(test.masked, test.observed_mask, means))
    imputations["forward_fill"] = (forward_fill(train.masked, train.observed_mask, means),
                                   forward_fill(test.masked, test.observed_mask, means))
    scores = {name: imputation_scores(train, test, *pair, args) for name, pair in imputations.items()}

    codes = encode(model, test_data)  # gp_vae: (N, k, T) paths; vae: (N·T, k)
    frame_codes = codes.transpose(0, 2, 1).reshape(-1, args.latent_dim) if sequence_model else codes
    metrics = {
        **scores[args.model],
        "mcc": mcc(flatten_frames(test.factors[..., list(CONTINUOUS_FACTORS)]), frame_codes),
        "train_seconds": result.train_seconds,
        "epochs": trainer.epoch,
    }
    for baseline in ("mean_fill", "forward_fill"):
        metrics.update({f"{baseline}_{key}": value for key, value in scores[baseline].items()})
    plot_imputed_sequences(test.complete, test.observed_mask, {name: pair[1] for name, pair in imputations.items()},
                           run.file("imputations.png"))
    title = f"{args.model}" + (f" ({args.kernel} kernel)" if sequence_model else "") + f", seed {args.seed}"
    finish_run(run, metrics, title)
    print(format_comparison(scores, ["missing_nll", "missing_mse", "auroc"], "imputation of held-out sequences"))
    return metrics


if __name__ == "__main__":
    run_command_line(main)
