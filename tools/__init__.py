"""Release and documentation tools, apart from the benchmarks: each runs as
``python tools/NAME.py`` (see its docstring); tests import them as ``tools.NAME``."""
