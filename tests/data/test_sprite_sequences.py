import numpy as np
import pytest
import torch

from pyrodisent.data import SpriteSequences
from pyrodisent.data.sprite_sequences import OBSERVED_MASK, reflect
from pyrodisent.registry import DATASETS


def test_sequences_have_per_frame_factors_random_walks_and_mnar_missingness():
    source = SpriteSequences(num_frames=6, image_size=16, seed=3)
    data = source.sample(200)
    assert data.complete.shape == (200, 6, 1, 16, 16) and data.factors.shape == (200, 6, 5)
    assert set(np.unique(data.complete)) <= {0.0, 1.0}
    # shape and scale fixed within a sequence; orientation and position move within their ranges
    assert (data.factors[:, :, :2] == data.factors[:, :1, :2]).all()
    assert (np.abs(data.factors[..., 2]) <= np.pi / 4 + 1e-9).all()
    assert ((data.factors[..., 3:] >= 0) & (data.factors[..., 3:] <= 1)).all()
    assert np.abs(np.diff(data.factors[..., 3:], axis=1)).mean() > 0.01
    foreground = data.complete > 0.5
    missing = ~data.observed_mask
    assert abs(missing[foreground].mean() - 0.9) < 0.03 and abs(missing[~foreground].mean() - 0.6) < 0.01
    np.testing.assert_array_equal(data.masked[missing], 0)
    assert data.labels.shape == (200,) and set(data.labels) == {0, 1, 2}
    # the frames are the renderer's images of the factors
    np.testing.assert_array_equal(source.sample_observations_from_factors(data.factors[:3]), data.complete[:3])


def test_sampling_is_reproducible_and_training_sets_carry_the_mask():
    source = DATASETS.build("sprite_sequences", num_frames=4, image_size=16)
    a, b = source.sample(5, 1), source.sample(5, 1)
    np.testing.assert_array_equal(a.complete, b.complete)
    np.testing.assert_array_equal(a.observed_mask, b.observed_mask)
    sequences = a.sequences()
    assert sequences.observation_shape == (4, 1, 16, 16) and sequences.extras[OBSERVED_MASK].dtype == torch.bool
    frames = a.frames()
    assert len(frames) == 20 and frames.observation_shape == (1, 16, 16) and frames.factors.shape == (20, 5)
    assert source.observation_shape == (4, 1, 16, 16) and len(source.training_set(3)) == 3


def test_reflect_folds_into_the_interval():
    np.testing.assert_allclose(reflect(np.array([-0.25, 0.5, 1.25, 2.5]), 0.0, 1.0), [0.25, 0.5, 0.75, 0.5])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="missing_foreground"):
        SpriteSequences(missing_foreground=1.0)
    with pytest.raises(ValueError, match="scale_range"):
        SpriteSequences(scale_range=(0.5, 1.2))
    with pytest.raises(ValueError, match=r"\(N, T, 5\)"):
        SpriteSequences().sample_observations_from_factors(np.zeros((3, 5)))
