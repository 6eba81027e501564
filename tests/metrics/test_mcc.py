import numpy as np
import pytest

from pyrodisent.metrics import mcc


def sources(n=2000, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def test_identity_is_one():
    z = sources()
    assert mcc(z, z) == pytest.approx(1.0)
    assert mcc(z, z, method="spearman") == pytest.approx(1.0)


def test_permuted_scaled_and_sign_flipped_is_one():
    z = sources()
    est = -3.0 * z[:, [2, 0, 3, 1]] + 5.0
    assert mcc(z, est) == pytest.approx(1.0)


def test_spearman_ignores_monotone_transforms_pearson_does_not():
    z = sources()
    est = np.exp(2 * z)
    assert mcc(z, est, method="spearman") == pytest.approx(1.0)
    assert mcc(z, est) < 0.9


def test_independent_codes_are_near_zero():
    assert mcc(sources(seed=0), sources(seed=1)) < 0.06


def test_rotation_is_penalised():
    z = sources(d=2)
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    rotated = z @ np.array([[c, -s], [s, c]])
    assert mcc(z, rotated) == pytest.approx(np.sqrt(0.5), abs=0.05)


def test_bad_input():
    with pytest.raises(ValueError, match=r"z_est has 3 rows but 5 were expected"):
        mcc(np.zeros((5, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"z_true must be a 2-D array"):
        mcc(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="method must be"):
        mcc(np.ones((5, 1)), np.ones((5, 1)), method="kendall")
    bad = np.zeros((5, 1))
    bad[0] = np.nan
    with pytest.raises(ValueError, match="z_est contains NaN"):
        mcc(np.ones((5, 1)), bad)
