"""Encoder and decoder trunks."""

from vaezoo.networks.conv import conv_decoder, conv_encoder
from vaezoo.networks.mlp import mlp, mlp_decoder

__all__ = ["mlp", "mlp_decoder", "conv_encoder", "conv_decoder"]
