"""Pictures written to run directories.

Figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`), not pyplot: no
backend is chosen, switched or needed (importing pyrodisent leaves the user's backend alone, and the
PNGs render without a display), and no figure is left open in pyplot's list.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, figsize: Optional[Tuple[float, float]] = None,
             **subplot_kw) -> Tuple[Figure, object]:
    """A figure outside pyplot and its axes, as ``subplots(nrows, ncols, figsize=…, **subplot_kw)``."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplot_kw)


def save_figure(fig: Figure, path) -> Path:
    """Write ``fig`` as PNG (the format follows the suffix) at 110 dpi, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_training_log(csv_path, png_path) -> Path:
    """Loss per data point (and its parts) against epoch, from the trainer's CSV log."""
    rows = list(csv.DictReader(Path(csv_path).open()))
    epochs = [int(r["epoch"]) for r in rows]
    skip = {"epoch", "step", "lr", "seconds"}
    columns = [c for c in rows[0] if c not in skip] if rows else []
    fig, axes = subplots(1, 2, figsize=(10, 3.5))
    for column in columns:
        axes[0].plot(epochs, [float(r[column]) for r in rows], label=column)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("per data point")
    axes[0].set_title("training objective")
    axes[0].legend(fontsize=8)
    axes[1].plot(epochs, [float(r["lr"]) for r in rows])
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_title("learning rate")
    return save_figure(fig, png_path)


def plot_matched_latents(z_true: np.ndarray, z_est: np.ndarray, png_path, max_points: int = 2000,
                         names: Optional[Sequence[str]] = None) -> Path:
    """Scatter of each true latent against its matched inferred latent (MCC matching), one panel each."""
    from pyrodisent.metrics.mcc import correlation_matrix, matched_correlations

    rows, cols, corr = matched_correlations(z_true, z_est)
    signed = np.sign(np.corrcoef(z_true.T, z_est.T)[: z_true.shape[1], z_true.shape[1]:][rows, cols])
    rng = np.random.default_rng(0)
    idx = rng.choice(len(z_true), size=min(max_points, len(z_true)), replace=False)
    fig, axes = subplots(1, len(rows), figsize=(2.6 * len(rows), 2.6), squeeze=False)
    for ax, r, c, rho, s in zip(axes[0], rows, cols, corr, signed):
        ax.scatter(z_true[idx, r], s * z_est[idx, c], s=2, alpha=0.4)
        ax.set_title(f"{names[r] if names else f's{r}'} ↔ z{c}: |r|={rho:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    del correlation_matrix
    return save_figure(fig, png_path)


def plot_target_matrices(true_targets: np.ndarray, predicted_probability: np.ndarray, png_path,
                         title: str = "intervention targets") -> Path:
    """True (left) and inferred (right) target matrices, actions × latents, side by side.

    :param true_targets: (A, d) booleans. :param predicted_probability: (A, d) in [0, 1], columns already
        aligned with the true factors (see :func:`pyrodisent.metrics.aligned_targets`).
    """
    fig, axes = subplots(1, 2, figsize=(8, 6), sharey=True)
    for ax, matrix, name in zip(axes, (true_targets, predicted_probability), ("true", "inferred q(γ = 1)")):
        image = ax.imshow(np.asarray(matrix, dtype=float), aspect="auto", cmap="Greys", vmin=0, vmax=1,
                          interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("latent (matched to factors)")
    axes[0].set_ylabel("action")
    fig.colorbar(image, ax=axes, fraction=0.03)
    fig.suptitle(title)
    return save_figure(fig, png_path)


def plot_topology_matches(factor_values: np.ndarray, codes: np.ndarray, matches: Sequence[dict], png_path,
                          max_points: int = 3000) -> Path:
    """Each true factor's matched latents, coloured by the factor: a loop's pair of latents as a scatter
    coloured by the angle on a cyclic map (a recovered loop draws a ring), a segment's latent against the
    factor, points as one strip per value (``matches`` from :func:`pyrodisent.metrics.topology.topology_scores`)."""
    rng = np.random.default_rng(0)
    idx = rng.choice(len(codes), size=min(max_points, len(codes)), replace=False)
    fig, axes = subplots(1, len(matches), figsize=(2.9 * len(matches), 2.9), squeeze=False)
    for ax, (column, match) in zip(axes[0], enumerate(matches)):
        values, dims = factor_values[idx, column], match["dims"]
        if match["topology"] == "loop":
            period = np.ptp(factor_values[:, column]) or 1.0
            ax.scatter(codes[idx, dims[0]], codes[idx, dims[1]], c=values, cmap="twilight", s=3, alpha=0.6,
                       vmin=values.min(), vmax=values.min() + period * (1 + 1 / max(len(np.unique(values)) - 1, 1)))
            ax.set_xlabel(f"z{dims[0]}", fontsize=8)
            ax.set_ylabel(f"z{dims[1]}", fontsize=8)
            ax.set_aspect("equal", adjustable="datalim")
            score = f"circ. corr {match['score']:.2f}"
        elif match["topology"] == "points":
            labels = np.unique(values)
            for position, label in enumerate(labels):
                chosen = codes[idx, dims[0]][values == label]
                ax.scatter(chosen, position + rng.uniform(-0.25, 0.25, len(chosen)), s=3, alpha=0.5)
            ax.set_yticks(range(len(labels)))
            ax.set_yticklabels([f"{label:g}" for label in labels], fontsize=7)
            ax.set_xlabel(f"z{dims[0]}", fontsize=8)
            score = f"purity {match['score']:.2f}"
        else:
            ax.scatter(values, codes[idx, dims[0]], c=values, cmap="viridis", s=3, alpha=0.5)
            ax.set_xlabel(match["factor"], fontsize=8)
            ax.set_ylabel(f"z{dims[0]}", fontsize=8)
            score = f"Spearman {match['score']:.2f}"
        ax.set_title(f"{match['factor']} ({match['topology']})\n{score}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save_figure(fig, png_path)
