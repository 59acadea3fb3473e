"""Priors p(z): layers that return a tfd.Distribution over the latent."""

from vaezoo.priors.base import Prior
from vaezoo.priors.flow import FlowPrior
from vaezoo.priors.mixture import MixtureOfGaussians
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


__all__ = ["PRIORS", "Prior", "StandardNormal", "MixtureOfGaussians", "VampPrior", "FlowPrior",
           "get"]
