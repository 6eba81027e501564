"""3dshapes (Burgess & Kim 2018) read lazily from ``3dshapes.h5``.

Facts (Burgess & Kim, 3D Shapes data set, 2018): dataset ``images`` (480000, 64, 64, 3) uint8 and ``labels``
(480000, 6) float64; factors floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4,
orientation 15, stored row-major (orientation fastest). The set is 5.9 GB as uint8 and 23.6 GB as
float32, so nothing here reads it whole: minibatches read only their rows, as uint8, and convert
those to float. :meth:`Shapes3D.training_set` holds a sample as float32 in memory (49 kB an image);
:meth:`Shapes3D.streaming_training_set` trains on a sample or the whole file without that copy.

Reading random rows fast. h5py's fancy indexing of 64 scattered rows costs milliseconds on a row-chunked
file (``benchmarks/shapes3d_loader.py`` measures it), so :class:`Shapes3D` reads rows itself where the
layout allows:

- contiguous ``images``: one ``pread`` per run of consecutive rows, at the dataset's file offset;
- chunks of whole images, ``(k, 64, 64, 3)``, uncompressed or gzip (shuffle and fletcher32
  allowed): the chunk offsets are listed once (``chunk_iter``), then each row is one ``pread``
  (uncompressed) or one ``pread`` + ``zlib.decompress`` of its chunk (compressed; a chunk shared
  by consecutive sorted rows is decompressed once);
- anything else (other filters, chunks that cut images apart): h5py, row by row, with a warning.
  Chunks that cut images apart make every random image decompress many chunks; rewrite such a
  file once with :func:`rechunk_shapes3d`.

Rows are read in sorted order and scattered back to the requested order. Before reading a window
of rows, all their byte ranges are announced with ``posix_fadvise(WILLNEED)``, so the disk serves
them in parallel: from a cold cache that is several times faster than one blocking read after another
(``benchmarks/shapes3d_loader.py``).
"""
from __future__ import annotations

import os
import warnings
import zlib
from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple, Union

import h5py
import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.batch import Batch
from pyrodisent.data.files import resolve_data_file
from pyrodisent.data.ground_truth import GroundTruthData, factor_grid_index
from pyrodisent.data.streaming import StoredImages, StreamingImageSet
from pyrodisent.random_state import RandomState, as_generator
from pyrodisent.registry import DATASETS

SHAPES3D_FILENAME = "3dshapes.h5"
SHAPES3D_URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
IMAGE_SHAPE = (64, 64, 3)

_DEFLATE, _SHUFFLE, _FLETCHER32 = h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32
_FADVISE = getattr(os, "POSIX_FADV_WILLNEED", None) if hasattr(os, "posix_fadvise") else None
#: rows whose reads are requested from the kernel together (see ``_RowReader._prefetch``)
PREFETCH_WINDOW = 256


class SlowLayoutWarning(UserWarning):
    """The file's storage layout makes random reads slow; :func:`rechunk_shapes3d` fixes it."""


def factor_value_table(factor_sizes: Sequence[int] = FACTOR_SIZES) -> Tuple[np.ndarray, ...]:
    """The label value of every factor level, as in the real file: hues 0.0, 0.1, … (circular, so
    ``size`` steps of 1/size), scale linspace(0.75, 1.25), shape 0, 1, 2, …, orientation
    linspace(−30, 30) degrees."""
    floor, wall, obj, scale, shape, orientation = factor_sizes
    return (np.arange(floor) / floor, np.arange(wall) / wall, np.arange(obj) / obj,
            np.linspace(0.75, 1.25, scale), np.arange(shape, dtype=np.float64), np.linspace(-30.0, 30.0, orientation))


