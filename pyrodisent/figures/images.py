"""Pictures of an image model: reconstructions, latent traversals, KL per latent dimension (PNG)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.figures.plots import save_figure, subplots


def _as_images(array: torch.Tensor) -> np.ndarray:
    """(n, C, H, W) in [0, 1] → (n, H, W, C) or (n, H, W) for matplotlib."""
    images = array.detach().cpu().clamp(0, 1).numpy()
    images = np.moveaxis(images, 1, -1)
    return images[..., 0] if images.shape[-1] == 1 else images


@torch.no_grad()
def kl_per_dimension(model, data: ArrayDataset, num_points: int = 1000) -> np.ndarray:
    """Mean KL(q(z_j | x) ‖ N(0, 1)) of each latent dimension over the first points, shape (K,)."""
    batch = data.batch(torch.arange(min(num_points, len(data)), device=data.x.device)).to(model.device)
    loc, scale = model.posterior_params(batch)
    if scale.dim() == 3:  # full covariance: the marginal variances
        scale = scale.pow(2).sum(-1).sqrt()
    return (0.5 * (loc.pow(2) + scale.pow(2) - 1) - scale.log()).mean(0).cpu().numpy()


@torch.no_grad()
def plot_reconstructions(model, data: ArrayDataset, path, num_images: int = 8) -> Path:
    """Top row: inputs; bottom row: E[x | z = posterior mean]."""
    batch = data.batch(torch.arange(min(num_images, len(data)), device=data.x.device)).to(model.device)
    originals, reconstructions = _as_images(batch.x), _as_images(model.reconstruct(batch))
    fig, axes = subplots(2, len(originals), figsize=(1.3 * len(originals), 2.8), squeeze=False)
    for i in range(len(originals)):
        for row, images in enumerate((originals, reconstructions)):
            axes[row, i].imshow(images[i], cmap="gray", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("input", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    return save_figure(fig, path)


@torch.no_grad()
def plot_latent_traversals(model, data: ArrayDataset, path, num_steps: int = 9, limit: float = 2.5,
                           point: int = 0) -> Path:
    """One row per latent dimension, ordered by decreasing KL: decode the posterior mean of one image
    with that dimension swept over [−limit, limit]."""
    kl = kl_per_dimension(model, data)
    order = np.argsort(-kl)
    batch = data.batch(torch.tensor([point], device=data.x.device)).to(model.device)
    base = model.encode(batch)[0]
    values = torch.linspace(-limit, limit, num_steps, device=base.device)
    fig, axes = subplots(len(order), num_steps, figsize=(1.1 * num_steps, 1.1 * len(order)), squeeze=False)
    for row, dim in enumerate(order):
        codes = base.repeat(num_steps, 1)
        codes[:, dim] = values
        images = _as_images(model.likelihood.mean(model.decoder(codes)))
        for col in range(num_steps):
            axes[row, col].imshow(images[col], cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[row, 0].set_ylabel(f"z{dim}\nKL {kl[dim]:.2f}", fontsize=7)
    return save_figure(fig, path)


def plot_kl_per_dimension(model, data: ArrayDataset, path) -> Path:
    kl = kl_per_dimension(model, data)
    fig, ax = subplots(figsize=(max(4, 0.4 * len(kl)), 3))
    ax.bar(np.arange(len(kl)), kl)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("mean KL (nats)")
    ax.set_xticks(np.arange(len(kl)))
    return save_figure(fig, path)


def plot_imputed_sequences(complete: np.ndarray, observed_mask: np.ndarray, imputations: dict, path,
                           num_sequences: int = 3, max_frames: int = 10) -> Path:
    """For each of the first sequences: the original frames, the observed frames (missing pixels in red),
    and one row per imputation (``{name: (N, T, 1, H, W)}``). Grey-scale frames ``(N, T, 1, H, W)`` in [0, 1]."""
    num_sequences = min(num_sequences, len(complete))
    num_frames = min(max_frames, complete.shape[1])
    rows = [("original", complete), ("observed", None), *imputations.items()]
    fig, axes = subplots(num_sequences * len(rows), num_frames, squeeze=False,
                             figsize=(0.9 * num_frames, 0.9 * num_sequences * len(rows)))
    for n in range(num_sequences):
        for r, (name, frames) in enumerate(rows):
            row = n * len(rows) + r
            for t in range(num_frames):
                ax = axes[row, t]
                if frames is None:  # observed pixels in grey, missing ones in red
                    value = np.clip(complete[n, t, 0], 0, 1)
                    seen = observed_mask[n, t, 0].astype(bool)
                    picture = np.stack([np.where(seen, value, 0.8), np.where(seen, value, 0.1),
                                        np.where(seen, value, 0.1)], -1)
                    ax.imshow(picture)
                else:
                    ax.imshow(np.clip(frames[n, t, 0], 0, 1), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[row, 0].set_ylabel(f"{n}: {name}" if r == 0 else name, fontsize=6, rotation=0, ha="right",
                                    va="center")
    for t in range(num_frames):
        axes[0, t].set_title(f"t={t}", fontsize=7)
    return save_figure(fig, path)


def plot_image_rows(rows, row_labels, path, column_labels=None) -> Path:
    """A grid of images: row r shows ``rows[r]`` ((n, C, H, W) tensors in [0, 1], rows may differ in n), labelled
    ``row_labels[r]`` on the left and the columns ``column_labels`` on top (optional)."""
    if len(rows) != len(row_labels) or not rows:
        raise ValueError(f"expected one label per row and at least one row, got {len(rows)} rows and "
                         f"{len(row_labels)} labels")
    width = max(len(images) for images in rows)
    fig, axes = subplots(len(rows), width, figsize=(1.1 * width, 1.1 * len(rows)), squeeze=False)
    for r, images in enumerate(rows):
        pictures = _as_images(images)
        for c in range(width):
            axis = axes[r, c]
            if c < len(pictures):
                axis.imshow(pictures[c], cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if c >= len(pictures):
                axis.axis("off")
        axes[r, 0].set_ylabel(row_labels[r], fontsize=7)
    for c, label in enumerate(column_labels or []):
        axes[0, c].set_title(label, fontsize=7)
    return save_figure(fig, path)
