"""Precision and recall of the dimensions a model says a pair changed, on hand-made inputs."""
import numpy as np
import pytest

from pyrodisent.metrics.changed_dimensions import changed_dimension_scores, changed_latents, latent_factor_matching


def test_matching_takes_the_most_informative_factor_and_skips_inactive_latents():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 5, (500, 2))
    codes = np.stack([factors[:, 1] + 0.01 * rng.standard_normal(500), np.zeros(500),
                      factors[:, 0] * 1.0, 1e-3 * rng.standard_normal(500)], axis=1)
    assert latent_factor_matching(codes, factors).tolist() == [1, -1, 0, -1]


def test_precision_and_recall_by_hand():
    matching = np.array([0, 1, -1, 2])  # latent 2 matches no factor
    changed_factors = np.array([[True, False, False], [False, True, True]])
    assert changed_latents(changed_factors, matching).tolist() == [[True, False, False, False],
                                                                   [False, True, False, True]]
    predicted = np.array([[True, False, True, False],   # 1 hit, 1 false positive (unmatched latent)
                          [False, True, False, False]])  # 1 hit, 1 miss
    scores = changed_dimension_scores(predicted, changed_factors, matching)
    assert scores["changed_dims_precision"] == pytest.approx(2 / 3)
    assert scores["changed_dims_recall"] == pytest.approx(2 / 3)


def test_perfect_and_empty_predictions():
    matching = np.array([1, 0])
    changed_factors = np.array([[True, False], [False, True], [True, True]])
    perfect = changed_latents(changed_factors, matching)
    assert changed_dimension_scores(perfect, changed_factors, matching) == {"changed_dims_precision": 1.0,
                                                                            "changed_dims_recall": 1.0}
    none = np.zeros_like(perfect)
    assert changed_dimension_scores(none, changed_factors, matching) == {"changed_dims_precision": 0.0,
                                                                         "changed_dims_recall": 0.0}
    with pytest.raises(ValueError, match="predicted must be"):
        changed_dimension_scores(np.zeros((3, 5), bool), changed_factors, matching)
