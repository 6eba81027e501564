import numpy as np
import pytest

from pyrodisent.metrics.sap import sap


def _grid():
    a = np.repeat([0, 1], 50)
    b = np.tile([0, 1], 50)
    return np.stack([a, b], axis=1)


def test_binary_grid_by_hand():
    factors = _grid()
    codes = 2.0 * factors - 1.0
    # Code k predicts factor k perfectly (accuracy 1); on the balanced grid the other code is
    # independent of the factor, so any prediction from it is right for exactly half the points.
    assert sap(codes, factors, codes, factors) == pytest.approx(0.5, abs=1e-12)
    # A copy of each code leaves no gap at all.
    doubled = np.hstack([codes, codes])
    assert sap(doubled, factors, doubled, factors) == pytest.approx(0.0, abs=1e-12)


def test_identity_codes_beat_noise_codes():
    rng = np.random.default_rng(0)
    sizes = (2, 3, 4)
    train = np.stack([rng.integers(0, s, 1000) for s in sizes], axis=1)
    test = np.stack([rng.integers(0, s, 500) for s in sizes], axis=1)
    codes_train = train + 0.05 * rng.normal(size=train.shape)
    identity = sap(codes_train, train, test + 0.05 * rng.normal(size=test.shape), test)
    noise = sap(rng.normal(size=(1000, 3)), train, rng.normal(size=(500, 3)), test)
    assert identity > 0.4
    assert noise < 0.05


def test_continuous_factors_by_hand():
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(500, 2))
    noisy_first = factors[:, 0] + 0.3 * rng.normal(size=500)
    codes = np.stack([noisy_first, factors[:, 1] + factors[:, 0], rng.normal(size=500)], axis=1)
    squared_correlation = np.corrcoef(codes.T, factors.T)[:3, 3:] ** 2  # (K, F)
    ordered = np.sort(squared_correlation, axis=0)
    expected = np.mean(ordered[-1] - ordered[-2])
    assert sap(codes, factors, codes[:10], factors[:10], continuous_factors=True) == pytest.approx(expected, rel=1e-10)


def test_bad_inputs():
    factors = _grid()
    with pytest.raises(ValueError, match=r"codes_train must be a 2-D array \(N, K\); got shape \(100,\)"):
        sap(np.zeros(100), factors, np.zeros((100, 2)), factors)
    with pytest.raises(ValueError, match=r"factors_train must hold integer class labels"):
        sap(np.zeros((100, 2)), factors + 0.25, np.zeros((100, 2)), factors)
    with pytest.raises(ValueError, match=r"at least 2 columns in codes_train"):
        sap(np.zeros((100, 1)), factors, np.zeros((100, 1)), factors)
    with pytest.raises(ValueError, match=r"factors_test has 100 rows but codes_test has 99"):
        sap(np.zeros((100, 2)), factors, np.zeros((99, 2)), factors)
