"""vaezoo: variational autoencoders for Keras 3 on TensorFlow Probability.

The public API is re-exported here lazily, so ``import vaezoo`` stays cheap
(the CLI answers ``--help`` without importing TensorFlow) until a model or
TensorFlow is actually needed.

Keras reads a ``.keras`` file's classes only from its registry, which
``vaezoo.models`` and ``vaezoo.recipes`` fill when they are imported. So that
``import vaezoo`` is enough for ``keras.models.load_model("model.keras")``, the
classes are registered as soon as Keras is there: at once if it is already
imported, else right after its first import (``_RegisterWhenKerasLoads``).
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from vaezoo import lazy

__version__ = "0.1.0"

_EXPORTS = {
    "VAE": "vaezoo.models",
    "MLPVAE": "vaezoo.models",
    "ConvVAE": "vaezoo.models",
    "ConditionalVAE": "vaezoo.models",
    "SemiSupervisedVAE": "vaezoo.models",
    "AuxiliaryDGM": "vaezoo.models",
    "HierarchicalVAE": "vaezoo.models",
    "ConvHierarchicalVAE": "vaezoo.models",
    "VQVAE": "vaezoo.models",
    "BetaVAE": "vaezoo.models",
    "BetaTCVAE": "vaezoo.models",
    "DIPVAE": "vaezoo.models",
    "FactorVAE": "vaezoo.models",
    "InfoVAE": "vaezoo.models",
    "WAE": "vaezoo.models",
    "M1M2": "vaezoo.recipes",
    "train_m1_m2": "vaezoo.recipes",
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
               "training", "config", "validation", "distribute", "presets", "io", "saving", "recipes")


__getattr__, __dir__ = lazy.attributes(__name__, _EXPORTS, _SUBMODULES, globals())


#: The modules whose import registers vaezoo's Keras-serializable classes.
_REGISTERING = ("vaezoo.models", "vaezoo.recipes")


def _initializing(name):
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def register_with_keras():
    """Registers vaezoo's model classes with Keras (imports ``vaezoo.models`` and
    ``vaezoo.recipes``), so ``keras.models.load_model`` finds them; ``import vaezoo``
    does it by itself as soon as Keras is imported."""
    # Keras loaded by a vaezoo module that is still being imported (``import
    # vaezoo.models`` first): importing the registering modules now would run into
    # that half-made module; it registers its own classes as its import ends.
    if any(_initializing(name) for name in list(sys.modules) if name.startswith("vaezoo.")):
        return
    try:
        for module in _REGISTERING:
            importlib.import_module(module)
    except Exception as e:  # a broken vaezoo must not break `import keras`
        warnings.warn(f"vaezoo could not register its model classes with Keras, so "
                      f"keras.models.load_model will not find them: {type(e).__name__}: {e}. "
                      f"`import {module}` shows the full error.", stacklevel=2)


class _RegisterWhenKerasLoads(importlib.abc.MetaPathFinder):
    """An import hook that registers vaezoo's classes right after Keras is imported.

    Importing ``vaezoo.models`` in ``import vaezoo`` would cost TensorFlow's
    import (~5 s) to every ``vaezoo`` command; once Keras (hence TensorFlow) is
    loaded it costs ~1 s (TensorFlow Probability). So this finder waits for the
    first ``import keras``, lets Keras' own loader run, then imports
    ``vaezoo.models`` and ``vaezoo.recipes``, and removes itself.
    """

    _finding = False

    def find_spec(self, name, path=None, target=None):
        if name != "keras" or self._finding:
            return None
        self._finding = True   # find Keras' own spec with the other finders
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_keras = spec.loader.exec_module

        def exec_module(module):
            exec_keras(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_with_keras()

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    register_with_keras()
elif not any(isinstance(f, _RegisterWhenKerasLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenKerasLoads())

__all__ = list(_EXPORTS)
