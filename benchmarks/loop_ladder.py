"""Where the product prior stops recovering a loop: circular sprites with only some factors varying.

    python benchmarks/loop_ladder.py                                  # rungs hue, hue+pos_x; seeds 0–2
    python benchmarks/loop_ladder.py --rungs hue orientation,hue --seeds 0 --steps 1500
    python benchmarks/loop_ladder.py --continuous-loops                # loops round the whole circle, not the grid

Each rung varies the named factors of :class:`~pyrodisent.data.circular_sprites.CircularSprites` over their full
grid (``--continuous-loops``: the loops uniformly round the whole circle) and holds the others (an arrow at scale 1,
orientation 0, red, in the centre). On each rung the product prior
(``topological_vae``, one block per varying factor by its topology: ``points(3)``, ``segment``, ``loop``) is
measured against the baseline in the same run, the Gaussian prior (``beta_vae``) with as many latents: the study's
convolutional networks, a Gaussian pixel likelihood (σ = 0.1), β = 1 with the KL weight warmed up over the first
third of training, the product's blocks sharpened over the first half, Adam 1e-3, batch 64 — the
``circular_sprites`` protocol's settings with its Gaussian likelihood. Per loop factor: Fisher & Lee's ρ_T of the
best pair of latents (the protocol's score) and the R² of a 15-nearest-neighbour regression of (cos, sin) of the
factor from all codes (2,000 codes fitted, 1,000 held out) — whether the factor is learned at all, ring or not.
The reference ``untrained`` is the Gaussian-prior model before its first step: a random network already maps the
hue's fully saturated colours, a loop in RGB, to a rough ring.

Measured results and what they show: the README's topology section.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.neighbors import KNeighborsRegressor

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import ArrayDataset
from pyrodisent.data.circular_sprites import FACTOR_NAMES, FACTOR_TOPOLOGIES, FULL_FACTOR_VALUES, CircularSprites
from pyrodisent.evaluation.scoring import encode
from pyrodisent.metrics.topology import topology_scores
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer

#: the value of every factor that does not vary on a rung
HELD = dict(shape=0.0, scale=1.0, orientation=0.0, hue=0.0, pos_x=0.5, pos_y=0.5)
BLOCK_OF_TOPOLOGY = dict(points="points(3)", segment="segment", loop="loop")


def rung_values(columns, num: int, rng: np.random.Generator, continuous: bool = False) -> np.ndarray:
    """(num, 6) factor values: the ``columns`` drawn from their full grid (``continuous``: loops uniformly round
    the whole circle), every other factor held."""
    values = np.array([[HELD[name] for name in FACTOR_NAMES]] * num)
    for column in columns:
        if continuous and FACTOR_TOPOLOGIES[column] == "loop":
            values[:, column] = rng.uniform(0, 2 * np.pi, num)
        else:
            values[:, column] = rng.choice(FULL_FACTOR_VALUES[column], num)
    return values


def run_rung(prior: str, columns, seed: int, steps: int, train_size: int, test_points: int,
             continuous: bool = False) -> dict:
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    sprites = CircularSprites()
    train = ArrayDataset(sprites.render(rung_values(columns, train_size, rng, continuous)))
    test_values = rung_values(columns, test_points, rng, continuous)
    test = ArrayDataset(sprites.render(test_values))
    blocks = ", ".join(BLOCK_OF_TOPOLOGY[FACTOR_TOPOLOGIES[c]] for c in columns)
    common = dict(observation_shape=sprites.observation_shape, num_data=len(train), encoder="conv_encoder",
                  decoder="conv_decoder", likelihood="gaussian", likelihood_args=dict(scale=0.1), beta=1.0,
                  seed=seed, kl_warmup_steps=steps // 3)
    if prior == "product":
        model = MODELS.build("topological_vae", blocks=blocks, anneal_steps=steps // 2, **common)
    else:
        dim = sum(2 if FACTOR_TOPOLOGIES[c] == "loop" else 1 for c in columns)
        model = MODELS.build("beta_vae", latent_dim=dim, **common)
    if prior != "untrained":
        epochs = int(np.ceil(steps / np.ceil(len(train) / 64)))
        Trainer(model, train, epochs=epochs, batch_size=64, lr=1e-3, seed=seed, device="cpu", progress=False).fit()
    codes = encode(model, test)
    names = [FACTOR_NAMES[c] for c in columns]
    scores, matches = topology_scores(test_values[:, columns], codes, [FACTOR_TOPOLOGIES[c] for c in columns], names)
    result = dict(prior=prior, rung="+".join(names), seed=seed, blocks=blocks if prior == "product" else "",
                  continuous=continuous)
    fit = (2 * test_points) // 3
    for column, name, match in zip(columns, names, matches):
        if FACTOR_TOPOLOGIES[column] != "loop":
            continue
        target = np.column_stack([np.cos(test_values[:, column]), np.sin(test_values[:, column])])
        knn = KNeighborsRegressor(15).fit(codes[:fit], target[:fit])
        result[f"{name}_rho_t"] = round(scores[f"{name}_circular_corr"], 3)
        result[f"{name}_knn_r2"] = round(float(knn.score(codes[fit:], target[fit:])), 3)
        result[f"{name}_pair"] = list(match["dims"])
    result["seconds"] = round(time.perf_counter() - start)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rungs", nargs="+", default=["hue", "hue,pos_x"],
                        help=f"comma-separated varying factors of each rung, of {', '.join(FACTOR_NAMES)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1_500)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--test-points", type=int, default=3_000)
    parser.add_argument("--priors", nargs="+", default=["untrained", "normal", "product"],
                        choices=["untrained", "normal", "product"],
                        help="untrained: the Gaussian-prior model's encoder before any step (where a random network "
                             "puts the loop)")
    parser.add_argument("--continuous-loops", action="store_true",
                        help="loop factors drawn uniformly round the whole circle (train and test), not on the grid")
    parser.add_argument("--num-threads", type=int, default=1)
    args = parser.parse_args(argv)
    rungs = []
    for rung in args.rungs:
        names = [name.strip() for name in rung.split(",") if name.strip()]
        unknown = [name for name in names if name not in FACTOR_NAMES]
        if unknown or not names:
            parser.error(f"rung {rung!r}: unknown factors {unknown}; expected some of {', '.join(FACTOR_NAMES)}")
        if not any(FACTOR_TOPOLOGIES[FACTOR_NAMES.index(name)] == "loop" for name in names):
            parser.error(f"rung {rung!r} has no loop factor (orientation, hue) to score")
        rungs.append([FACTOR_NAMES.index(name) for name in names])
    torch.set_num_threads(args.num_threads)
    print(f"{'rung':<18} {'prior':<8} {'seed':>4}  loop: ρ_T (kNN R², pair)   s", flush=True)
    for columns in rungs:
        for seed in args.seeds:
            for prior in args.priors:
                result = run_rung(prior, columns, seed, args.steps, args.train_size, args.test_points,
                                  args.continuous_loops)
                loops = "  ".join(f"{name} {result[f'{name}_rho_t']:.3f} ({result[f'{name}_knn_r2']:.2f}, "
                                  f"{tuple(result[f'{name}_pair'])})"
                                  for name in (FACTOR_NAMES[c] for c in columns) if f"{name}_rho_t" in result)
                print(f"{result['rung']:<18} {prior:<8} {seed:>4}  {loops}  {result['seconds']:>4}", flush=True)
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
