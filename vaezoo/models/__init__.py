"""The VAE families, one per module."""

from vaezoo.models.auxiliary_dgm import AuxiliaryDGM
from vaezoo.models.base import VAE
from vaezoo.models.beta_tc_vae import BetaTCVAE
from vaezoo.models.beta_vae import BetaVAE
from vaezoo.models.conditional_vae import ConditionalVAE
from vaezoo.models.conv_hierarchical_vae import ConvHierarchicalVAE
from vaezoo.models.conv_vae import ConvVAE
from vaezoo.models.dip_vae import DIPVAE
from vaezoo.models.factor_vae import FactorVAE
from vaezoo.models.hierarchical_vae import HierarchicalVAE
from vaezoo.models.info_vae import InfoVAE
from vaezoo.models.mlp_vae import MLPVAE
from vaezoo.models.semi_supervised_vae import SemiSupervisedVAE
from vaezoo.models.vq_vae import VQVAE
from vaezoo.models.wae import WAE

__all__ = ["VAE", "MLPVAE", "ConvVAE", "ConditionalVAE", "SemiSupervisedVAE",
           "HierarchicalVAE", "VQVAE", "AuxiliaryDGM", "BetaVAE", "BetaTCVAE", "DIPVAE",
           "FactorVAE", "InfoVAE", "WAE", "ConvHierarchicalVAE"]
