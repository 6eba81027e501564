"""Labels as functions of ground-truth factors: rules on hand-made factors, label sets, the labelled mask."""
import numpy as np
import pytest

from pyrodisent.data.circular_sprites import CircularSprites
from pyrodisent.data.dsprites import ProceduralDSprites
from pyrodisent.data.labels import (LABEL_SETS, LABELLED, LABEL_VALUES, Arc, Bins, Membership, Threshold, label_set,
                                    labelled_dataset, labelled_mask)

FULL = ProceduralDSprites(grid="full")    # sizes (3, 6, 40, 32, 32)
SMALL = ProceduralDSprites(grid="small")  # sizes (3, 2, 4, 8, 8)


def test_rules_on_hand_made_factors():
    factors = np.array([[2, 0, 0, 0, 31],
                        [0, 3, 0, 10, 0],
                        [1, 5, 0, 21, 0],
                        [2, 2, 0, 11, 0]])
    assert Membership("heart", "shape", (2,))(FULL, factors).tolist() == [1, 0, 0, 1]
    assert Membership("not_ellipse", "shape", (0, 2))(FULL, factors).tolist() == [1, 1, 0, 1]
    # scale t = index / 5: 0, 0.6, 1, 0.4
    assert Threshold("large", "scale", 0.5)(FULL, factors).tolist() == [0, 1, 1, 0]
    # posX t = index / 31: 0, 0.32, 0.68, 0.35
    assert Bins("third", "posX", (1 / 3, 2 / 3))(FULL, factors).tolist() == [0, 0, 2, 1]
    assert Bins("third", "posX", (1 / 3, 2 / 3)).num_classes == 3


def test_a_rule_means_the_same_on_the_small_grid():
    small = np.array([[0, 0, 0, 0, 0], [0, 1, 0, 7, 0], [0, 1, 0, 3, 0]])
    assert Threshold("large", "scale", 0.5)(SMALL, small).tolist() == [0, 1, 1]
    assert Bins("third", "posX", (1 / 3, 2 / 3))(SMALL, small).tolist() == [0, 2, 1]  # 3/7 is the middle third


def test_arc_wraps_through_zero():
    dataset = CircularSprites(grid="full")  # hue: 24 values on the circle
    hue = np.array([0, 5, 6, 12, 17, 18, 23])
    factors = np.zeros((len(hue), dataset.num_factors), dtype=np.int64)
    factors[:, dataset.factor_names.index("hue")] = hue
    # t = hue / 24: red half is t ≥ 0.75 or t < 0.25
    assert Arc("red", "hue", 0.75, 0.25)(dataset, factors).tolist() == [1, 1, 0, 0, 0, 1, 1]
    assert Arc("blue", "hue", 0.25, 0.75)(dataset, factors).tolist() == [0, 0, 1, 1, 1, 0, 0]


def test_every_label_set_has_two_labels_sharing_a_factor_and_varies_on_its_dataset():
    for name, labels in LABEL_SETS.items():
        assert len(set(labels.factors)) < len(labels), name
    for dataset, name in ((SMALL, "dsprites_procedural"), (CircularSprites(grid="small"), "circular_sprites")):
        labels = label_set(name)
        values = labels(dataset, dataset.sample_factors(500, np.random.default_rng(0)))
        assert values.shape == (500, len(labels))
        for column, classes in zip(values.T, labels.num_classes):
            assert set(np.unique(column)) == set(range(classes))


def test_label_set_selects_by_name_and_names_what_is_wrong():
    assert label_set("dsprites_procedural", ["large", "heart"]).names == ("large", "heart")
    with pytest.raises(ValueError, match="no labels \\['round'\\]; its labels"):
        label_set("dsprites_procedural", ["round"])
    with pytest.raises(ValueError, match="no label set for dataset 'mnist'"):
        label_set("mnist")
    with pytest.raises(ValueError, match="has no factor 'colour'"):
        Membership("red", "colour", (0,))(SMALL, np.zeros((1, 5), dtype=np.int64))


def test_labelled_mask_has_the_fraction_and_depends_only_on_the_seed():
    mask = labelled_mask(1000, 0.1, 3)
    assert mask.sum() == 100 and mask.dtype == bool
    assert np.array_equal(mask, labelled_mask(1000, 0.1, 3))
    assert not np.array_equal(mask, labelled_mask(1000, 0.1, 4))
    assert labelled_mask(10, 1.0, 0).all() and labelled_mask(10, 0.01, 0).sum() == 1
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        labelled_mask(10, 1.5, 0)


def test_labelled_dataset_carries_labels_and_mask():
    images = SMALL.training_set(50, np.random.default_rng(0))
    data = labelled_dataset(images, SMALL, label_set("dsprites_procedural"), 0.2, 0)
    assert data.extras[LABEL_VALUES].shape == (50, 4) and int(data.extras[LABELLED].sum()) == 10
    batch = data.batch(__import__("torch").arange(5))
    assert batch["labels"].dtype.is_floating_point is False
