import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pyrodisent.metrics.modularity_explicitness import modularity, modularity_explicitness


def _factors(num, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 4, num), rng.integers(0, 4, num)], axis=1)


def test_modularity_by_hand():
    assert modularity(np.diag([5.0, 5.0, 5.0])) == pytest.approx(1.0)
    # A code with no information scores 0: (1 + 1 + 0) / 3.
    assert modularity(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])) == pytest.approx(2.0 / 3.0)
    # One code, two factors with information 1 and 0.5: delta = 0.5^2 / (1^2 * (2 - 1)).
    assert modularity(np.array([[1.0, 0.5]])) == pytest.approx(0.75)
    # Each code shares its information equally between 2 of 10 factors: delta = 1 / 9.
    assert modularity(np.hstack([np.eye(5), np.eye(5)])) == pytest.approx(1.0 - 1.0 / 9.0)


def test_identity_codes_score_high():
    train, test = _factors(1000, 0), _factors(500, 1)
    scores = modularity_explicitness(train.astype(float), train, test.astype(float), test)
    assert scores["modularity"] > 0.9
    assert scores["explicitness"] > 0.9
    assert scores["explicitness_train"] > 0.9


def test_mixed_codes_are_not_modular():
    train, test = _factors(1000, 0), _factors(500, 1)
    mix = np.array([[1.0, 1.0], [1.0, -1.0]])
    scores = modularity_explicitness(train @ mix, train, test @ mix, test)
    assert scores["modularity"] < 0.3
    assert scores["explicitness"] > 0.9  # the factors are still linearly decodable


def test_noise_codes_are_not_explicit():
    rng = np.random.default_rng(2)
    train, test = _factors(1000, 0), _factors(500, 1)
    scores = modularity_explicitness(rng.normal(size=(1000, 2)), train, rng.normal(size=(500, 2)), test)
    assert abs(scores["explicitness"] - 0.5) < 0.07


def test_explicitness_of_a_separable_binary_factor_is_one():
    factor = np.tile([0, 1], 50)[:, None]
    codes = np.hstack([factor * 4.0 - 2.0, np.linspace(0, 1, 100)[:, None]])
    scores = modularity_explicitness(codes, factor, codes, factor)
    assert scores["explicitness"] == pytest.approx(1.0)


def test_a_constant_code_is_allowed():
    train, test = _factors(300, 0), _factors(100, 1)
    codes_train = np.hstack([train.astype(float), np.ones((300, 1))])
    codes_test = np.hstack([test.astype(float), np.ones((100, 1))])
    scores = modularity_explicitness(codes_train, train, codes_test, test)
    assert scores["modularity"] == pytest.approx(2.0 / 3.0, abs=0.01)  # the constant code scores 0
    assert scores["explicitness"] > 0.9


def test_a_class_missing_from_the_held_out_set_is_left_out():
    rng = np.random.default_rng(4)
    train, test = _factors(400, 0), _factors(200, 1)
    test[test[:, 0] == 3, 0] = 2  # class 3 of factor 0 never occurs in the held-out set
    codes_train = train + 0.8 * rng.normal(size=train.shape)
    codes_test = test + 0.8 * rng.normal(size=test.shape)
    scores = modularity_explicitness(codes_train, train, codes_test, test)
    # By hand: standardise with the training moments, fit the same classifiers, average the
    # one-vs-rest AUCs of the classes each held-out factor shows, then average over factors.
    mean, scale = codes_train.mean(axis=0), codes_train.std(axis=0)
    per_factor = []
    for j in range(2):
        classifier = LogisticRegression().fit((codes_train - mean) / scale, train[:, j])
        probabilities = classifier.predict_proba((codes_test - mean) / scale)
        per_factor.append(np.mean([
            roc_auc_score(test[:, j] == c, probabilities[:, i])
            for i, c in enumerate(classifier.classes_)
            if np.any(test[:, j] == c)
        ]))
    assert scores["explicitness"] == pytest.approx(np.mean(per_factor), rel=1e-12)
    assert 0.6 < scores["explicitness"] < 0.95


def test_bad_inputs():
    train, test = _factors(100, 0), _factors(50, 1)
    with pytest.raises(ValueError, match=r"factors_test column 1 holds the single class 2; a ROC-AUC needs two"):
        one_class = test.copy()
        one_class[:, 1] = 2
        modularity_explicitness(train * 1.0, train, test * 1.0, one_class)
    with pytest.raises(ValueError, match=r"codes_train must be a 2-D array \(N, K\); got shape \(100, 2, 1\)"):
        modularity_explicitness(np.ones((100, 2, 1)), train, test * 1.0, test)
    with pytest.raises(ValueError, match=r"codes_test contains NaN or inf values"):
        bad = test * 1.0
        bad[0, 0] = np.inf
        modularity_explicitness(train * 1.0, train, bad, test)
