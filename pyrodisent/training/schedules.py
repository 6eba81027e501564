"""Weight schedules a model reads at its training step (the trainer sets it: ``set_training_step``).

:func:`cyclical_linear` is cyclical annealing (Fu et al., NAACL 2019), as CLAP's official code uses it for its KL
weight β and its label weight: over ``length`` steps, ``cycles`` periods, each a linear ramp from 0 to 1 over its
first ``ratio`` and then 1. :class:`WarmupCyclicalSchedule` composes the phases CLAP trains in.
"""
from __future__ import annotations

from dataclasses import dataclass


def cyclical_linear(step: int, length: int, cycles: int = 1, ratio: float = 0.8) -> float:
    """The weight in [0, 1] at ``step`` (0-based) of ``length`` steps of ``cycles`` ramps; 1 from ``length`` on."""
    if length < 1 or cycles < 1 or not 0.0 < ratio <= 1.0:
        raise ValueError(f"cyclical_linear needs length ≥ 1, cycles ≥ 1 and ratio in (0, 1], got {length}, {cycles}, "
                         f"{ratio}")
    if step >= length:
        return 1.0
    period = length / cycles
    position = (step % period) / period
    return min(1.0, position / ratio)


@dataclass(frozen=True)
class WarmupCyclicalSchedule:
    """Two weights over ``total_steps`` (CLAP's ``cycle_params``, in steps rather than epochs):

    - the KL weight: 0 for the first ``start_fraction`` of the steps, then ``cycles`` linear ramps over the next
      ``ramp_fraction``, then 1;
    - the label weight: one linear ramp over the first ``start_fraction + ramp_fraction``, then 1.

    ``total_steps = 0`` switches both schedules off (both weights 1 throughout).
    """

    total_steps: int = 0
    start_fraction: float = 0.25
    ramp_fraction: float = 0.5
    cycles: int = 2
    ratio: float = 0.8

    def __post_init__(self):
        if self.total_steps < 0 or self.start_fraction < 0 or self.ramp_fraction < 0 or \
                self.start_fraction + self.ramp_fraction > 1:
            raise ValueError("schedule needs total_steps ≥ 0 and non-negative start and ramp fractions summing to ≤ 1; "
                             f"got {self.total_steps}, {self.start_fraction}, {self.ramp_fraction}")

    def kl_weight(self, step: int) -> float:
        if self.total_steps == 0:
            return 1.0
        start = int(round(self.start_fraction * self.total_steps))
        ramp = int(round(self.ramp_fraction * self.total_steps))
        if step < start:
            return 0.0
        return cyclical_linear(step - start, ramp, self.cycles, self.ratio) if ramp > 0 else 1.0

    def label_weight(self, step: int) -> float:
        if self.total_steps == 0:
            return 1.0
        length = int(round((self.start_fraction + self.ramp_fraction) * self.total_steps))
        return cyclical_linear(step, length, 1, self.ratio) if length > 0 else 1.0
