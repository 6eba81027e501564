"""Labels as functions of ground-truth factors (issue #17): the supervision of concept models.

A label is a rule over one factor of a ground-truth dataset (:class:`~pyrodisent.data.ground_truth.GroundTruthData`):

- :class:`Membership`: binary, 1 when the factor's grid index is in a set ("shape is heart");
- :class:`Threshold`: binary, 1 when the factor's *position on its grid* t ≥ ``at`` ("scale in the upper half");
- :class:`Bins`: multi-class, the bin of t among ``edges`` ("posX in the left / middle / right third");
- :class:`Arc`: binary, 1 when a periodic factor's t lies on the arc [low, high) of the circle ("hue in the
  red half": low > high wraps through 0).

The position on the grid is t = index / (size − 1) in [0, 1] (for a periodic factor, index / size in [0, 1)), so
one rule means the same on a full and a small grid of the same dataset. A :class:`LabelSet` is a tuple of rules;
:data:`LABEL_SETS` holds one per dataset, each with two labels that share a factor (so a concept model must keep
one label's concept out of the other's block). :func:`labelled_mask` picks which points are labelled.

In a batch, labels travel as ``batch["labels"]`` (long, (B, L)) and ``batch["labelled"]`` (bool, (B,)); the
label values of unlabelled points are kept (evaluation uses them) and a model must read them only where
``labelled`` is true.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.random_state import RandomState, as_generator

#: the batch field of label supervision (a model with it in ``batch_needs`` needs a labels protocol)
LABELS = "labels"
#: the ``extras`` keys: the label values (long, (N, L)) and whether a point's labels may be read (bool, (N,))
LABEL_VALUES = "labels"
LABELLED = "labelled"


def _factor(dataset: GroundTruthData, name: str) -> int:
    if name not in dataset.factor_names:
        raise ValueError(f"{type(dataset).__name__} has no factor {name!r}; its factors: {list(dataset.factor_names)}")
    return dataset.factor_names.index(name)


def grid_position(dataset: GroundTruthData, name: str, factors: np.ndarray, periodic: bool = False) -> np.ndarray:
    """t in [0, 1] of factor ``name`` for factor indices ``factors`` (N, F): index / (size − 1), or index / size
    for a periodic factor."""
    j = _factor(dataset, name)
    size = dataset.factor_sizes[j]
    if size is None:
        raise ValueError(f"factor {name!r} of {type(dataset).__name__} is continuous; label rules need a factor grid")
    index = np.asarray(factors)[:, j].astype(np.float64)
    return index / size if periodic else index / max(size - 1, 1)


@dataclass(frozen=True)
class Membership:
    """Binary: 1 when factor ``factor``'s grid index is one of ``values``."""

    name: str
    factor: str
    values: Tuple[int, ...]

    num_classes = 2

    def __call__(self, dataset: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        j = _factor(dataset, self.factor)
        return np.isin(np.asarray(factors)[:, j], self.values).astype(np.int64)


@dataclass(frozen=True)
class Threshold:
    """Binary: 1 when the factor's grid position t ≥ ``at``."""

    name: str
    factor: str
    at: float

    num_classes = 2

    def __call__(self, dataset: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        return (grid_position(dataset, self.factor, factors) >= self.at).astype(np.int64)


@dataclass(frozen=True)
class Bins:
    """Multi-class: the number of ``edges`` (increasing, in (0, 1)) at or below the factor's grid position t."""

    name: str
    factor: str
    edges: Tuple[float, ...]

    def __post_init__(self):
        if not self.edges or list(self.edges) != sorted(self.edges):
            raise ValueError(f"label {self.name!r}: edges must be a non-empty increasing sequence, got {self.edges}")

    @property
    def num_classes(self) -> int:
        return len(self.edges) + 1

    def __call__(self, dataset: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.edges), grid_position(dataset, self.factor, factors),
                               side="right").astype(np.int64)


@dataclass(frozen=True)
class Arc:
    """Binary, for a periodic factor: 1 when t (index / size) is on the arc [low, high); low > high wraps through 0."""

    name: str
    factor: str
    low: float
    high: float

    num_classes = 2

    def __call__(self, dataset: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        t = grid_position(dataset, self.factor, factors, periodic=True)
        inside = (t >= self.low) & (t < self.high) if self.low <= self.high else (t >= self.low) | (t < self.high)
        return inside.astype(np.int64)


@dataclass(frozen=True)
class LabelSet:
    """Labels of one dataset: ``rules`` in order; :meth:`__call__` gives their values, (N, L) long."""

    rules: Tuple[object, ...]

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    @property
    def num_classes(self) -> Tuple[int, ...]:
        return tuple(int(rule.num_classes) for rule in self.rules)

    @property
    def factors(self) -> Tuple[str, ...]:
        """The factor each label is a function of."""
        return tuple(rule.factor for rule in self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __call__(self, dataset: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != dataset.num_factors:
            raise ValueError(f"factors must have shape (N, {dataset.num_factors}), got {factors.shape}")
        return np.stack([rule(dataset, factors) for rule in self.rules], axis=1)


#: one label set per dataset (by registered name); each has two labels over one factor
LABEL_SETS: Dict[str, LabelSet] = {
    "dsprites_procedural": LabelSet((
        Membership("heart", "shape", (2,)),
        Membership("square", "shape", (0,)),          # shares shape with "heart"
        Threshold("large", "scale", 0.5),
        Bins("horizontal_third", "posX", (1 / 3, 2 / 3)),
    )),
    "circular_sprites": LabelSet((
        Membership("arrow", "shape", (0,)),
        Arc("red", "hue", 0.75, 0.25),                # hue within 90° of red
        Bins("hue_third", "hue", (1 / 3, 2 / 3)),     # shares hue with "red"
        Threshold("large", "scale", 0.5),
    )),
    "shapes3d": LabelSet((
        Membership("sphere", "shape", (2,)),
        Membership("cube", "shape", (0,)),            # shares shape with "sphere"
        Threshold("large", "scale", 0.5),
        Arc("red_object", "object_hue", 0.75, 0.25),
    )),
}
LABEL_SETS["dsprites"] = LABEL_SETS["dsprites_procedural"]


def label_set(dataset_name: str, names: Sequence[str] = ()) -> LabelSet:
    """The label set of a dataset, or the labels ``names`` of it (in that order)."""
    if dataset_name not in LABEL_SETS:
        raise ValueError(f"no label set for dataset {dataset_name!r}; datasets with labels: {sorted(LABEL_SETS)}")
    full = LABEL_SETS[dataset_name]
    if not names:
        return full
    by_name = {rule.name: rule for rule in full.rules}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"dataset {dataset_name!r} has no labels {unknown}; its labels: {list(full.names)}")
    return LabelSet(tuple(by_name[name] for name in names))


def labelled_mask(num: int, fraction: float, random_state: RandomState) -> np.ndarray:
    """Which of ``num`` points are labelled: exactly round(fraction · num) of them (at least one when fraction > 0),
    chosen uniformly with ``random_state`` (an explicit seed or generator), bool (num,)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"labelled fraction must be in [0, 1], got {fraction}")
    count = int(round(fraction * num))
    if fraction > 0:
        count = max(count, 1)
    mask = np.zeros(num, dtype=bool)
    mask[as_generator(random_state).permutation(num)[:count]] = True
    return mask


def labelled_dataset(images, dataset: GroundTruthData, labels: LabelSet, fraction: float, random_state: RandomState):
    """``images`` (an :class:`~pyrodisent.data.arrays.ArrayDataset` with factors) with the extras ``labels`` (the
    values of ``labels`` for every point) and ``labelled`` (:func:`labelled_mask` with ``fraction``)."""
    from pyrodisent.data.arrays import ArrayDataset

    if images.factors is None:
        raise ValueError("labelled_dataset needs the images' true factors (ArrayDataset.factors is None)")
    values = labels(dataset, images.factors.numpy())
    mask = labelled_mask(len(images), fraction, random_state)
    return ArrayDataset(images.x, u=images.u, factors=images.factors,
                        extras={**images.extras, LABEL_VALUES: values, LABELLED: mask})
