"""DCI's two ways of fitting its classifiers give the same scores, and the private one is optional."""
import importlib
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import sklearn
from sklearn.ensemble import GradientBoostingClassifier

from pyrodisent.metrics.dci import dci, dci_boosting
from pyrodisent.metrics.gradient_boosting import VERIFIED_SCIKIT_LEARN, loop_unavailable_reason

# the module (the package's ``dci`` attribute is the function of the same name)
dci_module = importlib.import_module("pyrodisent.metrics.dci")
LOOP_VERIFIED = loop_unavailable_reason() is None


def _data(seed=0, num_train=300, num_test=120):
    """Three factors with 2, 3 and 4 classes; code 3 duplicates code 0 (tied splits)."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, size, num_train + num_test) for size in (2, 3, 4)], axis=1)
    codes = np.c_[factors + rng.normal(scale=0.6, size=factors.shape), rng.normal(size=(len(factors), 1))]
    codes = np.c_[codes, codes[:, :1]]
    return codes[:num_train], factors[:num_train], codes[num_train:], factors[num_train:]


@pytest.mark.skipif(not LOOP_VERIFIED, reason=f"the boosting loop is not verified here: {loop_unavailable_reason()}")
def test_loop_and_public_classifier_give_identical_scores():
    data = _data()
    loop = dci(*data, n_jobs=2, boosting="loop")
    classifier = dci(*data, n_jobs=2, boosting="classifier")
    assert loop == classifier  # bit for bit, ties between the duplicated codes included
    assert dci(*data, n_jobs=2) == loop and dci_boosting() == "loop"


def test_classifier_path_is_the_public_classifier_per_factor():
    codes_train, factors_train, codes_test, factors_test = _data(1)
    importance, train_accuracy, test_accuracy = dci_module.gradient_boosting_importance(
        codes_train, factors_train, codes_test, factors_test, n_jobs=2, fit=dci_module._classifier_fits)
    for j in range(factors_train.shape[1]):
        reference = GradientBoostingClassifier(random_state=0).fit(codes_train, factors_train[:, j])
        np.testing.assert_array_equal(importance[:, j], reference.feature_importances_)
        assert test_accuracy[j] == np.mean(reference.predict(codes_test) == factors_test[:, j])
        assert train_accuracy[j] == np.mean(reference.predict(codes_train) == factors_train[:, j])


def test_unverified_release_falls_back_to_the_public_classifier(monkeypatch, caplog):
    data = _data(2)
    expected = dci(*data, n_jobs=1, boosting="classifier")
    monkeypatch.setattr(sklearn, "__version__", VERIFIED_SCIKIT_LEARN[1] + ".0")
    assert "outside the releases the boosting loop was verified on" in loop_unavailable_reason()
    assert dci_boosting() == "classifier"
    with caplog.at_level(logging.INFO, logger="pyrodisent.metrics.dci"):
        assert dci(*data, n_jobs=1) == expected
    assert "GradientBoostingClassifier" in caplog.text and VERIFIED_SCIKIT_LEARN[1] + ".0" in caplog.text
    with pytest.raises(RuntimeError, match="boosting loop cannot be used: scikit-learn 1.10.0 is outside"):
        dci(*data, boosting="loop")
    with pytest.raises(ValueError, match="boosting must be 'auto', 'loop' or 'classifier'; got 'trees'"):
        dci(*data, boosting="trees")


def test_moved_private_module_neither_breaks_the_import_nor_dci(tmp_path):
    # scikit-learn itself loads its private deviance module; then it "moves" (a release renames it):
    # importing it by its old name fails, as after an upgrade.
    script = (
        "import sys, json, numpy as np\n"
        "import sklearn.ensemble\n"
        "sys.modules['sklearn._loss.loss'] = None\n"
        "from pyrodisent.metrics import mcc, dci\n"
        "from pyrodisent.metrics.dci import dci_boosting\n"
        "from pyrodisent.metrics.gradient_boosting import loop_unavailable_reason\n"
        f"data = [np.array(a) for a in json.loads({json.dumps([a.tolist() for a in _data(3)])!r})]\n"
        "print(json.dumps({'boosting': dci_boosting(), 'reason': loop_unavailable_reason(),\n"
        "                  'scores': dci(*data, n_jobs=1), 'mcc': mcc(data[1], data[0][:, :3])}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["boosting"] == "classifier"
    assert "has no usable sklearn._loss.loss" in report["reason"] or "outside the releases" in report["reason"]
    assert report["scores"] == dci(*_data(3), n_jobs=1, boosting="classifier")
