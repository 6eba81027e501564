"""The pyrodisent model zoo: one model per module; importing this package registers them all.

Build a model by name: ``pyrodisent.registry.MODELS.build("ivae", observation_shape=..., ...)``.
"""
from pyrodisent.zoo.ada_gvae import AdaGVAE
from pyrodisent.zoo.ada_ml_vae import AdaMLVAE
from pyrodisent.zoo.annealed_vae import AnnealedVAE
from pyrodisent.zoo.beta_tcvae import BetaTCVAE
from pyrodisent.zoo.ccvae import CCVAE
from pyrodisent.zoo.clap import CLAP
from pyrodisent.zoo.cvae import CVAECorr, CVAEInd
from pyrodisent.zoo.dip_vae import DIPVAE, DIPVAEII
from pyrodisent.zoo.factor_vae import FactorVAE
from pyrodisent.zoo.gp_vae import GPVAE
from pyrodisent.zoo.ivae import IVAE
from pyrodisent.zoo.latent_shift import LatentShiftVAE
from pyrodisent.zoo.svae_plus import MeanShiftVAE, SparseShiftVAE
from pyrodisent.zoo.topological_vae import TiltedVAE, TopologicalVAE
from pyrodisent.zoo.vae import VAE, BetaVAE

__all__ = ["AdaGVAE", "AdaMLVAE", "AnnealedVAE", "LatentShiftVAE", "BetaTCVAE", "CCVAE", "CLAP", "CVAEInd", "CVAECorr", "DIPVAE", "DIPVAEII", "FactorVAE", "GPVAE", "IVAE", "VAE",
           "BetaVAE", "MeanShiftVAE", "SparseShiftVAE", "TiltedVAE", "TopologicalVAE"]
