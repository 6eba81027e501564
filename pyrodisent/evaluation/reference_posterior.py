"""A gold-standard check of an amortised guide: NUTS on the local latents of a few data points.

For a handful of chosen points n, with every network and every global site fixed (the globals at
:meth:`~pyrodisent.model.LatentVariableModel.fixed_globals_trace`, as the IWAE bound and PSIS k̂ use
them), the exact local posterior p(z_n | x_n, globals) ∝ p(x_n, z_n | globals) is sampled with NUTS
(Hoffman & Gelman 2014; Pyro's ``MCMC``), several chains from overdispersed starts, checked with split
R̂ and the bulk effective sample size (Vehtari et al. 2021). The log joint is the model's own
program — ``model.model`` conditioned on the local sites — so any model with continuous local latents
works, whatever its prior, decoder or likelihood.

Each point's draws live in a space whitened by the guide's own draws (z = m + L ε, with m and L L^T
the mean and covariance of the guide's draws): an affine map, so the posterior is unchanged, and a
guide that is roughly right leaves NUTS a near-standard target. Each point also gets its own dense
mass matrix (``full_mass`` blocks), so points with very different posterior widths share one run.

:func:`compare_guide` sets the guide against the reference point by point (Yao et al. 2018, "Yes, but
did it work?: evaluating variational inference"):

- ``khat``: PSIS k̂ of the guide's importance weights p(x_n, z) / q(z | x_n);
- ``sd_ratio_*``: marginal standard deviation of the guide over that of NUTS, per latent (median,
  min, max over latents): < 1 too narrow, > 1 too wide;
- ``mean_shift_*``: (mean_q − mean_NUTS) / sd_NUTS per latent (max |·| and root mean square): the
  amortisation gap in units of the posterior's width;
- ``coverage_90``: the share of NUTS draws inside the guide's central 90 % interval, averaged over
  latents (0.9 for a calibrated guide);
- ``khat_gaussian_fit``: k̂ of a Gaussian with the NUTS draws' mean and covariance as the proposal —
  small when a Gaussian family can represent the posterior (then the guide is only mis-placed or
  mis-scaled), large when the posterior's shape is not Gaussian;
- ``r_hat_max``, ``ess_bulk_min``, ``divergences``: the reference's own convergence.
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import pyro
import torch
import xarray as xr
from pyro import poutine
from pyro.infer import MCMC, NUTS

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.x announces its 1.0 refactor on import
    import arviz as az

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.batch import Batch
from pyrodisent.evaluation.diagnostics import LATENT_DIM, OBS_DIM, pareto_khat
from pyrodisent.infer.traces import data_plate_frame
from pyrodisent.model import LatentVariableModel, _local_log_prob, plain_elbo_weights
from pyrodisent.sites import DATA_PLATE

REFERENCE_GROUP = "reference_posterior"
REFERENCE_TABLE = "reference_check.csv"
GUIDE_INTERVAL = 0.9


def local_latent_sites(model: LatentVariableModel, batch: Batch,
                       globals_trace: poutine.Trace) -> Dict[str, Tuple[int, ...]]:
    """The guide's latent sites inside the data plate and their per-point event shapes.

    :raises ValueError: when the guide has no local site, or a local site that is not continuous
        (NUTS needs a reparameterisable, real-valued latent).
    """
    with poutine.block(), torch.no_grad():
        trace = poutine.trace(poutine.replay(model.guide, trace=globals_trace)).get_trace(batch)
    sites = {}
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site["is_observed"] or name == DATA_PLATE:
            continue
        if data_plate_frame(site) is None:
            continue
        support = site["fn"].support
        if not support.is_discrete and support.event_dim == len(site["fn"].event_shape) \
                and getattr(support, "base_constraint", support) is torch.distributions.constraints.real:
            sites[name] = tuple(site["fn"].event_shape)
        else:
            raise ValueError(f"local site {name!r} of {type(model).__name__}.guide has support {support}; "
                             "the NUTS reference needs real-valued continuous local latents")
    if not sites:
        raise ValueError(f"{type(model).__name__}.guide samples no latent site inside the {DATA_PLATE!r} plate: "
                         "there is no local posterior to check")
    return sites


def local_log_joint(model: LatentVariableModel, batch: Batch, globals_trace: poutine.Trace,
                    values: Dict[str, torch.Tensor]) -> torch.Tensor:
    """log p(x_n, z_n | globals) per point, shape (B,): ``model.model`` with its global sites replayed
    from ``globals_trace`` and its local sites conditioned on ``values`` (site → (B, *event)); plain
    weights (β = 1, no warm-up, λ = 1)."""
    program = poutine.condition(poutine.replay(model.model, trace=globals_trace), data=values)
    with poutine.block(), plain_elbo_weights(model):
        trace = poutine.trace(program).get_trace(batch)
    return _local_log_prob(trace)


@torch.no_grad()
def guide_local_draws(model: LatentVariableModel, batch: Batch, num_samples: int,
                      globals_trace: poutine.Trace) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """S draws of each local site from the guide, site → (S, B, *event), and their log importance
    weights log p(x_n, z_s | globals) − log q(z_s | x_n), shape (S, B)."""
    repeated = batch.repeat(num_samples)
    with poutine.block(), plain_elbo_weights(model):
        guide_trace = poutine.trace(poutine.replay(model.guide, trace=globals_trace)).get_trace(repeated)
        model_trace = poutine.trace(poutine.replay(poutine.replay(model.model, trace=globals_trace),
                                                   trace=guide_trace)).get_trace(repeated)
    log_w = (_local_log_prob(model_trace) - _local_log_prob(guide_trace)).reshape(num_samples, batch.size)
    sites = local_latent_sites(model, batch, globals_trace)
    draws = {name: guide_trace.nodes[name]["value"].reshape(num_samples, batch.size, *shape)
             for name, shape in sites.items()}
    return draws, log_w


def _flatten(draws: Dict[str, torch.Tensor], sites: Dict[str, Tuple[int, ...]], lead: int) -> torch.Tensor:
    """site → (*lead dims, B, *event) into (*lead dims, B, D), D = Σ event sizes."""
    return torch.cat([draws[name].reshape(*draws[name].shape[:lead + 1], -1) for name in sites], -1)


def _unflatten(flat: torch.Tensor, sites: Dict[str, Tuple[int, ...]]) -> Dict[str, torch.Tensor]:
    """(..., B, D) into site → (..., B, *event)."""
    values, start = {}, 0
    for name, shape in sites.items():
        size = math.prod(shape)
        values[name] = flat[..., start:start + size].reshape(*flat.shape[:-1], *shape)
        start += size
    return values


class ReferencePosterior:
    """NUTS draws of the local latents of chosen points, with the networks and globals fixed.

    :param model: a trained model; it is put in eval mode and its parameters are not changed.
    :param data: the data set holding the points.
    :param points: indices of the points in ``data``.
    :param num_chains: chains (run one after another), each started from a different guide draw
        pushed out by ``overdispersion`` guide standard deviations.
    :param warmup_steps, num_samples: NUTS warm-up (step size and mass matrix adaptation) and kept
        draws per chain.
    :param guide_samples: draws from the guide used to whiten the space NUTS moves in and for the
        comparison (k̂ needs ≥ 1000 to resolve the tail).
    :param max_tree_depth: NUTS's tree depth limit.
    :param seed: seeds Pyro's generators (None: leave them as they are).
    :param globals_trace: the fixed globals (default: ``model.fixed_globals_trace``).
    """

    def __init__(self, model: LatentVariableModel, data: ArrayDataset, points: Sequence[int], num_chains: int = 4,
                 warmup_steps: int = 300, num_samples: int = 300, guide_samples: int = 1000,
                 max_tree_depth: int = 8, overdispersion: float = 2.0, seed: Optional[int] = 0,
                 globals_trace: Optional[poutine.Trace] = None):
        points = [int(p) for p in points]
        if not points:
            raise ValueError("points is empty: choose at least one data point to check")
        if min(points) < 0 or max(points) >= len(data):
            raise ValueError(f"points must index the {len(data)} data points, got {points}")
        if num_chains < 2:
            raise ValueError(f"num_chains must be ≥ 2 for R̂, got {num_chains}")
        if warmup_steps < 1 or num_samples < 4:
            raise ValueError(f"need warmup_steps ≥ 1 and num_samples ≥ 4, got {warmup_steps} and {num_samples}")
        if guide_samples < 25:
            raise ValueError(f"guide_samples must be ≥ 25 for PSIS k̂ (1000 is usual), got {guide_samples}")
        self.model, self.points = model, points
        self.num_chains, self.warmup_steps, self.num_samples = num_chains, warmup_steps, num_samples
        self.guide_samples, self.max_tree_depth, self.overdispersion = guide_samples, max_tree_depth, overdispersion
        if seed is not None:
            pyro.set_rng_seed(seed)
        self.was_training = model.training
        model.eval()
        self.batch = data.batch(torch.as_tensor(points, device=data.x.device)).to(model.device)
        if globals_trace is None:
            globals_trace = model.fixed_globals_trace(self.batch)
        self.globals_trace = globals_trace
        self.sites = local_latent_sites(model, self.batch, globals_trace)
        with torch.no_grad():
            draws, self.guide_log_weights = guide_local_draws(model, self.batch, guide_samples, globals_trace)
        self.guide_draws = _flatten(draws, self.sites, 1).transpose(0, 1).double()  # (B, S, D)
        self.draws: Optional[torch.Tensor] = None  # (chains, draws, B, D) after run()
        self.divergences: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ sampling
    def _whitening(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, D) and Cholesky factor (B, D, D) of the guide's draws (jittered to be positive definite)."""
        mean = self.guide_draws.mean(1)
        centred = self.guide_draws - mean[:, None]
        covariance = centred.transpose(1, 2) @ centred / (centred.shape[1] - 1)
        eye = torch.eye(covariance.shape[-1], dtype=covariance.dtype)
        jitter = 1e-10 * covariance.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-30)[:, None, None]
        return mean, torch.linalg.cholesky(covariance + jitter * eye)

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log p(x_n, z_n | globals) for z of shape (..., B, D) (flattened local sites), shape (..., B)."""
        lead = z.shape[:-2]
        flat = z.reshape(-1, z.shape[-1]).to(torch.get_default_dtype())
        batch = self.batch.repeat(int(math.prod(lead)) if lead else 1)
        return local_log_joint(self.model, batch, self.globals_trace, _unflatten(flat, self.sites)).reshape(
            *lead, len(self.points)).to(z.dtype)

    def run(self) -> "ReferencePosterior":
        """Run the chains; the draws are in :attr:`draws`, shape (chains, num_samples, B, D)."""
        mean, chol = self._whitening()
        names = [f"point_{i}" for i in range(len(self.points))]

        def potential(params: Dict[str, torch.Tensor]) -> torch.Tensor:
            eps = torch.stack([params[name] for name in names])  # (B, D)
            z = mean + (chol @ eps[..., None])[..., 0]
            return -self.log_joint(z).sum()

        chains, divergences = [], []
        try:
            for chain in range(self.num_chains):
                start = torch.randn(len(names), mean.shape[-1], dtype=mean.dtype) * self.overdispersion
                kernel = NUTS(potential_fn=potential, full_mass=[(name,) for name in names],
                              max_tree_depth=self.max_tree_depth)
                mcmc = MCMC(kernel, num_samples=self.num_samples, warmup_steps=self.warmup_steps,
                            initial_params={name: start[i] for i, name in enumerate(names)}, disable_progbar=True)
                mcmc.run()
                samples = mcmc.get_samples()
                eps = torch.stack([samples[name] for name in names], 1).detach()  # (draws, B, D)
                chains.append(mean + (chol @ eps[..., None])[..., 0])
                divergences.append(len(mcmc.diagnostics()["divergences"]["chain 0"]))
        finally:
            self.model.train(self.was_training)
        self.draws = torch.stack(chains)
        self.divergences = np.asarray(divergences)
        return self

    # ------------------------------------------------------------------ results
    def _require_draws(self) -> torch.Tensor:
        if self.draws is None:
            raise RuntimeError("ReferencePosterior.run() has not been called: there are no NUTS draws yet")
        return self.draws

    def dataset(self) -> xr.Dataset:
        """The NUTS draws as an ``xarray.Dataset`` with dims (chain, draw, obs, latent); ``obs``
        coordinates are the points' indices in the data. The flattened local sites are one variable
        per site."""
        draws = self._require_draws()
        variables = {}
        for name, value in _unflatten(draws, self.sites).items():
            dims = ["chain", "draw", OBS_DIM] + ([LATENT_DIM] if value.dim() == 4 else
                                                [f"{name}_dim_{i}" for i in range(value.dim() - 3)])
            variables[name] = (dims, value.cpu().numpy())
        return xr.Dataset(variables, coords={OBS_DIM: np.asarray(self.points),
                                             "chain": np.arange(draws.shape[0]), "draw": np.arange(draws.shape[1])})

    def add_to(self, idata: az.InferenceData) -> az.InferenceData:
        """``idata`` with the draws added as its own group, :data:`REFERENCE_GROUP`, beside the guide's."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # ArviZ warns that the group is not in its schema
            idata.add_groups({REFERENCE_GROUP: self.dataset()})
        return idata

    def convergence(self) -> pd.DataFrame:
        """Per point: max split R̂ and min bulk ESS over its latents (Vehtari et al. 2021)."""
        draws = self._require_draws().cpu().numpy()  # (chains, draws, B, D)
        rows = []
        for b in range(draws.shape[2]):
            data = xr.Dataset({"z": (("chain", "draw", "d"), draws[:, :, b])})
            rows.append({"r_hat_max": float(az.rhat(data)["z"].max()), "ess_bulk_min": float(az.ess(data)["z"].min())})
        return pd.DataFrame(rows)

    def compare_guide(self, gaussian_fit_samples: Optional[int] = None) -> pd.DataFrame:
        """One row per point: the guide against the NUTS reference (see the module docstring)."""
        draws = self._require_draws()
        reference = draws.reshape(-1, *draws.shape[2:]).transpose(0, 1)  # (B, chains·draws, D)
        guide = self.guide_draws
        ref_mean, ref_sd = reference.mean(1), reference.std(1)
        guide_mean, guide_sd = guide.mean(1), guide.std(1)
        sd_ratio = guide_sd / ref_sd
        shift = (guide_mean - ref_mean) / ref_sd
        tail = (1 - GUIDE_INTERVAL) / 2
        low = torch.quantile(guide, tail, dim=1)
        high = torch.quantile(guide, 1 - tail, dim=1)
        inside = ((reference >= low[:, None]) & (reference <= high[:, None])).double().mean(1)  # (B, D)
        khat = pareto_khat(self.guide_log_weights.T.cpu().numpy())
        fit_khat = self.gaussian_fit_khat(gaussian_fit_samples or self.guide_samples)
        table = pd.DataFrame({
            "point": self.points,
            "khat": khat,
            "sd_ratio_median": sd_ratio.median(-1).values.numpy(),
            "sd_ratio_min": sd_ratio.min(-1).values.numpy(),
            "sd_ratio_max": sd_ratio.max(-1).values.numpy(),
            "mean_shift_max_abs": shift.abs().max(-1).values.numpy(),
            "mean_shift_rms": shift.pow(2).mean(-1).sqrt().numpy(),
            "coverage_90": inside.mean(-1).numpy(),
            "khat_gaussian_fit": fit_khat,
            "reference_sd_median": ref_sd.median(-1).values.numpy(),
            "divergences": int(self.divergences.sum()),
        })
        return pd.concat([table, self.convergence()], axis=1)

    @torch.no_grad()
    def gaussian_fit_khat(self, num_samples: int) -> np.ndarray:
        """k̂ per point of a Gaussian with the NUTS draws' mean and covariance used as the proposal."""
        draws = self._require_draws()
        reference = draws.reshape(-1, *draws.shape[2:]).transpose(0, 1)  # (B, n, D)
        mean = reference.mean(1)
        centred = reference - mean[:, None]
        covariance = centred.transpose(1, 2) @ centred / (centred.shape[1] - 1)
        covariance = covariance + 1e-12 * torch.eye(covariance.shape[-1], dtype=covariance.dtype)
        proposal = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance)
        z = proposal.sample((num_samples,))  # (S, B, D)
        log_w = self.log_joint(z) - proposal.log_prob(z)
        return pareto_khat(log_w.T.cpu().numpy())


def reference_check(model: LatentVariableModel, data: ArrayDataset, points: Sequence[int],
                    **options) -> Tuple[pd.DataFrame, ReferencePosterior]:
    """Run :class:`ReferencePosterior` on ``points`` and compare the guide with it: ``(table, reference)``."""
    reference = ReferencePosterior(model, data, points, **options).run()
    return reference.compare_guide(), reference


def summarize_check(table: pd.DataFrame) -> Dict[str, float]:
    """Medians over the points of the comparison columns, for ``metrics.json``."""
    columns: List[str] = ["khat", "sd_ratio_median", "mean_shift_max_abs", "mean_shift_rms", "coverage_90",
                          "khat_gaussian_fit", "r_hat_max"]
    return {f"reference_{column}_median": float(np.median(table[column])) for column in columns}
