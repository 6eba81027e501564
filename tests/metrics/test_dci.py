import numpy as np
import pytest

from pyrodisent.metrics.dci import completeness, dci, disentanglement

SIZES = (3, 4)


def _factors(num, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, num) for size in SIZES], axis=1)


def _entropy(p, base):
    p = p / p.sum()
    p = p[p > 0]
    return -np.sum(p * np.log(p)) / np.log(base)


def test_importance_scores_by_hand():
    importance = np.array([[0.6, 0.1], [0.2, 0.9], [0.2, 0.0]])  # (K=3 codes, F=2 factors)
    total = importance.sum()
    expected_disentanglement = sum(
        importance[k].sum() / total * (1 - _entropy(importance[k], base=2)) for k in range(3)
    )
    expected_completeness = sum(
        importance[:, j].sum() / total * (1 - _entropy(importance[:, j], base=3)) for j in range(2)
    )
    assert disentanglement(importance) == pytest.approx(expected_disentanglement, abs=1e-8)
    assert completeness(importance) == pytest.approx(expected_completeness, abs=1e-8)


def test_importance_scores_extremes():
    assert disentanglement(np.eye(4)) == pytest.approx(1.0, abs=1e-8)
    assert completeness(np.eye(4)) == pytest.approx(1.0, abs=1e-8)
    # One code explains both factors: perfectly complete, not disentangled at all.
    one_code = np.array([[0.5, 0.5], [0.0, 0.0]])
    assert disentanglement(one_code) == pytest.approx(0.0, abs=1e-8)
    assert completeness(one_code) == pytest.approx(1.0, abs=1e-8)
    # Each factor spread evenly over two codes: disentangled, not complete.
    spread = np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 0.5], [0.0, 0.5]])
    assert disentanglement(spread) == pytest.approx(1.0, abs=1e-8)
    assert completeness(spread) == pytest.approx(1.0 - np.log(2) / np.log(4), abs=1e-8)


def test_identity_codes_score_high():
    rng = np.random.default_rng(0)
    train, test = _factors(1000, 1), _factors(500, 2)
    codes_train = np.hstack([train, rng.normal(size=(1000, 1))])
    codes_test = np.hstack([test, rng.normal(size=(500, 1))])
    scores = dci(codes_train, train, codes_test, test, n_jobs=1)
    assert scores["disentanglement"] > 0.9
    assert scores["completeness"] > 0.9
    assert scores["informativeness"] > 0.95
    assert scores["informativeness_train"] > 0.95


def test_noise_codes_score_low():
    rng = np.random.default_rng(0)
    train, test = _factors(1000, 1), _factors(500, 2)
    scores = dci(rng.normal(size=(1000, 3)), train, rng.normal(size=(500, 3)), test, n_jobs=1)
    assert scores["disentanglement"] < 0.2
    assert scores["completeness"] < 0.2
    assert scores["informativeness"] < 0.45  # chance is 1/3 and 1/4
    assert scores["informativeness_train"] > scores["informativeness"]  # trees overfit the noise


def test_parallel_fit_gives_the_same_values_as_serial():
    rng = np.random.default_rng(3)
    train, test = _factors(400, 4), _factors(200, 5)
    codes_train = train / np.array(SIZES) + 0.3 * rng.normal(size=train.shape)
    codes_test = test / np.array(SIZES) + 0.3 * rng.normal(size=test.shape)
    serial = dci(codes_train, train, codes_test, test, n_jobs=1)
    parallel = dci(codes_train, train, codes_test, test, n_jobs=2)
    assert 0.05 < serial["informativeness"] < 1.0
    assert parallel == serial


def test_equals_disentanglement_lib_loop_of_classifiers():
    """disentanglement_lib: one GradientBoostingClassifier per factor, importances as columns of R."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(8)
    train, test = _factors(300, 6), _factors(150, 7)
    codes_train = np.c_[train / 3.0 + 0.4 * rng.normal(size=train.shape), rng.normal(size=(300, 1))]
    codes_test = np.c_[test / 3.0 + 0.4 * rng.normal(size=test.shape), rng.normal(size=(150, 1))]
    importance, test_accuracy = np.zeros((3, 2)), []
    for j in range(2):
        classifier = GradientBoostingClassifier(random_state=0).fit(codes_train, train[:, j])
        importance[:, j] = np.abs(classifier.feature_importances_)
        test_accuracy.append(np.mean(classifier.predict(codes_test) == test[:, j]))
    scores = dci(codes_train, train, codes_test, test)
    assert scores["disentanglement"] == disentanglement(importance)
    assert scores["completeness"] == completeness(importance)
    assert scores["informativeness"] == np.mean(test_accuracy)


def test_bad_inputs():
    train, test = _factors(50, 1), _factors(20, 2)
    with pytest.raises(ValueError, match=r"codes_test must have 2 columns \(N, 2\); got shape \(20, 3\)"):
        dci(np.ones((50, 2)), train, np.ones((20, 3)), test)
    with pytest.raises(ValueError, match=r"factors_test must have 2 columns"):
        dci(np.ones((50, 2)), train, np.ones((20, 2)), test[:, :1])
    with pytest.raises(ValueError, match=r"factors_train has 50 rows but codes_train has 49"):
        dci(np.ones((49, 2)), train, np.ones((20, 2)), test)
    with pytest.raises(TypeError, match=r"random_state must be an int seed or None"):
        dci(np.ones((50, 2)), train, np.ones((20, 2)), test, random_state=np.random.default_rng(0))
