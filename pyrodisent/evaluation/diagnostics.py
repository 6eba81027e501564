"""Diagnostics of a trained model: ArviZ ``InferenceData``, PSIS k̂ of the amortised posterior, summaries.

Works through what every model of the zoo has — ``model``/``guide`` (Pyro programs with a ``"data"``
plate), ``guide_globals`` and ``log_importance_weights`` — so nothing here knows any particular model.

* :func:`build_inference_data` draws from the guide on an evaluation subset and collects

  - ``posterior``: global latent sites (sample sites outside the data plate; dims named by the model's
    optional ``global_site_dims()``, e.g. ``{"shift": ["action", "latent"]}``), and the local sites
    of the subset (``z`` with dims ``(obs, latent)``);
  - ``posterior_predictive``: x̃ ~ p(x | z, globals) for each guide draw, dims ``(obs, x_dim_0, …)``;
  - ``log_likelihood``: log p(x_n | z_n, globals) per draw and point, dims ``(obs,)``;
  - ``observed_data`` (x) and ``constant_data`` (u, the true factors and the extras such as
    ``action``, when the data carry them).

* :func:`psis_khat` is the per-datapoint Pareto k̂ of the importance weights
  w_s(n) = p(x_n, z_s) / q(z_s | x_n), z_s ~ q(z | x_n) (Yao et al. 2018, "Yes, but did it work?:
  evaluating variational inference"): k̂ < 0.5 good, 0.5–0.7 acceptable, > 0.7 the amortised
  posterior misses mass of the true posterior (too narrow, wrong place) for that point.

* :func:`diagnose` writes ``inference_data.nc``, ``khat.png`` and ``global_summary.csv`` into a run
  directory and returns the flat k̂ summary for ``metrics.json``.
"""
from __future__ import annotations

import hashlib

import os
import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import pyro
import torch
import xarray as xr
from pyro import poutine
from pyro.poutine.util import site_is_subsample

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.x announces its 1.0 refactor on import
    import arviz as az

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.evaluation.importance_sampling import log_importance_weight_batches
from pyrodisent.infer.traces import data_plate_frame
from pyrodisent.model import LatentVariableModel
from pyrodisent.figures.plots import save_figure, subplots
from pyrodisent.training.run_directory import RunDirectory, atomic_write, atomic_write_bytes
from pyrodisent.sites import DATA_PLATE, LATENT_SITE

INFERENCE_DATA = "inference_data.nc"
KHAT_PLOT = "khat.png"
GLOBAL_SUMMARY = "global_summary.csv"

OBS_DIM = "obs"
LATENT_DIM = "latent"
KHAT_GOOD = 0.5
KHAT_UNRELIABLE = 0.7
MIN_IMPORTANCE_SAMPLES = 25  # PSIS fits its Pareto tail to the largest ~S/5 weights: needs ≥ 5 of them
# Log weights whose spread is within this many rounding errors are constant: q(z|x) equals the posterior.
CONSTANT_WEIGHTS_ULPS = 100


