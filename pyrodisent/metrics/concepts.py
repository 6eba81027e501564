"""Concept identification (issue #17): is each label's information in its own latent block, and does changing one
label in the model change that label only?

Codes are (N, K), labels (N, L) integer classes, blocks a list of L lists of latent dimensions (the model's core
block of each label).

- :func:`probe_accuracy`: held-out accuracy of a linear probe (sklearn ``LogisticRegression``) of one label from
  some latent dimensions.
- :func:`localisation`: per label, the probe's accuracy from the label's own block ("own") and from each other
  label's block and each style dimension on its own ("best other": the highest), and the
  **localisation score** = (own − best other) / (1 − majority), where majority is the test rate of the label's most
  frequent class (the accuracy of a constant guess). 1: the own block predicts the label perfectly and no other
  block does better than guessing; 0: some other block predicts it as well as its own; negative: better elsewhere.
  Two labels given the same block (β-VAE's probe blocks: a label no dimension predicts takes the first one) do not
  count as each other's "other": that would score a label at 0 because an unlearned label landed on its dimension.
- :func:`core_separation`: per label, the probe's accuracy from the whole core (every label's dimensions together:
  the block a model whose classifier reads the core as a whole, such as CLAP, says holds the labels) against the
  best single style dimension, normalised like localisation: (core − best style) / (1 − majority). Weaker than
  localisation — it asks whether the labels left the style, not whether each found its own dimensions.
- :func:`probe_blocks`: blocks for a model without them (β-VAE): each label gets the single latent dimension whose
  probe predicts it best on the training codes (the CCVAE's blocks are single dimensions too).
- :func:`intervention_success`: per label, the rate at which setting the label to another class in the codes,
  decoding and re-encoding flips the label's prediction to that class while every other label's prediction stays.
  :class:`ProbeConcepts` gives a model without a label-conditioned prior the same interface: its labels predicted by
  probes on their blocks, an intervention moves a label's block to the class's mean code on the training points.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression


def _check(codes: np.ndarray, labels: np.ndarray, what: str):
    codes, labels = np.asarray(codes, dtype=np.float64), np.asarray(labels)
    if codes.ndim != 2 or labels.ndim != 2 or len(codes) != len(labels):
        raise ValueError(f"{what}: expected codes (N, K) and labels (N, L) with the same N, got {codes.shape} and "
                         f"{labels.shape}")
    return codes, labels.astype(np.int64)


def _check_blocks(blocks: Sequence[Sequence[int]], num_labels: int, num_codes: int) -> List[List[int]]:
    blocks = [[int(k) for k in block] for block in blocks]
    if len(blocks) != num_labels or any(not block for block in blocks):
        raise ValueError(f"expected one non-empty block of latent dimensions per label ({num_labels}), got {blocks}")
    if any(k < 0 or k >= num_codes for block in blocks for k in block):
        raise ValueError(f"blocks {blocks} name latent dimensions outside 0..{num_codes - 1}")
    return blocks


def probe_accuracy(codes_train: np.ndarray, label_train: np.ndarray, codes_test: np.ndarray,
                   label_test: np.ndarray) -> float:
    """Held-out accuracy of a logistic regression (sklearn defaults, 1,000 iterations) of one label from codes
    (N, k); a label with one class in training is predicted as that class."""
    label_train = np.asarray(label_train)
    if len(np.unique(label_train)) < 2:
        return float(np.mean(np.asarray(label_test) == label_train[0]))
    probe = LogisticRegression(max_iter=1000).fit(codes_train, label_train)
    return float(probe.score(codes_test, label_test))


def majority_rate(label: np.ndarray) -> float:
    """The rate of the most frequent class: the accuracy of a constant guess."""
    return float(np.bincount(np.asarray(label, dtype=np.int64)).max() / len(label))


def lift_over_majority(accuracy, majority):
    """(accuracy − majority) / (1 − majority): 0 for guessing the commonest class, 1 for every image right, negative
    below the guess (elementwise; 0 where one class is everything)."""
    accuracy, majority = np.asarray(accuracy, dtype=float), np.asarray(majority, dtype=float)
    return np.where(majority < 1, (accuracy - majority) / np.maximum(1.0 - majority, 1e-12), 0.0)


def _probe_groups(codes_train: np.ndarray, label_train: np.ndarray, codes_test: np.ndarray, label_test: np.ndarray,
                  groups: Sequence[Sequence[int]]) -> List[float]:
    """Probe accuracy of one label from each group of latent dimensions."""
    return [probe_accuracy(codes_train[:, g], label_train, codes_test[:, g], label_test) for g in groups]


def localisation(codes_train: np.ndarray, labels_train: np.ndarray, codes_test: np.ndarray, labels_test: np.ndarray,
                 blocks: Sequence[Sequence[int]]) -> Dict[str, np.ndarray]:
    """Per label (arrays of length L): ``own`` (probe accuracy from the label's block), ``best_other`` (the best of
    the other labels' blocks and the style dimensions, each on its own; another label's block of the same
    dimensions is the label's own, not another), ``majority`` and ``localisation`` = (own − best_other) /
    (1 − majority) (see the module docstring)."""
    codes_train, labels_train = _check(codes_train, labels_train, "localisation (train)")
    codes_test, labels_test = _check(codes_test, labels_test, "localisation (test)")
    num_labels, num_codes = labels_train.shape[1], codes_train.shape[1]
    blocks = _check_blocks(blocks, num_labels, num_codes)
    in_blocks = {k for block in blocks for k in block}
    groups = blocks + [[k] for k in range(num_codes) if k not in in_blocks]
    own, best_other, majority = np.zeros(num_labels), np.zeros(num_labels), np.zeros(num_labels)
    for i in range(num_labels):
        scores = _probe_groups(codes_train, labels_train[:, i], codes_test, labels_test[:, i], groups)
        majority[i] = majority_rate(labels_test[:, i])
        own[i] = scores[i]
        others = [score for group, score in zip(groups, scores) if sorted(group) != sorted(groups[i])]
        best_other[i] = max(others, default=majority[i])
    score = (own - best_other) / np.maximum(1.0 - majority, 1e-12)
    return dict(own=own, best_other=best_other, majority=majority, localisation=score)


def core_separation(codes_train: np.ndarray, labels_train: np.ndarray, codes_test: np.ndarray,
                    labels_test: np.ndarray, core: Sequence[int]) -> Dict[str, np.ndarray]:
    """Per label (arrays of length L): ``core`` (probe accuracy from all ``core`` dimensions together),
    ``best_style`` (the best single dimension outside the core; the majority rate without style), ``majority`` and
    ``core_separation`` = (core − best_style) / (1 − majority) (see the module docstring)."""
    codes_train, labels_train = _check(codes_train, labels_train, "core_separation (train)")
    codes_test, labels_test = _check(codes_test, labels_test, "core_separation (test)")
    num_labels, num_codes = labels_train.shape[1], codes_train.shape[1]
    core = sorted({int(k) for k in core})
    if not core or core[0] < 0 or core[-1] >= num_codes:
        raise ValueError(f"core {core} must name some of the latent dimensions 0..{num_codes - 1}")
    style = [[k] for k in range(num_codes) if k not in core]
    in_core, best_style, majority = np.zeros(num_labels), np.zeros(num_labels), np.zeros(num_labels)
    for i in range(num_labels):
        majority[i] = majority_rate(labels_test[:, i])
        scores = _probe_groups(codes_train, labels_train[:, i], codes_test, labels_test[:, i], [core] + style)
        in_core[i], best_style[i] = scores[0], max(scores[1:], default=majority[i])
    score = (in_core - best_style) / np.maximum(1.0 - majority, 1e-12)
    return dict(core=in_core, best_style=best_style, majority=majority, core_separation=score)


def probe_blocks(codes_train: np.ndarray, labels_train: np.ndarray, validation_fraction: float = 0.3,
                 seed: int = 0) -> List[List[int]]:
    """For a model without core blocks: each label's block is the single latent dimension whose probe predicts it
    best, scored on a held-out ``validation_fraction`` of the training codes (so the test codes stay unseen)."""
    codes, labels = _check(codes_train, labels_train, "probe_blocks")
    order = np.random.default_rng(seed).permutation(len(codes))
    cut = int(round(len(codes) * (1 - validation_fraction)))
    fit, held = order[:cut], order[cut:]
    blocks = []
    for i in range(labels.shape[1]):
        scores = [probe_accuracy(codes[fit][:, [k]], labels[fit, i], codes[held][:, [k]], labels[held, i])
                  for k in range(codes.shape[1])]
        blocks.append([int(np.argmax(scores))])
    return blocks


class ProbeConcepts:
    """Concepts of a model without a label-conditioned prior, read by linear probes on its codes.

    :param blocks: each label's latent dimensions (e.g. from :func:`probe_blocks`).
    Fitted on training codes and labels: a probe per label on its block (:meth:`predict`), and each class's mean
    block (:meth:`intervene` moves a label's block there).
    """

    def __init__(self, codes_train: np.ndarray, labels_train: np.ndarray, blocks: Sequence[Sequence[int]]):
        codes, labels = _check(codes_train, labels_train, "ProbeConcepts")
        self.blocks = _check_blocks(blocks, labels.shape[1], codes.shape[1])
        self.core = sorted({k for block in self.blocks for k in block})
        self.probes, self.class_means = [], []
        for i, block in enumerate(self.blocks):
            classes = np.unique(labels[:, i])
            self.probes.append(LogisticRegression(max_iter=1000).fit(codes[:, block], labels[:, i])
                               if len(classes) > 1 else None)
            self.class_means.append({int(c): codes[labels[:, i] == c][:, block].mean(0) for c in classes})

    def predict(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.float64)
        columns = []
        for i, (block, probe) in enumerate(zip(self.blocks, self.probes)):
            only = next(iter(self.class_means[i]))
            columns.append(probe.predict(codes[:, block]) if probe is not None else np.full(len(codes), only))
        return np.stack(columns, 1).astype(np.int64)

    def intervene(self, codes: np.ndarray, label: int, value: int) -> np.ndarray:
        if value not in self.class_means[label]:
            raise ValueError(f"label {label} has no training point of class {value}; classes seen: "
                             f"{sorted(self.class_means[label])}")
        codes = np.array(codes, dtype=np.float64)
        codes[:, self.blocks[label]] = self.class_means[label][value]
        return codes


def intervention_success(codes: np.ndarray, num_classes: Sequence[int], predict: Callable[[np.ndarray], np.ndarray],
                         intervene: Callable[[np.ndarray, int, int], np.ndarray],
                         decode_encode: Callable[[np.ndarray], np.ndarray]) -> Dict[str, np.ndarray]:
    """Per label i (arrays of length L): for every point, the target class is the next one after the predicted class
    (c + 1 mod C_i); the codes with label i set to it (``intervene``) are decoded and re-encoded
    (``decode_encode``) and predicted again. ``flip``: the rate at which label i is predicted as the target;
    ``others_kept``: the rate at which every other label's prediction is unchanged; ``success``: both at once."""
    codes = np.asarray(codes, dtype=np.float64)
    before = np.asarray(predict(codes))
    num_labels = before.shape[1]
    if len(num_classes) != num_labels:
        raise ValueError(f"num_classes lists {len(num_classes)} labels, the predictions have {num_labels}")
    flip, kept, success = np.zeros(num_labels), np.zeros(num_labels), np.zeros(num_labels)
    for i, classes in enumerate(num_classes):
        target = (before[:, i] + 1) % classes
        changed = np.empty_like(codes)
        for value in range(classes):
            rows = target == value
            if rows.any():
                changed[rows] = intervene(codes[rows], i, value)
        after = np.asarray(predict(decode_encode(changed)))
        others = np.delete(after == before, i, axis=1).all(1)
        hit = after[:, i] == target
        flip[i], kept[i], success[i] = hit.mean(), others.mean(), (hit & others).mean()
    return dict(flip=flip, others_kept=kept, success=success)
