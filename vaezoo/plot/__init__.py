"""Pictures of what a VAE does: samples, reconstructions, latent-space views, curves.

Every function takes a model (any ``vaezoo.VAE``) and returns a
``matplotlib.figure.Figure``; with ``path=`` it also saves it there, in the format
of the file's extension (``check_image_path``: .png, .pdf, .svg, .jpg, ...). The
figures are built on the non-interactive Agg canvas and never shown, so the
package works on headless machines and inside tests; in a notebook, a returned
figure displays itself. Nothing goes through ``pyplot``, so there is no figure
to close and the user's pyplot backend is untouched.

What is drawn is the *mean* of p(x|z): pixel probabilities for a Bernoulli
decoder, the mean gray level for a Gaussian one (clipped to [0, 1] for display).

One module per kind of figure:

================  ==========================================================
``grid``          tiling images, the figure, saving (``tile``, ``check_image_path``)
``samples``       ``sample_grid``, ``conditional_grid``, ``manifold``
``reconstructions``  ``reconstructions``
``latents``       ``interpolation``, ``traversal``, ``latent_scatter``
``curves``        ``training_curves``
``inputs``        a batch in any format -> the model's x and condition y
``marginals``     the prior's per-dimension quantiles, mean and stddev
``codes``         ``code_usage`` of a discrete latent (VQ-VAE); ``discrete_latent``
================  ==========================================================

The latent-space views (interpolation, traversal, manifold, latent scatter,
prior marginals) need a continuous latent; given a model with a discrete one
(a ``VQVAE``'s code grid), they raise a ValueError naming a picture that works
(``code_usage``, ``reconstructions``, ``sample_grid``).

Example:
  >>> model = vaezoo.load("mlp_vae_fashion_mnist")
  >>> vaezoo.plot.sample_grid(model, n=64, seed=0, path="samples.png")
  >>> images = vaezoo.data.load_arrays("fashion_mnist", "test")["image"][:16]
  >>> vaezoo.plot.reconstructions(model, images, path="reconstructions.png")
"""

from vaezoo.plot.codes import code_usage, discrete_latent
from vaezoo.plot.curves import CURVE_ORDER, training_curves
from vaezoo.plot.grid import DEFAULT_CELL, DEFAULT_DPI, check_image_path, image_formats, tile
from vaezoo.plot.latents import (INTERPOLATIONS, interpolate_codes, interpolation, kl_order,
                                 latent_scatter, pca_2d, traversal)
from vaezoo.plot.marginals import prior_marginals
from vaezoo.plot.reconstructions import reconstruction_rows, reconstructions
from vaezoo.plot.samples import conditional_grid, manifold, sample_grid, sample_rows

__all__ = [
    "sample_grid",
    "reconstructions",
    "interpolation",
    "traversal",
    "manifold",
    "latent_scatter",
    "conditional_grid",
    "code_usage",
    "training_curves",
    "tile",
    "check_image_path",
    "image_formats",
    "sample_rows",
    "reconstruction_rows",
    "interpolate_codes",
    "kl_order",
    "pca_2d",
    "prior_marginals",
    "discrete_latent",
    "INTERPOLATIONS",
    "CURVE_ORDER",
    "DEFAULT_CELL",
    "DEFAULT_DPI",
]
