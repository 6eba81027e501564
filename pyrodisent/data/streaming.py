"""Training sets read from a file minibatch by minibatch, so that no float32 copy of the set is held.

A set of N images of shape (H, W, C) is N·H·W·C bytes as stored (uint8) and four times that as float32:
the full 3dshapes file is 5.9 GB on disk and 23.6 GB as float32. :class:`StreamingImageSet` holds only
which rows of the file make up the set (8 bytes a point) and the factors (small); each minibatch reads
its rows as uint8 (sorted reads: the source's ``read_images``), moves the uint8 pixels to the device the
set was moved to with :meth:`StreamingImageSet.to`, and converts them there to float32
``(B, C, H, W)`` = pixels × (1/255), the same values as :func:`pyrodisent.data.shapes3d.images_to_float`.
The operating system's page cache keeps the file's recently read pages; they are not this process's memory.

A :class:`StreamingImageSet` offers what the trainer and the evaluation use of an
:class:`~pyrodisent.data.arrays.ArrayDataset` — ``len``, ``observation_shape``, ``to(device)``,
``batch(index)``, ``loader(...)`` (the same :class:`~pyrodisent.data.arrays.BatchLoader`, so shuffling and
its checkpointed generator behave alike), ``sequential(...)``, ``subset(...)`` (in memory), ``factors``,
``u``, ``extras`` — with ``x`` a :class:`StoredImages`: indexed like a tensor, it reads the rows asked for.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset, BatchLoader
from pyrodisent.data.batch import Batch


class StoredImages:
    """The observations of a streamed set: ``images[index]`` reads those points' rows from ``source`` and
    returns them as float32 ``(n, C, H, W)`` in [0, 1] on :attr:`device`.

    :param source: anything with ``read_images(rows) → uint8 (n, H, W, C)`` (e.g.
        :class:`~pyrodisent.data.shapes3d.Shapes3D`, which reads the rows in sorted order).
    :param rows: the source row of each point of the set, int64 ``(N,)``.
    :param image_shape: ``(H, W, C)`` as stored.
    :param device: where the pixels are converted to float and the result lives.
    """

    dtype = torch.float32

    def __init__(self, source, rows: np.ndarray, image_shape: Tuple[int, int, int], device="cpu"):
        self.source = source
        self.rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.device = torch.device(device)

    @property
    def shape(self) -> torch.Size:
        height, width, channels = self.image_shape
        return torch.Size((len(self.rows), channels, height, width))

    def __len__(self) -> int:
        return len(self.rows)

    def to(self, device) -> "StoredImages":
        """The same rows, converted on ``device`` from now on (nothing is read or moved)."""
        return StoredImages(self.source, self.rows, self.image_shape, device)

    def __getitem__(self, index) -> torch.Tensor:
        """The points at ``index`` (a long tensor on any device, an integer array or list, a slice, an int)."""
        if isinstance(index, (int, np.integer)):
            return self[[int(index)]][0]
        positions = np.arange(*index.indices(len(self.rows))) if isinstance(index, slice) else _as_positions(index)
        pixels = torch.from_numpy(self.source.read_images(self.rows[positions]))  # uint8 (n, H, W, C)
        pixels = pixels.to(self.device).permute(0, 3, 1, 2)  # the uint8 pixels travel, not float32
        out = torch.empty(pixels.shape, dtype=torch.float32, device=self.device)
        out.copy_(pixels)
        return out.mul_(1 / 255)  # × float32(1/255): the values images_to_float gives


def _as_positions(index) -> np.ndarray:
    if torch.is_tensor(index):
        if index.dtype == torch.bool:
            raise TypeError("a streamed set is indexed by positions, not by a boolean mask")
        return index.detach().cpu().numpy().astype(np.int64, copy=False).reshape(-1)
    return np.asarray(index, dtype=np.int64).reshape(-1)


class StreamingImageSet:
    """A training set of images read from a file per minibatch (see the module docstring).

    :param images: the points' observations, a :class:`StoredImages`.
    :param factors: the true factors of each point ``(N, F)`` (grid indices), held in memory, or None.

    Memory: the rows (8 bytes a point) and the factors; a minibatch of B images costs B·H·W·C bytes as
    uint8 and four times that as float32 on the device, while it is used.
    """

    u = None

    def __init__(self, images: StoredImages, factors=None):
        self.x = images
        if factors is not None and not torch.is_tensor(factors):
            factors = torch.from_numpy(np.ascontiguousarray(factors))
        self.factors = factors
        if self.factors is not None and (self.factors.dim() != 2 or len(self.factors) != len(images)):
            raise ValueError(f"factors must have shape ({len(images)}, F), got {tuple(self.factors.shape)}")
        if len(images) == 0:
            raise ValueError("a streamed set needs at least one point")
        self.extras = {}

    def __len__(self) -> int:
        return len(self.x)

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def aux_shape(self) -> Tuple[int, ...]:
        return ()

    @property
    def rows(self) -> np.ndarray:
        """The file row of each point, int64 ``(N,)``."""
        return self.x.rows

    def to(self, device) -> "StreamingImageSet":
        """The same set with its minibatches converted on ``device`` (the factors are moved once)."""
        return StreamingImageSet(self.x.to(device), None if self.factors is None else self.factors.to(device))

    def batch(self, index: torch.Tensor) -> Batch:
        """The points at ``index`` (a long tensor on the set's device) as a :class:`Batch`, read now."""
        return Batch(x=self.x[index], index=index, factors=None if self.factors is None else self.factors[index])

    def subset(self, index: Sequence[int] | torch.Tensor | np.ndarray) -> ArrayDataset:
        """The points at ``index`` read into memory: an :class:`ArrayDataset` (float32), re-indexed from 0."""
        b = self.batch(torch.as_tensor(np.asarray(index), dtype=torch.long, device=self.x.device))
        return ArrayDataset(b.x, factors=b.factors)

    def sequential(self, batch_size: int, device=None, stop: Optional[int] = None) -> Iterator[Tuple[slice, Batch]]:
        """The points in order, ``batch_size`` at a time, as :meth:`ArrayDataset.sequential`; each batch is
        read and converted on ``device`` (when given) directly."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        data = self if device is None else self.to(device)
        stop = len(self) if stop is None else min(stop, len(self))
        for start in range(0, stop, batch_size):
            rows = slice(start, min(start + batch_size, stop))
            yield rows, data.batch(torch.arange(rows.start, rows.stop, device=data.x.device))

    def loader(self, batch_size: int, shuffle: bool = True, generator: Optional[torch.Generator] = None,
               drop_last: bool = False) -> BatchLoader:
        """Minibatches as :meth:`ArrayDataset.loader` gives them: the order is drawn from ``generator``
        (checkpointed by the trainer), each minibatch is read when it is reached."""
        return BatchLoader(self, batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)
