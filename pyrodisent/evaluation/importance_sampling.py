"""Importance weights of a whole dataset, in passes of bounded size: the one loop behind the IWAE bound
and PSIS k̂ (:mod:`.scoring`, :mod:`.diagnostics`).

Each point takes S samples from its guide; the weights log p(x_n, z_s) − log q(z_s | x_n) come from
``model.log_importance_weights`` with the global sites fixed to one trace for every point.
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import torch
from pyro import poutine

from pyrodisent.data.arrays import ArrayDataset

#: (point, sample) rows of one forward pass: bounds a pass's peak memory (rows × features × the
#: likelihood's temporaries) whatever the number of points
IMPORTANCE_ROWS_PER_PASS = 2 ** 15


def importance_batch_size(num_samples: int) -> int:
    """Points per forward pass when each point takes ``num_samples`` importance samples."""
    return max(1, IMPORTANCE_ROWS_PER_PASS // num_samples)


@torch.no_grad()
def log_importance_weight_batches(model, data: ArrayDataset, num_samples: int, num_obs: Optional[int] = None,
                                  batch_size: Optional[int] = None,
                                  globals_trace: Optional[poutine.Trace] = None) -> Iterator[Tuple[slice, torch.Tensor]]:
    """``(rows, log_w)`` for the first ``num_obs`` points of ``data`` (all when None) in order, ``log_w`` of
    shape ``(num_samples, points)``. ``globals_trace`` fixes the global sites (None: one draw from their
    guide, the same for every point). The model is in eval mode meanwhile."""
    batch_size = batch_size or importance_batch_size(num_samples)
    was_training = model.training
    model.eval()
    try:
        if globals_trace is None:
            _, first = next(data.sequential(1, model.device))
            globals_trace = model.fixed_globals_trace(first)
        for rows, batch in data.sequential(batch_size, model.device, stop=num_obs):
            yield rows, model.log_importance_weights(batch, num_samples, globals_trace=globals_trace)
    finally:
        model.train(was_training)
