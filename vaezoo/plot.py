"""Pictures of what a VAE does: samples, reconstructions, latent-space views, curves.

Every function takes a model (any ``vaezoo.VAE``) and returns a
``matplotlib.figure.Figure``; with ``path=`` it also saves a PNG there. The
figures are built on the non-interactive Agg canvas and never shown, so this
module works on headless machines and inside tests; in a notebook, a returned
figure displays itself.

A grid of images is drawn as one tiled image (one ``imshow``), so a 64-image
grid costs one artist, not 64 axes. The pixel size of a saved PNG is
``figure.get_size_inches() * dpi``: each image cell is ``cell`` inches wide.

What is drawn is the *mean* of p(x|z): pixel probabilities for a Bernoulli
decoder, the mean gray level for a Gaussian one (clipped to [0, 1] for display).

Example:
  >>> model = vaezoo.load("mlp_vae_fashion_mnist")
  >>> vaezoo.plot.sample_grid(model, n=64, seed=0, path="samples.png")
  >>> images = vaezoo.data.load_arrays("fashion_mnist", "test")["image"][:16]
  >>> vaezoo.plot.reconstructions(model, images, path="reconstructions.png")
"""

import math

import matplotlib

matplotlib.use("Agg", force=False)  # no-op when a backend was already chosen by the user

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "sample_grid",
    "reconstructions",
    "interpolation",
    "traversal",
    "manifold",
    "latent_scatter",
    "conditional_grid",
    "training_curves",
    "tile",
]

DEFAULT_DPI = 100
DEFAULT_CELL = 0.6  # inches per image cell
_PAD = 1  # pixels between tiles


# ---------------------------------------------------------------------------
# Helpers: arrays of images -> one tiled array -> a figure
# ---------------------------------------------------------------------------


def _as_images(images):
    """Anything image-like -> float numpy [N, H, W, C] in [0, 1] for display."""
    array = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(f"expected images of shape [N, H, W, C] or [N, H, W]; got shape "
                         f"{array.shape}")
    return np.clip(np.nan_to_num(array), 0.0, 1.0)


def tile(rows):
    """A list of rows, each [N_i, H, W, C] in [0, 1], -> one [R*(H+1)-1, N*(W+1)-1, C] array.

    Tiles are separated by 1-pixel white lines; rows shorter than the longest
    one are padded with blank (white) cells. Used for figures and by
    ``vaezoo.callbacks.ImageLogger`` for TensorBoard.
    """
    rows = [_as_images(r) for r in rows]
    ncols = max(len(r) for r in rows)
    _, height, width, channels = rows[0].shape
    out = np.ones((len(rows) * (height + _PAD) - _PAD, ncols * (width + _PAD) - _PAD, channels),
                  np.float32)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = i * (height + _PAD), j * (width + _PAD)
            out[top:top + height, left:left + width] = image
    return out


def _new_figure(width, height, dpi=DEFAULT_DPI):
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _image_grid(rows, *, row_labels=None, col_labels=None, title=None, cell=DEFAULT_CELL,
                dpi=DEFAULT_DPI):
    """A figure showing ``rows`` (list of [N_i, H, W, C] arrays) as one tiled image."""
    rows = [_as_images(r) for r in rows]
    ncols = max(len(r) for r in rows)
    label_width = 1.2 if row_labels else 0.0
    title_height = 0.35 if title else 0.0
    col_height = 0.25 if col_labels else 0.0
    width = ncols * cell + label_width + 0.15
    height = len(rows) * cell + title_height + col_height + 0.1
    fig = _new_figure(width, height, dpi)
    ax = fig.add_axes([label_width / width, 0.05 / height,
                       ncols * cell / width, len(rows) * cell / height])
    tiled = tile(rows)
    if tiled.shape[-1] == 1:
        ax.imshow(tiled[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
                  aspect="auto")
    else:
        ax.imshow(tiled[..., :3], interpolation="nearest", aspect="auto")
    height_px, width_px = rows[0].shape[1] + _PAD, rows[0].shape[2] + _PAD
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if row_labels:
        ax.set_yticks([i * height_px + (height_px - _PAD) / 2 for i in range(len(rows))])
        ax.set_yticklabels(row_labels, fontsize=8)
        ax.tick_params(axis="y", length=0)
    if col_labels:
        ax.xaxis.set_ticks_position("top")
        ax.set_xticks([j * width_px + (width_px - _PAD) / 2 for j in range(len(col_labels))])
        ax.set_xticklabels(col_labels, fontsize=7)
        ax.tick_params(axis="x", length=0)
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 - 0.04 / height, va="top")
    return fig


