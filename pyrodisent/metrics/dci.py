"""Disentanglement, Completeness and Informativeness (DCI).

Eastwood and Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations",
ICLR 2018, Sec. 2; gradient-boosted-tree variant of disentanglement_lib (``unsupervised_study_v1``).

For each factor j a classifier predicts v_j from all codes; its feature importances give column j of
the importance matrix R (K codes x F factors). With P_kj = R_kj / sum_j' R_kj' (code k's importance
spread over factors) and P~_kj = R_kj / sum_k' R_k'j (factor j's importance spread over codes):

    disentanglement = sum_k rho_k (1 - H_F(P_k.)),   rho_k = sum_j R_kj / sum_kj R_kj
    completeness    = sum_j w_j (1 - H_K(P~_.j)),    w_j  = sum_k R_kj / sum_kj R_kj
    informativeness = mean_j accuracy of the classifier for v_j on held-out points

where H_B is the entropy with logarithm base B. Each column of a tree ensemble's importances sums to
one, so w_j = 1/F and completeness is the plain mean over factors.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Tuple

import numpy as np
import scipy.stats
from joblib import effective_n_jobs
from sklearn.ensemble import GradientBoostingClassifier

from pyrodisent.metrics._discretize import check_train_test, check_varying_factors
from pyrodisent.metrics.gradient_boosting import boosting_executor, fit_gradient_boosting, loop_unavailable_reason

#: added to every importance before taking entropies, as in disentanglement_lib (avoids log 0).
IMPORTANCE_EPSILON = 1e-11
#: ways to fit the classifiers: the threaded boosting loop, the public classifier, or the loop where
#: it was verified on the installed scikit-learn and the classifier elsewhere.
BOOSTING_LOOP = "loop"
BOOSTING_CLASSIFIER = "classifier"
BOOSTING_AUTO = "auto"

logger = logging.getLogger(__name__)


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    n_jobs: Optional[int] = -1,
    random_state: Optional[int] = 0,
    boosting: str = BOOSTING_AUTO,
) -> Dict[str, float]:
    """DCI scores from one gradient-boosted tree classifier per factor.

    Each classifier is ``sklearn.ensemble.GradientBoostingClassifier`` with default parameters, as in
    disentanglement_lib, except that its ``random_state`` is fixed. With ``subsample=1`` and
    ``max_features=None`` the random state only sets the order in which a tree visits the codes, which
    decides exact ties between equally good splits (common in small nodes) and the last bits of the
    importances. disentanglement_lib leaves it to numpy's global generator, so its DCI can differ
    between runs on the same data; here every classifier gets ``random_state`` and the result is
    reproducible, and equal to fitting ``GradientBoostingClassifier(random_state=random_state)`` for
    each factor one after the other. Two ways compute these same values (``boosting``):

    * ``"loop"``: the boosting loop of :mod:`pyrodisent.metrics.gradient_boosting`, whose trees of one
      stage (one per class, independent) grow in parallel threads. It mirrors scikit-learn internals,
      so it is used only on the scikit-learn releases it was verified on;
    * ``"classifier"``: the public ``GradientBoostingClassifier``, the factors' classifiers fitted in
      parallel threads;
    * ``"auto"`` (default): the loop where :func:`dci_boosting` says it is verified, the classifier
      elsewhere (logged at INFO level by ``pyrodisent.metrics.dci``, with the reason).

    :param codes_train: ``(N, K)`` training codes (disentanglement_lib: N = 10,000).
    :param factors_train: ``(N, F)`` integer factor classes of the training codes.
    :param codes_test: ``(M, K)`` held-out codes (disentanglement_lib: M = 5,000).
    :param factors_test: ``(M, F)`` integer factor classes of the held-out codes.
    :param n_jobs: worker threads for the trees (joblib convention: -1 = one per core, 1 = one after
        the other).
    :param random_state: seed of every classifier; ``None`` leaves the tie-breaking to numpy's global
        generator, as disentanglement_lib does (then results are not reproducible).
    :param boosting: ``"auto"``, ``"loop"`` or ``"classifier"`` (see above); ``"loop"`` is refused
        where it was not verified.
    :return: ``disentanglement``, ``completeness``, ``informativeness`` (test accuracy, mean over
        factors) and ``informativeness_train`` (training accuracy).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    check_varying_factors(factors_train, "factors_train", "a DCI classifier")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))):
        raise TypeError(f"random_state must be an int seed or None; got {type(random_state).__name__}")
    fit = _boosted_fits if _resolve_boosting(boosting) == BOOSTING_LOOP else _classifier_fits
    importance, train_accuracy, test_accuracy = gradient_boosting_importance(
        codes_train, factors_train, codes_test, factors_test, n_jobs=n_jobs, random_state=random_state, fit=fit
    )
    return {
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
        "informativeness": float(np.mean(test_accuracy)),
        "informativeness_train": float(np.mean(train_accuracy)),
    }


