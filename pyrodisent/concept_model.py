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

from typing import Dict, List, Sequence

import torch

from pyrodisent.data.batch import Batch
from pyrodisent.data.labels import LABELLED, LABEL_VALUES, LABELS
from pyrodisent.model import LatentVariableModel

#: the adaptive curriculum's running cross-entropy forgets with weight 1 − 1 / JOIN_WINDOW a step (about this many
#: steps' memory)
JOIN_WINDOW = 50

#: the log-probability given to padded classes (finite, so that sums and log-sum-exps stay finite)
IMPOSSIBLE = -1e9


class ConceptModel(LatentVariableModel):
    """Base of label-conditioned concept models.

    :param label_classes: C_i, the number of classes of each of the L labels (≥ 2 each).
    :param label_delays: a curriculum over the labels: the trainer step at which each label joins the model (one
        for all, or one per label; 0: from the start). Until then the model does not read the label; what that
        means for its prior and classifier is each model's (see :meth:`joined_labels`).
    :param join_below_cross_entropy: an adaptive curriculum on top of the delays (0: off): every waiting label
        joins as soon as the classifier's running cross-entropy of the labels already joined, per labelled point
        and label (nats, over about the last :data:`JOIN_WINDOW` steps), falls below this value — once those
        labels have left the majority rate's plateau, instead of at a fixed step. The delays stay the latest
        steps; labels that never leave the plateau change nothing.
    """

    batch_needs = frozenset({LABELS})

    def __init__(self, *args, label_classes: Sequence[int], label_delays: int | Sequence[int] = 0,
                 join_below_cross_entropy: float = 0.0, **kwargs):
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
        if not join_below_cross_entropy >= 0:
            raise ValueError(f"join_below_cross_entropy must be ≥ 0 nats (0: off), got {join_below_cross_entropy}")
        self.join_below_cross_entropy = float(join_below_cross_entropy)
        self._join_steps = list(self.label_delays)  # the delays, brought forward by the adaptive curriculum
        self.register_buffer("adaptive_join_step", torch.tensor(-1))  # the step it let the waiting labels join; -1: not
        # running sums of the joined labels' cross-entropy, of the labelled points it was summed over, and of steps
        self.register_buffer("running_cross_entropy", torch.zeros(3, dtype=torch.float64))

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
    def join_steps(self) -> List[int]:
        """The step at which each label joins: its delay, or earlier where the adaptive curriculum brought it
        forward."""
        return list(self._join_steps)

    def joined_labels(self) -> torch.Tensor | None:
        """(L,) 1 for the labels that have joined the model at this step (``label_delays``, brought forward by
        ``join_below_cross_entropy``), 0 for those still waiting; None once every label has joined."""
        if self._step >= max(self._join_steps):
            return None
        return torch.tensor([float(self._step >= d) for d in self._join_steps], device=self.device)

    def join_terms(self, cross_entropy: torch.Tensor, labelled: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per point (B,), detached, the training terms the adaptive curriculum reads once the objective has summed
        them over the batch and scaled them by N / B as its other terms: ``joined_cross_entropy``, the mean
        cross-entropy −log q(y_i | z) (``cross_entropy``, (B, L)) over the labels joined at this step on labelled
        points, 0 on the others, and ``labelled_points``, 1 on labelled points. Neither enters the loss."""
        with torch.no_grad():
            joined = self.joined_labels()
            per_point = (cross_entropy.mean(-1) if joined is None else
                         (cross_entropy * joined).sum(-1) / joined.sum().clamp(min=1))
            mask = labelled.to(per_point.dtype)
            return {"joined_cross_entropy": per_point * mask, "labelled_points": mask}

    def optional_state(self) -> Dict[str, torch.Tensor]:
        """The adaptive curriculum's state as a fresh model has it, what checkpoints from before it lack."""
        return {"adaptive_join_step": torch.tensor(-1), "running_cross_entropy": torch.zeros(3, dtype=torch.float64)}

    def after_step(self, batch: Batch, terms: Dict[str, torch.Tensor]) -> None:
        """The adaptive curriculum: update the running cross-entropy from this step's terms (summed over the ranks
        when data-parallel, so every rank decides alike) and let every waiting label join at the next step once it
        is below ``join_below_cross_entropy``."""
        waiting = min(self._join_steps) <= self._step < max(self._join_steps) - 1  # some read, some still to join
        if self.join_below_cross_entropy <= 0 or not waiting:
            return
        observed = [float(terms["joined_cross_entropy"]), float(terms["labelled_points"]), 1.0]
        decay = 1.0 - 1.0 / JOIN_WINDOW
        self.running_cross_entropy.mul_(decay).add_(torch.tensor(observed, dtype=torch.float64,
                                                                 device=self.running_cross_entropy.device))
        total, points, steps = self.running_cross_entropy.tolist()
        if steps >= JOIN_WINDOW / 2 and points > 0 and total < self.join_below_cross_entropy * points:
            self.adaptive_join_step.fill_(self._step + 1)
            self._join_steps = [min(d, self._step + 1) for d in self.label_delays]

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        state_dict = {**self.optional_state(), **state_dict}
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        step = int(self.adaptive_join_step)
        self._join_steps = [d if step < 0 else min(d, step) for d in self.label_delays]
        return result

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
