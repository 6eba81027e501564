"""Concept evaluation of a trained model on labelled images (issue #17): label accuracy, per-label localisation,
intervention success (:mod:`pyrodisent.metrics.concepts`) and the pictures of conditional generation and of
walks along each label's core block.

A :class:`~pyrodisent.concept_model.ConceptModel` (CCVAE, CLAP) is read through its own blocks, classifier and
label-conditioned prior; any other model (β-VAE) through linear probes: each label's block is the latent dimension
a probe predicts it best from, labels are predicted by probes on the blocks, and an intervention moves a block to
the class's mean code (:class:`~pyrodisent.metrics.concepts.ProbeConcepts`). Probes and blocks are fitted on
``fit`` images, every score is computed on ``test`` images.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np
import torch

from pyrodisent.concept_model import ConceptModel
from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.batch import Batch
from pyrodisent.data.labels import LABEL_VALUES
from pyrodisent.evaluation.scoring import encode
from pyrodisent.figures.images import plot_image_rows
from pyrodisent.metrics.concepts import (ProbeConcepts, core_separation, intervention_success, localisation,
                                         probe_blocks)


class ModelConcepts:
    """A concept model's blocks, label predictions and interventions on numpy codes."""

    def __init__(self, model: ConceptModel):
        self.model = model
        self.blocks = model.core_blocks()
        self.core = model.core_dims()

    def _tensor(self, codes: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(codes), dtype=torch.float32, device=self.model.device)

    @torch.no_grad()
    def predict(self, codes: np.ndarray) -> np.ndarray:
        return self.model.predict_labels(self._tensor(codes)).cpu().numpy()

    @torch.no_grad()
    def intervene(self, codes: np.ndarray, label: int, value: int) -> np.ndarray:
        return self.model.intervene(self._tensor(codes), label, value).cpu().numpy()


def concepts_of(model, codes_fit: np.ndarray, labels_fit: np.ndarray, seed: int):
    """The concepts of ``model``: its own for a concept model, else linear probes on the ``fit`` codes."""
    if isinstance(model, ConceptModel):
        return ModelConcepts(model)
    return ProbeConcepts(codes_fit, labels_fit, probe_blocks(codes_fit, labels_fit, seed=seed))


@torch.no_grad()
def decode_mean(model, codes: torch.Tensor) -> torch.Tensor:
    """E[x | z] for codes (B, K)."""
    return model.likelihood.mean(model.decoder(codes))


