"""Filling in missing entries: from a trained model's posterior, and the two classical baselines.

Every imputation keeps the observed entries and replaces the missing ones (``observed_mask`` False):

- :func:`impute`: E[x | z = E_q z] — the likelihood's mean at the posterior mean (``model.reconstruct``),
  for any model of the zoo; the model saw only the observed entries (0 where missing) and scored only
  them (the likelihood masks with ``batch["observed_mask"]``).
- :func:`mean_fill`: the mean of the observed values of each feature (pixel) — over the training
  set's sequences and frames, from :func:`observed_means`.
- :func:`forward_fill`: the last observed value of the same feature earlier in the sequence (axis 1);
  before its first observation, the fallback (the observed mean).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.batch import OBSERVED_MASK


@torch.no_grad()
def impute(model, data: ArrayDataset, batch_size: int = 256) -> np.ndarray:
    """Observed entries of ``data.x`` kept, missing ones ← ``model.reconstruct``: ``(N, *observation_shape)``."""
    if OBSERVED_MASK not in data.extras:
        raise ValueError(f"the data carry no {OBSERVED_MASK!r} extra: nothing is missing, nothing to impute")
    model.eval()
    filled = []
    for _, batch in data.sequential(batch_size, model.device):
        mean = model.reconstruct(batch)
        filled.append(torch.where(batch[OBSERVED_MASK].bool(), batch.x, mean).cpu())
    return torch.cat(filled).numpy()


def observed_means(masked: np.ndarray, observed_mask: np.ndarray, sample_axes: int = 2) -> np.ndarray:
    """Mean observed value of each feature over the first ``sample_axes`` axes (sequences and frames).

    Features never observed get the mean of all observed values. Shape: ``masked.shape[sample_axes:]``.
    """
    axes = tuple(range(sample_axes))
    observed_mask = observed_mask.astype(bool)
    counts = observed_mask.sum(axes)
    sums = np.where(observed_mask, masked, 0).sum(axes)
    overall = sums.sum() / max(counts.sum(), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), overall).astype(np.float32)


def mean_fill(masked: np.ndarray, observed_mask: np.ndarray, means: Optional[np.ndarray] = None) -> np.ndarray:
    """Missing entries ← ``means`` (broadcast against each sample; default: this data's :func:`observed_means`)."""
    if means is None:
        means = observed_means(masked, observed_mask)
    return np.where(observed_mask.astype(bool), masked, np.broadcast_to(means, masked.shape)).astype(np.float32)


def forward_fill(masked: np.ndarray, observed_mask: np.ndarray, fallback: Optional[np.ndarray] = None) -> np.ndarray:
    """Missing entries of sequences ``(N, T, ...)`` ← the last observed value of the same feature at an earlier
    frame, or ``fallback`` (default: the observed means) before the feature's first observation."""
    if masked.ndim < 2:
        raise ValueError(f"forward_fill needs sequences (N, T, ...), got shape {masked.shape}")
    observed_mask = observed_mask.astype(bool)
    if fallback is None:
        fallback = observed_means(masked, observed_mask)
    filled = np.empty(masked.shape, dtype=np.float32)
    last = np.broadcast_to(fallback, masked[:, 0].shape).astype(np.float32)
    for t in range(masked.shape[1]):
        last = np.where(observed_mask[:, t], masked[:, t], last)
        filled[:, t] = last
    return filled
