import numpy as np
import pytest

from pyrodisent.metrics.irs import irs


def _factors(num=1000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 5, num), rng.integers(0, 8, num)], axis=1)


def test_identity_codes_score_high():
    factors = _factors()
    assert irs(factors.astype(float), factors) > 0.9


def test_noise_codes_score_low():
    factors = _factors()
    assert irs(np.random.default_rng(1).normal(size=(1000, 2)), factors) < 0.4


def test_constant_codes_score_zero():
    assert irs(np.zeros((1000, 3)), _factors()) == 0.0


def test_one_code_one_factor_by_hand():
    factors = np.array([[0], [0], [1], [1]])
    codes = np.array([[0.0], [0.1], [1.0], [1.1]])
    # Within each factor value the code deviates by 0.05 from its conditional mean; its largest
    # deviation from the overall mean 0.55 is 0.55: IRS = 1 - 0.05 / 0.55.
    assert irs(codes, factors, diff_quantile=1.0) == pytest.approx(1.0 - 0.05 / 0.55)


def test_two_codes_by_hand():
    factors = np.array([[0], [0], [1], [1]])
    codes = np.array([[0.0, 0.0], [0.1, 2.0], [1.0, 0.0], [1.1, 2.0]])
    # Code 0 as above; code 1 ignores the factor: deviations 1 within each group, largest 1 -> IRS 0.
    # Weighted by the largest deviations 0.55 and 1.0.
    expected = (0.55 * (1.0 - 0.05 / 0.55) + 1.0 * 0.0) / 1.55
    assert irs(codes, factors, diff_quantile=1.0) == pytest.approx(expected)


def test_constant_codes_are_dropped():
    factors = _factors()
    codes = np.random.default_rng(2).normal(size=(1000, 2)) + factors
    with_constant = np.hstack([codes, np.full((1000, 1), 3.0)])
    assert irs(with_constant, factors) == irs(codes, factors)


def test_continuous_factors_are_binned():
    rng = np.random.default_rng(3)
    factor = rng.uniform(size=(2000, 1))
    codes = np.hstack([factor, rng.normal(size=(2000, 1))])
    # Binning the factor into 20 bins leaves each group a width of 1/20 of the code's range.
    assert irs(codes[:, :1], factor) > 0.9
    assert irs(codes[:, 1:], factor) < 0.4


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"diff_quantile must lie in \[0, 1\]; got 1.5"):
        irs(np.ones((10, 2)), _factors(10), diff_quantile=1.5)
    with pytest.raises(ValueError, match=r"factors must be a 2-D array \(N, F\); got shape \(10,\)"):
        irs(np.ones((10, 2)), np.zeros(10))
    with pytest.raises(ValueError, match=r"factors has 10 rows but codes has 11"):
        irs(np.ones((11, 2)), _factors(10))
