"""The pyrodisent model zoo: one model per module; importing this package registers them all.

Build a model by name: ``pyrodisent.registry.MODELS.build("ivae", observation_shape=..., ...)``.
"""
from models.annealed_vae import AnnealedVAE
from models.beta_tcvae import BetaTCVAE
from models.cvae import CVAECorr, CVAEInd
from models.dip_vae import DIPVAE, DIPVAEII
from models.factor_vae import FactorVAE
from models.gp_vae import GPVAE
from models.ivae import IVAE
from models.svae_plus import MeanShiftVAE, SparseShiftVAE
from models.vae import VAE, BetaVAE

__all__ = ["AnnealedVAE", "BetaTCVAE", "CVAEInd", "CVAECorr", "DIPVAE", "DIPVAEII", "FactorVAE", "GPVAE", "IVAE", "VAE",
           "BetaVAE", "MeanShiftVAE", "SparseShiftVAE"]
