"""Evaluate a trained model through the methods every model has: encode, ELBO, importance weights.

Every bound reported here is the plain, untempered one — β = 1, no KL warm-up, likelihood weight
λ = 1 — whatever weights the model was trained with, so :func:`evidence_lower_bound` and
:func:`importance_weighted_bounds` estimate the same ELBO and can be compared across models.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import pyro
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.batch import Batch
from pyrodisent.evaluation.diagnostics import pareto_khat
from pyrodisent.evaluation.importance_sampling import log_importance_weight_batches
from pyrodisent.infer.elbo import MeanFieldELBO
from pyrodisent.model import LatentVariableModel, log_mean_exp, plain_elbo_weights


@torch.no_grad()
def encode(model: LatentVariableModel, data: ArrayDataset, batch_size: int = 2048, sample: bool = False,
           seed: Optional[int] = None) -> np.ndarray:
    """Codes of every point, shape (N, K): posterior means, or one draw from q(z|x) when ``sample``."""
    if seed is not None:
        pyro.set_rng_seed(seed)
    model.eval()
    codes = [model.encode(batch, sample=sample).cpu() for _, batch in data.sequential(batch_size, model.device)]
    return torch.cat(codes).numpy()


@torch.no_grad()
def evidence_lower_bound(model: LatentVariableModel, data: ArrayDataset, batch_size: int = 2048,
                         num_particles: int = 1, seed: Optional[int] = None) -> float:
    """The plain ELBO per data point (β = 1, no warm-up, λ = 1): an unbiased estimate for the whole set.

    Each minibatch's loss estimates the full-data ELBO (the data plate scales by N/B); the average over
    the minibatches, divided by N, is the per-point ELBO.
    """
    if seed is not None:
        pyro.set_rng_seed(seed)
    model.eval()
    objective = MeanFieldELBO(num_particles)
    losses = []
    with plain_elbo_weights(model):
        for _, batch in data.sequential(batch_size, model.device):
            loss, _ = objective(model.model, model.guide, batch)
            losses.append(float(loss))
    return -float(np.mean(losses)) / len(data)


@torch.no_grad()
def importance_weighted_bounds(model: LatentVariableModel, data: ArrayDataset, num_samples: int = 1000,
                               batch_size: Optional[int] = None, seed: Optional[int] = None) -> Tuple[float, float]:
    """``(elbo, iwae)`` per data point, averaged over the set, from S importance weights per point.

    log w_s = log p(x, z_s | globals) − log q(z_s | x), unweighted (β = 1, λ = 1), with the global sites fixed
    (:meth:`~pyrodisent.model.LatentVariableModel.fixed_globals_trace`); ELBO = mean_s log w_s, IWAE = log (1/S) Σ_s w_s (Burda et al. 2016).
    ``batch_size`` points are evaluated at once (default: S·B ≈ 2¹⁷ rows).
    """
    result = importance_weighted_evaluation(model, data, num_samples, batch_size=batch_size, seed=seed, khat=False)
    return result["elbo"], result["iwae"]


@torch.no_grad()
def importance_weighted_evaluation(model: LatentVariableModel, data: ArrayDataset, num_samples: int = 1000,
                                   batch_size: Optional[int] = None, seed: Optional[int] = None,
                                   khat: bool = True) -> Dict[str, Any]:
    """The bounds of :func:`importance_weighted_bounds` and, from the same weights, each point's PSIS k̂.

    :returns: ``{"elbo": float, "iwae": float, "khat": (N,) array}`` (``khat`` only when asked for): k̂ > 0.7
        marks points whose IWAE term is not trustworthy (Yao et al. 2018), so the share of them says how
        far the IWAE figure can be believed.
    """
    if seed is not None:
        pyro.set_rng_seed(seed)
    elbos, iwaes, khats = [], [], []
    for _, log_w in log_importance_weight_batches(model, data, num_samples, batch_size=batch_size):
        elbos.append(log_w.mean(0).cpu())
        iwaes.append(log_mean_exp(log_w, 0).cpu())
        if khat:
            khats.append(pareto_khat(log_w.T.cpu().numpy()))
    result: Dict[str, Any] = {"elbo": float(torch.cat(elbos).mean()), "iwae": float(torch.cat(iwaes).mean())}
    if khat:
        result["khat"] = np.concatenate(khats)
    return result


def representation_function(model: LatentVariableModel):
    """``observations (n, *shape) → codes (n, K)`` (numpy, posterior means) for the sampling-based metrics."""

    @torch.no_grad()
    def represent(observations: np.ndarray) -> np.ndarray:
        model.eval()
        x = torch.as_tensor(np.asarray(observations), dtype=torch.float32, device=model.device)
        return model.encode(Batch(x=x, index=torch.arange(len(x), device=model.device))).cpu().numpy()

    return represent