def _square_rows(images, ncols=None):
    """[N, H, W, C] -> rows of ``ncols`` images (``ceil(sqrt(N))`` by default)."""
    n = len(images)
    ncols = int(ncols or math.ceil(math.sqrt(n)))
    return [images[i:i + ncols] for i in range(0, n, ncols)]


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, format="png", dpi=fig.dpi)
    return fig


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _is_conditional(model):
    return bool(getattr(model, "is_conditional", False))


def _num_classes(model):
    for name in ("num_classes", "num_labels"):
        value = getattr(model, name, None)
        if isinstance(value, (int, np.integer)) and value > 0:
            return int(value)
    raise ValueError(
        f"{type(model).__name__} is conditional but has no num_classes attribute; pass the "
        f"labels to condition on explicitly")


def _model_name(model):
    return getattr(model, "name", None) or type(model).__name__


# ---------------------------------------------------------------------------
# Samples and reconstructions
# ---------------------------------------------------------------------------


def sample_grid(model, n=64, *, seed=0, condition=None, ncols=None, title=None, path=None,
                cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """A grid of ``n`` images from the model: z ~ p(z), shown as the mean of p(x|z).

    Args:
      model: a built ``vaezoo.VAE``.
      n: number of images.
      seed: seed of z (same seed, same picture).
      condition: for a conditional model, the label(s) to condition on (an int
        or ``n`` ints); by default the labels cycle through the classes
        0, 1, ..., so each column shows one class when ``ncols`` equals the
        number of classes.
      ncols: images per row (default ``ceil(sqrt(n))``; for a conditional model
        without ``condition``, the number of classes).
      title: figure title (default: the model's name).
      path: where to save a PNG (optional).
      cell, dpi: inches per image cell and dots per inch of the figure.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    n = _positive_int("n", n)
    if _is_conditional(model):
        if condition is None:
            classes = _num_classes(model)
            condition = np.arange(n) % classes
            ncols = ncols or classes
        elif np.ndim(condition) == 0:
            condition = np.full([n], int(condition))
        images = model.sample(n, seed=seed, condition=np.asarray(condition, np.int64))
    else:
        if condition is not None:
            raise ValueError(
                f"condition={condition!r} given, but {type(model).__name__} is not a "
                f"conditional model; drop condition or use a ConditionalVAE")
        images = model.sample(n, seed=seed)
    fig = _image_grid(_square_rows(_as_images(images), ncols),
                      title=_model_name(model) + " samples" if title is None else title,
                      cell=cell, dpi=dpi)
    return _finish(fig, path)


def _encode_decode_inputs(model, images):
    """(x on the likelihood's support, labels or None) for any batch format."""
    x, y = model.preprocess(images, training=False)
    if _is_conditional(model) and y is None:
        raise ValueError(
            f"{type(model).__name__} is conditional: give labelled images, e.g. "
            f"{{'image': images, 'label': labels}} or (images, labels)")
    return x, (y if _is_conditional(model) else None)


def _encode(model, x, y=None):
    return model.encode(x, y) if y is not None else model.encode(x)


def _decode(model, z, y=None):
    return model.decode(z, y) if y is not None else model.decode(z)


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
      title, path, cell, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    images = _take(images, n)
    x, y = _encode_decode_inputs(model, images)
    outputs = _decode(model, _encode(model, x, y).mean(), y).mean()
    fig = _image_grid([x, outputs], row_labels=["input", "reconstruction"],
                      title=_model_name(model) + " reconstructions" if title is None else title,
                      cell=cell, dpi=dpi)
    return _finish(fig, path)


def _take(images, n):
    """The first ``n`` examples of a batch given as an array, a tuple or a dict."""
    if n is None:
        return images
    n = _positive_int("n", n)
    if isinstance(images, dict):
        return {k: v[:n] for k, v in images.items()}
    if isinstance(images, (tuple, list)):
        return type(images)(v[:n] for v in images)
    return images[:n]
