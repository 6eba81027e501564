"""Modularity and explicitness.

Ridgeway and Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss", NeurIPS 2018,
Sec. 3; disentanglement_lib's version (``unsupervised_study_v1``: 20 histogram bins).

Modularity: with m_kj the mutual information between discretised code k and factor j, and
theta_k = max_j m_kj,

    delta_k = sum_{j != argmax} m_kj^2 / (theta_k^2 (F - 1)),   modularity = mean_k (1 - delta_k)

(a code carrying no information, theta_k = 0, scores 0).

Explicitness: per factor, a logistic regression (sklearn defaults) on the codes standardised with
the training mean and standard deviation predicts the factor's class probabilities; explicitness is
the ROC-AUC of those probabilities against the one-hot classes, macro-averaged over classes, then
averaged over factors.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pyrodisent.metrics._discretize import (
    NUM_BINS,
    check_train_test,
    check_varying_factors,
    histogram_discretize,
    mutual_information_matrix,
)


def modularity_explicitness(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
) -> Dict[str, float]:
    """Modularity (from training codes) and explicitness (held-out and training ROC-AUC).

    :param codes_train: ``(N, K)`` training codes (disentanglement_lib: N = 10,000).
    :param factors_train: ``(N, F)`` integer factor classes of the training codes.
    :param codes_test: ``(M, K)`` held-out codes (disentanglement_lib: M = 5,000).
    :param factors_test: ``(M, F)`` integer factor classes of the held-out codes; a training class
        missing from them is left out of that factor's mean ROC-AUC.
    :return: ``modularity``, ``explicitness`` (held-out) and ``explicitness_train``.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    check_varying_factors(factors_train, "factors_train", "explicitness")
    information = mutual_information_matrix(histogram_discretize(codes_train, NUM_BINS), factors_train)

    mean = codes_train.mean(axis=0)
    scale = codes_train.std(axis=0)
    scale[scale == 0] = 1.0  # a constant code standardises to 0 (disentanglement_lib divides by 0)
    standard_train = (codes_train - mean) / scale
    standard_test = (codes_test - mean) / scale
    explicitness_train = np.zeros(factors_train.shape[1])
    explicitness_test = np.zeros(factors_train.shape[1])
    for j in range(factors_train.shape[1]):
        explicitness_train[j], explicitness_test[j] = explicitness_per_factor(
            standard_train, factors_train[:, j], standard_test, factors_test[:, j], j
        )
    return {
        "modularity": modularity(information),
        "explicitness": float(np.mean(explicitness_test)),
        "explicitness_train": float(np.mean(explicitness_train)),
    }


def modularity(information: np.ndarray) -> float:
    """Modularity from a ``(K, F)`` code-factor mutual-information (or importance) matrix.

    With a single factor every informative code is trivially modular (delta = 0).
    """
    squared = np.square(information)
    largest = squared.max(axis=1)
    rest = squared.sum(axis=1) - largest
    num_factors = squared.shape[1]
    informative = largest > 0
    delta = np.zeros_like(largest)
    if num_factors > 1:
        delta[informative] = rest[informative] / (largest[informative] * (num_factors - 1))
    per_code = np.where(informative, 1.0 - delta, 0.0)
    return float(np.mean(per_code))


def explicitness_per_factor(codes_train, factor_train, codes_test, factor_test, index: int = 0):
    """Training and held-out macro ROC-AUC of a logistic regression predicting one factor's classes."""
    classifier = LogisticRegression().fit(codes_train, factor_train)
    classes = classifier.classes_
    return (
        _macro_roc_auc(factor_train, classifier.predict_proba(codes_train), classes, "factors_train", index),
        _macro_roc_auc(factor_test, classifier.predict_proba(codes_test), classes, "factors_test", index),
    )


def _macro_roc_auc(labels, probabilities, classes, name: str, index: int) -> float:
    """Mean over the training classes that occur in ``labels`` of the one-vs-rest ROC-AUC.

    When every training class occurs (the usual case) this is disentanglement_lib's value; it fails
    with a shape error where a held-out set lacks a class, here such a class is left out.
    """
    present = np.isin(classes, labels)
    if np.all(labels == labels[0]):
        raise ValueError(
            f"{name} column {index} holds the single class {labels[0].item()!r}; a ROC-AUC needs two classes"
        )
    one_hot = (labels[:, None] == classes[None, present]).astype(np.int64)
    scores = probabilities[:, present]
    if one_hot.shape[1] == 1:  # one training class present, next to classes the classifier never saw
        return float(roc_auc_score(one_hot[:, 0], scores[:, 0]))
    return float(roc_auc_score(one_hot, scores, average="macro"))
