"""Undirected graphs over data points: validation, random trees, edge splits, effective resistances.

A graph is ``(num_vertices, edges)`` with ``edges`` an integer array ``(E, 2)``. :func:`validate_edges`
is the one gate every graph passes: it rejects self-loops, out-of-range or non-integer vertex ids,
duplicate edges (also ``(i, j)`` next to ``(j, i)``) and a wrong shape, each with an error naming the
offending rows, and returns the edges canonically ordered (``i < j`` in each row).

Disconnected graphs are allowed, and handled per component: the Laplacian of a graph with several
components is block diagonal, so its pseudo-inverse — and every effective resistance — is computed
component by component, and a uniform spanning *forest* is one uniform spanning tree per component.
An isolated vertex has no edge term at all. Holding edges out of a tree for link prediction leaves a
forest, so this case is the normal one, not an error.

Effective resistance (the probability that an edge lies in a uniform spanning tree of its component):
``R_ij = (e_i − e_j)ᵀ L⁺ (e_i − e_j)``.

- ``exact``: the definition, by sparse LU (scipy ``splu``) of the Laplacian grounded at one vertex per
  component, solved for the edges' incidence vectors in blocks; O(E) solves, exact to rounding. On a
  forest every edge is a bridge and R = 1 without any solve.
- ``projection``: Spielman & Srivastava (2008): ``R_ij = ‖W^½ B L⁺ (e_i − e_j)‖²`` and a k × E random ±1/√k
  matrix Q keeps these norms within 1 ± ε for k = O(log n / ε²) (Johnson–Lindenstrauss), so
  ``Z = Q W^½ B L⁺`` costs k sparse solves instead of E (``splu``, or ``cg`` with a Jacobi preconditioner
  when an LU factor would not fit in memory).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from pyrodisent.random_state import RandomState, as_generator

RESISTANCE_METHODS = ("auto", "exact", "projection")


# ---------------------------------------------------------------------------------------- validation
def validate_edges(num_vertices: int, edges, name: str = "edges") -> np.ndarray:
    """Check an undirected simple graph; return its edges as int64 ``(E, 2)`` with ``i < j`` per row.

    :raises ValueError: self-loops, vertex ids outside ``0 .. num_vertices − 1``, duplicates, bad shape.
    :raises TypeError: non-integer ids.
    """
    if int(num_vertices) != num_vertices or num_vertices < 1:
        raise ValueError(f"num_vertices must be a positive integer, got {num_vertices}")
    array = np.asarray(edges)
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (E, 2) (one vertex pair per row), got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer vertex ids, got dtype {array.dtype}")
    array = array.astype(np.int64)
    bad = np.flatnonzero((array < 0).any(1) | (array >= num_vertices).any(1))
    if bad.size:
        raise ValueError(f"{name} has vertex ids outside 0..{num_vertices - 1} in rows {bad[:5].tolist()} "
                         f"(e.g. {array[bad[0]].tolist()})")
    loops = np.flatnonzero(array[:, 0] == array[:, 1])
    if loops.size:
        raise ValueError(f"{name} has self-loops in rows {loops[:5].tolist()} (e.g. {array[loops[0]].tolist()}); "
                         "a vertex is not its own neighbour: drop them")
    canonical = np.sort(array, axis=1)
    codes = canonical[:, 0] * num_vertices + canonical[:, 1]
    unique, first, counts = np.unique(codes, return_index=True, return_counts=True)
    if (counts > 1).any():
        duplicated = canonical[first[counts > 1][:5]].tolist()
        raise ValueError(f"{name} lists {int((counts - 1).sum())} edges twice (an undirected edge appears once, "
                         f"in either order), e.g. {duplicated}")
    return canonical


def connected_components(num_vertices: int, edges: np.ndarray) -> Tuple[int, np.ndarray]:
    """``(number of components, component label of each vertex)`` (scipy ``connected_components``)."""
    return csgraph.connected_components(adjacency_matrix(num_vertices, edges), directed=False)


def adjacency_matrix(num_vertices: int, edges: np.ndarray, weights: Optional[np.ndarray] = None) -> sp.csr_matrix:
    """Symmetric sparse adjacency ``(n, n)`` with ``weights`` (default 1) on each edge."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    w = np.ones(len(edges)) if weights is None else np.asarray(weights, dtype=np.float64)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    return sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(num_vertices, num_vertices))


def laplacian_matrix(num_vertices: int, edges: np.ndarray, weights: Optional[np.ndarray] = None) -> sp.csr_matrix:
    """Graph Laplacian L = D − A (scipy ``csgraph.laplacian``)."""
    return sp.csr_matrix(csgraph.laplacian(adjacency_matrix(num_vertices, edges, weights)))


def neighbour_lists(num_vertices: int, edges: np.ndarray) -> list:
    """For each vertex, the sorted array of its neighbours."""
    adjacency = adjacency_matrix(num_vertices, edges).tocsr()
    adjacency.sort_indices()
    return [adjacency.indices[adjacency.indptr[i]:adjacency.indptr[i + 1]] for i in range(num_vertices)]


