"""The one container that carries a minibatch from a dataset to a model."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Dict, Optional

import torch

#: the ``extras`` key of the missingness mask (True where an entry is observed): likelihoods score only
#: observed entries, imputation fills the others.
OBSERVED_MASK = "observed_mask"


@dataclass
class Batch:
    """A minibatch: everything a model may read, moved to a device in one call.

    :param x: observations, shape ``(B, *observation_shape)``.
    :param index: positions of these points in the full dataset, shape ``(B,)`` (long). Models use it
        as the subsample of their data plate, so minibatch ELBOs are unbiased for the whole set.
    :param u: auxiliary variable (segment one-hot, action, label, ...), shape ``(B, *aux_shape)``.
    :param factors: true factors when known, shape ``(B, F)``; models never read them.
    :param extras: further named tensors with leading dimension ``B`` (pair partner, time index,
        missingness mask, library size, ...).
    :param copies: S when the batch is S stacked copies of its first B/S points (:meth:`repeat`: the S
        importance samples or particles of every point), so what depends on the points alone — a
        likelihood's x-only terms, a per-point posterior — can be computed once per point; 1 otherwise.
    """

    x: torch.Tensor
    index: torch.Tensor
    u: Optional[torch.Tensor] = None
    factors: Optional[torch.Tensor] = None
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)
    copies: int = 1

    def __post_init__(self) -> None:
        if not torch.is_tensor(self.x):
            raise TypeError(f"Batch.x must be a torch.Tensor, got {type(self.x).__name__}")
        size = self.x.shape[0]
        if self.copies < 1 or size % self.copies:
            raise ValueError(f"Batch.copies must be ≥ 1 and divide the batch size {size}, got {self.copies}")
        for name, value in self._named_tensors():
            if value.shape[:1] != (size,):
                raise ValueError(
                    f"Batch.{name} has leading dimension {tuple(value.shape[:1])}, expected ({size},) like Batch.x"
                )

    def _named_tensors(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if torch.is_tensor(value):
                yield f.name, value
        for name, value in self.extras.items():
            yield f"extras[{name!r}]", value

    @property
    def size(self) -> int:
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device, non_blocking: bool = False) -> "Batch":
        """A copy with every tensor on ``device`` (a no-op copy when already there)."""
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return replace(
            self,
            x=move(self.x),
            index=move(self.index),
            u=move(self.u),
            factors=move(self.factors),
            extras={k: move(v) for k, v in self.extras.items()},
        )

    def repeat(self, times: int) -> "Batch":
        """The batch stacked ``times`` times along the data axis (sample-major: row ``s·B + b`` is point
        ``b``): S importance samples or particles of every point in one pass of any network."""
        rep = lambda t: None if t is None else t.repeat(times, *([1] * (t.dim() - 1)))  # noqa: E731
        return replace(self, x=rep(self.x), index=rep(self.index), u=rep(self.u), factors=rep(self.factors),
                       extras={k: rep(v) for k, v in self.extras.items()}, copies=self.copies * times)

    def __getitem__(self, key: str) -> torch.Tensor:
        """``batch["name"]`` reads an extra, with an error that lists what the batch carries."""
        try:
            return self.extras[key]
        except KeyError:
            raise KeyError(f"this batch has no extra {key!r}; it carries: {sorted(self.extras) or 'none'}") from None

