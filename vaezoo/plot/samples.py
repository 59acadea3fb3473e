"""Images the model generates: z ~ p(z) (or a grid of prior quantiles), shown as the mean of
p(x|z)."""

import numpy as np

from vaezoo.plot.codes import require_continuous_latent
from vaezoo.plot.grid import (DEFAULT_CELL, DEFAULT_DPI, as_images, check_image_path,
                              image_grid, model_name, save, square_rows)
from vaezoo.plot.marginals import prior_marginals
from vaezoo.validation import check_positive_int

__all__ = ["sample_rows", "sample_grid", "conditional_grid", "manifold"]


def _num_classes(model):
    """The classes of a conditional model, for its default labels 0, 1, ..."""
    value = getattr(model, "num_classes", None)
    if isinstance(value, (int, np.integer)) and value > 0:
        return int(value)
    raise ValueError(
        f"{type(model).__name__} is conditional but not on class labels (num_classes="
        f"{value!r}); pass the condition to use explicitly, one per image")


def sample_rows(model, n, *, seed=0, condition=None, ncols=None):
    """``n`` samples (means of p(x|z), z ~ p(z)) as rows of ``ncols`` images [k, H, W, C].

    The rows :func:`sample_grid` draws and ``vaezoo.callbacks.ImageLogger`` logs;
    the arguments are those of :func:`sample_grid`.
    """
    n = check_positive_int("n", n)
    if model.is_conditional and condition is None:
        classes = _num_classes(model)
        condition = np.arange(n) % classes
        ncols = ncols or classes
    # The model reads the condition (a class, classes or one-hot rows) and refuses one
    # it cannot use (an unconditional model).
    return square_rows(as_images(model.sample(n, seed=seed, condition=condition)), ncols)


def sample_grid(model, n=64, *, seed=0, condition=None, ncols=None, title=None, path=None,
                cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """A grid of ``n`` images from the model: z ~ p(z), shown as the mean of p(x|z).

    Args:
      model: a built ``vaezoo.VAE``.
      n: number of images.
      seed: seed of z (same seed, same picture).
      condition: for a conditional model, the label(s) to condition on: one
        class for all (``3``), ``n`` classes, or ``n`` one-hot rows (as
        ``model.sample`` reads them); by default the labels cycle through the classes
        0, 1, ..., so each column shows one class when ``ncols`` equals the
        number of classes.
      ncols: images per row (default ``ceil(sqrt(n))``; for a conditional model
        without ``condition``, the number of classes).
      title: figure title (default: the model's name).
      path: where to save the figure (optional); its extension is the format (.png,
        .pdf, .svg, .jpg, ...: ``image_formats()``), checked before any work.
      cell, dpi: inches per image cell and dots per inch of the figure.

    Returns:
      a ``matplotlib.figure.Figure``.

    Example:
      >>> vaezoo.plot.sample_grid(model, n=64, seed=0, path="samples.png")
    """
    check_image_path(path)
    rows = sample_rows(model, n, seed=seed, condition=condition, ncols=ncols)
    fig = image_grid(rows, title=model_name(model) + " samples" if title is None else title,
                     cell=cell, dpi=dpi)
    return save(fig, path)


def conditional_grid(model, n_per_class=8, *, classes=None, seed=0, class_names=None,
                     title=None, path=None, cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """Samples of a conditional model, one row per class.

    Every row is drawn with the same ``seed``, so when the prior does not
    depend on the label, column j shares its z across rows: the same "style"
    rendered as each class.

    Args:
      model: a conditional ``vaezoo`` model (``model.is_conditional``), e.g. a
        ``ConditionalVAE``.
      n_per_class: samples per row.
      classes: labels to show (default all ``model.num_classes``).
      seed: seed of z.
      class_names: row labels (default the label numbers).
      title, path, cell, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.

    Reference:
      Kingma, Rezende, Mohamed & Welling, "Semi-supervised learning with deep
      generative models", NeurIPS 2014, fig. 1.
    """
    check_image_path(path)
    if not model.is_conditional:
        raise ValueError(
            f"conditional_grid needs a conditional model (model.is_conditional, e.g. a "
            f"ConditionalVAE); {type(model).__name__} is not. Use sample_grid instead")
    n_per_class = check_positive_int("n_per_class", n_per_class)
    classes = list(range(_num_classes(model))) if classes is None else [int(c) for c in classes]
    rows = [np.asarray(model.sample(n_per_class, seed=seed,
                                    condition=np.full([n_per_class], c, np.int64)))
            for c in classes]
    names = [class_names[c] if class_names is not None else str(c) for c in classes]
    fig = image_grid(rows, row_labels=names,
                     title=(f"{model_name(model)}: samples per class" if title is None
                            else title), cell=cell, dpi=dpi)
    return save(fig, path)


def manifold(model, n=20, *, quantiles=(0.05, 0.95), condition=None, title=None, path=None,
             cell=0.3, dpi=DEFAULT_DPI):
    """The learned 2-D manifold: decoded means over a grid of prior quantiles.

    z_1 and z_2 each take ``n`` values at evenly spaced quantiles of the
    prior's marginal, z_i = F_i^{-1}(p) for p from quantiles[0] to
    quantiles[1] (``prior_marginals``), so equal areas of the grid carry equal
    prior mass. z_1 grows to the right, z_2 upwards.

    Args:
      model: a ``vaezoo.VAE`` with ``latent_dim == 2``.
      n: grid points per axis.
      quantiles: (low, high) prior probabilities at the edges, in (0, 1).
      condition: for a conditional model, the label to decode with (default 0).
      title, path, cell, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.

    Reference:
      Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, fig. 4.
    """
    check_image_path(path)
    require_continuous_latent(
        model, "manifold", "its prior has no quantiles to lay a grid of codes on",
        "sample_grid (vaezoo sample) or code_usage (vaezoo plot --kind codes)")
    if model.latent_dim != 2:
        raise ValueError(
            f"manifold needs a 2-D latent space; this model has latent_dim={model.latent_dim}. "
            f"Train a model with latent_dim=2, or use latent_scatter (PCA of the latent means) "
            f"or traversal for higher-dimensional latents")
    n = check_positive_int("n", n)
    low, high = (float(q) for q in quantiles)
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"quantiles must be (low, high) with 0 < low < high < 1; "
                         f"got {quantiles!r}")
    # One class for the whole grid (the model reads it and refuses it if unconditional).
    y = 0 if model.is_conditional and condition is None else condition
    quantile, _, _ = prior_marginals(model, y)
    grid = np.asarray(quantile(np.linspace(low, high, n)), np.float32)  # [n, 2]
    z1, z2 = np.meshgrid(grid[:, 0], grid[::-1, 1])  # z_2 decreasing down the rows
    codes = np.stack([z1, z2], -1).reshape(-1, 2)
    decoded = np.asarray(model.decode(codes, y).mean())
    decoded = decoded.reshape((n, n) + decoded.shape[1:])
    fig = image_grid(list(decoded),
                     title=(f"{model_name(model)}: 2-D latent manifold" if title is None
                            else title), cell=cell, dpi=dpi)
    return save(fig, path)
