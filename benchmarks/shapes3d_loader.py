"""Random minibatches from a 3dshapes file of the real layout: images/s and peak memory.

    python benchmarks/shapes3d_loader.py                          # full size (480000 images), two layouts
    python benchmarks/shapes3d_loader.py --layouts contiguous     # one layout
    python benchmarks/shapes3d_loader.py --layouts auto-gzip --batches 2   # h5py's automatic chunks (slow)
    python benchmarks/shapes3d_loader.py --small                  # 48000 images, a quick look

For each layout it writes ``images`` (N, 64, 64, 3) uint8 + ``labels`` (N, 6) float64 in a temporary
folder (procedural pixels: flat colours, so gzip compresses them as it does the real images), then,
in a fresh process, opens it with :class:`~pyrodisent.data.shapes3d.Shapes3D` and times

- ``float32``: sample 64 factor vectors → ``sample_observations_from_factors`` (float32 (64, 3, 64, 64)),
- ``uint8``: the same rows through ``read_images`` (no conversion),

over ``--batches`` batches after 5 warm-up batches, first with the file in the page cache (it was
just written) and then, after ``posix_fadvise(DONTNEED)`` evicts this file's pages, cold from disk.
Writing, reading and rechunking each run in a fresh process, started from a parent that imports
only the standard library, so each one's peak RSS is its own (Linux carries ``ru_maxrss`` over
``fork``/``exec``). Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, shown with the RSS
after imports (torch, pyro, h5py). The files are deleted afterwards. Layouts:

- ``contiguous``: no chunks, no compression (5.9 GB on disk at full size);
- ``row-gzip``: one image a chunk, gzip level 4 (what :func:`rechunk_shapes3d` writes);
- ``row``: one image a chunk, uncompressed;
- ``auto-gzip``: h5py's automatic chunk shape with gzip, which cuts each image into pieces — the
  loader warns and falls back to h5py (timed on ``--slow-batches`` batches, warm only); then the
  file is rewritten with :func:`rechunk_shapes3d`, timed, and the copy read like the others.

Timings are wall-clock on a shared machine: see the load average printed first.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


LAYOUTS = {
    "contiguous": dict(chunks=None, compression=None),
    "row-gzip": dict(chunks="row", compression="gzip", compression_opts=4),
    "row": dict(chunks="row", compression=None),
    "auto-gzip": dict(chunks=True, compression="gzip", compression_opts=4),
}
FULL = (10, 10, 10, 8, 4, 15)  # 480000 images, 5.9 GB
SMALL = (10, 10, 6, 8, 4, 2)  # 38400 images, 0.47 GB


def memory_report(result: dict) -> dict:
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    return result


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write(path: str, layout: str, factor_sizes) -> dict:
    from pyrodisent.data.shapes3d import write_shapes3d_like

    start = time.perf_counter()
    write_shapes3d_like(path, factor_sizes=factor_sizes, pixels="procedural", block=1024, **LAYOUTS[layout])
    with open(path, "rb+") as file:
        os.fsync(file.fileno())  # flushed, so that the cold run can evict its pages
    return memory_report({"write_s": time.perf_counter() - start})


def rechunk(source: str, destination: str) -> dict:
    from pyrodisent.data.shapes3d import rechunk_shapes3d

    start = time.perf_counter()
    rechunk_shapes3d(source, destination)
    with open(destination, "rb+") as file:
        os.fsync(file.fileno())
    return memory_report({"rechunk_s": time.perf_counter() - start})


def measure(path: str, factor_sizes, batches: int, batch_size: int, slow: bool) -> dict:
    import numpy as np

    from pyrodisent.data.ground_truth import factor_grid_index
    from pyrodisent.data.shapes3d import Shapes3D

    result = {"rss_after_imports_mb": current_rss_mb()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        data = Shapes3D(path, factor_sizes=factor_sizes)
        result["open_s"] = time.perf_counter() - start
    result["warnings"] = [str(w.message)[:160] + "…" for w in caught]
    result["strategy"] = data.read_strategy
    rng = np.random.default_rng(0)

    def run(kind: str, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            factors = data.sample_factors(batch_size, rng)
            if kind == "float32":
                x = data.sample_observations_from_factors(factors, rng)
                assert x.dtype == np.float32 and x.shape == (batch_size, 3, 64, 64)
            else:
                data.read_images(factor_grid_index(factors, factor_sizes))
        return count * batch_size / (time.perf_counter() - start)

    if not slow:
        run("float32", 5)  # warm-up
    for cache in ("warm",) if slow else ("warm", "cold"):
        if cache == "cold":
            data.close()
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # evicts this file's clean pages only
            os.close(fd)
        for kind in ("float32", "uint8") if cache == "warm" else ("float32",):
            result[f"{cache}_{kind}_images_per_s"] = run(kind, batches)
    data.close()
    return memory_report(result)


def child(*arguments: str) -> dict:
    process = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    if process.returncode:
        print(process.stderr)
        raise SystemExit(f"{arguments[0]} failed")
    return json.loads(process.stdout.strip().splitlines()[-1])


def show(result: dict) -> None:
    for key, value in result.items():
        print(f"  {key}: {value:.1f}" if isinstance(value, float) else f"  {key}: {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layouts", default="contiguous,row-gzip", help=f"comma-separated, from {sorted(LAYOUTS)}")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--slow-batches", type=int, default=1, help="batches timed on the auto-gzip layout")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--small", action="store_true", help=f"grid {SMALL} instead of the real {FULL}")
    parser.add_argument("--directory", default=None, help="where to write the files (default: a temp folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # one step, in its own process
        step, *rest = args.child
        sizes = tuple(json.loads(rest[-1]))
        if step == "write":
            result = write(rest[0], rest[1], sizes)
        elif step == "rechunk":
            result = rechunk(rest[0], rest[1])
        else:
            result = measure(rest[0], sizes, int(rest[1]), args.batch_size, slow=rest[2] == "slow")
        print(json.dumps(result))
        return

    directory = Path(tempfile.mkdtemp(prefix="shapes3d_bench_", dir=args.directory))
    free_gb = shutil.disk_usage(directory).free / 1e9
    sizes = SMALL if args.small else FULL
    if not args.small and free_gb < 15:
        sizes = SMALL
        print(f"only {free_gb:.1f} GB free in {directory}: using the smaller grid {SMALL} instead of the real one")
    n = math.prod(sizes)
    print(f"load average {tuple(round(v, 2) for v in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"{free_gb:.1f} GB free in {directory}")
    print(f"grid {sizes}: {n} images, {n * 64 * 64 * 3 / 1e9:.2f} GB as uint8")
    grid = json.dumps(list(sizes))
    rows = []
    try:
        for layout in args.layouts.split(","):
            path = directory / f"3dshapes_{layout}.h5"
            written = child("--child", "write", str(path), layout, grid)
            size_gb = path.stat().st_size / 1e9
            print(f"\n[{layout}] wrote {size_gb:.2f} GB in {written['write_s']:.0f} s (writer peak RSS "
                  f"{written['peak_rss_mb']:.0f} MB); free now {shutil.disk_usage(directory).free / 1e9:.1f} GB",
                  flush=True)
            slow = layout == "auto-gzip"
            result = child("--child", "measure", str(path), str(args.slow_batches if slow else args.batches),
                           "slow" if slow else "fast", grid)
            show(result)
            rows.append((layout, size_gb, result))
            if slow:
                copy = directory / "3dshapes_rechunked.h5"
                rechunked = child("--child", "rechunk", str(path), str(copy), grid)
                path.unlink()
                size_gb = copy.stat().st_size / 1e9
                print(f"\n[auto-gzip rechunked] rechunk_shapes3d took {rechunked['rechunk_s']:.0f} s, peak RSS "
                      f"{rechunked['peak_rss_mb']:.0f} MB; copy {size_gb:.2f} GB", flush=True)
                result = child("--child", "measure", str(copy), str(args.batches), "fast", grid)
                show(result)
                rows.append(("rechunked", size_gb, result))
                path = copy
            path.unlink()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\nsummary (batch size {args.batch_size}, {args.batches} batches, grid {sizes}; images/s):")
    print(f"{'layout':12s} {'file GB':>8s} {'strategy':>18s} {'warm f32':>9s} {'warm u8':>9s} {'cold f32':>9s} "
          f"{'peak RSS MB':>12s}")
    for layout, size_gb, r in rows:
        cold = r.get("cold_float32_images_per_s", float("nan"))
        print(f"{layout:12s} {size_gb:8.2f} {r['strategy']:>18s} {r['warm_float32_images_per_s']:9.0f} "
              f"{r['warm_uint8_images_per_s']:9.0f} {cold:9.0f} {r['peak_rss_mb']:12.0f}")


if __name__ == "__main__":
    main()
