"""Pieces shared by the disentanglement metrics (disentanglement_lib's definitions).

* histogram discretisation of codes into equal-width bins, one histogram per code
  (disentanglement_lib's ``_histogram_discretize``, 20 bins in ``unsupervised_study_v1``);
* the discrete mutual-information matrix between two sets of discrete variables and the discrete
  entropy of each variable, both through ``sklearn.metrics.mutual_info_score`` (natural logarithm);
* the gap between the two largest entries of each column (MIG and SAP);
* the input checks every metric runs (on top of ``_arrays.check_matrix``), so that errors name the
  argument, the shape found and the shape expected;
* evaluation of a ``representation_fn`` on observations in bounded chunks (BetaVAE and FactorVAE
  scores).

Array convention: pyrodisent's public API takes codes ``(N, K)`` and factors ``(N, F)``, one row per
point. (disentanglement_lib passes the transposes, ``(K, N)`` "mus" and ``(F, N)`` "ys".)
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from sklearn.metrics import mutual_info_score

from pyrodisent.metrics._arrays import check_matrix

#: Number of equal-width histogram bins per code in the ``unsupervised_study_v1`` configs.
NUM_BINS = 20

#: At most this many observations go to ``representation_fn`` in one call.
OBSERVATIONS_PER_CALL = 2048


# --------------------------------------------------------------------------------------------------
# Discretisation, mutual information, entropy
# --------------------------------------------------------------------------------------------------
def histogram_discretize(values: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Replace every column by the index (1..num_bins) of its equal-width histogram bin.

    Each column gets its own ``num_bins`` bins spanning ``[min, max]`` of that column; the largest
    value falls into the last bin. A constant column lands in a single bin.

    :param values: ``(N, K)`` real array.
    :param num_bins: number of bins per column.
    :return: ``(N, K)`` int64 array of bin indices in ``1 .. num_bins``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D array (N, K); got shape {values.shape}")
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer; got {num_bins!r}")
    discrete = np.empty(values.shape, dtype=np.int64)
    for k in range(values.shape[1]):
        # Left edges only: np.digitize then maps [edge_i, edge_{i+1}) to i+1 and the maximum to num_bins.
        left_edges = np.histogram_bin_edges(values[:, k], bins=num_bins)[:-1]
        discrete[:, k] = np.digitize(values[:, k], left_edges)
    return discrete


def mutual_information_matrix(discrete_a: np.ndarray, discrete_b: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between every column of ``discrete_a`` and every column of ``discrete_b``.

    :param discrete_a: ``(N, K)`` discrete labels (e.g. discretised codes).
    :param discrete_b: ``(N, F)`` discrete labels (e.g. factors).
    :return: ``(K, F)`` matrix ``I(a_k; b_j)``.
    """
    num_a, num_b = discrete_a.shape[1], discrete_b.shape[1]
    information = np.zeros((num_a, num_b))
    for k in range(num_a):
        for j in range(num_b):
            information[k, j] = mutual_info_score(discrete_b[:, j], discrete_a[:, k])
    return information


def pairwise_mutual_information(discrete: np.ndarray) -> np.ndarray:
    """Symmetric ``(K, K)`` matrix of mutual information between the columns of ``discrete``.

    The diagonal holds each column's entropy; each off-diagonal pair is computed once.
    """
    num = discrete.shape[1]
    information = np.zeros((num, num))
    for k in range(num):
        for l in range(k, num):
            information[k, l] = information[l, k] = mutual_info_score(discrete[:, k], discrete[:, l])
    return information


def discrete_entropy(discrete: np.ndarray) -> np.ndarray:
    """Entropy (nats) of every column of ``discrete`` ``(N, F)``, as ``I(y; y)``; shape ``(F,)``."""
    return np.array([mutual_info_score(discrete[:, j], discrete[:, j]) for j in range(discrete.shape[1])])


def top_two_gap(scores: np.ndarray) -> np.ndarray:
    """Per column of ``scores`` ``(K, F)``: largest entry minus second largest; shape ``(F,)``."""
    ordered = np.sort(scores, axis=0)
    return ordered[-1, :] - ordered[-2, :]


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------
def check_codes(codes, name: str = "codes", num_codes: Optional[int] = None, min_rows: int = 2) -> np.ndarray:
    """``codes`` as a finite float64 ``(N, K)`` array with ``N >= min_rows``, or a ValueError naming ``name``.

    Accepts anything ``check_matrix`` accepts (numpy arrays, nested lists, torch tensors).
    """
    array = check_matrix(codes, name)
    if array.shape[0] < min_rows or array.shape[1] < 1:
        raise ValueError(f"{name} must have at least {min_rows} rows and 1 column (N, K); got shape {array.shape}")
    if num_codes is not None and array.shape[1] != num_codes:
        raise ValueError(f"{name} must have {num_codes} columns (N, {num_codes}); got shape {array.shape}")
    return array


