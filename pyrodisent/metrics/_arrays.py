"""Input checks shared by the metrics: arrays (N, K) with clear errors."""
from __future__ import annotations

from typing import Optional

import numpy as np


def check_matrix(array, name: str, num_rows: Optional[int] = None, allow_nan: bool = False) -> np.ndarray:
    """``array`` as a float64 (N, K) numpy array, or a ValueError naming ``name`` and what was expected."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, K); got shape {array.shape}")
    if num_rows is not None and array.shape[0] != num_rows:
        raise ValueError(f"{name} has {array.shape[0]} rows but {num_rows} were expected (one per data point)")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not allow_nan and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf values")
    return array