# ---------------------------------------------------------------------------------------- random graphs
def random_recursive_tree(num_vertices: int, random_state: RandomState) -> np.ndarray:
    """Parents of a random recursive tree: vertex i ≥ 1 attaches to a uniform earlier vertex; ``parent[0] = −1``."""
    rng = as_generator(random_state)
    parent = np.full(num_vertices, -1, dtype=np.int64)
    if num_vertices > 1:
        parent[1:] = np.floor(rng.random(num_vertices - 1) * np.arange(1, num_vertices)).astype(np.int64)
    return parent


def tree_edges(parent: np.ndarray) -> np.ndarray:
    """Edges ``(n − 1, 2)`` (parent, child) of a tree given by its parent array (root has −1)."""
    children = np.flatnonzero(parent >= 0)
    return np.stack([parent[children], children], axis=1)


def split_edges(edges: np.ndarray, heldout_fraction: float, random_state: RandomState) -> Tuple[np.ndarray, np.ndarray]:
    """``(training edges, held-out edges)``: a uniformly random ``heldout_fraction`` of the edges is held out."""
    if not 0 <= heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    rng = as_generator(random_state)
    order = rng.permutation(len(edges))
    num_heldout = int(round(heldout_fraction * len(edges)))
    return edges[np.sort(order[num_heldout:])], edges[np.sort(order[:num_heldout])]


def pair_codes(num_vertices: int, pairs: np.ndarray) -> np.ndarray:
    """One integer per unordered vertex pair, ``min · n + max``: equal for (i, j) and (j, i)."""
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    return pairs[:, 0] * num_vertices + pairs[:, 1]


def uniform_spanning_forest(num_vertices: int, edges: np.ndarray, random_state: RandomState) -> np.ndarray:
    """Edges of a uniformly random spanning forest (a uniform spanning tree of each component).

    Wilson's algorithm (1996): loop-erased random walks from each vertex not yet in the tree to the tree.
    """
    rng = as_generator(random_state)
    count, labels = connected_components(num_vertices, edges)
    adjacency = adjacency_matrix(num_vertices, edges).tocsr()
    indptr, indices = adjacency.indptr, adjacency.indices
    in_tree = np.zeros(num_vertices, dtype=bool)
    _, roots = np.unique(labels, return_index=True)
    in_tree[roots] = True
    next_vertex = np.full(num_vertices, -1, dtype=np.int64)
    for start in range(num_vertices):
        vertex = start
        while not in_tree[vertex]:  # random walk, remembering the last exit from each vertex (erases loops)
            degree = indptr[vertex + 1] - indptr[vertex]
            next_vertex[vertex] = indices[indptr[vertex] + rng.integers(degree)]
            vertex = next_vertex[vertex]
        vertex = start
        while not in_tree[vertex]:
            in_tree[vertex] = True
            vertex = next_vertex[vertex]
    children = np.flatnonzero(next_vertex >= 0)
    return np.sort(np.stack([next_vertex[children], children], 1), axis=1)


# ---------------------------------------------------------------------------------------- resistances
def effective_resistances(num_vertices: int, edges: np.ndarray, method: str = "auto",
                          num_projections: Optional[int] = None, epsilon: float = 0.3,
                          solver: str = "splu", random_state: RandomState = 0,
                          exact_max_edges: int = 20_000, block_size: int = 512) -> np.ndarray:
    """Effective resistance of every edge, ``(E,)``; each lies in (0, 1] and they sum to n − #components.

    :param method: ``exact``, ``projection`` (Spielman–Srivastava) or ``auto`` (exact on forests and when
        E ≤ ``exact_max_edges``, projection otherwise).
    :param num_projections: k for ``projection``; default ⌈24 ln n / ε²⌉ (the paper's bound).
    :param solver: ``splu`` (sparse LU of the grounded Laplacian, factorised once) or ``cg``.
    """
    if method not in RESISTANCE_METHODS:
        raise ValueError(f"method must be one of {RESISTANCE_METHODS}, got {method!r}")
    if solver not in ("splu", "cg"):
        raise ValueError(f"solver must be 'splu' or 'cg', got {solver!r}")
    edges = validate_edges(num_vertices, edges)
    if len(edges) == 0:
        return np.zeros(0)
    count, labels = connected_components(num_vertices, edges)
    if len(edges) == num_vertices - count:  # a forest: every edge is a bridge, in every spanning tree
        return np.ones(len(edges))
    if method == "auto":
        method = "exact" if len(edges) <= exact_max_edges else "projection"
    grounded = _GroundedLaplacian(num_vertices, edges, labels, solver)
    if method == "exact":
        resistances = np.empty(len(edges))
        for start in range(0, len(edges), block_size):
            block = edges[start:start + block_size]
            rhs = np.zeros((num_vertices, len(block)))
            columns = np.arange(len(block))
            rhs[block[:, 0], columns] = 1.0
            rhs[block[:, 1], columns] = -1.0
            potentials = grounded.solve(rhs)
            resistances[start:start + len(block)] = potentials[block[:, 0], columns] - potentials[block[:, 1], columns]
        return resistances
    k = num_projections or int(math.ceil(24 * math.log(num_vertices) / epsilon ** 2))
    rng = as_generator(random_state)
    signs = (rng.integers(0, 2, (len(edges), k)) * 2 - 1) / math.sqrt(k)  # Qᵀ, (E, k)
    incidence = sp.csr_matrix((np.concatenate([np.ones(len(edges)), -np.ones(len(edges))]),
                               (np.concatenate([edges[:, 0], edges[:, 1]]), np.tile(np.arange(len(edges)), 2))),
                              shape=(num_vertices, len(edges)))  # Bᵀ, (n, E); unit weights: W^½ = I
    projected = grounded.solve(np.asarray(incidence @ signs))  # L⁺ Bᵀ Qᵀ = Zᵀ, (n, k)
    difference = projected[edges[:, 0]] - projected[edges[:, 1]]
    return np.einsum("ek,ek->e", difference, difference)


