"""Likelihoods p(x|z): decoder parameters -> tfd.Distribution over images."""

from vaezoo.likelihoods.base import Likelihood
from vaezoo.likelihoods.bernoulli import Bernoulli
from vaezoo.likelihoods.discretized_logistic import DiscretizedLogistic, DiscretizedLogisticMixture
from vaezoo.likelihoods.gaussian import Gaussian, GaussianHeteroscedastic, GaussianPixelwise
from vaezoo.registry import build

LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "gaussian_pixelwise": GaussianPixelwise,
    "gaussian_heteroscedastic": GaussianHeteroscedastic,
    "discretized_logistic": DiscretizedLogistic,
    "discretized_logistic_mixture": DiscretizedLogisticMixture,
}


def get(name, **kwargs):
    """Build the likelihood registered under ``name``."""
    return build("likelihood", name, LIKELIHOODS, **kwargs)


__all__ = ["LIKELIHOODS", "Likelihood", "Bernoulli", "Gaussian", "GaussianPixelwise",
           "GaussianHeteroscedastic", "DiscretizedLogistic", "DiscretizedLogisticMixture", "get"]
