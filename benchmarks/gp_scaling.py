"""Epoch time of the GP-VAE against sequence length T at a fixed number of frames, and its exponent.

For T = 10, 100, 1000 the same number of frames (default 10,000 frames of 32 × 32, 1000 frames a step)
is cut into sequences of T frames; one epoch is timed after a warm-up step, and the exponent b of
time ≈ a · T^b is the least-squares slope of log time on log T. Besides the epoch, the three parts of
one step are timed separately: the networks and likelihood (O(frames)), the banded guide's sampling
and KL to the GP prior (O(frames · T): the KL's trace term reads all T² entries of the prior's
precision), and the prior's Cholesky factor and inverse (O(L · T³) a step, shared by the batch; cached
once when the kernel is fixed, the default).

    python benchmarks/gp_scaling.py [--frames 10000] [--learn-kernel] [--lengths 10 100 1000]

The reference implementation forms dense T × T covariances per sequence (O(T³) a sequence, O(frames · T²)
an epoch). Measured figures: README, "Results".
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


import numpy as np
import pyro
import torch
from torch.distributions import kl_divergence

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import SpriteSequences
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer


def build(length: int, args):
    num_sequences = args.frames // length
    data = SpriteSequences(num_frames=length, image_size=args.image_size, seed=0).training_set(num_sequences)
    model = MODELS.build("gp_vae", observation_shape=data.observation_shape, latent_dim=args.latent_dim,
                         num_data=len(data), encoder_args=dict(hidden=(args.width,)), features=args.width,
                         decoder_args=dict(hidden=(args.width, args.width)), learn_kernel=args.learn_kernel,
                         beta=0.8)
    return model, data, max(1, args.frames_per_step // length)


def part_timings(model, data, batch_size: int, repeats: int = 3) -> dict:
    """Seconds per step (forward + backward) of the prior's factors, the guide + KL, and everything."""
    batch = data.batch(torch.arange(batch_size))
    timings = {}

    def prior_part():
        scale_tril, precision = model.gaussian_process._factors()
        return scale_tril.sum() + precision.sum()

    def guide_kl_part():
        q = model.posterior(batch)
        p = model.prior(batch)
        return kl_divergence(q, p).sum() + q.rsample().sum()

    def full_step():
        loss, _ = model.training_objective()(model.model, model.guide, batch)
        return loss

    for name, part in (("prior_factors", prior_part), ("guide_and_kl", guide_kl_part), ("step", full_step)):
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            value = part()
            if value.requires_grad:
                value.backward()
            seconds.append(time.perf_counter() - start)
            model.zero_grad(set_to_none=True)
        timings[name] = float(np.median(seconds))
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--frames", type=int, default=10_000, help="frames per epoch, the same for every T")
    parser.add_argument("--frames-per-step", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--learn-kernel", action="store_true",
                        help="learn the kernel: the prior's O(L·T³) factors are then paid every step")
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.num_threads)
    rows = []
    for length in args.lengths:
        pyro.set_rng_seed(0)
        model, data, batch_size = build(length, args)
        parts = part_timings(model, data, batch_size)
        trainer = Trainer(model, data, epochs=1, batch_size=batch_size, lr=1e-3, device="cpu", progress=False)
        trainer.train_step(data.batch(torch.arange(batch_size)))  # warm-up (and the frozen prior's cache)
        start = time.perf_counter()
        trainer.fit()
        epoch = time.perf_counter() - start
        rows.append(dict(T=length, sequences=len(data), batch_sequences=batch_size, steps=len(trainer.loader),
                         epoch_seconds=epoch, **{f"{k}_seconds_per_step": v for k, v in parts.items()},
                         peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        print(f"T = {length:5d}: {len(data):5d} sequences, {batch_size:4d} a step, epoch {epoch:7.2f} s "
              f"(per step: all {parts['step']:.3f} s, guide+KL {parts['guide_and_kl']:.3f} s, prior factors "
              f"{parts['prior_factors']:.3f} s{' — cached, not paid per step' if not args.learn_kernel else ''}); "
              f"peak RSS {rows[-1]['peak_rss_mb']:.0f} MB", flush=True)
    lengths = np.log([row["T"] for row in rows])
    exponent = float(np.polyfit(lengths, np.log([row["epoch_seconds"] for row in rows]), 1)[0])
    print(f"fitted exponent of epoch time in T (fixed frames): {exponent:.3f}"
          f"{' (kernel learned)' if args.learn_kernel else ' (kernel fixed)'}")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "exponent": exponent, "learn_kernel": args.learn_kernel},
                                        indent=2))
    return exponent


if __name__ == "__main__":
    main()
