"""Metrics: array-level scores (codes (N, K), factors (N, F)), one metric a module."""
from pyrodisent.metrics.mcc import correlation_matrix, matched_correlations, mcc
from pyrodisent.metrics.r2 import linear_r2
from pyrodisent.metrics.targets import aligned_targets, target_scores
from pyrodisent.metrics.changed_dimensions import changed_dimension_scores, latent_factor_matching
from pyrodisent.metrics.mig import mig
from pyrodisent.metrics.dci import dci
from pyrodisent.metrics.sap import sap
from pyrodisent.metrics.modularity_explicitness import modularity_explicitness
from pyrodisent.metrics.irs import irs
from pyrodisent.metrics.beta_vae_score import beta_vae_score
from pyrodisent.metrics.factor_vae_score import factor_vae_score
from pyrodisent.metrics.total_correlation import unsupervised_scores
from pyrodisent.metrics.imputation import downstream_auroc, missing_entry_scores
from pyrodisent.metrics.suite import array_metrics, discrete_factors, disentanglement_metrics, sample_codes
from pyrodisent.metrics.ncrr import ncrr, ncrr_from_codes, squared_distance_rows
from pyrodisent.metrics.clustering import clustering_accuracy, matched_accuracy

__all__ = ["aligned_targets", "array_metrics", "changed_dimension_scores", "latent_factor_matching", "discrete_factors", "beta_vae_score", "clustering_accuracy", "correlation_matrix", "dci",
           "disentanglement_metrics", "downstream_auroc", "factor_vae_score", "irs", "linear_r2", "matched_accuracy",
           "matched_correlations", "mcc", "mig", "missing_entry_scores", "modularity_explicitness", "ncrr",
           "ncrr_from_codes", "sample_codes", "sap", "squared_distance_rows", "target_scores", "unsupervised_scores"]
