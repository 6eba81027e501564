"""R² of a linear fit of the true latents from the inferred ones (identifiability up to a linear map)."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from pyrodisent.metrics._arrays import check_matrix


def linear_r2(z_true: np.ndarray, z_est: np.ndarray) -> float:
    """Mean over true latents of the R² of an ordinary-least-squares fit z_true ≈ W z_est + b.

    :param z_true: (N, d). :param z_est: (N, k).
    """
    z_true = check_matrix(z_true, "z_true")
    z_est = check_matrix(z_est, "z_est", num_rows=z_true.shape[0])
    fit = LinearRegression().fit(z_est, z_true)
    return float(r2_score(z_true, fit.predict(z_est), multioutput="uniform_average"))