class Shapes3D(GroundTruthData):
    """3dshapes as a ground-truth data source, read lazily from the ``.h5`` file.

    :param path: the ``.h5`` file or a folder holding ``3dshapes.h5``; default ``$PYRODISENT_DATA/3dshapes.h5``.
    :param factor_sizes: the grid; the real one by default (other grids are for small test files).
    :param seed: default random state of :meth:`training_set` and :meth:`random_batches`.

    The file is opened on first use (and again in a forked or unpickled copy); memory use is the
    chunk-offset index (24 bytes a chunk) plus the rows being read.
    """

    factor_names = FACTOR_NAMES
    #: each factor's topology (:mod:`pyrodisent.metrics.topology`): the hues are equally spaced around the
    #: colour wheel (loops of period 1), the shape is one of four (points), scale and orientation are bounded
    factor_topologies = ("loop", "loop", "loop", "segment", "points", "segment")
    factor_periods = (1.0, 1.0, 1.0, None, None, None)
    deterministic_observations = True

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, factor_sizes: Sequence[int] = FACTOR_SIZES,
                 seed: int = 0):
        factor_sizes = tuple(int(s) for s in factor_sizes)
        if len(factor_sizes) != 6 or min(factor_sizes) < 1:
            raise ValueError(f"factor_sizes must be six positive sizes (real: {FACTOR_SIZES}), got {factor_sizes}")
        self.path = resolve_data_file(path, SHAPES3D_FILENAME, SHAPES3D_URL)
        self._factor_sizes = factor_sizes
        self.seed = seed
        self.num_images = int(np.prod(factor_sizes))
        self._values = factor_value_table(factor_sizes)
        self._state = None
        self._validate()

    # --- ground-truth interface -------------------------------------------------------------
    @property
    def factor_sizes(self) -> Tuple[int, ...]:
        return self._factor_sizes

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return (IMAGE_SHAPE[2], IMAGE_SHAPE[0], IMAGE_SHAPE[1])

    def __len__(self) -> int:
        return self.num_images

    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        """``num`` grid points drawn uniformly, shape ``(num, 6)``, int64."""
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, size, num) for size in self._factor_sizes], axis=1).astype(np.int64)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        """Images at the given grid points, float32 ``(n, 3, 64, 64)`` in [0, 1]."""
        factors = self._check_factors(factors)
        return images_to_float(self.read_images(factor_grid_index(factors, self._factor_sizes)))

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """The label values (hues, scale, shape, orientation in degrees) of grid points, ``(n, 6)``."""
        factors = self._check_factors(factors).astype(np.int64)
        return np.stack([values[factors[:, j]] for j, values in enumerate(self._values)], axis=1)

    # --- data for training ------------------------------------------------------------------
    def training_set(self, num: int = 10_000, random_state: Optional[RandomState] = None) -> ArrayDataset:
        """``num`` images of uniformly drawn grid points, held in memory: x ``(num, 3, 64, 64)``
        float32 (49 kB an image), factors ``(num, 6)`` int64. Beyond a few GB, train on
        :meth:`streaming_training_set` (the same points, read per minibatch)."""
        rng = as_generator(self.seed if random_state is None else random_state)
        factors = self.sample_factors(num, rng)
        return ArrayDataset(self.sample_observations_from_factors(factors, rng), factors=factors)

    def streaming_training_set(self, num: Optional[int] = None,
                               random_state: Optional[RandomState] = None) -> StreamingImageSet:
        """The training set read from the file per minibatch (:class:`~pyrodisent.data.streaming.StreamingImageSet`:
        uint8 rows, converted to float32 on the model's device), holding 8 bytes a point and the factors
        ``(N, 6)`` int64 in memory instead of 49 kB a point.

        :param num: ``num`` grid points drawn as :meth:`training_set` draws them (the same random state
            gives the same points in the same order, so the two sets give the same minibatches); None:
            every image of the file once, in an order drawn from the random state (so that the set's
            first points, which pictures and diagnoses use, are spread over the grid).
        """
        rng = as_generator(self.seed if random_state is None else random_state)
        if num is None:
            rows = rng.permutation(self.num_images)
            factors = np.stack(np.unravel_index(rows, self._factor_sizes), axis=1)
        else:
            factors = self.sample_factors(num, rng)
            rows = factor_grid_index(factors, self._factor_sizes)
        return StreamingImageSet(StoredImages(self, rows, IMAGE_SHAPE), factors=factors.astype(np.int64))

    def random_batches(self, batch_size: int, random_state: Optional[RandomState] = None,
                       num_batches: Optional[int] = None) -> Iterator[Batch]:
        """Endless (or ``num_batches``) minibatches of uniformly drawn grid points, read from the file:
        ``Batch(x (B, 3, 64, 64) float32, index = flat grid index, factors (B, 6))``."""
        rng = as_generator(self.seed if random_state is None else random_state)
        count = 0
        while num_batches is None or count < num_batches:
            factors = self.sample_factors(batch_size, rng)
            index = factor_grid_index(factors, self._factor_sizes)
            x = images_to_float(self.read_images(index))
            yield Batch(x=torch.from_numpy(x), index=torch.from_numpy(index), factors=torch.from_numpy(factors))
            count += 1

    def config(self) -> dict:
        return {"path": str(self.path), "factor_sizes": list(self._factor_sizes), "seed": self.seed}

    # --- reading rows -----------------------------------------------------------------------
    def read_images(self, index: np.ndarray) -> np.ndarray:
        """The images at flat grid indices ``index``, uint8 ``(n, 64, 64, 3)`` as stored."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.num_images):
            raise IndexError(f"image indices must lie in [0, {self.num_images - 1}], "
                             f"got [{index.min()}, {index.max()}]")
        order = np.argsort(index, kind="stable")
        rows = index[order]
        state = self._reader()
        buffer = np.empty((len(rows), *IMAGE_SHAPE), dtype=np.uint8)
        state.read_sorted(rows, buffer)
        if np.array_equal(order, np.arange(len(order))):
            return buffer
        out = np.empty_like(buffer)
        out[order] = buffer
        return out

    def labels(self, index: np.ndarray) -> np.ndarray:
        """Rows of the file's ``labels`` at flat indices ``index``, float64 ``(n, 6)``."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        order = np.argsort(index, kind="stable")
        labels = self._reader().labels
        out = np.empty((len(index), 6), dtype=np.float64)
        for position, row in zip(order.tolist(), index[order].tolist()):
            out[position] = labels[row]
        return out

    @property
    def read_strategy(self) -> str:
        """How rows are read: ``"contiguous"``, ``"chunks"``, ``"compressed chunks"`` or ``"h5py"``."""
        return self._reader().strategy

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    def __enter__(self) -> "Shapes3D":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_state"] = None  # file handles do not travel; the copy reopens the file
        return state

    def _reader(self) -> "_RowReader":
        if self._state is None or self._state.pid != os.getpid():
            self._state = _RowReader(self.path)
        return self._state

    def _validate(self) -> None:
        name = self.path.name
        try:
            file = h5py.File(self.path, "r")
        except OSError as error:
            raise ValueError(f"{self.path} is not a readable HDF5 file: {error}") from error
        with file:
            found = sorted(file.keys())
            for key in ("images", "labels"):
                if key not in file or not isinstance(file[key], h5py.Dataset):
                    raise ValueError(f"{name} has no dataset {key!r}; found: {found}")
            images, labels = file["images"], file["labels"]
            expected = (self.num_images, *IMAGE_SHAPE)
            if images.shape != expected:
                raise ValueError(f"{name}: images must have shape {expected} (factor sizes {self._factor_sizes}), "
                                 f"got {images.shape}")
            if images.dtype != np.uint8:
                raise ValueError(f"{name}: images must be uint8, got {images.dtype}")
            if labels.shape != (self.num_images, 6):
                raise ValueError(f"{name}: labels must have shape ({self.num_images}, 6), got {labels.shape}")
            if not np.issubdtype(labels.dtype, np.floating):
                raise ValueError(f"{name}: labels must be floating point (real file: float64), got {labels.dtype}")
            finite = np.isfinite(labels[...]).all(axis=1)  # 23 MB for the real file, read once
            if not finite.all():
                raise ValueError(f"{self.path}: labels hold NaN or inf values (rows "
                                 f"{np.flatnonzero(~finite)[:5].tolist()} first); expected the finite factor values")
            # row-major with orientation fastest: the first block raises only the orientation
            block = self._factor_sizes[-1]
            head = labels[:block]
            steps = np.diff(head, axis=0)
            if block > 1 and (not (steps[:, 5] > 0).all() or steps[:, :5].any()):
                raise ValueError(f"{name}: labels are not in row-major factor order (orientation should change "
                                 f"fastest); first rows: {head[:3].tolist()}")
        self._warn_if_slow()

    def _warn_if_slow(self) -> None:
        reader = self._reader()
        if reader.slow_reason:
            warnings.warn(
                f"{self.path.name}: {reader.slow_reason}; random minibatches will be slow. Rewrite it once with "
                f"pyrodisent.data.shapes3d.rechunk_shapes3d({str(self.path)!r}, '<new path>.h5') "
                "(one image per chunk, gzip).", SlowLayoutWarning, stacklevel=3)


