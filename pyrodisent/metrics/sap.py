"""Separated Attribute Predictability (SAP).

Kumar, Sattigeri and Balakrishnan, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", ICLR 2018, Sec. 3; disentanglement_lib's version (``unsupervised_study_v1``:
discrete factors).

A score matrix S (K codes x F factors) says how well code k alone predicts factor j:

* discrete factors: held-out accuracy of a linear SVM (``LinearSVC(C=0.01, class_weight="balanced")``)
  trained on the single code z_k;
* continuous factors: squared correlation Cov(z_k, v_j)^2 / (Var z_k Var v_j) on the training points
  (0 for a code of variance below 1e-12).

SAP is the mean over factors of the gap between the two largest entries of the factor's column.
"""
from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from pyrodisent.metrics._discretize import check_num_codes, check_train_test, check_varying_factors, top_two_gap

#: codes whose variance is below this are given score 0 for continuous factors.
MIN_CODE_VARIANCE = 1e-12


def sap(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous_factors: bool = False,
) -> float:
    """SAP score: mean over factors of the gap between the two codes that predict it best.

    :param codes_train: ``(N, K)`` training codes, K >= 2 (disentanglement_lib: N = 10,000).
    :param factors_train: ``(N, F)`` factor values of the training codes: integer classes, or real
        values when ``continuous_factors``.
    :param codes_test: ``(M, K)`` held-out codes (disentanglement_lib: M = 5,000); used for discrete
        factors only.
    :param factors_test: ``(M, F)`` factor values of the held-out codes.
    :param continuous_factors: score with squared correlations instead of classifiers.
    :return: the SAP score in [0, 1].
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test, integer=not continuous_factors
    )
    check_num_codes(codes_train, "codes_train", "SAP")
    check_varying_factors(factors_train, "factors_train", "SAP")
    if continuous_factors:
        scores = squared_correlation_matrix(codes_train, factors_train)
    else:
        scores = classifier_accuracy_matrix(codes_train, factors_train, codes_test, factors_test)
    return float(np.mean(top_two_gap(scores)))


def squared_correlation_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``(K, F)`` matrix of Cov(z_k, v_j)^2 / (Var z_k Var v_j) (sample moments, ddof = 1)."""
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for k in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            covariance = np.cov(codes[:, k], factors[:, j], ddof=1)
            if covariance[0, 0] > MIN_CODE_VARIANCE:
                scores[k, j] = covariance[0, 1] ** 2 / (covariance[0, 0] * covariance[1, 1])
    return scores


def classifier_accuracy_matrix(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray
) -> np.ndarray:
    """``(K, F)`` held-out accuracy of a linear SVM predicting factor j from code k alone."""
    scores = np.zeros((codes_train.shape[1], factors_train.shape[1]))
    for k in range(codes_train.shape[1]):
        for j in range(factors_train.shape[1]):
            # The primal solver, as scikit-learn >= 1.5 picks for one feature (dual="auto"): deterministic,
            # where the dual solver of earlier releases' default visits the points in a random order.
            classifier = LinearSVC(C=0.01, class_weight="balanced", dual=False)
            classifier.fit(codes_train[:, k : k + 1], factors_train[:, j])
            scores[k, j] = np.mean(classifier.predict(codes_test[:, k : k + 1]) == factors_test[:, j])
    return scores
