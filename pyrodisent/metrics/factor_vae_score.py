"""FactorVAE disentanglement score.

Kim and Mnih, "Disentangling by Factorising", ICML 2018, Sec. 4; disentanglement_lib's version (batch
64, 10,000 points for the variances, 10,000 training and 5,000 evaluation votes, codes with standard
deviation below 0.05 pruned).

Each code is divided by its standard deviation over the data (``num_variance_estimate`` points). One
vote: choose a factor y uniformly, draw ``batch_size`` factor vectors sharing one value of y, and find
the active code with the smallest variance over that batch relative to its global variance; the vote
is (argmin code, y). The majority-vote classifier maps each code to the factor it most often voted
for in training; the score is the fraction of evaluation votes it gets right.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.metrics._discretize import OBSERVATIONS_PER_CALL, check_positive_int, represent
from pyrodisent.random_state import RandomState, as_generator

#: codes whose standard deviation over the data is below this are collapsed and take no votes
#: (disentanglement_lib's ``prune_dims.threshold`` in ``unsupervised_study_v1``).
ACTIVE_CODE_MIN_SCALE = 0.05


def factor_vae_score(
    dataset: GroundTruthData,
    representation_fn: Callable[[np.ndarray], np.ndarray],
    random_state: RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
) -> float:
    """Evaluation accuracy of the FactorVAE majority-vote classifier, in [0, 1] (0 if no code is active).

    :param dataset: ground-truth data.
    :param representation_fn: maps observations ``(n, *observation_shape)`` to codes ``(n, K)``.
    :param random_state: the only source of randomness (int seed, numpy Generator or RandomState).
    :param batch_size: observations sharing the fixed factor in one vote (at least 2).
    :param num_train: training votes.
    :param num_eval: evaluation votes.
    :param num_variance_estimate: observations for the global variance of each code (at least 2).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    num_variance_estimate = check_positive_int(num_variance_estimate, "num_variance_estimate")
    if batch_size < 2 or num_variance_estimate < 2:
        raise ValueError(
            "batch_size and num_variance_estimate must be at least 2 (variances need two observations); "
            f"got {batch_size} and {num_variance_estimate}"
        )
    rng = as_generator(random_state)
    global_variance = code_variances(dataset, representation_fn, rng, num_variance_estimate)
    active = np.sqrt(global_variance) >= ACTIVE_CODE_MIN_SCALE
    if not active.any():
        return 0.0
    train_votes = fixed_factor_votes(dataset, representation_fn, rng, batch_size, num_train, global_variance, active)
    factor_of_code = np.argmax(train_votes, axis=0)  # (num active codes,)
    eval_votes = fixed_factor_votes(dataset, representation_fn, rng, batch_size, num_eval, global_variance, active)
    correct = eval_votes[factor_of_code, np.arange(eval_votes.shape[1])].sum()
    return float(correct / eval_votes.sum())


def code_variances(dataset, representation_fn, rng: np.random.Generator, num_points: int) -> np.ndarray:
    """Variance (ddof = 1) of every code over ``num_points`` random observations, shape ``(K,)``."""
    codes = [
        represent(representation_fn, dataset.sample_observations(min(OBSERVATIONS_PER_CALL, num_points - start), rng))
        for start in range(0, num_points, OBSERVATIONS_PER_CALL)
    ]
    return np.var(np.concatenate(codes, axis=0), axis=0, ddof=1)


def fixed_factor_votes(
    dataset: GroundTruthData,
    representation_fn: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    batch_size: int,
    num_points: int,
    global_variance: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Vote counts ``(F, number of active codes)``: how often fixing factor y made code k the least varying."""
    labels = rng.integers(dataset.num_factors, size=num_points)
    votes = np.zeros((dataset.num_factors, int(active.sum())), dtype=np.int64)
    points_per_call = max(1, OBSERVATIONS_PER_CALL // batch_size)
    for start in range(0, num_points, points_per_call):
        fixed = labels[start : start + points_per_call]  # (m,)
        factors = np.array(dataset.sample_factors(fixed.size * batch_size, rng)).reshape(
            fixed.size, batch_size, dataset.num_factors
        )
        points = np.arange(fixed.size)
        factors[points, :, fixed] = factors[points, 0, fixed][:, None]  # one value of y per batch
        codes = represent(
            representation_fn, dataset.sample_observations_from_factors(factors.reshape(-1, dataset.num_factors), rng)
        )
        local_variance = np.var(codes.reshape(fixed.size, batch_size, -1), axis=1, ddof=1)  # (m, K)
        least_varying = np.argmin(local_variance[:, active] / global_variance[active], axis=1)
        np.add.at(votes, (fixed, least_varying), 1)
    return votes