def images_to_float(images: np.ndarray) -> np.ndarray:
    """uint8 ``(n, H, W, C)`` → float32 ``(n, C, H, W)`` in [0, 1]."""
    x = images.transpose(0, 3, 1, 2).astype(np.float32)
    np.multiply(x, np.float32(1 / 255), out=x)
    return x


class _RowReader:
    """An open file and the plan for reading its rows (see the module docstring)."""

    def __init__(self, path: Path):
        self.pid = os.getpid()
        self.path = Path(path)
        self.file = h5py.File(path, "r")
        self.images = self.file["images"]
        self.labels = self.file["labels"]
        self.row_bytes = int(np.prod(self.images.shape[1:]))
        self.fd = None
        self.slow_reason = ""
        self.strategy = "h5py"
        plist = self.images.id.get_create_plist()
        layout = plist.get_layout()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        if layout == h5py.h5d.CONTIGUOUS:
            offset = self.images.id.get_offset()
            if offset is not None:
                self.offset = int(offset)
                self.strategy = "contiguous"
        elif layout == h5py.h5d.CHUNKED:
            chunks = self.images.chunks
            whole_images = tuple(chunks[1:]) == tuple(self.images.shape[1:])
            supported = set(filters) <= {_DEFLATE, _SHUFFLE, _FLETCHER32}
            if not whole_images:
                per_image = int(np.prod([-(-s // c) for s, c in zip(self.images.shape[1:], chunks[1:])]))
                self.slow_reason = (f"images are stored in chunks of shape {chunks}, which cut each image into "
                                    f"{per_image} pieces")
            elif supported and hasattr(self.images.id, "chunk_iter"):
                self._index_chunks(chunks[0], _DEFLATE in filters, _FLETCHER32 in filters)
                if self.compressed and chunks[0] > 1:
                    self.slow_reason = (f"images are stored in compressed chunks of {chunks[0]} images, so every "
                                        f"random image decompresses {chunks[0]} images")
            elif chunks[0] > 1:
                self.slow_reason = f"images use filters {filters} in chunks of {chunks[0]} images"
        if self.strategy != "h5py":
            self.fd = os.open(path, os.O_RDONLY)

    def _index_chunks(self, rows_per_chunk: int, compressed: bool, fletcher: bool) -> None:
        num_chunks = -(-self.images.shape[0] // rows_per_chunk)
        self.chunk_offset = np.full(num_chunks, -1, dtype=np.int64)  # -1: not written (read through h5py)
        self.chunk_size = np.zeros(num_chunks, dtype=np.int64)
        self.chunk_filter_mask = np.zeros(num_chunks, dtype=np.int64)

        def record(info) -> None:
            chunk = info.chunk_offset[0] // rows_per_chunk
            self.chunk_offset[chunk] = info.byte_offset
            self.chunk_size[chunk] = info.size
            self.chunk_filter_mask[chunk] = info.filter_mask

        self.images.id.chunk_iter(record)
        self.rows_per_chunk = rows_per_chunk
        self.compressed = compressed
        self.fletcher = fletcher
        self.strategy = "compressed chunks" if compressed else "chunks"

    def read_sorted(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Rows (sorted ascending) into ``out`` (n, 64, 64, 3) uint8, in the same order."""
        read = {"contiguous": self._read_contiguous, "chunks": self._read_chunks,
                "compressed chunks": self._read_compressed_chunks}.get(self.strategy, self._read_with_h5py)
        for start in range(0, len(rows), PREFETCH_WINDOW):
            read(rows[start:start + PREFETCH_WINDOW], out[start:start + PREFETCH_WINDOW])

    def _read_with_h5py(self, rows: np.ndarray, out: np.ndarray) -> None:
        for position, row in enumerate(rows.tolist()):
            out[position] = self._h5py_row(row)

    def _h5py_row(self, row: int) -> np.ndarray:
        try:
            return self.images[row]
        except OSError as error:  # h5py's own checks: a chunk that does not inflate, a bad checksum
            raise self._corrupt(row, error) from error

    def _corrupt(self, row: int, error: BaseException, chunk: Optional[int] = None) -> ValueError:
        where = f"image row {row}" + (f" (chunk {chunk})" if chunk is not None else "")
        return ValueError(f"{self.path}: {where} is corrupt ({type(error).__name__}: {error}); "
                          f"download the file again from {SHAPES3D_URL}")

    def _read_contiguous(self, rows: np.ndarray, out: np.ndarray) -> None:
        flat = out.reshape(len(rows), self.row_bytes)
        # runs of consecutive rows are read in one call
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(rows)]])
        offsets = (self.offset + rows[starts] * self.row_bytes).tolist()
        self._prefetch(offsets, ((stops - starts) * self.row_bytes).tolist())
        for start, stop, offset in zip(starts.tolist(), stops.tolist(), offsets):
            self._pread_into(flat[start:stop], offset)

    def _read_chunks(self, rows: np.ndarray, out: np.ndarray) -> None:
        flat = out.reshape(len(rows), self.row_bytes)
        chunks, within = np.divmod(rows, self.rows_per_chunk)
        direct = (self.chunk_offset[chunks] >= 0) & (self.chunk_filter_mask[chunks] == 0)
        offsets = np.where(direct, self.chunk_offset[chunks] + within * self.row_bytes, -1).tolist()
        self._prefetch([o for o in offsets if o >= 0], [self.row_bytes] * int(direct.sum()))
        for position, (row, offset) in enumerate(zip(rows.tolist(), offsets)):
            if offset < 0:  # an unwritten chunk, or one stored without its filters
                out[position] = self._h5py_row(row)
            else:
                self._pread_into(flat[position:position + 1], offset)

    def _read_compressed_chunks(self, rows: np.ndarray, out: np.ndarray) -> None:
        flat = out.reshape(len(rows), self.row_bytes)
        row_bytes = self.row_bytes
        chunks, within = np.divmod(rows, self.rows_per_chunk)
        direct = (self.chunk_offset[chunks] >= 0) & (self.chunk_filter_mask[chunks] == 0)
        needed = np.unique(chunks[direct])
        self._prefetch(self.chunk_offset[needed].tolist(), self.chunk_size[needed].tolist())
        last_chunk, data = -1, b""
        for position, (row, chunk, inside, fast) in enumerate(zip(rows.tolist(), chunks.tolist(), within.tolist(),
                                                                   direct.tolist())):
            if not fast:
                out[position] = self._h5py_row(row)
                continue
            if chunk != last_chunk:
                raw = os.pread(self.fd, int(self.chunk_size[chunk]), int(self.chunk_offset[chunk]))
                if self.fletcher:
                    raw = raw[:-4]
                try:
                    data = zlib.decompress(raw)  # shuffle is the identity on 1-byte elements
                except zlib.error as error:
                    raise self._corrupt(row, error, chunk) from error
                if len(data) != self.rows_per_chunk * row_bytes:
                    raise self._corrupt(row, ValueError(f"the chunk inflates to {len(data)} bytes, not "
                                                        f"{self.rows_per_chunk * row_bytes}"), chunk)
                last_chunk = chunk
            flat[position] = np.frombuffer(data, dtype=np.uint8, count=row_bytes, offset=inside * row_bytes)

    def _prefetch(self, offsets: list, lengths: list) -> None:
        """Ask the kernel for all the byte ranges at once, so that the disk serves them in parallel
        (random 12 kB reads one at a time are latency-bound from a cold cache)."""
        if _FADVISE is not None and len(offsets) > 1:
            for offset, length in zip(offsets, lengths):
                os.posix_fadvise(self.fd, offset, length, _FADVISE)

    def _pread_into(self, destination: np.ndarray, offset: int) -> None:
        view = memoryview(destination).cast("B")
        done = 0
        while done < len(view):  # pread may return fewer bytes than asked
            count = os.preadv(self.fd, [view[done:]], offset + done)
            if count <= 0:
                raise OSError(f"unexpected end of file reading {len(view)} bytes at offset {offset}")
            done += count

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.file.id.valid:
            self.file.close()


# --------------------------------------------------------------------------------------------------
# files of the real layout
# --------------------------------------------------------------------------------------------------

def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated, full-value colours of hues in [0, 1), shape ``(*hue.shape, 3)`` in [0, 1]."""
    h6 = np.asarray(hue, dtype=np.float64)[..., None] * 6.0
    centres = np.array([3.0, 2.0, 4.0])
    signs = np.array([1.0, -1.0, -1.0])
    offsets = np.array([-1.0, 2.0, 2.0])
    return np.clip(signs * np.abs(h6 - centres) + offsets, 0.0, 1.0)


def render_shapes3d_like(factors: np.ndarray, factor_sizes: Sequence[int] = FACTOR_SIZES) -> np.ndarray:
    """A cheap stand-in for the 3dshapes renderer: wall (top), floor (bottom) and an object, each in
    its hue; the object's outline depends on shape and scale, its horizontal offset on orientation.
    uint8 ``(n, 64, 64, 3)``. Flat colours, so it compresses like the real images."""
    factors = np.asarray(factors, dtype=np.int64)
    floor, wall, obj, scale, shape, orientation = (values[factors[:, j]] for j, values in
                                                   enumerate(factor_value_table(factor_sizes)))
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float64)
    horizon = 38
    half = 10.0 * scale[:, None, None]  # object half-size in pixels
    cx = 32.0 + 0.3 * orientation[:, None, None]
    cy = 44.0 - half
    dx, dy = (cols[None] - cx) / half, (rows[None] - cy) / half
    code = shape[:, None, None]
    inside = np.where(code == 0, np.maximum(np.abs(dx), np.abs(dy)) <= 1,          # cube
             np.where(code == 1, (np.abs(dx) <= 0.7) & (np.abs(dy) <= 1),          # cylinder
             np.where(code == 2, dx * dx + dy * dy <= 1,                           # sphere
                      np.maximum(np.abs(dy) - 0.5, 0) ** 2 + dx * dx <= 0.25)))    # capsule (upright)
    colours = (np.stack([hue_to_rgb(floor), hue_to_rgb(wall), hue_to_rgb(obj)], axis=1) * 255).round().astype(np.uint8)
    images = np.where((rows >= horizon)[None, :, :, None], colours[:, None, None, 0], colours[:, None, None, 1])
    return np.where(inside[..., None], colours[:, None, None, 2], images).astype(np.uint8)


def write_shapes3d_like(path: Union[str, os.PathLike], num_images: Optional[int] = None,
                        factor_sizes: Sequence[int] = FACTOR_SIZES, pixels: str = "procedural",
                        chunks: Union[None, str, Tuple[int, ...]] = None, compression: Optional[str] = None,
                        compression_opts: Optional[int] = None, seed: int = 0, block: int = 4096) -> Path:
    """Write an ``.h5`` file of the real 3dshapes layout: ``images`` (N, 64, 64, 3) uint8 and
    ``labels`` (N, 6) float64, row-major over ``factor_sizes`` (N = their product).

    :param num_images: checked against the product of ``factor_sizes`` when given.
    :param pixels: ``"procedural"`` (:func:`render_shapes3d_like`: flat colours that depend on the
        factors) or ``"random"`` (uniform noise; incompressible).
    :param chunks: None (contiguous), ``"row"`` (one image a chunk), an h5py chunk shape, or True
        (h5py's automatic shape, which cuts images apart).
    :param compression: None or an h5py compression (``"gzip"``), with ``compression_opts``.
    Written ``block`` images at a time, so memory stays at a few blocks.
    """
    factor_sizes = tuple(int(s) for s in factor_sizes)
    total = int(np.prod(factor_sizes))
    if num_images is not None and num_images != total:
        raise ValueError(f"num_images={num_images} does not match the grid {factor_sizes} ({total} images); "
                         "give factor_sizes whose product is the number of images")
    if pixels not in ("procedural", "random"):
        raise ValueError(f"pixels must be 'procedural' or 'random', got {pixels!r}")
    if chunks == "row":
        chunks = (1, *IMAGE_SHAPE)
    rng = np.random.default_rng(seed)
    values = factor_value_table(factor_sizes)
    path = Path(path)
    # a chunk cache large enough that chunks spanning several blocks are compressed once
    with h5py.File(path, "w", rdcc_nbytes=256 * 2**20 if chunks else 2**20, rdcc_nslots=100_003) as file:
        images = file.create_dataset("images", (total, *IMAGE_SHAPE), dtype=np.uint8, chunks=chunks,
                                     compression=compression, compression_opts=compression_opts)
        labels = file.create_dataset("labels", (total, 6), dtype=np.float64)
        sizes = np.asarray(factor_sizes)
        for start in range(0, total, block):
            index = np.arange(start, min(start + block, total))
            factors = np.stack(np.unravel_index(index, sizes), axis=1)
            if pixels == "procedural":
                images[start:start + len(index)] = render_shapes3d_like(factors, factor_sizes)
            else:
                images[start:start + len(index)] = rng.integers(0, 256, (len(index), *IMAGE_SHAPE), dtype=np.uint8)
            labels[start:start + len(index)] = np.stack([v[factors[:, j]] for j, v in enumerate(values)], axis=1)
    return path


def rechunk_shapes3d(source: Union[str, os.PathLike], destination: Union[str, os.PathLike],
                     compression: Optional[str] = "gzip", compression_opts: Optional[int] = 4) -> Path:
    """Copy a 3dshapes file into the layout that random reads like: one image a chunk (gzip by
    default; ``compression=None`` for uncompressed). Streams in blocks aligned with the source's
    chunks, so memory stays at one block (at most a few hundred MB)."""
    source, destination = Path(source), Path(destination)
    if source.resolve() == destination.resolve():
        raise ValueError("destination must differ from source")
    with h5py.File(source, "r") as inp:
        for key in ("images", "labels"):
            if key not in inp:
                raise ValueError(f"{source.name} has no dataset {key!r}; found: {sorted(inp.keys())}")
        images, labels = inp["images"], inp["labels"]
        n = images.shape[0]
        step = max(images.chunks[0] if images.chunks else 1, 4096)
        with h5py.File(destination, "w") as out:
            target = out.create_dataset("images", images.shape, dtype=images.dtype, chunks=(1, *images.shape[1:]),
                                        compression=compression,
                                        compression_opts=compression_opts if compression else None)
            out.create_dataset("labels", data=labels[...])
            for start in range(0, n, step):
                target[start:start + step] = images[start:start + step]
    return destination


DATASETS.register("shapes3d")(Shapes3D)
