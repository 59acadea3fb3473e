"""The VAE families, one per module."""

from vaezoo.models.auxiliary_dgm import AuxiliaryDGM
from vaezoo.models.base import VAE
from vaezoo.models.conditional_vae import ConditionalVAE
from vaezoo.models.conv_vae import ConvVAE
from vaezoo.models.hierarchical_vae import HierarchicalVAE
from vaezoo.models.mlp_vae import MLPVAE
from vaezoo.models.semi_supervised_vae import SemiSupervisedVAE
from vaezoo.models.vq_vae import VQVAE

__all__ = ["VAE", "MLPVAE", "ConvVAE", "ConditionalVAE", "SemiSupervisedVAE",
           "HierarchicalVAE", "VQVAE", "AuxiliaryDGM"]
