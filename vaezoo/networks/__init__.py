"""Encoder and decoder trunks."""

from vaezoo.networks.conv import conv_decoder, conv_encoder
from vaezoo.networks.mlp import mlp

__all__ = ["mlp", "conv_encoder", "conv_decoder"]
