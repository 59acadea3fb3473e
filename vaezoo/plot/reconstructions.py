"""Inputs above their reconstructions: the mean of p(x | z = E[z|x])."""

from vaezoo.plot.grid import (DEFAULT_CELL, DEFAULT_DPI, check_image_path, image_grid,
                              model_name, save)
from vaezoo.plot.inputs import model_inputs

__all__ = ["reconstruction_rows", "reconstructions"]


def reconstruction_rows(model, images, n=None):
    """[x, reconstruction]: the inputs as the model sees them and the mean of p(x | z = E[z|x]).

    The two rows :func:`reconstructions` draws and ``vaezoo.callbacks.ImageLogger``
    logs; the arguments are those of :func:`reconstructions`.
    """
    x, y = model_inputs(model, images, n)
    return [x, model.decode(model.encode(x, y).mean(), y).mean()]


def reconstructions(model, images, *, n=None, title=None, path=None, cell=DEFAULT_CELL,
                    dpi=DEFAULT_DPI):
    """Inputs (top row) above their reconstructions (bottom row).

    The input row shows the images as the model sees them (after
    ``model.preprocess``: e.g. binarized for a Bernoulli model); the
    reconstruction is the mean of p(x | z = mean of q(z|x)).

    Args:
      model: a ``vaezoo.VAE``.
      images: a batch in any format the model accepts (uint8 or float array
        [N, H, W(, C)], a dict {"image", "label"} or an (images, labels) tuple;
        labels are needed for a conditional model).
      n: show only the first ``n`` images (default: all).
      title, path, cell, dpi: as in ``sample_grid``.

    Returns:
      a ``matplotlib.figure.Figure``.

    Example:
      >>> images = vaezoo.data.load_arrays("fashion_mnist", "test")["image"][:16]
      >>> vaezoo.plot.reconstructions(model, images, path="reconstructions.png")
    """
    check_image_path(path)
    fig = image_grid(reconstruction_rows(model, images, n),
                     row_labels=["input", "reconstruction"],
                     title=model_name(model) + " reconstructions" if title is None else title,
                     cell=cell, dpi=dpi)
    return save(fig, path)
