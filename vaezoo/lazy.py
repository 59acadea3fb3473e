"""Lazy module attributes (PEP 562): a package's public names, imported on first use.

``import vaezoo`` and ``import vaezoo.data`` stay cheap (no TensorFlow) until a
name that needs it is read.
"""

import importlib


def attributes(package, exports, submodules=(), namespace=None):
    """``(__getattr__, __dir__)`` for ``package``.

    Args:
      package: the package's ``__name__``.
      exports: ``{name: module}``; ``package.name`` is ``module.name``, imported then.
      submodules: names of ``package``'s submodules, imported when read.
      namespace: the package's ``globals()``, listed by ``dir`` beside the lazy names.
    """
    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace or ()) | set(exports) | set(submodules))

    return __getattr__, __dir__
