"""What label-conditioned concept models (CCVAE, CLAP) share: labels with known numbers of classes, a
"core" block of latent dimensions per label and "style" dimensions, a classifier of the labels from the codes,
and a prior that can be conditioned on labels (for interventions and conditional generation).

Labels come in a batch as ``batch["labels"]`` (long, (B, L)) with ``batch["labelled"]`` (bool, (B,)), see
:mod:`pyrodisent.data.labels`. Classes of labels with fewer than the most classes are padded: every per-class
tensor has a last axis of C_max = max_i C_i, and :attr:`ConceptModel.class_mask` marks the real classes.

The concept metrics (:mod:`pyrodisent.metrics.concepts`) read a model only through :meth:`core_blocks`,
:meth:`core_dims`, :meth:`label_log_probs` and :meth:`intervene`.
"""
from __future__ import annotations

from typing import List, Sequence

import torch

from pyrodisent.data.batch import Batch
from pyrodisent.data.labels import LABELLED, LABEL_VALUES, LABELS
from pyrodisent.model import LatentVariableModel

#: the log-probability given to padded classes (finite, so that sums and log-sum-exps stay finite)
IMPOSSIBLE = -1e9


class ConceptModel(LatentVariableModel):
    """Base of label-conditioned concept models.

    :param label_classes: C_i, the number of classes of each of the L labels (≥ 2 each).
    :param label_delays: a curriculum over the labels: the trainer step at which each label joins the model (one
        for all, or one per label; 0: from the start). Until then the model does not read the label; what that
        means for its prior and classifier is each model's (see :meth:`joined_labels`).
    """

    batch_needs = frozenset({LABELS})

    def __init__(self, *args, label_classes: Sequence[int], label_delays: int | Sequence[int] = 0, **kwargs):
        super().__init__(*args, **kwargs)
        classes = [int(c) for c in label_classes]
        if not classes or min(classes) < 2:
            raise ValueError(f"label_classes must list ≥ 1 label with ≥ 2 classes each, got {list(label_classes)}")
        self.label_classes = classes
        self.num_labels = len(classes)
        mask = torch.arange(max(classes))[None, :] < torch.tensor(classes)[:, None]
        self.register_buffer("class_mask", mask, persistent=False)  # (L, C_max)
        delays = [int(d) for d in torch.as_tensor(label_delays).flatten().tolist()]
        if len(delays) not in (1, self.num_labels) or min(delays) < 0:
            raise ValueError(f"label_delays: one step ≥ 0 or one per label ({self.num_labels} labels), got "
                             f"{label_delays}")
        self.label_delays = delays * self.num_labels if len(delays) == 1 else delays

    @property
    def max_classes(self) -> int:
        return max(self.label_classes)

    # ------------------------------------------------------------------ what a concept model says
    def core_blocks(self) -> List[List[int]]:
        """The latent dimensions holding each label's concept (one list per label)."""
        raise NotImplementedError

    def core_dims(self) -> List[int]:
        """The latent dimensions of the core, the block the classifier reads (default: every label's block)."""
        return sorted({k for block in self.core_blocks() for k in block})

    def label_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        """log q(y_i = c | z) of the model's classifier, shape (…, L, C_max) (padded classes: :data:`IMPOSSIBLE`)."""
        raise NotImplementedError

    def intervene(self, z: torch.Tensor, label: int, value: int) -> torch.Tensor:
        """Codes ``z`` (B, K) with label ``label`` set to class ``value`` in the label-conditioned prior, the style
        (and the other labels' blocks) kept."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared helpers
    def joined_labels(self) -> torch.Tensor | None:
        """(L,) 1 for the labels that have joined the model at this step (``label_delays``), 0 for those still
        waiting; None once every label has joined."""
        if self._step >= max(self.label_delays):
            return None
        return torch.tensor([float(self._step >= d) for d in self.label_delays], device=self.device)

    def masked_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Normalised log-probabilities over each label's real classes from raw logits (…, L, C_max)."""
        logits = logits.masked_fill(~self.class_mask, IMPOSSIBLE)
        return logits - torch.logsumexp(logits, -1, keepdim=True)

    @torch.no_grad()
    def predict_labels(self, z: torch.Tensor) -> torch.Tensor:
        """The classifier's most probable class of every label, (B, L) long."""
        return self.label_log_probs(z).argmax(-1)

    @staticmethod
    def labels_of(batch: Batch):
        """(labels (B, L) long, labelled (B,) bool) of a batch, with an error naming what is missing."""
        if LABEL_VALUES not in batch.extras or LABELLED not in batch.extras:
            raise KeyError(f"a concept model needs batch[{LABEL_VALUES!r}] and batch[{LABELLED!r}] (a labels protocol, "
                           f"e.g. 'concepts'); this batch carries: {sorted(batch.extras) or 'none'}")
        return batch[LABEL_VALUES].long(), batch[LABELLED].bool()


def one_hot_labels(labels: torch.Tensor, max_classes: int) -> torch.Tensor:
    """(B, L) class indices → (B, L, C_max) one-hot floats."""
    return torch.nn.functional.one_hot(labels.long(), max_classes).to(torch.get_default_dtype())


class ConceptObjective:
    """Base of a concept model's training loss ``(model, guide, batch) → (loss, terms)``, averaged over
    ``num_particles`` draws of z; subclasses write ``__call__`` with the model at ``self.model``."""

    def __init__(self, model: ConceptModel, num_particles: int = 1):
        if num_particles < 1:
            raise ValueError(f"num_particles must be ≥ 1, got {num_particles}")
        self.model, self.num_particles = model, num_particles
