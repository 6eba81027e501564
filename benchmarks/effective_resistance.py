"""Effective resistances on a 10,000-vertex graph: the Spielman–Srivastava projection against exact values.

    python benchmarks/effective_resistance.py                       # 10,000 vertices (minutes)
    python benchmarks/effective_resistance.py --num-vertices 2000   # quick look

Graphs (seed 0): ``general`` — the correlated-VAE general-graph variant (random recursive tree plus 20%
extra edges to grandparents, as ``CorrelatedTreeSimulation(graph="general")``); ``random`` — the tree plus
10% uniformly random extra edges (long cycles through an expander-like core: more fill-in for sparse LU,
so exact resistances cost far more, and with as many random edges as vertices the exact computation is
out of reach).

Exact: sparse LU (scipy ``splu``) of the Laplacian grounded at one vertex, solved for every edge's
incidence vector (O(E) solves). Checked against the dense pseudo-inverse formula L⁺_ii + L⁺_jj − 2L⁺_ij
on a ``--pinv-vertices`` subgraph size (the dense pseudo-inverse is O(n³)). Projection: k random ±1/√k
projections, k solves (``splu`` or ``cg``), for several k including the paper's ⌈24 ln n / ε²⌉.
Relative errors |R̃/R − 1| over all edges: mean, 99th percentile, max. Wall-clock times on whatever this
machine runs besides (set OMP_NUM_THREADS=1 for one core).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np


from pyrodisent.data import undirected_graphs as graphs


def build_graph(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parent = graphs.random_recursive_tree(n, rng)
    edges = graphs.tree_edges(parent)
    if kind == "general":
        has_grandparent = np.flatnonzero((parent >= 0) & (parent[np.maximum(parent, 0)] >= 0))
        chosen = rng.choice(has_grandparent, size=int(round(0.2 * (n - 1))), replace=False)
        extra = np.stack([parent[parent[chosen]], chosen], 1)
    else:
        extra = rng.integers(0, n, (n // 10, 2))
        extra = extra[extra[:, 0] != extra[:, 1]]
    both = np.unique(np.sort(np.concatenate([edges, extra]), 1), axis=0)
    return graphs.validate_edges(n, both)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def errors(approx: np.ndarray, exact: np.ndarray) -> str:
    relative = np.abs(approx / exact - 1)
    return f"mean {relative.mean():.4f}  p99 {np.percentile(relative, 99):.4f}  max {relative.max():.4f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-vertices", type=int, default=10_000)
    parser.add_argument("--graphs", nargs="+", default=["general", "random"], choices=["general", "random"])
    parser.add_argument("--projections", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--epsilon", type=float, default=0.3, help="ε of the paper's k = ⌈24 ln n / ε²⌉")
    parser.add_argument("--pinv-vertices", type=int, default=2000)
    args = parser.parse_args(argv)
    n = args.num_vertices

    small = build_graph("general", args.pinv_vertices)
    dense, dense_seconds = timed(graphs.exact_resistances_by_pseudoinverse, args.pinv_vertices, small)
    sparse, sparse_seconds = timed(graphs.effective_resistances, args.pinv_vertices, small, method="exact")
    print(f"check on {args.pinv_vertices} vertices / {len(small)} edges: dense pinv {dense_seconds:.2f} s, "
          f"sparse exact {sparse_seconds:.2f} s, max |difference| {np.abs(dense - sparse).max():.2e}")

    paper_k = int(math.ceil(24 * math.log(n) / args.epsilon ** 2))
    for kind in args.graphs:
        edges = build_graph(kind, n)
        exact, exact_seconds = timed(graphs.effective_resistances, n, edges, method="exact")
        print(f"\n{kind} graph: {n} vertices, {len(edges)} edges, Σ R = {exact.sum():.1f} (n − 1 = {n - 1}); "
              f"exact (sparse LU, {len(edges)} solves) {exact_seconds:.2f} s")
        for k in [*args.projections, paper_k]:
            for solver in ("splu", "cg") if k <= 100 else ("splu",):
                approx, seconds = timed(graphs.effective_resistances, n, edges, method="projection",
                                        num_projections=k, solver=solver, random_state=0)
                label = f"projection k={k}{' (24 ln n/ε², ε=' + str(args.epsilon) + ')' if k == paper_k else ''}"
                print(f"  {label:<38} {solver:<4} {seconds:7.2f} s  ({exact_seconds / seconds:5.1f}× faster)  "
                      f"relative error {errors(approx, exact)}")


if __name__ == "__main__":
    main()