@torch.no_grad()
def decode_encode(model, codes: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Codes → E[x | z] → posterior means: what the model reads back from its own picture of ``codes``."""
    out = []
    for start in range(0, len(codes), batch_size):
        z = torch.as_tensor(codes[start:start + batch_size], dtype=torch.float32, device=model.device)
        x = decode_mean(model, z)
        out.append(model.encode(Batch(x=x, index=torch.arange(len(x), device=model.device))).cpu().numpy())
    return np.concatenate(out)


def concept_metrics(model, fit: ArrayDataset, test: ArrayDataset, label_names: Sequence[str],
                    num_classes: Sequence[int], seed: int, intervention_points: int = 500) -> Dict[str, Any]:
    """Flat metrics: ``label_accuracy`` (mean over labels) and ``label_accuracy_<name>`` (the model's classifier,
    or the probes on the blocks), ``localisation`` and ``localisation_<name>`` (with ``probe_own_<name>``,
    ``probe_best_other_<name>``), ``core_separation`` and ``core_separation_<name>`` (with ``probe_core_<name>``,
    ``probe_best_style_<name>``), ``intervention_success`` and ``intervention_success_<name>`` (with
    ``intervention_flip_<name>``, ``intervention_others_kept_<name>``) on the first ``intervention_points`` test
    images, and ``concept_dim_<name>`` (the label's latent dimension, for a block of one)."""
    model.eval()
    codes_fit, codes_test = encode(model, fit), encode(model, test)
    labels_fit, labels_test = fit.extras[LABEL_VALUES].numpy(), test.extras[LABEL_VALUES].numpy()
    concepts = concepts_of(model, codes_fit, labels_fit, seed)
    accuracy = (concepts.predict(codes_test) == labels_test).mean(0)
    local = localisation(codes_fit, labels_fit, codes_test, labels_test, concepts.blocks)
    separation = core_separation(codes_fit, labels_fit, codes_test, labels_test, concepts.core)
    rows = codes_test[:intervention_points]
    interventions = intervention_success(rows, num_classes, concepts.predict, concepts.intervene,
                                         lambda codes: decode_encode(model, codes))
    metrics: Dict[str, Any] = dict(label_accuracy=float(accuracy.mean()),
                                   localisation=float(local["localisation"].mean()),
                                   core_separation=float(separation["core_separation"].mean()),
                                   intervention_success=float(interventions["success"].mean()))
    for i, name in enumerate(label_names):
        metrics.update({f"label_accuracy_{name}": float(accuracy[i]),
                        f"localisation_{name}": float(local["localisation"][i]),
                        f"probe_own_{name}": float(local["own"][i]),
                        f"probe_best_other_{name}": float(local["best_other"][i]),
                        f"core_separation_{name}": float(separation["core_separation"][i]),
                        f"probe_core_{name}": float(separation["core"][i]),
                        f"probe_best_style_{name}": float(separation["best_style"][i]),
                        f"intervention_success_{name}": float(interventions["success"][i]),
                        f"intervention_flip_{name}": float(interventions["flip"][i]),
                        f"intervention_others_kept_{name}": float(interventions["others_kept"][i])})
        if len(concepts.blocks[i]) == 1:  # numbers only: study tables average every metric over seeds
            metrics[f"concept_dim_{name}"] = concepts.blocks[i][0]
    return metrics


@torch.no_grad()
def plot_concept_pictures(model, fit: ArrayDataset, test: ArrayDataset, label_names: Sequence[str],
                          num_classes: Sequence[int], seed: int, run, num_points: int = 3, num_steps: int = 9):
    """``conditional_generation.png``: for each label and each of ``num_points`` test images, the image and its
    decodings with the label set to each class (style and other labels kept); ``core_walks.png``: for each label,
    each dimension of its block swept over the 2–98 % range of its codes on the ``fit`` images, from the first
    test image's code."""
    model.eval()
    codes_fit = encode(model, fit)
    concepts = concepts_of(model, codes_fit, fit.extras[LABEL_VALUES].numpy(), seed)
    codes = encode(model, test)[:num_points]
    originals = test.x[:num_points]
    rows, row_labels = [], []
    for i, name in enumerate(label_names):
        for p in range(len(codes)):
            changed = np.concatenate([concepts.intervene(codes[p:p + 1], i, v) for v in range(num_classes[i])])
            images = decode_mean(model, torch.as_tensor(changed, dtype=torch.float32, device=model.device))
            rows.append(torch.cat([originals[p:p + 1].to(images.device), images]))
            row_labels.append(f"{name}\nimage {p}")
    columns = ["input"] + [f"class {v}" for v in range(max(num_classes))]
    plot_image_rows(rows, row_labels, run.file("conditional_generation.png"), column_labels=columns)
    rows, row_labels = [], []
    base = torch.as_tensor(codes[0], dtype=torch.float32, device=model.device)
    for name, block in zip(label_names, concepts.blocks):
        for dim in block:
            low, high = np.percentile(codes_fit[:, dim], [2, 98])
            walk = base.repeat(num_steps, 1)
            walk[:, dim] = torch.linspace(float(low), float(high), num_steps, device=model.device)
            rows.append(decode_mean(model, walk))
            row_labels.append(f"{name}\nz{dim}")
    plot_image_rows(rows, row_labels, run.file("core_walks.png"))
