"""Training recipes: several vaezoo models trained in stages, saved as one Keras model.

A recipe sits above the model families: it imports ``vaezoo.models`` and
``vaezoo.data``, and no model imports a recipe.

* ``m1_m2``: ``train_m1_m2`` and its result ``M1M2`` (Kingma et al. 2014, M2 on M1's
  latent space).
"""

from vaezoo.recipes.m1_m2 import M1M2, train_m1, train_m1_m2

__all__ = ["M1M2", "train_m1", "train_m1_m2"]
