"""Fully connected trunks, independent of the image shape."""

import keras


def mlp(hidden_units, activation="relu", name=None):
    """A stack of Dense layers: [..., n] -> [..., hidden_units[-1]].

    Args:
      hidden_units: sizes of the hidden layers, e.g. (500, 500).
      activation: any Keras activation name.
    """
    layers = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
    return keras.Sequential(layers, name=name)
