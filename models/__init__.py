"""The pyrodisent model zoo: one model per module; importing this package registers them all.

Build a model by name: ``pyrodisent.registry.MODELS.build("ivae", observation_shape=..., ...)``.
"""
from models.ivae import IVAE
from models.svae_plus import MeanShiftVAE, SparseShiftVAE
from models.vae import VAE, BetaVAE

__all__ = ["IVAE", "VAE", "BetaVAE", "MeanShiftVAE", "SparseShiftVAE"]
