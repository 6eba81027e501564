"""BetaVAE disentanglement score.

Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework",
ICLR 2017, Sec. 3; disentanglement_lib's scikit-learn version (batch 64, 10,000 training and 5,000
evaluation points).

One point: choose a factor y uniformly; draw two batches of ``batch_size`` factor vectors that agree on
factor y (and are otherwise independent); the point's feature is the mean over the batch of
|r(x1) - r(x2)|, its label is y. A logistic regression (sklearn defaults) learns the label from the
feature; the score is its accuracy on fresh evaluation points.
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.metrics._discretize import OBSERVATIONS_PER_CALL, check_positive_int, represent
from pyrodisent.random_state import RandomState, as_generator


def beta_vae_score(
    dataset: GroundTruthData,
    representation_fn: Callable[[np.ndarray], np.ndarray],
    random_state: RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> float:
    """Evaluation accuracy of the BetaVAE-score classifier, in [0, 1].

    :param dataset: ground-truth data with at least two factors.
    :param representation_fn: maps observations ``(n, *observation_shape)`` to codes ``(n, K)``.
    :param random_state: the only source of randomness (int seed, numpy Generator or RandomState).
    :param batch_size: pairs of observations averaged into one feature.
    :param num_train: training points of the classifier.
    :param num_eval: evaluation points.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    if dataset.num_factors < 2:
        raise ValueError(f"the BetaVAE score needs a dataset with at least 2 factors; got {dataset.num_factors}")
    rng = as_generator(random_state)
    train_features, train_labels = fixed_factor_differences(dataset, representation_fn, rng, batch_size, num_train)
    # lbfgs is deterministic; the seed only matters for other solvers.
    classifier = LogisticRegression(random_state=int(rng.integers(2**31 - 1)))
    classifier.fit(train_features, train_labels)
    eval_features, eval_labels = fixed_factor_differences(dataset, representation_fn, rng, batch_size, num_eval)
    return float(np.mean(classifier.predict(eval_features) == eval_labels))


def fixed_factor_differences(
    dataset: GroundTruthData,
    representation_fn: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    batch_size: int,
    num_points: int,
) -> Tuple[np.ndarray, np.ndarray]:
    """``num_points`` features ``(num_points, K)`` and their fixed-factor labels ``(num_points,)``.

    Several points are sampled together so that ``representation_fn`` sees large batches; every point
    still has its own independent pair of batches.
    """
    labels = rng.integers(dataset.num_factors, size=num_points)
    points_per_call = max(1, OBSERVATIONS_PER_CALL // (2 * batch_size))
    features = None
    for start in range(0, num_points, points_per_call):
        fixed = np.repeat(labels[start : start + points_per_call], batch_size)  # (m * batch_size,)
        num_rows = fixed.size
        factors1 = np.asarray(dataset.sample_factors(num_rows, rng))
        factors2 = np.array(dataset.sample_factors(num_rows, rng))
        rows = np.arange(num_rows)
        factors2[rows, fixed] = factors1[rows, fixed]
        codes = represent(
            representation_fn, dataset.sample_observations_from_factors(np.concatenate([factors1, factors2]), rng)
        )
        difference = np.abs(codes[:num_rows] - codes[num_rows:])  # (m * batch_size, K)
        if features is None:
            features = np.zeros((num_points, difference.shape[1]))
        per_point = difference.reshape(-1, batch_size, difference.shape[1]).mean(axis=1)  # (m, K)
        features[start : start + per_point.shape[0]] = per_point
    return features, labels
