import numpy as np

from pyrodisent.data.ground_truth import GroundTruthData, as_generator
from pyrodisent.metrics import disentanglement_metrics


class Grid(GroundTruthData):
    """Three discrete factors; observations are the factors plus small noise (an ideal encoder is the identity)."""

    factor_names = ("a", "b", "c")

    @property
    def factor_sizes(self):
        return (4, 5, 3)

    @property
    def observation_shape(self):
        return (3,)

    def sample_factors(self, num, random_state):
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, s, num) for s in self.factor_sizes], 1)

    def sample_observations_from_factors(self, factors, random_state):
        rng = as_generator(random_state)
        return (factors + 0.05 * rng.standard_normal(factors.shape)).astype(np.float32)


def test_identity_representation_scores_high_and_noise_low():
    keys = {"mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "modularity",
            "explicitness", "irs", "beta_vae_score", "factor_vae_score"}
    small = dict(num_train=600, num_test=300, num_votes_train=200, num_votes_eval=100)
    good = disentanglement_metrics(Grid(), lambda x: x, 0, **small)
    rng = np.random.default_rng(1)
    bad = disentanglement_metrics(Grid(), lambda x: rng.standard_normal((len(x), 3)), 0, **small)
    assert set(good) == keys == set(bad)
    for key in ("mig", "dci_disentanglement", "factor_vae_score", "beta_vae_score"):
        assert good[key] > 0.8, key
        assert bad[key] < good[key] - 0.3, key
