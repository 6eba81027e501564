"""β-TCVAE: isolating sources of disentanglement (Chen et al., NeurIPS 2018).

The ELBO decomposes into reconstruction, index-code mutual information, total correlation and
dimension-wise KL (Eq. 2); β-TCVAE weights only the total correlation by β (Eq. 4):

    E[log p(x|z)] − I_q(z; x) − β · TC(q(z)) − Σ_j KL(q(z_j) ‖ p(z_j)),

with q(z) and q(z_j) estimated by minibatch-weighted sampling (:class:`~pyrodisent.infer.DecomposedELBO`).
The prior is N(0, I).
"""
from __future__ import annotations

from pyrodisent.infer import DecomposedELBO
from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import MODELS


@MODELS.register("beta_tcvae")
class BetaTCVAE(LatentVariableModel):
    """β-TCVAE: the ELBO with the total correlation of q(z) weighted by β (minibatch-weighted sampling).

    :param tc_weight: β, the weight of the total correlation (6 is a common choice in the study).
    """

    def __init__(self, *args, tc_weight: float = 6.0, **kwargs):
        super().__init__(*args, **kwargs)
        if tc_weight < 0:
            raise ValueError(f"tc_weight must be ≥ 0, got {tc_weight}")
        self.tc_weight = float(tc_weight)

    def training_objective(self, num_particles: int = 1):
        if num_particles != 1:
            raise ValueError("β-TCVAE's minibatch-weighted estimator uses one sample per point")
        return DecomposedELBO(total_correlation_weight=self.tc_weight)
