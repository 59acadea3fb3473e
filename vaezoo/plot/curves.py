"""Per-epoch training and validation curves of a run, one panel per quantity."""

import json
import math
import os

import matplotlib.ticker
import numpy as np

from vaezoo.plot.grid import DEFAULT_DPI, check_image_path, new_figure, save

__all__ = ["CURVE_ORDER", "training_curves"]

#: Panel order of the known metrics (others follow alphabetically).
CURVE_ORDER = ("loss", "elbo", "iwae", "rate", "distortion", "accuracy")


def _history(metrics):
    """{name: [value per epoch]} from a metrics.json path / run dir / dict / keras History."""
    source = metrics
    if hasattr(metrics, "history") and isinstance(metrics.history, dict):  # keras History
        metrics = metrics.history
    if isinstance(metrics, (str, os.PathLike)):
        file = os.fspath(metrics)
        if os.path.isdir(file):
            file = os.path.join(file, "metrics.json")
        if not os.path.exists(file):
            raise ValueError(f"no metrics file at {file!r}; give a run directory written by "
                             f"'vaezoo train' or the path of its metrics.json")
        with open(file) as f:
            try:
                metrics = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{file!r} is not valid JSON: {error}") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"training curves need a metrics.json path, a run directory, a dict or "
                         f"a keras History; got {type(source).__name__}")
    history = metrics.get("history", metrics)
    curves = {k: [float(v) for v in vs] for k, vs in history.items()
              if isinstance(vs, (list, tuple)) and vs
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vs)}
    if not curves:
        raise ValueError(
            f"found no per-epoch metrics in {source!r}: expected {{'history': {{'loss': [...], "
            f"...}}}} (lists of numbers, one per epoch); got keys {sorted(history)}")
    return curves


def training_curves(metrics, *, keys=None, title=None, path=None, dpi=DEFAULT_DPI):
    """Per-epoch training (solid) and validation (dashed) curves, one panel per quantity.

    Panels follow ``CURVE_ORDER``, then the other metrics alphabetically.

    Args:
      metrics: a run directory (its ``metrics.json``), the path of a
        ``metrics.json``, a dict ``{"history": {"loss": [...], "val_loss":
        [...], ...}}`` (or the history dict itself), or a ``keras`` History.
      keys: the quantities to draw (e.g. ["elbo", "rate"]); default every
        metric found (a ``val_`` metric joins the panel of its training twin).
      title, path, dpi: as in ``sample_grid``.

    Returns:
      a ``matplotlib.figure.Figure``.

    Example:
      >>> vaezoo.plot.training_curves("runs/mlp", path="curves.png")
    """
    check_image_path(path)
    curves = _history(metrics)
    names = [k for k in curves if not k.startswith("val_")]
    names += [k[4:] for k in curves if k.startswith("val_") and k[4:] not in curves]
    names.sort(key=lambda k: (CURVE_ORDER.index(k) if k in CURVE_ORDER else len(CURVE_ORDER), k))
    if keys is not None:
        missing = [k for k in keys if k not in curves and "val_" + k not in curves]
        if missing:
            raise ValueError(f"no metric named {missing} in the history; available: "
                             f"{sorted(curves)}")
        names = list(keys)
    ncols = 2 if len(names) in (2, 4) else min(len(names), 3)
    nrows = math.ceil(len(names) / ncols)
    fig = new_figure(4.0 * ncols, 3.0 * nrows + (0.4 if title else 0.0), dpi=dpi)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for key, style, label in ((name, "-", "train"), ("val_" + name, "--", "validation")):
            if key in curves:
                epochs = np.arange(1, len(curves[key]) + 1)
                ax.plot(epochs, curves[key], style, marker="." if len(epochs) < 30 else None,
                        label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)
