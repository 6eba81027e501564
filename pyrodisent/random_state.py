"""Random states: every source of randomness in pyrodisent takes one explicitly (disentanglement_lib's
convention), as a numpy ``Generator``, a legacy ``RandomState`` or an integer seed.

A leaf module (it imports only numpy), so any module of the package can use it without an import cycle.
"""
from __future__ import annotations

from typing import Union

import numpy as np

RandomState = Union[np.random.Generator, np.random.RandomState, int]


def as_generator(random_state: RandomState) -> np.random.Generator:
    """A numpy ``Generator`` from a Generator, a legacy ``RandomState`` or an integer seed."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(int(random_state))
    raise TypeError(
        f"random_state must be a numpy Generator, RandomState or int seed, got {type(random_state).__name__}"
    )
