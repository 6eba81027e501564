"""Pairs mined from unpaired data: each observation with one of its nearest neighbours in a latent space.

Without explicit pairs (issue #16, "whether explicit pairs can be done without"): encode the observations
(posterior means of a briefly trained VAE first, then of the model being trained), find each one's
``num_neighbours`` nearest neighbours (Euclidean, scikit-learn's ``NearestNeighbors``, itself excluded) and
pair it with one of them drawn uniformly. :class:`PairMining` re-mines the training set's pairs in place every
``every_epochs`` epochs as a trainer callback. The true factors only serve evaluation: ``changed_factors``
of a mined pair are the factors whose values differ.
"""
from __future__ import annotations

import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.pairs import CHANGED_FACTORS, PAIR_FACTORS, PAIR_OBSERVATION
from pyrodisent.random_state import RandomState, as_generator

#: the ``extras`` key of each point's partner (its index in the training set)
PARTNER = "partner"


def nearest_neighbour_partners(codes: np.ndarray, num_neighbours: int, random_state: RandomState) -> np.ndarray:
    """For each row of ``codes`` (N, K), the index of one of its ``num_neighbours`` nearest other rows, drawn
    uniformly, (N,) int64."""
    from sklearn.neighbors import NearestNeighbors

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be (N, K) with N ≥ 2 to mine pairs, got shape {codes.shape}")
    if num_neighbours < 1:
        raise ValueError(f"num_neighbours must be ≥ 1, got {num_neighbours}")
    num_neighbours = min(num_neighbours, len(codes) - 1)
    _, index = NearestNeighbors(n_neighbors=num_neighbours + 1).fit(codes).kneighbors(codes)
    rows = np.arange(len(codes))
    # itself removed: where exact duplicates hide it from the list, the farthest of the list instead
    keep = index != rows[:, None]
    keep[keep.all(axis=1), -1] = False
    others = index[keep].reshape(len(codes), num_neighbours)
    choice = as_generator(random_state).integers(0, num_neighbours, len(codes))
    return others[rows, choice].astype(np.int64)


def mined_pair_dataset(images: ArrayDataset, partners: np.ndarray) -> ArrayDataset:
    """``images`` paired with ``images[partners]``: the extras of a pair batch, and ``partner``."""
    partners = torch.as_tensor(np.asarray(partners, dtype=np.int64))
    extras = {PAIR_OBSERVATION: images.x[partners], PARTNER: partners}
    if images.factors is not None:
        extras[PAIR_FACTORS] = images.factors[partners]
        extras[CHANGED_FACTORS] = images.factors[partners] != images.factors
    return ArrayDataset(images.x, factors=images.factors, extras=extras)


@torch.no_grad()
def posterior_means(model, data: ArrayDataset, batch_size: int = 1024) -> np.ndarray:
    """The model's codes (posterior means) of ``data``'s observations ``x``, (N, K)."""
    was_training = model.training
    model.eval()
    try:
        codes = [model.encode(batch).cpu() for _, batch in data.sequential(batch_size, model.device)]
    finally:
        model.train(was_training)
    return torch.cat(codes).numpy()


class PairMining:
    """A trainer callback ``(trainer, epoch, row)``: every ``every_epochs`` epochs (not after the last), pair each
    training observation anew with one of its ``num_neighbours`` nearest neighbours in the codes of the model
    being trained, in place in the trainer's data. Draws come from ``seed`` and the epoch, so a run repeats.

    A resumed run continues with the pairs its data was built with until the next re-mining.
    """

    def __init__(self, every_epochs: int, num_neighbours: int, seed: int):
        if every_epochs < 1:
            raise ValueError(f"every_epochs must be ≥ 1, got {every_epochs}")
        self.every_epochs = int(every_epochs)
        self.num_neighbours = int(num_neighbours)
        self.seed = int(seed)
        self.minings = 0

    def __call__(self, trainer, epoch: int, row) -> None:
        if epoch % self.every_epochs or epoch >= trainer.epochs:
            return
        data = trainer.data
        codes = posterior_means(trainer.model, data)
        partners = nearest_neighbour_partners(codes, self.num_neighbours, np.random.default_rng([self.seed, epoch]))
        remine(data, torch.as_tensor(partners, device=data.x.device))
        self.minings += 1


def remine(data: ArrayDataset, partners: torch.Tensor) -> None:
    """Set, in place, the pair extras of a mined ``data`` to the new ``partners`` (N,)."""
    if PARTNER not in data.extras:
        raise ValueError(f"the training set carries no {PARTNER!r}: it is not a set of mined pairs")
    data.extras[PARTNER].copy_(partners)
    data.extras[PAIR_OBSERVATION].copy_(data.x[partners])
    if data.factors is not None:
        data.extras[PAIR_FACTORS].copy_(data.factors[partners])
        data.extras[CHANGED_FACTORS].copy_(data.factors[partners] != data.factors)
