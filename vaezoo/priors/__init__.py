"""Priors p(z): layers that return a tfd.Distribution over the latent."""

from vaezoo.priors.base import Prior
from vaezoo.priors.flow import FlowPrior
from vaezoo.priors.mixture import MixtureOfGaussians
from vaezoo.priors.pixelcnn import GatedPixelCNN, PixelCNNCodes, uniform_codes
from vaezoo.priors.standard_normal import StandardNormal
from vaezoo.priors.vamp import VampPrior
from vaezoo.registry import build

PRIORS = {
    "standard_normal": StandardNormal,
    "mixture": MixtureOfGaussians,
    "vamp": VampPrior,
    "flow": FlowPrior,
}


def get(name, latent_dim, **kwargs):
    """Build the prior registered under ``name`` for a ``latent_dim``-dimensional z."""
    return build("prior", name, PRIORS, latent_dim, **kwargs)


# GatedPixelCNN is not in PRIORS: it is a prior over a VQ-VAE's code grid (it needs the
# grid shape and the codebook size), built by that model, not a p(z) over latent_dim.
__all__ = ["PRIORS", "Prior", "StandardNormal", "MixtureOfGaussians", "VampPrior", "FlowPrior",
           "GatedPixelCNN", "PixelCNNCodes", "uniform_codes", "get"]
