"""Fully connected trunks, independent of the image shape."""

import keras


def mlp(hidden_units, activation="relu", name=None, gated=False):
    """A stack of Dense layers: [..., n] -> [..., hidden_units[-1]].

    Args:
      hidden_units: sizes of the hidden layers, e.g. (500, 500).
      activation: any Keras activation name.
      gated: gated dense units instead (Dauphin et al. 2017; Tomczak & Welling 2018's
        GatedDense): h <- activation(W_h h + b_h) * sigmoid(W_g h + b_g), one Dense
        layer of 2u units per hidden layer (``vaezoo.networks.blocks.GatedActivation``).
    """
    if gated:
        from vaezoo.networks.blocks import GatedActivation  # why: blocks builds on conv trunks
        layers = [layer for u in hidden_units
                  for layer in (keras.layers.Dense(2 * u), GatedActivation(activation))]
    else:
        layers = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
    return keras.Sequential(layers, name=name)


def mlp_decoder(image_shape, out_channels, hidden_units, activation="relu", name="decoder",
                gated=False):
    """[..., latent] -> [..., H, W, out_channels]: the MLP of ``hidden_units`` reversed,
    then a linear layer reshaped to the image grid (the mirror of an MLP encoder)."""
    height, width, _ = image_shape
    return keras.Sequential([
        mlp(tuple(reversed(hidden_units)), activation, gated=gated),
        keras.layers.Dense(height * width * out_channels),
        keras.layers.Reshape((height, width, out_channels)),
    ], name=name)