# ---------------------------------------------------------------------------------- InferenceData
@torch.no_grad()
def build_inference_data(model: LatentVariableModel, data: ArrayDataset, num_draws: int = 100,
                         num_obs: Optional[int] = 200, seed: Optional[int] = 0,
                         global_dims: Optional[Mapping[str, Sequence[str]]] = None) -> az.InferenceData:
    """Guide draws, posterior predictive and pointwise log-likelihood of the first ``num_obs`` points.

    Each of the ``num_draws`` draws (one chain) traces ``model.guide`` on the evaluation subset —
    global sites and the local latents together, as in training — and replays ``model.model`` on
    it: the observation site's distribution p(x | z, globals) gives one posterior-predictive x̃ and
    log p(x_n | z_n, globals) for each point.

    :param model: a trained model (any :class:`LatentVariableModel`); it is evaluated in eval mode
        on its own device, and its training mode is restored afterwards.
    :param data: the evaluation data; its first ``num_obs`` points (all when None) are used.
    :param num_draws: draws from the guide (the ``draw`` dimension; ``chain`` has size 1).
    :param seed: seeds Pyro's generators (None: leave them as they are).
    :param global_dims: dim names of global sites, e.g. ``{"shift": ["action", "latent"]}``; they
        override the model's ``global_site_dims()``; unnamed sites get ``<site>_dim_0, …``.
    :returns: ``InferenceData`` with groups posterior, posterior_predictive, log_likelihood,
        observed_data and (when the data carry u, factors or extras) constant_data; ``obs`` coordinates
        are the points' positions in ``data``.
    """
    if num_draws < 1:
        raise ValueError(f"num_draws must be ≥ 1, got {num_draws}")
    num_obs = _num_points(data, num_obs)
    if seed is not None:
        pyro.set_rng_seed(seed)
    index = torch.arange(num_obs, device=data.x.device)
    batch = data.batch(index).to(model.device)
    named_global_dims = {**_model_global_dims(model), **dict(global_dims or {})}

    posterior: Dict[str, List[torch.Tensor]] = {}
    predictive: Dict[str, List[torch.Tensor]] = {}
    log_likelihood: Dict[str, List[torch.Tensor]] = {}
    observed: Dict[str, torch.Tensor] = {}
    dims: Dict[str, List[str]] = {}
    was_training = model.training
    model.eval()
    try:
        for _ in range(num_draws):
            with poutine.block():
                guide_trace = poutine.trace(model.guide).get_trace(batch)
                model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch)
            for name, site in _sample_sites(guide_trace):
                if site["is_observed"]:
                    continue
                value, local = _per_point(site, site["value"])
                posterior.setdefault(name, []).append(value)
                dims.setdefault(name, _local_dims(name, value) if local
                                else _global_dims(name, value, named_global_dims.get(name)))
            for name, site in _sample_sites(model_trace):
                if not site["is_observed"] or data_plate_frame(site) is None:
                    continue
                fn = site["fn"]
                log_p = fn.log_prob(site["value"])
                if site["mask"] is not None:
                    log_p = log_p * site["mask"]
                log_p, _ = _per_point(site, log_p, event_dims=0)
                replicate, _ = _per_point(site, fn.sample())
                predictive.setdefault(name, []).append(replicate)
                log_likelihood.setdefault(name, []).append(log_p.reshape(num_obs, -1).sum(-1))
                if name not in observed:
                    observed[name], _ = _per_point(site, site["value"])
                    dims[name] = _local_dims(name, observed[name])
    finally:
        model.train(was_training)
    if not observed:
        raise ValueError(f"{type(model).__name__}.model observes no site inside the {DATA_PLATE!r} plate: "
                         "nothing to build a posterior predictive or log-likelihood from")

    constant: Dict[str, np.ndarray] = {}
    for name, value in (("u", data.u), ("factors", data.factors), *data.extras.items()):
        if value is not None and name not in dims:
            constant[name] = _numpy(value[:num_obs])
            dims[name] = [OBS_DIM] + [f"{name}_dim_{i}" for i in range(value.dim() - 1)]

    stack = lambda values: _numpy(torch.stack(values))[None]  # noqa: E731  (chain, draw, …)
    return az.from_dict(
        posterior={name: stack(values) for name, values in posterior.items()},
        posterior_predictive={name: stack(values) for name, values in predictive.items()},
        log_likelihood={name: stack(values) for name, values in log_likelihood.items()},
        observed_data={name: _numpy(value) for name, value in observed.items()},
        constant_data=constant or None,
        coords={OBS_DIM: np.arange(num_obs)},
        dims=dims,
        attrs={"model": type(model).__name__, "inference_library": "pyro"},
    )


