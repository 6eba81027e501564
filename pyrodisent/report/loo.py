"""PSIS-LOO comparison of runs that share evaluation points (ArviZ ``az.compare``).

Every run stores the pointwise log-likelihood log p(x_n | z_n, globals) of its diagnosis points in
``inference_data.nc``, with z_n drawn from the guide, and a fingerprint of those points
(:func:`pyrodisent.evaluation.diagnostics.data_fingerprint`). Runs of one protocol and seed whose
fingerprints agree saw the same points, so their expected log predictive densities can be compared
point by point: ``az.compare`` ranks them by elpd_loo with the standard error of each difference.
Pareto k̂ > 0.7 at a point means its leave-one-out estimate is unreliable; the share of such points is
shown beside each model (for local latents, leaving x_n out leaves z_n to its prior, a hard case for
importance sampling, so high shares are common: read the ranking with them).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from pyrodisent.evaluation.diagnostics import EVALUATION_DATA_ATTRIBUTE, INFERENCE_DATA, KHAT_UNRELIABLE
from pyrodisent.report.records import RunRecord

LOO_COLUMNS = ("rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "khat_share_above_0_7")


@dataclass
class LooComparison:
    """``az.compare`` of the runs of one protocol and seed that share evaluation points."""

    protocol: str
    seed: int
    fingerprint: str
    table: pd.DataFrame  # index: labels in rank order; columns: LOO_COLUMNS


@dataclass
class LooReport:
    """The comparisons of one protocol, and why runs were left out of them."""

    comparisons: List[LooComparison] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def ranking(self) -> Optional[pd.DataFrame]:
        """Across seeds, per label: seeds compared, mean rank, times ranked first, mean elpd_diff ± sd,
        mean k̂ > 0.7 share; None without comparisons."""
        if not self.comparisons:
            return None
        rows = pd.concat([c.table.assign(seed=c.seed) for c in self.comparisons]).rename_axis("model").reset_index()
        grouped = rows.groupby("model", sort=False)
        summary = pd.DataFrame({
            "seeds": grouped.size(),
            "mean_rank": grouped["rank"].mean() + 1,  # az.compare ranks from 0
            "first": grouped["rank"].apply(lambda r: int((r == 0).sum())),
            "elpd_diff": grouped["elpd_diff"].mean(),
            "elpd_diff_sd": grouped["elpd_diff"].std(ddof=1),
            "khat_share_above_0_7": grouped["khat_share_above_0_7"].mean(),
        })
        return summary.sort_values(["mean_rank", "elpd_diff"])


def loo_report(records: Sequence[RunRecord]) -> LooReport:
    """The PSIS-LOO comparisons of one protocol's runs: one per seed and shared set of evaluation points
    holding at least two labels."""
    report = LooReport()
    by_seed: Dict[int, List[RunRecord]] = {}
    for record in records:
        by_seed.setdefault(record.seed, []).append(record)
    without = sorted({r.label for r in records if not (r.path / INFERENCE_DATA).exists()})
    if without:
        report.notes.append(f"no {INFERENCE_DATA} (no pointwise log-likelihood): {', '.join(without)}")
    for seed, runs in sorted(by_seed.items()):
        groups: Dict[str, Dict[str, object]] = {}
        for record in runs:
            idata = read_log_likelihood(record)
            if idata is None:
                continue
            fingerprint = idata.log_likelihood.attrs.get(EVALUATION_DATA_ATTRIBUTE, f"unknown:{record.path}")
            groups.setdefault(fingerprint, {})[record.label] = idata
        for fingerprint, members in groups.items():
            if len(members) < 2:
                if len(groups) > 1 or len(runs) > 1:
                    report.notes.append(f"seed {seed}: {', '.join(members)} shares no evaluation points with another "
                                        "run (different data or diagnosis points): not in a LOO comparison")
                continue
            table = compare(members)
            report.comparisons.append(LooComparison(records[0].protocol, seed, fingerprint, table))
    return report


def read_log_likelihood(record: RunRecord):
    """The log_likelihood and posterior groups of a run's inference_data.nc (an InferenceData; the
    posterior predictive, the large group of image models, is not read), or None without one."""
    import arviz as az
    import xarray as xr

    path = record.path / INFERENCE_DATA
    if not path.exists():
        return None
    groups = {}
    for group in ("log_likelihood", "posterior"):
        with xr.open_dataset(path, group=group, engine="h5netcdf") as dataset:
            groups[group] = dataset.load()
    return az.InferenceData(**groups)


def compare(idatas: Dict[str, object]) -> pd.DataFrame:
    """``az.compare`` (PSIS-LOO, log scale) of {label: InferenceData} on their shared observed site, with
    each label's share of points whose k̂ > 0.7."""
    import arviz as az

    shared = sorted(set.intersection(*(set(idata.log_likelihood.data_vars) for idata in idatas.values())))
    if not shared:
        raise ValueError(f"runs {', '.join(idatas)} share evaluation points but no observed site name in their "
                         "log_likelihood groups")
    var_name = shared[0]
    with warnings.catch_warnings():  # the k̂ warnings are shown as shares, per model
        warnings.simplefilter("ignore")
        table = az.compare(idatas, ic="loo", var_name=var_name)
        shares = {label: float(np.mean(az.loo(idata, pointwise=True, var_name=var_name).pareto_k.values
                                       > KHAT_UNRELIABLE)) for label, idata in idatas.items()}
    table["khat_share_above_0_7"] = [shares[label] for label in table.index]
    return table[list(LOO_COLUMNS)].astype({"rank": int})
