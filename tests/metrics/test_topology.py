"""Topology-aware scores: a loop is found in the pair of latents that draws a ring, and only there; points
and segments in their best single latent."""
import numpy as np
import pytest

from pyrodisent.metrics.topology import (best_loop_pair, circular_correlation, cluster_purity, topology_scores)


def test_circular_correlation_is_one_for_a_rotation_or_reflection_and_near_zero_for_independent_angles():
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0, 2 * np.pi, 2000)
    assert circular_correlation(alpha, alpha + 1.3) == pytest.approx(1.0)
    assert circular_correlation(alpha, -alpha + 0.4) == pytest.approx(-1.0)
    assert abs(circular_correlation(alpha, rng.uniform(0, 2 * np.pi, 2000))) < 0.06
    noisy = circular_correlation(alpha, alpha + rng.normal(0, 0.3, 2000))
    assert 0.8 < noisy < 0.98  # measured 0.91 ≈ E[cos ε]²: noise lowers it
    with pytest.raises(ValueError, match="two vectors of one length"):
        circular_correlation(alpha, alpha[:5])


def test_circular_correlation_of_a_factor_spread_round_its_circle_is_rotation_invariant_and_stable():
    """Hue-like angles (24 values, evenly spread) have no mean direction: the score must not depend on one. It is
    the same for every rotation of either angle, reads a winding with a cut by how far it goes round, a line
    through the codes (two opposite angles) as no loop, and varies little between samples of one model's codes."""
    rng = np.random.default_rng(3)
    hue = 2 * np.pi * rng.integers(0, 24, 3000) / 24
    winding = 0.9 * hue + rng.normal(0, 0.3, 3000)  # 90 % of the way round, then a cut
    score = circular_correlation(hue, winding)
    assert score > 0.85  # measured 0.88 (Jammalamadaka & SenGupta's centred ρ_c: −0.33)
    for shift in (0.7, 2.0, 4.5):
        assert circular_correlation(hue + shift, winding) == pytest.approx(score, abs=1e-9)
        assert circular_correlation(hue, winding - shift) == pytest.approx(score, abs=1e-9)
    half = 0.5 * hue + rng.normal(0, 0.3, 3000)
    assert 0.2 < circular_correlation(hue, half) < 0.5  # measured 0.32: half-way round is no loop
    line = np.where(hue < np.pi, 1.0, 1.0 + np.pi) + rng.normal(0, 0.05, 3000)
    assert abs(circular_correlation(hue, line)) < 0.05
    # samples of 3,000 from one population: measured 0.18–0.20 (the centred ρ_c: −0.45 to 0.44)
    population = 2 * np.pi * rng.integers(0, 24, 60_000) / 24
    codes_angle = population + rng.vonmises(0, 1.0, 60_000)
    samples = [circular_correlation(population[i], codes_angle[i])
               for i in (rng.choice(60_000, 3000, replace=False) for _ in range(10))]
    assert np.ptp(samples) < 0.06 and 0.15 < np.mean(samples) < 0.35, samples


def test_a_ring_scores_above_a_line_with_a_cut():
    rng = np.random.default_rng(1)
    alpha = rng.uniform(0, 2 * np.pi, 3000)
    noise = rng.normal(size=(3000, 3))
    ring = np.column_stack([noise[:, 0], 2 + np.cos(alpha), noise[:, 1], 2 + np.sin(alpha)])  # the ring in (1, 3)
    pair, score = best_loop_pair(alpha, ring)
    assert pair == (1, 3) and score > 0.99
    # the angle laid out on one axis (a segment with a seam at 0 = 2π) is no loop in any pair
    cut = np.column_stack([alpha, noise])
    _, cut_score = best_loop_pair(alpha, cut)
    assert cut_score < 0.8


def test_points_and_segments_are_scored_on_their_best_latent():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 1500)
    scale = rng.uniform(0, 1, 1500)
    angle = rng.uniform(0, 2 * np.pi, 1500)
    codes = np.column_stack([rng.normal(size=1500), labels * 3.0 + rng.normal(0, 0.3, 1500), np.exp(scale),
                             np.cos(angle), np.sin(angle)])
    factors = np.column_stack([labels, scale, angle])
    scores, matches = topology_scores(factors, codes, ["points", "segment", "loop"], ["shape", "scale", "hue"])
    assert scores["shape_purity"] > 0.99 and matches[0]["dims"] == (1,)
    assert scores["scale_spearman"] == pytest.approx(1.0) and matches[1]["dims"] == (2,)
    assert scores["hue_circular_corr"] > 0.99 and matches[2]["dims"] == (3, 4)
    assert scores["loop_circular_corr"] == scores["hue_circular_corr"]
    shuffled = codes[rng.permutation(1500)]
    worse, _ = topology_scores(factors, shuffled, ["points", "segment", "loop"], ["shape", "scale", "hue"])
    assert worse["shape_purity"] < 0.45 and worse["scale_spearman"] < 0.1 and worse["hue_circular_corr"] < 0.1
    with pytest.raises(ValueError, match="unknown topologies \\['ring'\\]"):
        topology_scores(factors, codes, ["points", "segment", "ring"], ["a", "b", "c"])


def test_cluster_purity_counts_majority_labels():
    assert cluster_purity(np.array([0, 0, 1, 1, 1, 2]), np.array([5, 5, 5, 6, 6, 6])) == pytest.approx(4 / 6)
