"""Pair crosstalk: 0 when each factor has its own latent, about 1/√2 when the latents encode c1 ± c2."""
import numpy as np
import pytest

from pyrodisent.metrics.pair_crosstalk import pair_crosstalk


def _factors(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 16, size=(n, 3)).astype(float), rng


def test_separate_latents_have_no_crosstalk():
    factors, rng = _factors()
    codes = np.stack([factors[:, 1], factors[:, 0], rng.normal(size=len(factors))], 1) + 0.1 * rng.normal(size=(len(factors), 3))
    assert pair_crosstalk(codes, factors, (0, 1)) < 0.05


def test_rotated_latents_have_crosstalk_of_one_over_root_two():
    factors, rng = _factors()
    centred = (factors - factors.mean(0)) / factors.std(0)
    codes = np.stack([centred[:, 0] + centred[:, 1], centred[:, 0] - centred[:, 1], centred[:, 2]], 1)
    assert pair_crosstalk(codes, factors, (0, 1)) == pytest.approx(1 / np.sqrt(2), abs=0.05)
    assert pair_crosstalk(codes, factors, (0, 2)) < 0.05  # c3 has a latent of its own


def test_bad_pairs_are_named():
    factors, _ = _factors(10)
    with pytest.raises(ValueError, match=r"pair must name two different factors of 3, got \(1, 1\)"):
        pair_crosstalk(factors, factors, (1, 1))
    with pytest.raises(ValueError, match="same number of rows"):
        pair_crosstalk(factors[:5], factors, (0, 1))
