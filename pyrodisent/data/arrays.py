"""Fixed-size training sets held as tensors, and the minibatch loader over them."""
from __future__ import annotations

from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from pyrodisent.data.batch import Batch


def _as_tensor(name: str, value, num_rows: Optional[int], dtype=None) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"{name} must be a numeric array, got dtype object")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(value).__name__}")
    if value.dim() == 0:
        raise ValueError(f"{name} must have a leading data dimension, got a scalar")
    if num_rows is not None and value.shape[0] != num_rows:
        raise ValueError(f"{name} has {value.shape[0]} rows, expected {num_rows} (one per observation in x)")
    if dtype is not None:
        value = value.to(dtype)
    if value.is_floating_point() and not torch.isfinite(value).all():
        bad = (~torch.isfinite(value)).reshape(value.shape[0], -1).any(-1).nonzero()[:5, 0].tolist()
        raise ValueError(f"{name} contains NaN or inf values (first bad rows: {bad})")
    return value


class ArrayDataset:
    """Observations with optional auxiliary variable, true factors and extras, as tensors.

    :param x: observations ``(N, *observation_shape)``, float (cast to float32).
    :param u: auxiliary variable ``(N, ...)`` (e.g. one-hot segment), or None.
    :param factors: true factors / sources ``(N, F)``, or None.
    :param extras: further per-point tensors ``(N, ...)`` carried into every batch.
    :param sampling_weights: ``(N,)`` non-negative weights: the shuffling loader then draws each minibatch's points
        with replacement, point i with probability ∝ w_i (``torch.multinomial``), instead of a permutation (e.g.
        labelled points making a set share of every batch); None: every point once per pass.
    """

    def __init__(self, x, u=None, factors=None, extras: Optional[Dict[str, torch.Tensor]] = None,
                 sampling_weights=None):
        self.x = _as_tensor("x", x, None, torch.float32)
        n = self.x.shape[0]
        if n == 0:
            raise ValueError("x has no rows: a dataset needs at least one observation")
        self.u = None if u is None else _as_tensor("u", u, n, torch.float32)
        self.factors = None if factors is None else _as_tensor("factors", factors, n)
        if self.factors is not None and self.factors.dim() != 2:
            raise ValueError(f"factors must have shape (N, F), got {tuple(self.factors.shape)}")
        self.extras = {k: _as_tensor(f"extras[{k!r}]", v, n) for k, v in (extras or {}).items()}
        self.sampling_weights = None
        if sampling_weights is not None:
            weights = _as_tensor("sampling_weights", sampling_weights, n, torch.float64)
            if weights.dim() != 1 or bool((weights < 0).any()) or not float(weights.sum()) > 0:
                raise ValueError(f"sampling_weights must be (N,) = ({n},), non-negative and not all zero; got shape "
                                 f"{tuple(weights.shape)}, min {float(weights.min()):.3g}, "
                                 f"sum {float(weights.sum()):.3g}")
            self.sampling_weights = weights / weights.sum()

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def aux_shape(self) -> Tuple[int, ...]:
        return () if self.u is None else tuple(self.u.shape[1:])

    def to(self, device) -> "ArrayDataset":
        """The same data on ``device`` (tensors are moved once, batches are then slices)."""
        moved = ArrayDataset.__new__(ArrayDataset)
        moved.x = self.x.to(device)
        moved.u = None if self.u is None else self.u.to(device)
        moved.factors = None if self.factors is None else self.factors.to(device)
        moved.extras = {k: v.to(device) for k, v in self.extras.items()}
        moved.sampling_weights = self.sampling_weights  # drawn from on the CPU, with the loader's generator
        return moved

    def batch(self, index: torch.Tensor) -> Batch:
        """The points at ``index`` (a long tensor on the data's device) as a :class:`Batch`."""
        return Batch(
            x=self.x[index],
            index=index,
            u=None if self.u is None else self.u[index],
            factors=None if self.factors is None else self.factors[index],
            extras={k: v[index] for k, v in self.extras.items()},
        )

    def subset(self, index: Sequence[int] | torch.Tensor | np.ndarray) -> "ArrayDataset":
        """A new dataset holding the points at ``index`` (re-indexed from 0)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long, device=self.x.device)
        b = self.batch(index)
        return ArrayDataset(b.x, b.u, b.factors, b.extras)

    def sequential(self, batch_size: int, device=None, stop: Optional[int] = None) -> Iterator[Tuple[slice, Batch]]:
        """The points in order, ``batch_size`` at a time (the first ``stop`` only, when given): ``(rows,
        batch)`` pairs, ``rows`` the slice of the points, ``batch`` moved to ``device`` (when given) —
        the one loop every pass of evaluation over a dataset goes through."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        stop = len(self) if stop is None else min(stop, len(self))
        for start in range(0, stop, batch_size):
            rows = slice(start, min(start + batch_size, stop))
            batch = self.batch(torch.arange(rows.start, rows.stop, device=self.x.device))
            yield rows, (batch if device is None else batch.to(device))

    def loader(self, batch_size: int, shuffle: bool = True, generator: Optional[torch.Generator] = None,
               drop_last: bool = False) -> "BatchLoader":
        return BatchLoader(self, batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


class BatchLoader:
    """Iterates over an :class:`ArrayDataset` in minibatches, on the dataset's device.

    Shuffling uses its own ``torch.Generator`` (CPU), whose state is saved in checkpoints, so a
    resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(self, dataset: ArrayDataset, batch_size: int, shuffle: bool = True,
                 generator: Optional[torch.Generator] = None, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = min(batch_size, len(dataset))
        self.shuffle = shuffle
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.dataset)
        device = self.dataset.x.device
        weights = getattr(self.dataset, "sampling_weights", None)
        if self.shuffle and weights is not None:  # as many draws as a pass has points, with replacement
            order = torch.multinomial(weights, len(self) * self.batch_size, replacement=True, generator=self.generator)
        else:
            order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.dataset.batch(order[start:start + self.batch_size])
