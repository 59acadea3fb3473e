"""Approximate posteriors q(z|x): encoder features -> tfd.Distribution."""

from vaezoo.posteriors.base import Posterior
from vaezoo.posteriors.gaussian import DiagonalGaussian
from vaezoo.posteriors.iaf import IAFPosterior
from vaezoo.registry import lookup

POSTERIORS = {
    "gaussian": DiagonalGaussian,
    "iaf": IAFPosterior,
}


def get(name, latent_dim, **kwargs):
    """Build the posterior registered under ``name``."""
    cls = lookup("posterior", name, POSTERIORS)
    try:
        return cls(latent_dim, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad posterior_kwargs for {name!r}: {e}") from None


__all__ = ["POSTERIORS", "Posterior", "DiagonalGaussian", "IAFPosterior", "get"]
