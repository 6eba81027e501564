"""Concept identification metrics on hand-made codes: localisation, probe blocks, interventions."""
import numpy as np
import pytest

from pyrodisent.metrics.concepts import (ProbeConcepts, core_separation, intervention_success, lift_over_majority,
                                         localisation, majority_rate, probe_accuracy, probe_blocks)


def hand_made(n=600, seed=0):
    """Label 0 binary in dimension 0, label 1 three-class in dimension 1, dimension 2 noise."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, 2, n), rng.integers(0, 3, n)], 1)
    codes = np.stack([3.0 * labels[:, 0], 3.0 * labels[:, 1], np.zeros(n)], 1) + 0.3 * rng.standard_normal((n, 3))
    return codes, labels


def test_probe_accuracy_and_majority():
    codes, labels = hand_made()
    assert probe_accuracy(codes[:400, [0]], labels[:400, 0], codes[400:, [0]], labels[400:, 0]) > 0.99
    assert probe_accuracy(codes[:400, [2]], labels[:400, 0], codes[400:, [2]], labels[400:, 0]) < 0.65
    assert majority_rate(np.array([0, 0, 1, 2])) == 0.5
    np.testing.assert_allclose(lift_over_majority([0.5, 1.0, 0.25, 0.9], [0.5, 0.5, 0.5, 1.0]), [0.0, 1.0, -0.5, 0.0])


def test_localisation_is_high_for_the_right_blocks_and_negative_for_swapped_ones():
    codes, labels = hand_made()
    right = localisation(codes[:400], labels[:400], codes[400:], labels[400:], [[0], [1]])
    assert (right["own"] > 0.99).all() and (right["localisation"] > 0.9).all()
    swapped = localisation(codes[:400], labels[:400], codes[400:], labels[400:], [[1], [0]])
    assert (swapped["localisation"] < -0.9).all()
    with pytest.raises(ValueError, match="one non-empty block of latent dimensions per label"):
        localisation(codes, labels, codes, labels, [[0]])


def test_a_label_spread_over_two_blocks_is_not_localised():
    codes, labels = hand_made()
    codes[:, 2] = codes[:, 0]  # label 0 also readable from the style dimension
    scores = localisation(codes[:400], labels[:400], codes[400:], labels[400:], [[0], [1]])
    assert abs(scores["localisation"][0]) < 0.05 and scores["localisation"][1] > 0.9


def test_a_block_another_label_shares_is_the_labels_own_not_another():
    codes, labels = hand_made()
    fit, test = slice(0, 400), slice(400, None)
    shared = localisation(codes[fit], labels[fit], codes[test], labels[test], [[0], [0]])
    assert shared["localisation"][0] > 0.9  # label 1's block is label 0's own dimension: not "another block"
    assert shared["localisation"][1] < -0.9  # label 1 sits in dimension 1, a style dimension here
    overlapping = localisation(codes[fit], labels[fit], codes[test], labels[test], [[0], [0, 1]])
    assert overlapping["localisation"][0] < 0.05  # a different block holding label 0's dimension still competes


def test_core_separation_credits_a_rotated_core_that_localisation_does_not():
    codes, labels = hand_made()
    rotated = codes.copy()  # the two labels mixed by a 45° rotation of the core (dimensions 0, 1)
    rotated[:, 0], rotated[:, 1] = codes[:, 0] + codes[:, 1], codes[:, 0] - codes[:, 1]
    fit, test = slice(0, 400), slice(400, None)
    separated = core_separation(rotated[fit], labels[fit], rotated[test], labels[test], core=[0, 1])
    assert (separated["core"] > 0.95).all() and (separated["core_separation"] > 0.9).all()
    local = localisation(rotated[fit], labels[fit], rotated[test], labels[test], [[0], [1]])
    assert local["localisation"].max() < 0.5  # no single dimension holds one label
    rotated[:, 2] = codes[:, 0]  # label 0 readable from the style too
    leaked = core_separation(rotated[fit], labels[fit], rotated[test], labels[test], core=[0, 1])
    assert abs(leaked["core_separation"][0]) < 0.05 and leaked["core_separation"][1] > 0.9
    no_style = core_separation(codes[fit], labels[fit], codes[test], labels[test], core=[0, 1, 2])
    np.testing.assert_allclose(no_style["best_style"], no_style["majority"])
    with pytest.raises(ValueError, match="must name some of the latent dimensions"):
        core_separation(codes, labels, codes, labels, core=[3])


def test_probe_blocks_find_each_labels_dimension():
    codes, labels = hand_made()
    assert probe_blocks(codes, labels) == [[0], [1]]
    assert probe_blocks(codes[:, [2, 1, 0]], labels) == [[2], [1]]


def test_intervention_success_is_one_for_separate_concepts_and_zero_when_they_leak():
    codes, labels = hand_made()
    concepts = ProbeConcepts(codes, labels, [[0], [1]])
    np.testing.assert_array_equal(concepts.predict(codes[:5]), labels[:5])
    clean = intervention_success(codes, (2, 3), concepts.predict, concepts.intervene, lambda c: c)
    np.testing.assert_allclose(clean["success"], 1.0)

    def leaky(c):  # decoding and re-encoding drags label 1's dimension along with label 0's
        return c + np.stack([np.zeros(len(c)), c[:, 0], np.zeros(len(c))], 1)

    leaked = intervention_success(codes, (2, 3), concepts.predict, concepts.intervene, leaky)
    assert leaked["flip"][0] == 1.0 and leaked["others_kept"][0] < 0.8  # label 1 moved wherever label 0 is 1
    assert leaked["success"][0] < 0.8
