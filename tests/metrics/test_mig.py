import numpy as np
import pytest

from pyrodisent.metrics.mig import mig

SIZES = (4, 7, 12)


def _factors(num=2000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, num) for size in SIZES], axis=1)


def test_identity_codes_score_high():
    factors = _factors()
    assert mig(factors.astype(float), factors) >= 0.9


def test_noise_codes_score_low():
    factors = _factors()
    codes = np.random.default_rng(1).normal(size=(2000, 3))
    assert mig(codes, factors) < 0.1


def test_constant_codes_score_low():
    factors = _factors()
    assert mig(np.ones((2000, 3)), factors) < 0.2


def test_duplicated_codes_score_low():
    factors = _factors()
    codes = np.hstack([factors, factors]).astype(float)
    assert mig(codes, factors) < 0.1


def test_two_factor_toy_closed_form():
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    b = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    factors = np.stack([a, b], axis=1)
    # Each factor is carried by exactly one code; the other code (and the constant one) is independent
    # of it on this balanced grid: MI = [[log 2, 0], [0, log 2], [0, 0]], both gaps log 2 / H = 1.
    codes = np.stack([a, b, np.zeros(8)], axis=1).astype(float)
    assert mig(codes, factors) == pytest.approx(1.0, abs=1e-12)
    # Two copies of factor a: its gap is 0; factor b is carried by no code: its gap is 0 too.
    assert mig(np.stack([a, a], axis=1).astype(float), factors) == pytest.approx(0.0, abs=1e-12)


def _mutual_information(x, y):
    joint = np.zeros((x.max() + 1, y.max() + 1))
    np.add.at(joint, (x, y), 1.0)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero]))


def test_two_factor_toy_by_hand():
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    b = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    flipped_b = np.array([0, 1, 0, 1, 0, 1, 0, 0])
    a_xor_b = a ^ b
    factors = np.stack([a, b], axis=1)
    # Codes with two values each: 20 equal-width bins put the minimum in bin 1 and the maximum in
    # bin 20, so the discretised codes are the binary codes themselves.
    binary_codes = [a, flipped_b, a_xor_b]
    codes = 0.3 + 2.0 * np.stack(binary_codes, axis=1)
    information = np.array([[_mutual_information(code, factor) for factor in (a, b)] for code in binary_codes])
    entropy = np.array([_mutual_information(a, a), _mutual_information(b, b)])
    ordered = np.sort(information, axis=0)
    expected = np.mean((ordered[-1] - ordered[-2]) / entropy)
    assert 0.1 < expected < 0.95  # a non-trivial case
    assert mig(codes, factors) == pytest.approx(expected, rel=1e-10)


def test_num_bins_is_used():
    factors = np.repeat(np.arange(32), 50)[:, None]
    factors = np.hstack([factors, np.tile(np.arange(2), 800)[:, None]])
    codes = factors.astype(float)
    # 20 bins of width 31/20 over [0, 31] hold one or two of the 32 values: the binned code keeps
    # entropy H(bin) of the first factor's log 32; the binary factor is kept whole (gap 1).
    bins = np.minimum(np.floor(np.arange(32) / (31 / 20)), 19).astype(int)
    bin_probability = np.bincount(bins) / 32
    binned_entropy = -np.sum(bin_probability * np.log(bin_probability))
    assert binned_entropy < np.log(32) - 0.1
    assert mig(codes, factors) == pytest.approx((binned_entropy / np.log(32) + 1.0) / 2, rel=1e-9)
    assert mig(codes, factors, num_bins=32) == pytest.approx(1.0, rel=1e-9)


def test_bad_inputs():
    factors = _factors(10)
    with pytest.raises(ValueError, match=r"codes must be a 2-D array \(N, K\); got shape \(5,\)"):
        mig(np.zeros(5), factors)
    with pytest.raises(ValueError, match=r"factors has 10 rows but codes has 9"):
        mig(np.zeros((9, 3)), factors)
    with pytest.raises(ValueError, match=r"codes contains NaN or inf values"):
        codes = np.ones((10, 3))
        codes[4, 1] = np.nan
        mig(codes, factors)
    with pytest.raises(ValueError, match=r"factors must hold integer class labels"):
        mig(np.ones((10, 3)), factors + 0.5)
    with pytest.raises(ValueError, match=r"factors column 0 is constant"):
        mig(np.ones((10, 3)), np.zeros((10, 2), dtype=int))
    with pytest.raises(ValueError, match=r"at least 2 columns in codes"):
        mig(np.ones((10, 1)), factors)
