import numpy as np
import pytest

from pyrodisent.metrics import downstream_auroc, missing_entry_scores


def test_perfect_imputation_scores_best_and_a_constant_worse():
    rng = np.random.default_rng(0)
    complete = (rng.random((20, 4, 8)) < 0.3).astype(float)
    observed = rng.random(complete.shape) < 0.5
    perfect = missing_entry_scores(complete, complete, observed)
    constant = missing_entry_scores(complete, np.full_like(complete, 0.3), observed)
    assert perfect["missing_mse"] == 0 and perfect["missing_nll"] < 0.01
    assert constant["missing_mse"] > 0.15 and constant["missing_nll"] > 0.5
    wrong = missing_entry_scores(complete, 1 - complete, observed)  # hard, wrong: −log ε per entry
    assert wrong["missing_nll"] == pytest.approx(-np.log(1e-3))
    with pytest.raises(ValueError, match="nothing to score"):
        missing_entry_scores(complete, complete, np.ones_like(observed))


def test_auroc_is_high_for_informative_inputs_and_chance_for_noise():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 600)
    informative = np.eye(3)[labels] + 0.3 * rng.standard_normal((600, 3))
    noise = rng.standard_normal((600, 3))
    assert downstream_auroc(informative[:400], labels[:400], informative[400:], labels[400:]) > 0.95
    assert abs(downstream_auroc(noise[:400], labels[:400], noise[400:], labels[400:]) - 0.5) < 0.1
    binary = (labels > 0).astype(int)
    assert downstream_auroc(informative[:400], binary[:400], informative[400:], binary[400:], max_train=100) > 0.9
