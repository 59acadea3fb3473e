"""Priors p(z): layers that return a tfd.Distribution over the latent."""

from vaezoo.priors.base import Prior
from vaezoo.priors.flow import FlowPrior
from vaezoo.priors.mixture import MixtureOfGaussians
from vaezoo.priors.standard_normal import StandardNormal
from vaezoo.priors.vamp import VampPrior
from vaezoo.registry import lookup

PRIORS = {
    "standard_normal": StandardNormal,
    "mixture": MixtureOfGaussians,
    "vamp": VampPrior,
    "flow": FlowPrior,
}


def get(name, latent_dim, **kwargs):
    """Build the prior registered under ``name`` for a ``latent_dim``-dimensional z."""
    cls = lookup("prior", name, PRIORS)
    try:
        return cls(latent_dim, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad prior_kwargs for {name!r}: {e}") from None


__all__ = ["PRIORS", "Prior", "StandardNormal", "MixtureOfGaussians", "VampPrior", "FlowPrior",
           "get"]
