"""Auxiliary objectives: networks a model trains beside SVI, each with its own loss and optimizer.

Adversarial and auxiliary networks (FactorVAE's discriminator, Kim & Mnih 2018, Alg. 2) are not part
of the ELBO: they are fitted by a loss of their own, one optimizer step after each SVI step. A model
declares them in :meth:`~pyrodisent.model.LatentVariableModel.auxiliary_objectives`; the trainer
leaves their parameters out of the SVI optimizer and builds, steps, checkpoints and resumes an Adam
for each.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Tuple

import torch


@dataclass
class AuxiliaryObjective:
    """One auxiliary network's training: its parameters, its loss and its Adam settings.

    :param name: names the optimizer's state in checkpoints (unique among a model's objectives).
    :param parameters: the parameters this loss trains (and the SVI optimizer does not).
    :param loss: ``loss(batch)`` → scalar tensor; with ``second_batch``, ``loss(batch, second_batch)``.
    :param second_batch: the loss also needs a second minibatch drawn from the data independently
        of ``batch`` (x' ~ p_data, as the permuted codes of FactorVAE's Alg. 2).
    :param lr, betas, weight_decay: the Adam settings.
    """

    name: str
    parameters: Sequence[torch.nn.Parameter]
    loss: Callable[..., torch.Tensor]
    second_batch: bool = False
    lr: float = 1e-4
    betas: Tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0

    def __post_init__(self):
        self.parameters = list(self.parameters)
        if not self.parameters:
            raise ValueError(f"auxiliary objective {self.name!r} has no parameters to train")
        if self.lr <= 0:
            raise ValueError(f"auxiliary objective {self.name!r}: lr must be positive, got {self.lr}")


class IndependentMinibatches:
    """Second minibatches x' ~ p_data, drawn independently of the training loader's (Kim & Mnih 2018,
    Alg. 2: "randomly sample a second minibatch").

    An endless stream of passes over the data, each a fresh permutation from its own generator cut
    into minibatches of ``batch_size`` distinct points (the last, incomplete one of a pass is dropped,
    so every minibatch has ``batch_size`` points). :meth:`state_dict` holds the generator's state at
    the start of the current pass and the position within it: a resumed run draws the same minibatches.
    Cost per minibatch: one gather of ``batch_size`` rows; one ``randperm`` per pass.

    :param dataset: an :class:`~pyrodisent.data.ArrayDataset` (``len`` and ``batch(index)``).
    :param batch_size: points per minibatch, at most ``len(dataset)``.
    :param generator: a CPU ``torch.Generator`` used by this stream only.
    """

    def __init__(self, dataset, batch_size: int, generator: torch.Generator):
        if not 1 <= batch_size <= len(dataset):
            raise ValueError(f"batch_size must be between 1 and the {len(dataset)} points of the data, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.generator = generator
        self.batches_per_pass = len(dataset) // self.batch_size
        self._pass_start_state = generator.get_state()
        self._order = None
        self._position = 0  # minibatches of the current pass already drawn

    def _new_pass(self) -> None:
        self._pass_start_state = self.generator.get_state()
        self._order = torch.randperm(len(self.dataset), generator=self.generator).to(self.dataset.x.device)
        self._position = 0

    def next(self):
        """The next minibatch: a :class:`~pyrodisent.data.Batch` of ``batch_size`` distinct points."""
        if self._order is None or self._position == self.batches_per_pass:
            self._new_pass()
        start = self._position * self.batch_size
        self._position += 1
        return self.dataset.batch(self._order[start:start + self.batch_size])

    def state_dict(self) -> dict:
        if self._order is None:  # nothing drawn yet: the next pass starts from the generator's state
            return {"pass_start": self.generator.get_state(), "position": None}
        return {"pass_start": self._pass_start_state, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["pass_start"])
        self._order = None
        if state["position"] is not None:
            self._new_pass()  # the same permutation as before the checkpoint
            self._position = int(state["position"])
