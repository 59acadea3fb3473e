"""vaezoo: variational autoencoders for Keras 3 on TensorFlow Probability.

The public API is re-exported here lazily, so ``import vaezoo`` stays cheap
until a model or TensorFlow is actually needed.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "VAE": "vaezoo.models",
    "MLPVAE": "vaezoo.models",
    "ConvVAE": "vaezoo.models",
    "ConditionalVAE": "vaezoo.models",
    "SemiSupervisedVAE": "vaezoo.models",
    "HierarchicalVAE": "vaezoo.models",
    "list_models": "vaezoo.zoo",
    "build": "vaezoo.zoo",
    "load": "vaezoo.zoo",
    "train": "vaezoo.training",
    "ImageLogger": "vaezoo.callbacks",
    "VampPrior": "vaezoo.priors",
    "FlowPrior": "vaezoo.priors",
    "IAFPosterior": "vaezoo.posteriors",
    "DiscretizedLogistic": "vaezoo.likelihoods",
    "DiscretizedLogisticMixture": "vaezoo.likelihoods",
}
_SUBMODULES = ("data", "evaluation", "objectives", "optimizers", "priors", "posteriors",
               "likelihoods", "networks", "models", "zoo", "plot", "callbacks", "preprocessing",
               "training", "config", "validation", "distribute")


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"vaezoo.{name}")
    raise AttributeError(f"module 'vaezoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))


__all__ = list(_EXPORTS)
