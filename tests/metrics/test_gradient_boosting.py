import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from pyrodisent.metrics.gradient_boosting import boosting_executor, fit_gradient_boosting, loop_unavailable_reason

# The loop mirrors one scikit-learn release's arithmetic; elsewhere DCI uses the public classifier
# (tests/metrics/test_dci_boosting.py), and these bit-for-bit comparisons do not apply.
pytestmark = pytest.mark.skipif(loop_unavailable_reason() is not None, reason=str(loop_unavailable_reason()))


def _codes(num_classes, num, seed, duplicate=False):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num) * 2 + 5  # labels need not be 0..C-1
    codes = np.c_[labels[:, None] / 4.0 + rng.normal(size=(num, 2)), rng.normal(size=(num, 3))]
    if duplicate:
        codes[:, 4] = codes[:, 0]  # two identical codes: every split on one ties with the other
    return codes, labels


@pytest.mark.parametrize("num_classes, duplicate", [(4, True), (2, False), (3, False)])
def test_identical_to_scikit_learn_classifier(num_classes, duplicate):
    codes, labels = _codes(num_classes, 300, num_classes, duplicate)
    test_codes, _ = _codes(num_classes, 150, 10 + num_classes, duplicate)
    reference = GradientBoostingClassifier(random_state=7).fit(codes, labels)
    with boosting_executor(2) as trees:
        boosted = fit_gradient_boosting(codes, labels, test_codes, random_state=7, executor=trees)
    # Bit for bit: importances (ties between the duplicated codes broken the same way) and predictions.
    np.testing.assert_array_equal(boosted.importance, reference.feature_importances_)
    np.testing.assert_array_equal(boosted.train_predictions, reference.predict(codes))
    np.testing.assert_array_equal(boosted.test_predictions, reference.predict(test_codes))
    if duplicate:
        assert boosted.importance[4] > 0.05 and boosted.importance[0] > 0.05  # credit split between them


def test_threads_change_nothing_and_seed_matters():
    codes, labels = _codes(5, 200, 0, duplicate=True)
    serial = fit_gradient_boosting(codes, labels, codes[:50], random_state=3)
    with boosting_executor(-1) as trees:
        threaded = fit_gradient_boosting(codes, labels, codes[:50], random_state=3, executor=trees)
    other_seed = fit_gradient_boosting(codes, labels, codes[:50], random_state=4)
    np.testing.assert_array_equal(threaded.importance, serial.importance)
    np.testing.assert_array_equal(threaded.test_predictions, serial.test_predictions)
    # The seed only breaks ties, here between the duplicated codes 0 and 4.
    assert not np.array_equal(other_seed.importance, serial.importance)
    np.testing.assert_allclose(other_seed.importance[[1, 2, 3]], serial.importance[[1, 2, 3]], rtol=0.2)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least two classes in factor_train; got 1"):
        fit_gradient_boosting(np.ones((10, 2)), np.zeros(10), np.ones((3, 2)))


def test_executor_size():
    assert boosting_executor(1) is None and boosting_executor(None) is None
    with boosting_executor(2) as trees:
        assert trees._max_workers == 2
