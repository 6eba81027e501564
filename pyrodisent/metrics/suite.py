"""The disentanglement_lib study's whole metric suite on one representation, as one flat dict."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np
from tqdm.auto import tqdm

from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.metrics.beta_vae_score import beta_vae_score
from pyrodisent.metrics.dci import dci
from pyrodisent.metrics.encoded_grid import EncodedGrid, can_encode_grid, grid_size
from pyrodisent.metrics.factor_vae_score import factor_vae_score
from pyrodisent.metrics.irs import irs
from pyrodisent.metrics.mig import mig
from pyrodisent.metrics.modularity_explicitness import modularity_explicitness
from pyrodisent.metrics.sap import sap
from pyrodisent.random_state import RandomState, as_generator


def sample_codes(dataset: GroundTruthData, representation_fn: Callable[[np.ndarray], np.ndarray], num: int,
                 random_state: RandomState, batch_size: int = 500):
    """(codes (num, K), factors (num, F)) for ``num`` random points, encoded in batches."""
    rng = as_generator(random_state)
    codes, factors = [], []
    for start in range(0, num, batch_size):
        f, x = dataset.sample(min(batch_size, num - start), rng)
        codes.append(np.asarray(representation_fn(x)))
        factors.append(f)
    return np.concatenate(codes), np.concatenate(factors).astype(np.int64)


def array_metrics(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                  factors_test: np.ndarray, stage: Callable[[str, object], object] = lambda name, value: value
                  ) -> Dict[str, float]:
    """The metrics of the suite that need only codes and discrete factors of points (no sampler of the
    data): MIG, DCI, SAP, modularity / explicitness, IRS. ``stage(name, value)`` sees each as it is done."""
    scores = stage("dci", dci(codes_train, factors_train, codes_test, factors_test))
    modularity = stage("modularity", modularity_explicitness(codes_train, factors_train, codes_test, factors_test))
    return {
        "mig": stage("mig", mig(codes_train, factors_train)),
        "dci_disentanglement": scores["disentanglement"],
        "dci_completeness": scores["completeness"],
        "dci_informativeness": scores["informativeness"],
        "sap": stage("sap", sap(codes_train, factors_train, codes_test, factors_test)),
        "modularity": modularity["modularity"],
        "explicitness": modularity["explicitness"],
        "irs": stage("irs", irs(codes_train, factors_train)),
    }


def discrete_factors(factors: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Factors as integer classes: a column with more than ``num_bins`` distinct values (a continuous
    factor) is cut into ``num_bins`` equal-width bins (disentanglement_lib's histogram discretisation);
    the others are numbered by their distinct values."""
    factors = np.asarray(factors)
    columns = []
    for column in factors.T:
        values, classes = np.unique(column, return_inverse=True)
        if len(values) > num_bins:
            edges = np.histogram_bin_edges(column, bins=num_bins)[1:-1]
            classes = np.digitize(column, edges)
        columns.append(classes)
    return np.stack(columns, axis=1).astype(np.int64)


def images_encoded_by_suite(num_train: int, num_test: int, num_votes_train: int, num_votes_eval: int,
                            batch_size: int = 64) -> int:
    """How many observations :func:`disentanglement_metrics` encodes when it samples them one by one."""
    beta_vae = 2 * batch_size * (num_votes_train + num_votes_eval)
    factor_vae = num_votes_train + batch_size * (num_votes_train + num_votes_eval)  # variance estimate + votes
    return num_train + num_test + beta_vae + factor_vae


def disentanglement_metrics(dataset: GroundTruthData, representation_fn: Callable[[np.ndarray], np.ndarray],
                            random_state: RandomState, num_train: int = 10_000, num_test: int = 5_000,
                            num_votes_train: int = 10_000, num_votes_eval: int = 5_000,
                            encode_grid: Optional[bool] = None, progress: bool = False) -> Dict[str, float]:
    """MIG, DCI, SAP, modularity/explicitness, IRS (on ``num_train``/``num_test`` sampled points), and the
    BetaVAE and FactorVAE scores (sampling their own votes), with the study's defaults.

    Keys: ``mig``, ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness``, ``sap``,
    ``modularity``, ``explicitness``, ``irs``, ``beta_vae_score``, ``factor_vae_score``.

    :param encode_grid: encode every point of the factor grid once and look codes up
        (:class:`~pyrodisent.metrics.encoded_grid.EncodedGrid`; same scores for a deterministic
        representation, as the random state is consumed identically). ``None``: do so when the dataset
        allows it and the grid is smaller than the number of observations the suite would encode.
    :param progress: progress bars: one while encoding the grid, one over the metrics (which can take
        minutes: DCI's boosted trees, the BetaVAE and FactorVAE votes).
    """
    if encode_grid is None:
        encode_grid = can_encode_grid(dataset) and grid_size(dataset) < images_encoded_by_suite(
            num_train, num_test, num_votes_train, num_votes_eval)
    if encode_grid:
        dataset = EncodedGrid(dataset, representation_fn, progress=progress)
        representation_fn = dataset.representation_function
    rng = as_generator(random_state)
    stages = ["codes", "dci", "modularity", "mig", "sap", "irs", "beta_vae_score", "factor_vae_score"]
    with tqdm(total=len(stages), disable=not progress, desc="metrics", unit="metric", dynamic_ncols=True) as bar:
        def stage(name: str, value):
            bar.set_postfix_str(stages[min(stages.index(name) + 1, len(stages) - 1)])  # the one now running
            bar.update(1)
            return value

        codes_train, factors_train = sample_codes(dataset, representation_fn, num_train, rng)
        codes_test, factors_test = stage("codes", sample_codes(dataset, representation_fn, num_test, rng))
        return {
            **array_metrics(codes_train, factors_train, codes_test, factors_test, stage=stage),
            "beta_vae_score": stage("beta_vae_score", beta_vae_score(dataset, representation_fn, rng,
                                                                     num_train=num_votes_train,
                                                                     num_eval=num_votes_eval)),
            "factor_vae_score": stage("factor_vae_score", factor_vae_score(dataset, representation_fn, rng,
                                                                           num_train=num_votes_train,
                                                                           num_eval=num_votes_eval)),
        }
