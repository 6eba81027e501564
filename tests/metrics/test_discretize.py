import numpy as np
import pytest

from pyrodisent.metrics._discretize import (
    check_codes,
    check_factors,
    discrete_entropy,
    histogram_discretize,
    mutual_information_matrix,
    pairwise_mutual_information,
    top_two_gap,
)


def test_histogram_discretize_hand_computed():
    values = np.array([[0.0, 5.0, -1.0], [0.5, 5.0, 0.0], [1.0, 5.0, 3.0], [0.24, 5.0, 2.9]])
    # Column 0, 2 bins over [0, 1]: [0, 0.5) -> 1, [0.5, 1] -> 2.
    # Column 1 is constant: numpy spans [4.5, 5.5], so 5.0 sits on the middle edge -> bin 2.
    # Column 2, 2 bins over [-1, 3]: [-1, 1) -> 1, [1, 3] -> 2.
    expected = np.array([[1, 2, 1], [2, 2, 1], [2, 2, 2], [1, 2, 2]])
    np.testing.assert_array_equal(histogram_discretize(values, num_bins=2), expected)


def test_histogram_discretize_twenty_bins_keeps_up_to_twenty_integer_values_apart():
    values = np.arange(20, dtype=float)[:, None]
    np.testing.assert_array_equal(histogram_discretize(values)[:, 0], np.arange(1, 21))
    # 32 values into 20 bins must merge some of them.
    assert np.unique(histogram_discretize(np.arange(32.0)[:, None])).size == 20


def _mutual_information_by_counts(x, y):
    information = 0.0
    for a in np.unique(x):
        for b in np.unique(y):
            p_ab = np.mean((x == a) & (y == b))
            if p_ab > 0:
                information += p_ab * np.log(p_ab / (np.mean(x == a) * np.mean(y == b)))
    return information


def test_mutual_information_and_entropy_match_counts():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (200, 2))
    b = np.stack([a[:, 0], rng.integers(0, 4, 200)], axis=1)
    expected = np.array([[_mutual_information_by_counts(a[:, k], b[:, j]) for j in range(2)] for k in range(2)])
    np.testing.assert_allclose(mutual_information_matrix(a, b), expected, rtol=1e-10)
    pairwise = [[_mutual_information_by_counts(a[:, k], a[:, l]) for l in range(2)] for k in range(2)]
    np.testing.assert_allclose(pairwise_mutual_information(a), pairwise, rtol=1e-10)
    uniform = np.repeat(np.arange(4), 5)[:, None]
    np.testing.assert_allclose(discrete_entropy(uniform), [np.log(4)])


def test_top_two_gap():
    scores = np.array([[0.1, 0.9], [0.7, 0.2], [0.4, 0.85]])
    np.testing.assert_allclose(top_two_gap(scores), [0.3, 0.05])


def test_check_codes_errors_name_argument_and_shapes():
    with pytest.raises(ValueError, match=r"codes must be a 2-D array \(N, K\); got shape \(5,\)"):
        check_codes(np.zeros(5))
    with pytest.raises(ValueError, match=r"codes_train contains NaN or inf values"):
        check_codes(np.array([[0.0, np.nan], [1.0, 2.0]]), name="codes_train")
    with pytest.raises(ValueError, match=r"codes must be numeric; got dtype"):
        check_codes(np.array([["a", "b"], ["c", "d"]]))


def test_check_factors_errors():
    with pytest.raises(ValueError, match=r"factors has 3 rows but codes has 4"):
        check_factors(np.zeros((3, 2), dtype=int), num_points=4)
    with pytest.raises(ValueError, match=r"integer class labels .* column 1 holds non-integer values such as 0.5"):
        check_factors(np.array([[0.0, 1.0], [1.0, 0.5]]))
    np.testing.assert_array_equal(check_factors(np.array([[0.0, 2.0]])), [[0, 2]])
    assert check_factors(np.array([[0.0, 2.0]])).dtype == np.int64
