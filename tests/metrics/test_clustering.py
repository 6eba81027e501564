import numpy as np
import pytest

from pyrodisent.metrics import clustering_accuracy, matched_accuracy


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return rng.standard_normal((n, 2)) * 0.3 + 5 * np.eye(3)[labels, :2], labels


def test_separated_clusters_score_one_whatever_the_label_names():
    codes, labels = blobs()
    assert clustering_accuracy(codes, labels) == pytest.approx(1.0)
    assert clustering_accuracy(codes, (labels + 1) % 3 * 10) == pytest.approx(1.0)


def test_noise_scores_near_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    assert clustering_accuracy(rng.standard_normal((2000, 3)), labels) < 0.56


def test_matched_accuracy_and_errors():
    assert matched_accuracy([1, 1, 0, 0], [0, 0, 1, 1]) == 1.0
    assert matched_accuracy([0, 0, 0, 1], [0, 0, 1, 1]) == 0.75
    with pytest.raises(ValueError, match="labels has 3 entries"):
        clustering_accuracy(np.zeros((4, 2)), [0, 1, 0])
