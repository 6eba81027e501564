import numpy as np
import pytest

from pyrodisent.metrics import linear_r2, target_scores


def test_linear_r2_is_one_for_linear_maps_and_low_for_noise():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    assert linear_r2(z, z @ rng.standard_normal((3, 3)) + 2) == pytest.approx(1.0)
    assert linear_r2(z, rng.standard_normal((500, 3))) < 0.05


def test_target_scores_after_matching_a_permutation():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    z_est = z[:, [2, 0, 1]]  # inferred latent 0 is true factor 2, ...
    true = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    predicted = true[:, [2, 0, 1]].copy()
    assert target_scores(true, predicted, z, z_est) == {"target_precision": 1.0, "target_recall": 1.0, "target_f1": 1.0}
    predicted[0, 1] = True  # action 0 also flagged on inferred latent 1 = true factor 0: already true
    predicted[2, 0] = False  # miss action 2 on inferred latent 0 = true factor 2
    scores = target_scores(true, predicted, z, z_est)
    assert scores["target_precision"] == 1.0 and scores["target_recall"] == pytest.approx(3 / 4)
    predicted[1, 1] = True  # a false positive: action 1, true factor 0
    scores = target_scores(true, predicted, z, z_est)
    assert scores["target_precision"] == pytest.approx(3 / 4)
    assert scores["target_f1"] == pytest.approx(0.75)


def test_target_scores_bad_shapes():
    with pytest.raises(ValueError, match="same number of actions"):
        target_scores(np.zeros((3, 2), bool), np.zeros((4, 2), bool), np.zeros((5, 2)), np.zeros((5, 2)))


def test_aligned_targets_keeps_probabilities():
    from pyrodisent.metrics import aligned_targets

    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 2))
    probabilities = np.array([[0.2, 0.9], [0.6, 0.1]])
    true, predicted = aligned_targets(np.eye(2, dtype=bool), probabilities, z, z[:, ::-1])
    np.testing.assert_allclose(predicted, probabilities[:, ::-1])