class _GroundedLaplacian:
    """Solves L x = b for b summing to zero on every component: the Laplacian with one vertex per
    component removed (a "ground", potential 0) is nonsingular; x is L⁺ b up to a constant per component."""

    def __init__(self, num_vertices: int, edges: np.ndarray, labels: np.ndarray, solver: str):
        _, grounds = np.unique(labels, return_index=True)
        self.keep = np.setdiff1d(np.arange(num_vertices), grounds)
        self.num_vertices = num_vertices
        laplacian = laplacian_matrix(num_vertices, edges)
        self.matrix = laplacian[self.keep][:, self.keep].tocsc()
        self.solver = solver
        if solver == "splu":
            self.factor = spla.splu(self.matrix)
        else:
            diagonal = self.matrix.diagonal()
            self.preconditioner = spla.LinearOperator(self.matrix.shape, matvec=lambda v: v / diagonal)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``rhs`` (n, m) → potentials (n, m), zero at the grounds."""
        reduced = rhs[self.keep]
        if self.solver == "splu":
            solution = self.factor.solve(np.asfortranarray(reduced))
        else:
            solution = np.empty_like(reduced)
            for column in range(reduced.shape[1]):
                solution[:, column], info = spla.cg(self.matrix, reduced[:, column], rtol=1e-10, atol=0.0,
                                                    M=self.preconditioner, maxiter=10 * len(self.keep))
                if info != 0:
                    raise RuntimeError(f"conjugate gradients did not converge (info={info}); use solver='splu'")
        out = np.zeros((self.num_vertices, rhs.shape[1]))
        out[self.keep] = solution
        return out


def exact_resistances_by_pseudoinverse(num_vertices: int, edges: np.ndarray) -> np.ndarray:
    """L⁺_ii + L⁺_jj − 2 L⁺_ij from the dense pseudo-inverse (small graphs; the reference for tests)."""
    edges = validate_edges(num_vertices, edges)
    pinv = np.linalg.pinv(laplacian_matrix(num_vertices, edges).toarray(), hermitian=True)
    i, j = edges[:, 0], edges[:, 1]
    return pinv[i, i] + pinv[j, j] - 2 * pinv[i, j]


def forest_levels(num_vertices: int, forest_edges: np.ndarray) -> Tuple[np.ndarray, list]:
    """Orient a forest from one root per component: ``(parent, levels)`` with ``parent[root] = −1`` and
    ``levels[d]`` the vertices at depth d ≥ 1 (so ancestral sampling is one vectorised step per depth).

    :raises ValueError: when the edges contain a cycle (not a forest).
    """
    count, labels = connected_components(num_vertices, forest_edges)
    if len(forest_edges) != num_vertices - count:
        raise ValueError(f"the graph has {len(forest_edges)} edges and {count} components over {num_vertices} "
                         f"vertices: it has cycles, so it is not a forest (a forest has n − #components edges)")
    adjacency = adjacency_matrix(num_vertices, forest_edges)
    _, roots = np.unique(labels, return_index=True)
    parent = np.full(num_vertices, -1, dtype=np.int64)
    depth = np.zeros(num_vertices, dtype=np.int64)
    for root in roots:
        order, predecessors = csgraph.breadth_first_order(adjacency, root, directed=False, return_predecessors=True)
        children = order[1:]
        parent[children] = predecessors[children]
        for child in children:  # BFS order: a parent's depth is known before its children's
            depth[child] = depth[parent[child]] + 1
    levels = [np.flatnonzero(depth == d) for d in range(1, int(depth.max()) + 1)] if num_vertices else []
    return parent, levels


def propagate_along_forest(noise, parent: np.ndarray, levels: list, correlation: float):
    """Ancestral sampling of the tree Gaussian from standard normal ``noise`` (..., n, K) (numpy or torch):
    roots keep their noise, and each child is ``τ · parent + √(1 − τ²) · ε`` (every marginal stays N(0, 1))."""
    z = noise.clone() if hasattr(noise, "clone") else noise.copy()
    spread = math.sqrt(1.0 - correlation ** 2)
    for level in levels:
        z[..., level, :] = correlation * z[..., parent[level], :] + spread * noise[..., level, :]
    return z
