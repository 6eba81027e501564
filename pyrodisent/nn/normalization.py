"""Data-initialised input standardisation for networks whose inputs are far from zero mean, unit scale."""
from __future__ import annotations

import torch
from torch import nn


class ActNorm(nn.Module):
    """A per-feature affine map ``y = (x − b) · exp(−s)`` whose ``b`` and ``s`` are set from the first
    batch it sees to that batch's feature means and log standard deviations, then trained like any
    other parameter (ActNorm: Kingma & Dhariwal 2018, "Glow", §3.1).

    Inputs such as log(1 + counts) sit around 5–10 with a spread of about 1; a linear layer on them is
    badly conditioned (the mean direction dominates every gradient). Standardised once from data, the
    first layer learns at the rate of one on standardised inputs, with no batch statistics at evaluation
    (unlike batch normalisation, a point's output does not depend on its minibatch).

    The initialisation is part of the state (``initialized`` buffer), so a checkpoint restores it.

    :param num_features: F, the size of the last input dimension; inputs are ``(..., F)``.
    :param min_scale: floor of the initial standard deviation (constant features stay finite).
    """

    def __init__(self, num_features: int, min_scale: float = 1e-3):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be ≥ 1, got {num_features}")
        self.num_features = int(num_features)
        self.min_scale = float(min_scale)
        self.shift = nn.Parameter(torch.zeros(num_features))
        self.log_scale = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self._initialized = False  # python copy of the buffer: no device sync in forward
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_initialized())

    def _sync_initialized(self) -> None:
        self._initialized = bool(self.initialized)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set the shift and scale from ``x`` (..., F): afterwards this batch has mean 0 and sd 1 per feature."""
        rows = x.reshape(-1, self.num_features)
        if rows.shape[0] < 2:
            raise ValueError(f"ActNorm needs at least 2 rows to initialise its scale, got {rows.shape[0]}")
        self.shift.copy_(rows.mean(0))
        self.log_scale.copy_(rows.std(0).clamp_min(self.min_scale).log())
        self.initialized.fill_(True)
        self._initialized = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.num_features:
            raise ValueError(f"ActNorm expected inputs (..., {self.num_features}), got {tuple(x.shape)}")
        if not self._initialized:
            self.initialize(x)
        return (x - self.shift) * torch.exp(-self.log_scale)

    def extra_repr(self) -> str:
        return f"{self.num_features}"
