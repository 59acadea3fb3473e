"""Approximate posteriors q(z|x): encoder features -> tfd.Distribution."""

from vaezoo.posteriors.base import Posterior
from vaezoo.posteriors.gaussian import DiagonalGaussian
from vaezoo.posteriors.iaf import IAFPosterior
from vaezoo.registry import build

POSTERIORS = {
    "gaussian": DiagonalGaussian,
    "iaf": IAFPosterior,
}


def get(name, latent_dim, **kwargs):
    """Build the posterior registered under ``name``."""
    return build("posterior", name, POSTERIORS, latent_dim, **kwargs)


__all__ = ["POSTERIORS", "Posterior", "DiagonalGaussian", "IAFPosterior", "get"]
