"""The VAE families, one per module."""

from vaezoo.models.base import VAE
from vaezoo.models.conv_vae import ConvVAE
from vaezoo.models.mlp_vae import MLPVAE

__all__ = ["VAE", "MLPVAE", "ConvVAE"]
