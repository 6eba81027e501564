import numpy as np
import pytest
import scipy.linalg

from pyrodisent.metrics.total_correlation import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    unsupervised_scores,
)

COVARIANCE = np.array([[1.0, 0.9], [0.9, 1.0]])


def test_gaussian_total_correlation_by_hand():
    # KL(N(0, S) || N(0, diag S)) for unit variances and correlation 0.9 is -1/2 log(1 - 0.81).
    assert gaussian_total_correlation(COVARIANCE) == pytest.approx(-0.5 * np.log(1 - 0.81))
    assert gaussian_total_correlation(np.diag([1.0, 4.0, 0.5])) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_wasserstein_correlation_by_hand():
    diagonal = np.diag(np.diag(COVARIANCE))
    expected = np.trace(COVARIANCE + diagonal - 2 * scipy.linalg.sqrtm(COVARIANCE @ diagonal)).real
    assert gaussian_wasserstein_correlation(COVARIANCE) == pytest.approx(expected)
    # Unit variances: eigenvalues 1 +- 0.9, so W = 4 - 2 (sqrt 1.9 + sqrt 0.1).
    assert gaussian_wasserstein_correlation(COVARIANCE) == pytest.approx(4 - 2 * (np.sqrt(1.9) + np.sqrt(0.1)))
    scaled = np.array([[4.0, 0.6], [0.6, 0.25]])
    diagonal = np.diag(np.diag(scaled))
    expected = np.trace(scaled + diagonal - 2 * scipy.linalg.sqrtm(scaled @ diagonal)).real
    assert gaussian_wasserstein_correlation(scaled) == pytest.approx(expected)


def test_independent_codes_score_near_zero():
    codes = np.random.default_rng(0).normal(size=(2000, 4)) * np.array([1.0, 2.0, 0.5, 3.0])
    scores = unsupervised_scores(codes)
    assert scores["gaussian_total_correlation"] < 0.01
    assert scores["gaussian_wasserstein_correlation_norm"] < 0.01
    assert scores["mutual_info_score"] < 0.1


def test_correlated_codes_score_high():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2000, 1))
    codes = np.hstack([base, base + 0.1 * rng.normal(size=(2000, 1))])
    scores = unsupervised_scores(codes)
    covariance = np.cov(codes, rowvar=False)
    assert scores["gaussian_total_correlation"] == pytest.approx(gaussian_total_correlation(covariance))
    assert scores["gaussian_total_correlation"] > 1.5
    assert scores["gaussian_wasserstein_correlation_norm"] == pytest.approx(
        scores["gaussian_wasserstein_correlation"] / np.trace(covariance)
    )
    assert scores["mutual_info_score"] > 1.0


def test_mutual_info_score_by_hand():
    a = np.array([0, 0, 1, 1])
    codes = np.stack([a, a, np.array([0, 1, 0, 1])], axis=1).astype(float)
    # Pairs: (0, 1) share log 2 nats, the others nothing; mean over the 6 ordered pairs.
    assert unsupervised_scores(codes)["mutual_info_score"] == pytest.approx(2 * np.log(2) / 6)


def test_a_constant_code_adds_nothing():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(500, 1))
    codes = np.hstack([base, base + rng.normal(size=(500, 1))])
    with_constant = unsupervised_scores(np.hstack([codes, np.ones((500, 1))]))
    without = unsupervised_scores(codes)
    assert with_constant["gaussian_total_correlation"] == pytest.approx(without["gaussian_total_correlation"])
    assert with_constant["gaussian_wasserstein_correlation"] == pytest.approx(
        without["gaussian_wasserstein_correlation"]
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"at least 2 columns in codes \(N, K>=2\); got shape \(10, 1\)"):
        unsupervised_scores(np.ones((10, 1)))
    with pytest.raises(ValueError, match=r"codes must be a 2-D array \(N, K\); got shape \(10,\)"):
        unsupervised_scores(np.ones(10))


def test_mutual_info_score_uses_twenty_bins():
    values = np.repeat(np.arange(40.0), 5)  # 40 equally spaced values: 20 bins pair them up evenly
    codes = np.stack([values, -values], axis=1)
    assert unsupervised_scores(codes)["mutual_info_score"] == pytest.approx(np.log(20))
