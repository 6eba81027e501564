"""Discover each factor's topology from a trained model's codes, without being told it.

For each true factor, the two latent dimensions that carry most information about it (mutual
information, scikit-learn's ``mutual_info_regression``; for an angle, about its cosine and sine) span a
plane (a, b), a the more informative. The codes in that plane are fitted by every candidate topology by
maximum likelihood on one part of the points and scored by their mean log density on the other part.
The 1-D candidates model z_a and leave z_b to a Gaussian, so every candidate is a density on the plane:

- ``gaussian``: z_a Gaussian (no structure);
- ``points(k)``, k = 2 … 6: z_a a mixture of k Gaussians (scikit-learn's ``GaussianMixture``);
- ``segment``: z_a a smoothed uniform (the segment prior's family, fitted by scipy);
- ``loop``: a ring in the plane — the radius around the centre Gaussian, the angle uniform:
  p(z) = N(r; ρ, σ²) / (2π r Φ(ρ/σ)).

The highest held-out log density picks the topology. With the encoder and decoder fixed, changing the
prior of a block changes the ELBO only through E_q[log p(z_b)], so for a product prior this is selection
by held-out ELBO with each candidate's parameters at their maximum-likelihood values.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from sklearn.feature_selection import mutual_info_regression
from sklearn.mixture import GaussianMixture

#: the numbers of points tried
POINT_COUNTS = (2, 3, 4, 5, 6)


def gaussian_mixture_score(train: np.ndarray, test: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Held-out log densities (per test point) of a k-component mixture fitted to ``train`` (N, 1)."""
    mixture = GaussianMixture(n_components=k, n_init=2, random_state=seed, reg_covar=1e-5)
    return mixture.fit(train).score_samples(test)


def smoothed_segment_log_density(t: np.ndarray, low: float, high: float, width: float) -> np.ndarray:
    """log of (Φ((t − low)/w) − Φ((t − high)/w)) / (high − low), by the mirror image about the middle."""
    half, distance = (high - low) / 2, -np.abs(t - (low + high) / 2)
    upper, lower = special.log_ndtr((distance + half) / width), special.log_ndtr((distance - half) / width)
    return upper + np.log(-np.expm1(lower - upper)) - np.log(high - low)


def segment_log_density(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Held-out log densities of a smoothed uniform fitted to 1-D ``train`` by maximum likelihood."""
    def negative_log_likelihood(params):
        low, log_length, log_width = params
        return -smoothed_segment_log_density(train, low, low + np.exp(log_length), np.exp(log_width)).mean()

    start = [np.quantile(train, 0.01), np.log(np.ptp(train) + 1e-9), np.log(train.std() / 10 + 1e-9)]
    fit = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead",
                            options=dict(maxiter=2000, xatol=1e-6, fatol=1e-9))
    low, log_length, log_width = fit.x
    return smoothed_segment_log_density(test, low, low + np.exp(log_length), np.exp(log_width))


def loop_log_density(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Held-out log densities of a ring around the centre of 2-D ``train``: the radius N(ρ, σ²) (truncated
    to r > 0), the angle uniform."""
    centre = train.mean(0)
    r_train = np.linalg.norm(train - centre, axis=1)
    r_test = np.maximum(np.linalg.norm(test - centre, axis=1), 1e-12)
    radius, spread = r_train.mean(), max(r_train.std(), 1e-9)
    return (stats.norm.logpdf(r_test, radius, spread) - special.log_ndtr(radius / spread)
            - np.log(2 * np.pi * r_test))


def candidate_scores(plane: np.ndarray, seed: int = 0, test_fraction: float = 1 / 3) -> Dict[str, float]:
    """Held-out mean log density of every candidate topology on 2-D codes (N, 2), column 0 the more
    informative latent."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(plane))
    cut = int(len(plane) * (1 - test_fraction))
    scale = plane[order[:cut]].std(0).mean() or 1.0  # units in which every fit is well conditioned
    train, test = plane[order[:cut]] / scale, plane[order[cut:]] / scale
    # the second latent of the 1-D candidates: a Gaussian
    other = stats.norm.logpdf(test[:, 1], train[:, 1].mean(), max(train[:, 1].std(), 1e-9))
    along_train, along_test = train[:, :1], test[:, :1]
    scores = {"gaussian": gaussian_mixture_score(along_train, along_test, 1, seed)}
    scores.update({f"points({k})": gaussian_mixture_score(along_train, along_test, k, seed) for k in POINT_COUNTS})
    scores["segment"] = segment_log_density(train[:, 0], test[:, 0])
    scores = {name: float(np.mean(values + other)) for name, values in scores.items()}
    scores["loop"] = float(np.mean(loop_log_density(train, test)))
    return scores


def discover_topologies(factor_values: np.ndarray, codes: np.ndarray, names: Sequence[str],
                        periods: Sequence | None = None, seed: int = 0) -> pd.DataFrame:
    """Per factor: the plane of its two most informative latents, every candidate's held-out log density,
    and the chosen topology (one row per factor)."""
    if codes.shape[1] < 2:
        raise ValueError(f"discovering topologies needs ≥ 2 latent dimensions, got {codes.shape[1]}")
    periods = list(periods) if periods is not None else [None] * len(names)
    rows = []
    for column, (name, period) in enumerate(zip(names, periods)):
        values = factor_values[:, column]
        if period:  # an angle: informative about it means informative about its cosine or sine
            angle = values * (2 * np.pi / period)
            information = (mutual_info_regression(codes, np.cos(angle), random_state=seed)
                           + mutual_info_regression(codes, np.sin(angle), random_state=seed))
        else:
            information = mutual_info_regression(codes, values, random_state=seed)
        dims = [int(i) for i in np.argsort(-information)[:2]]
        scores = candidate_scores(codes[:, dims], seed=seed)
        chosen = max(scores, key=scores.get)
        rows.append({"factor": name, "dims": f"{dims[0]},{dims[1]}", "chosen": chosen,
                     "topology": chosen.split("(")[0] if chosen.startswith("points") else chosen,
                     **{f"loglik_{key}": value for key, value in scores.items()}})
    return pd.DataFrame(rows)