def check_factors(
    factors,
    name: str = "factors",
    num_points: Optional[int] = None,
    points_from: str = "codes",
    num_factors: Optional[int] = None,
    integer: bool = True,
) -> np.ndarray:
    """``factors`` as an ``(N, F)`` array (int64 when ``integer``), or a ValueError naming ``name``.

    :param num_points: the N the factors must match (the number of rows of ``points_from``).
    :param num_factors: the F the factors must match, if known.
    :param integer: require integer class labels (a float array holding whole numbers is accepted).
    """
    if np.ndim(factors) != 2:
        raise ValueError(f"{name} must be a 2-D array (N, F); got shape {tuple(np.shape(factors))}")
    array = check_matrix(factors, name)
    if array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (N, F); got shape {array.shape}")
    if num_points is not None and array.shape[0] != num_points:
        raise ValueError(
            f"{name} has {array.shape[0]} rows but {points_from} has {num_points}; "
            f"expected one row per point, shape ({num_points}, F)"
        )
    if num_factors is not None and array.shape[1] != num_factors:
        raise ValueError(f"{name} must have {num_factors} columns (N, {num_factors}); got shape {array.shape}")
    if not integer:
        return array
    fractional = array != np.round(array)
    if fractional.any():
        rows, cols = np.nonzero(fractional)
        raise ValueError(
            f"{name} must hold integer class labels (N, F); column {cols[0]} holds non-integer values "
            f"such as {array[rows[0], cols[0]].item()!r}"
        )
    return array.astype(np.int64)


def check_codes_and_factors(codes, factors, suffix: str = "", integer: bool = True):
    """Check one ``(codes, factors)`` pair; ``suffix`` names them, e.g. ``"_train"`` -> ``codes_train``."""
    codes = check_codes(codes, name=f"codes{suffix}")
    factors = check_factors(
        factors, name=f"factors{suffix}", num_points=codes.shape[0], points_from=f"codes{suffix}", integer=integer
    )
    return codes, factors


def check_train_test(codes_train, factors_train, codes_test, factors_test, integer: bool = True):
    """Check train and test ``(codes, factors)``: same K in both codes, same F in both factors."""
    codes_train, factors_train = check_codes_and_factors(codes_train, factors_train, "_train", integer)
    codes_test = check_codes(codes_test, name="codes_test", num_codes=codes_train.shape[1], min_rows=1)
    factors_test = check_factors(
        factors_test,
        name="factors_test",
        num_points=codes_test.shape[0],
        points_from="codes_test",
        num_factors=factors_train.shape[1],
        integer=integer,
    )
    return codes_train, factors_train, codes_test, factors_test


def check_varying_factors(factors: np.ndarray, name: str, metric: str) -> None:
    """Raise if a factor column takes a single value: ``metric`` is undefined for it."""
    for j in range(factors.shape[1]):
        if np.all(factors[:, j] == factors[0, j]):
            raise ValueError(
                f"{name} column {j} is constant (every point has value {factors[0, j].item()!r}); {metric} needs at "
                "least two values per factor: drop the constant factor"
            )


def check_num_codes(codes: np.ndarray, name: str, metric: str, minimum: int = 2) -> None:
    if codes.shape[1] < minimum:
        raise ValueError(
            f"{metric} compares codes with each other and needs at least {minimum} columns in {name} "
            f"(N, K>={minimum}); got shape {codes.shape}"
        )


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------
# Representations of sampled observations
# --------------------------------------------------------------------------------------------------
def represent(representation_fn: Callable[[np.ndarray], np.ndarray], observations: np.ndarray) -> np.ndarray:
    """``representation_fn`` applied to ``observations`` ``(n, *observation_shape)``, in chunks.

    :return: ``(n, K)`` float64 codes; a ValueError if the function returns anything else.
    """
    num = observations.shape[0]
    parts = []
    for start in range(0, num, OBSERVATIONS_PER_CALL):
        chunk = observations[start : start + OBSERVATIONS_PER_CALL]
        codes = np.asarray(representation_fn(chunk))
        if codes.ndim != 2 or codes.shape[0] != chunk.shape[0]:
            raise ValueError(
                f"representation_fn must map observations (n, *observation_shape) to codes (n, K); "
                f"for n = {chunk.shape[0]} it returned shape {codes.shape}"
            )
        parts.append(check_codes(codes, name="representation_fn output", min_rows=1))
        if parts[0].shape[1] != codes.shape[1]:
            raise ValueError(
                f"representation_fn returned {codes.shape[1]} codes for one batch and {parts[0].shape[1]} for another"
            )
    return np.concatenate(parts, axis=0)