def save_inference_data(idata: az.InferenceData, path: str | os.PathLike) -> Path:
    """Write ``idata`` as netCDF (h5netcdf) atomically: a failed write leaves no partial file."""
    return atomic_write(Path(path), lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"))


def global_site_names(idata: az.InferenceData) -> List[str]:
    """Posterior variables without an ``obs`` dimension: the global sites."""
    if "posterior" not in idata.groups():
        raise ValueError(f"InferenceData has no posterior group; groups: {idata.groups()}")
    return [name for name, value in idata.posterior.data_vars.items() if OBS_DIM not in value.dims]


def summarize_globals(idata: az.InferenceData) -> pd.DataFrame:
    """``az.summary`` (mean, sd, 94% HDI) of each element of each global site; empty without globals.

    ``kind="stats"``: the draws are independent draws from the guide, so there is nothing for R̂ or
    an effective sample size to diagnose.
    """
    names = global_site_names(idata)
    if not names:
        return pd.DataFrame()
    return az.summary(idata, group="posterior", var_names=names, kind="stats")


# ---------------------------------------------------------------------------------- PSIS k̂
@torch.no_grad()
def psis_khat(model: LatentVariableModel, data: ArrayDataset, num_samples: int = 1000,
              num_obs: Optional[int] = None, seed: Optional[int] = 0,
              batch_size: Optional[int] = None, globals_trace: Optional[poutine.Trace] = None) -> np.ndarray:
    """Pareto k̂ of the importance weights p(x_n, z) / q(z | x_n), one per point, shape (N,).

    The weights are ``model.log_importance_weights`` (local sites; global sites fixed to
    ``globals_trace``, by default one draw from their guide, the same for every point). Points whose
    weights are constant to rounding — q(z | x_n) equals the posterior — get k̂ = −∞ (see
    :func:`pareto_khat`).

    :param num_samples: S importance samples per point (Yao et al. use S ≥ 1000 to resolve the tail).
    :param num_obs: the first ``num_obs`` points of ``data`` (all when None).
    :param batch_size: points per forward pass (default:
        :func:`~pyrodisent.evaluation.importance_sampling.importance_batch_size`).
    :param globals_trace: a trace of ``model.guide_globals`` (or any trace holding the global sites,
        e.g. at their posterior medians) fixing the globals; None draws them once from the guide.
    """
    if num_samples < MIN_IMPORTANCE_SAMPLES:
        raise ValueError(f"num_samples must be ≥ {MIN_IMPORTANCE_SAMPLES} for PSIS (its Pareto tail needs ≥ 5 "
                         f"weights; 1000 is usual), got {num_samples}")
    num_obs = _num_points(data, num_obs)
    if seed is not None:
        pyro.set_rng_seed(seed)
    khats = [pareto_khat(_numpy(log_w.T)) for _, log_w in log_importance_weight_batches(
        model, data, num_samples, num_obs=num_obs, batch_size=batch_size, globals_trace=globals_trace)]
    return np.concatenate(khats)


def pareto_khat(log_weights: np.ndarray) -> np.ndarray:
    """k̂ of ``az.psislw`` for each row of log weights ``(..., S)`` (samples on the last axis).

    Constant weights (spread within ``CONSTANT_WEIGHTS_ULPS`` rounding errors of the weights' dtype)
    mean q is the target up to normalisation; PSIS cannot fit a tail to rounding noise (it returns
    noise, or +∞ when fewer than 5 weights exceed its cutoff), so those rows get k̂ = −∞, the limit
    of a tail that vanishes.
    """
    log_weights = np.asarray(log_weights)
    if not np.issubdtype(log_weights.dtype, np.floating):
        log_weights = log_weights.astype(np.float64)
    if np.isnan(log_weights).any():
        bad = np.argwhere(np.isnan(log_weights).reshape(-1, log_weights.shape[-1]).any(-1))[:5, 0].tolist()
        raise ValueError(f"log importance weights are NaN for points {bad} (first five)")
    _, khat = az.psislw(log_weights.astype(np.float64))
    khat = np.asarray(khat, dtype=np.float64)
    finite = np.where(np.isfinite(log_weights), log_weights, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-(−∞) rows: no finite weight at all
        spread = np.nanmax(finite, -1) - np.nanmin(finite, -1)
        magnitude = np.maximum(1.0, np.nanmax(np.abs(finite), -1))
    rounding = CONSTANT_WEIGHTS_ULPS * np.finfo(log_weights.dtype).eps * magnitude
    constant = np.isfinite(log_weights).all(-1) & (spread <= rounding)
    return np.where(constant, -np.inf, khat)


def khat_summary(khat: np.ndarray) -> Dict[str, float]:
    """Shares of points with k̂ > 0.7 (unreliable) and in (0.5, 0.7] (acceptable), max and median k̂."""
    khat = np.asarray(khat, dtype=np.float64).reshape(-1)
    if khat.size == 0:
        raise ValueError("khat is empty: no points were diagnosed")
    return {
        "khat_share_above_0_7": float(np.mean(khat > KHAT_UNRELIABLE)),
        "khat_share_0_5_to_0_7": float(np.mean((khat > KHAT_GOOD) & (khat <= KHAT_UNRELIABLE))),
        "khat_max": float(np.max(khat)),
        "khat_median": float(np.median(khat)),
    }


def plot_khat(khat: np.ndarray, path: str | os.PathLike, title: Optional[str] = None) -> Path:
    """ArviZ's k̂ plot (one dot per point, lines at 0, 0.7, 1, share of points per band) as PNG.

    Points with constant weights (k̂ = −∞) cannot be drawn; the title counts them.
    """
    khat = np.asarray(khat, dtype=np.float64).reshape(-1)
    shown = np.isfinite(khat) | (khat == np.inf)
    pareto_k = xr.DataArray(np.where(shown, khat, np.nan), dims=[OBS_DIM], coords={OBS_DIM: np.arange(khat.size)})
    elpd = az.ELPDData(data=[pareto_k, KHAT_UNRELIABLE], index=["pareto_k", "good_k"])
    fig, ax = subplots(figsize=(7, 3.5))
    with warnings.catch_warnings():
        # ArviZ 0.23's matplotlib backend uses an API that matplotlib ≥ 3.11 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        az.plot_khat(elpd, ax=ax, show_hlines=True, show_bins=True, markersize=8)
    summary = khat_summary(khat)
    text = title or "PSIS k̂ of q(z | x) per data point"
    text += f"\n{summary['khat_share_above_0_7']:.1%} above 0.7, median {summary['khat_median']:.2f}"
    if not shown.all():
        text += f"; {int((~shown).sum())} with constant weights (k̂ = −∞) not drawn"
    ax.set_title(text, fontsize=9)
    ax.set_xlabel("data point")
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- everything
def diagnose(model: LatentVariableModel, data: ArrayDataset, run_dir: RunDirectory | str | os.PathLike,
             num_draws: int = 100, num_obs: Optional[int] = 200, num_samples: int = 1000,
             khat_num_obs: Optional[int] = 1000, seed: Optional[int] = 0,
             global_dims: Optional[Mapping[str, Sequence[str]]] = None, reference=None) -> Dict[str, float]:
    """Write ``inference_data.nc``, ``khat.png`` and ``global_summary.csv`` into ``run_dir``.

    :param num_obs: points in the InferenceData (posterior predictive of images is
        num_draws × num_obs × pixels numbers: keep it modest).
    :param khat_num_obs: points diagnosed by PSIS k̂ (each costs ``num_samples`` passes; None: all).
    :param reference: a :class:`~pyrodisent.evaluation.reference_posterior.ReferencePosterior` that has run on points
        of ``data``: its NUTS draws join the InferenceData as their own group.
    :returns: the flat k̂ summary (:func:`khat_summary`), ready for ``metrics.json``.
    """
    run = run_dir if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir)
    idata = build_inference_data(model, data, num_draws=num_draws, num_obs=num_obs, seed=seed,
                                 global_dims=global_dims)
    # which points the pointwise log-likelihood is of: runs with the same fingerprint can be compared
    # point by point (PSIS-LOO in the comparison report)
    fingerprint = data_fingerprint(data.x[: _num_points(data, num_obs)])
    for group in ("log_likelihood", "posterior"):
        if hasattr(idata, group):
            getattr(idata, group).attrs[EVALUATION_DATA_ATTRIBUTE] = fingerprint
    if reference is not None:
        reference.add_to(idata)
    save_inference_data(idata, run.file(INFERENCE_DATA))
    khat = psis_khat(model, data, num_samples=num_samples, num_obs=khat_num_obs, seed=seed)
    plot_khat(khat, run.file(KHAT_PLOT))
    atomic_write_bytes(run.file(GLOBAL_SUMMARY), summarize_globals(idata).to_csv().encode())
    return khat_summary(khat)


# ---------------------------------------------------------------------------------- helpers
#: the attribute of the log_likelihood group naming the evaluation points (:func:`data_fingerprint`)
EVALUATION_DATA_ATTRIBUTE = "evaluation_data"


def data_fingerprint(x) -> str:
    """A short hex digest of an array's values and shape: the same points give the same fingerprint."""
    array = np.ascontiguousarray(x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x))
    digest = hashlib.sha1(str((array.shape, array.dtype.str)).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _num_points(data: ArrayDataset, num_obs: Optional[int]) -> int:
    if num_obs is None:
        return len(data)
    if num_obs < 1:
        raise ValueError(f"num_obs must be ≥ 1 (or None for every point), got {num_obs}")
    return min(int(num_obs), len(data))


def _model_global_dims(model) -> Dict[str, Sequence[str]]:
    """The model's optional ``global_site_dims()`` (method or dict attribute): site name → dim names."""
    hook = getattr(model, "global_site_dims", None)
    return dict((hook() if callable(hook) else hook) or {})


def _sample_sites(trace: poutine.Trace):
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site):
            yield name, site


def _per_point(site, value: torch.Tensor, event_dims: Optional[int] = None):
    """``value`` with the data-plate axis moved to the front, and whether the site is local."""
    frame = data_plate_frame(site)
    if frame is None:
        return value, False
    if event_dims is None:
        event_dims = len(site["fn"].event_shape)
    axis = value.dim() - event_dims + frame.dim
    return value.movedim(axis, 0), True


def _local_dims(name: str, value: torch.Tensor) -> List[str]:
    if name == LATENT_SITE and value.dim() == 2:
        return [OBS_DIM, LATENT_DIM]
    return [OBS_DIM] + [f"{name}_dim_{i}" for i in range(value.dim() - 1)]


def _global_dims(name: str, value: torch.Tensor, named: Optional[Sequence[str]]) -> List[str]:
    if named is None:
        return [f"{name}_dim_{i}" for i in range(value.dim())]
    if len(named) != value.dim():
        raise ValueError(f"global site {name!r} has shape {tuple(value.shape)} but {len(named)} dim names "
                         f"were given: {list(named)}")
    return list(named)


def _numpy(value: torch.Tensor) -> np.ndarray:
    return value.detach().cpu().numpy()
