"""Imputation quality: likelihood and squared error on the missing entries, and a downstream classifier.

The GP-VAE protocol (Fortuin et al. 2020, Sec. 4.1, Healing MNIST):

- ``missing_nll``: mean Bernoulli negative log-likelihood of the true values of the missing entries
  under the imputed values read as probabilities, clipped to [ε, 1 − ε] so that hard (0/1) imputations
  such as forward fill get a finite score (ε = 10⁻³ by default, the same for every method);
- ``missing_mse``: mean squared error on the missing entries;
- ``auroc``: a logistic regression trained on imputed training frames to predict a label (the shape),
  scored on imputed held-out frames: area under the ROC curve (one-vs-rest, macro average, for more
  than two classes).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pyrodisent.random_state import RandomState, as_generator


def missing_entry_scores(complete: np.ndarray, imputed: np.ndarray, observed_mask: np.ndarray,
                         epsilon: float = 1e-3) -> Dict[str, float]:
    """``{"missing_nll", "missing_mse"}`` over the entries where ``observed_mask`` is False.

    :param complete: true values in [0, 1], any shape.
    :param imputed: imputed values (probabilities for the NLL), the same shape.
    :param observed_mask: True where observed, the same shape.
    :param epsilon: imputed probabilities are clipped to [ε, 1 − ε] for the NLL.
    """
    complete, imputed = np.asarray(complete, dtype=np.float64), np.asarray(imputed, dtype=np.float64)
    missing = ~np.asarray(observed_mask, dtype=bool)
    if complete.shape != imputed.shape or complete.shape != missing.shape:
        raise ValueError(f"complete {complete.shape}, imputed {imputed.shape} and observed_mask {missing.shape} "
                         "must have the same shape")
    if not missing.any():
        raise ValueError("no entry is missing: there is nothing to score")
    if not 0 < epsilon < 0.5:
        raise ValueError(f"epsilon must be in (0, 0.5), got {epsilon}")
    truth, guess = complete[missing], np.clip(imputed[missing], epsilon, 1 - epsilon)
    nll = -(truth * np.log(guess) + (1 - truth) * np.log1p(-guess))
    return {"missing_nll": float(nll.mean()), "missing_mse": float(np.mean((truth - imputed[missing]) ** 2))}


def downstream_auroc(train_inputs: np.ndarray, train_labels: np.ndarray, test_inputs: np.ndarray,
                     test_labels: np.ndarray, max_train: Optional[int] = 5000,
                     random_state: RandomState = 0) -> float:
    """AUROC of a logistic regression fit on (flattened) ``train_inputs`` → labels, scored on ``test_inputs``.

    :param max_train: fit on at most this many training rows (drawn with ``random_state``).
    :returns: the AUROC (binary), or the macro mean of the one-vs-rest AUROCs; NaN when a training class
        is absent from ``test_labels`` (its AUROC is undefined), whatever the scikit-learn release.
    """
    train_inputs = np.asarray(train_inputs, dtype=np.float64).reshape(len(train_inputs), -1)
    test_inputs = np.asarray(test_inputs, dtype=np.float64).reshape(len(test_inputs), -1)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if len(train_labels) != len(train_inputs) or len(test_labels) != len(test_inputs):
        raise ValueError("each input row needs one label")
    classes = np.unique(train_labels)
    if len(classes) < 2 or set(np.unique(test_labels)) - set(classes):
        raise ValueError(f"labels: training classes {classes.tolist()} must be ≥ 2 and include every test class")
    if max_train is not None and len(train_inputs) > max_train:
        keep = as_generator(random_state).choice(len(train_inputs), max_train, replace=False)
        train_inputs, train_labels = train_inputs[keep], train_labels[keep]
    if len(np.unique(test_labels)) < len(classes):
        return float("nan")
    classifier = LogisticRegression(max_iter=1000).fit(train_inputs, train_labels)
    probabilities = classifier.predict_proba(test_inputs)
    if len(classes) == 2:
        return float(roc_auc_score(test_labels, probabilities[:, 1]))
    return float(roc_auc_score(test_labels, probabilities, multi_class="ovr", average="macro",
                               labels=classifier.classes_))