def dci_boosting() -> str:
    """How :func:`dci` fits its classifiers here by default: ``"loop"`` or ``"classifier"``.

    ``"loop"`` where the installed scikit-learn is one the boosting loop was verified on
    (:data:`pyrodisent.metrics.gradient_boosting.VERIFIED_SCIKIT_LEARN`), else ``"classifier"``;
    :func:`pyrodisent.metrics.gradient_boosting.loop_unavailable_reason` says why.
    """
    return BOOSTING_LOOP if loop_unavailable_reason() is None else BOOSTING_CLASSIFIER


def gradient_boosting_importance(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    n_jobs: Optional[int] = -1,
    random_state: Optional[int] = 0,
    fit=None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance matrix ``(K, F)`` and per-factor train and test accuracies ``(F,)`` (checked inputs).

    :param fit: ``fit(codes_train, factors_train, codes_test, n_jobs, random_state)`` → per factor
        ``(importance (K,), train predictions (N,), test predictions (M,))``; default: as :func:`dci`'s
        ``boosting="auto"``.
    """
    if fit is None:
        fit = _boosted_fits if _resolve_boosting(BOOSTING_AUTO) == BOOSTING_LOOP else _classifier_fits
    fits = fit(codes_train, factors_train, codes_test, n_jobs, random_state)
    importance = np.stack([importance for importance, _, _ in fits], axis=1)
    train_accuracy = np.array([np.mean(train == factors_train[:, j]) for j, (_, train, _) in enumerate(fits)])
    test_accuracy = np.array([np.mean(test == factors_test[:, j]) for j, (_, _, test) in enumerate(fits)])
    return importance, train_accuracy, test_accuracy


def _resolve_boosting(boosting: str) -> str:
    """``boosting`` with ``"auto"`` decided for the installed scikit-learn; ``"loop"`` checked."""
    if boosting not in (BOOSTING_AUTO, BOOSTING_LOOP, BOOSTING_CLASSIFIER):
        raise ValueError(f"boosting must be {BOOSTING_AUTO!r}, {BOOSTING_LOOP!r} or {BOOSTING_CLASSIFIER!r}; "
                         f"got {boosting!r}")
    if boosting == BOOSTING_CLASSIFIER:
        return boosting
    reason = loop_unavailable_reason()
    if reason is None:
        return BOOSTING_LOOP
    if boosting == BOOSTING_LOOP:
        raise RuntimeError(f"DCI's boosting loop cannot be used: {reason}; use boosting='classifier' or 'auto'")
    logger.info("DCI fits sklearn.ensemble.GradientBoostingClassifier (same values, slower): %s", reason)
    return BOOSTING_CLASSIFIER


def _boosted_fits(codes_train, factors_train, codes_test, n_jobs, random_state):
    """One boosting loop per factor, all driven at once; their trees share one pool of ``n_jobs``
    threads, so the cores stay busy until the last tree."""
    num_factors = factors_train.shape[1]
    trees = boosting_executor(n_jobs)

    def fit(j):
        boosted = fit_gradient_boosting(codes_train, factors_train[:, j], codes_test, random_state, trees)
        return boosted.importance, boosted.train_predictions, boosted.test_predictions

    try:
        if trees is None:
            return [fit(j) for j in range(num_factors)]
        with ThreadPoolExecutor(max_workers=num_factors) as drivers:
            return list(drivers.map(fit, range(num_factors)))
    finally:
        if trees is not None:
            trees.shutdown()


def _classifier_fits(codes_train, factors_train, codes_test, n_jobs, random_state):
    """``GradientBoostingClassifier(random_state=random_state)`` per factor, factors in parallel threads
    (its tree builder releases the GIL)."""
    def fit(j):
        classifier = GradientBoostingClassifier(random_state=random_state).fit(codes_train, factors_train[:, j])
        return classifier.feature_importances_, classifier.predict(codes_train), classifier.predict(codes_test)

    num_factors = factors_train.shape[1]
    workers = min(num_factors, effective_n_jobs(n_jobs) if n_jobs is not None else 1)
    if workers <= 1:
        return [fit(j) for j in range(num_factors)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fit, range(num_factors)))


def disentanglement(importance: np.ndarray) -> float:
    """Importance-weighted mean over codes of ``1 - H_F(P_k.)``; ``importance`` is ``(K, F)``.

    With a single factor every code is trivially disentangled (score 1).
    """
    num_codes, num_factors = importance.shape
    if num_factors == 1:
        per_code = np.ones(num_codes)
    else:
        per_code = 1.0 - scipy.stats.entropy(importance + IMPORTANCE_EPSILON, base=num_factors, axis=1)
    total = importance.sum()
    code_weight = importance.sum(axis=1) / total if total > 0 else np.full(num_codes, 1.0 / num_codes)
    return float(np.sum(per_code * code_weight))


def completeness(importance: np.ndarray) -> float:
    """Importance-weighted mean over factors of ``1 - H_K(P~_.j)``; ``importance`` is ``(K, F)``.

    The disentanglement of the transposed matrix (factors and codes swap roles); with a single code
    every factor is trivially complete (score 1).
    """
    return disentanglement(importance.T)
