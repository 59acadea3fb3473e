"""Pictures of what a VAE does: samples, reconstructions, latent-space views, curves.

Every function takes a model (any ``vaezoo.VAE``) and returns a
``matplotlib.figure.Figure``; with ``path=`` it also saves it there, in the format
of the file's extension (``check_image_path``: .png, .pdf, .svg, .jpg, ...). The
figures are built on the non-interactive Agg canvas and never shown, so this
module works on headless machines and inside tests; in a notebook, a returned
figure displays itself. Nothing goes through ``pyplot``, so there is no figure
to close and the user's pyplot backend is untouched.

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
import os

import matplotlib
import matplotlib.ticker
import numpy as np
# Figures are made on an Agg canvas directly, never through pyplot: no GUI, no
# global figure list to leak into, and the user's pyplot backend is left alone.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaezoo.validation import check_positive_int

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
    "check_image_path",
    "image_formats",
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
    # Whole pixels, so a saved PNG is exactly get_size_inches() * dpi.
    width, height = round(width * dpi) / dpi, round(height * dpi) / dpi
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _image_grid(rows, *, row_labels=None, col_labels=None, title=None, cell=DEFAULT_CELL,
                dpi=DEFAULT_DPI):
    """A figure showing ``rows`` (list of [N_i, H, W, C] arrays) as one tiled image."""
    rows = [_as_images(r) for r in rows]
    ncols = max(len(r) for r in rows)
    label_width = 0.2 + 0.075 * max(len(str(t)) for t in row_labels) if row_labels else 0.0
    title_height = 0.35 if title else 0.0
    col_height = 0.25 if col_labels else 0.0
    needed = ncols * cell + label_width + 0.15
    # Wide enough for the title (~0.09 inch per character at 10 pt); the grid is centred.
    width = max(needed, 0.09 * len(title) + 0.3) if title else needed
    height = len(rows) * cell + title_height + col_height + 0.1
    fig = _new_figure(width, height, dpi)
    ax = fig.add_axes([(label_width + (width - needed) / 2) / width, 0.05 / height,
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


def image_formats():
    """The file extensions matplotlib writes (``{"png": "Portable Network Graphics", ...}``)."""
    return Figure().canvas.get_supported_filetypes()


def check_image_path(path):
    """``path`` if matplotlib can write an image there, else a clear error, before any work.

    The format is the file's extension (``.png``, ``.pdf``, ``.svg``, ``.jpg``, ...);
    an unknown or missing extension is a ValueError listing the supported ones, a
    missing directory a FileNotFoundError. ``None`` (no file) passes.
    """
    if path is None:
        return None
    path = os.fspath(path)
    extension = os.path.splitext(path)[1][1:].lower()
    formats = image_formats()
    if extension not in formats:
        got = f"its extension .{extension} is not" if extension else "it has no extension, which is"
        raise ValueError(
            f"cannot save a figure as {path!r}: {got} an image format matplotlib writes. "
            f"Use one of: {', '.join('.' + e for e in sorted(formats))} (e.g. samples.png).")
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save a figure as {path!r}: the directory {directory!r} "
                                f"does not exist; create it first")
    return path


def _finish(fig, path):
    if path is not None:
        path = check_image_path(path)
        fig.savefig(path, format=os.path.splitext(path)[1][1:].lower(), dpi=fig.dpi)
    return fig


def _is_conditional(model):
    return bool(getattr(model, "is_conditional", False))


def _num_classes(model):
    value = getattr(model, "num_classes", None)
    if isinstance(value, (int, np.integer)) and value > 0:
        return int(value)
    raise ValueError(
        f"{type(model).__name__} is conditional but not on class labels (num_classes="
        f"{value!r}); pass the condition to use explicitly, one per image")


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
    """
    check_image_path(path)
    n = check_positive_int("n", n)
    if _is_conditional(model) and condition is None:
        classes = _num_classes(model)
        condition = np.arange(n) % classes
        ncols = ncols or classes
    # The model reads the condition (a class, classes or one-hot rows) and refuses one
    # it cannot use (an unconditional model).
    images = model.sample(n, seed=seed, condition=condition)
    fig = _image_grid(_square_rows(_as_images(images), ncols),
                      title=_model_name(model) + " samples" if title is None else title,
                      cell=cell, dpi=dpi)
    return _finish(fig, path)


def _encode_decode_inputs(model, images):
    """(x on the likelihood's support, labels or None) for any batch format."""
    x, y = model.preprocess(images, training=False)
    if _is_conditional(model) and hasattr(model, "classify") and (
            y is None or np.any(np.asarray(y) < 0)):
        # A model with a classifier q(y|x) (the M2 SemiSupervisedVAE) labels the images
        # that come without a label (none given, or -1) itself.
        guess = np.argmax(np.asarray(model.classify(x)), axis=-1).astype(np.int64)
        y = guess if y is None else np.where(np.asarray(y) < 0, guess, np.asarray(y))
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
    check_image_path(path)
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
    n = check_positive_int("n", n)
    if isinstance(images, dict):
        return {k: v[:n] for k, v in images.items()}
    if isinstance(images, (tuple, list)):
        return type(images)(v[:n] for v in images)
    return images[:n]


# ---------------------------------------------------------------------------
# Walking through the latent space
# ---------------------------------------------------------------------------

INTERPOLATIONS = ("linear", "slerp")


def _interpolate(za, zb, ts, method):
    r"""Points between latent codes ``za`` and ``zb`` ([B, D] each) at fractions ``ts``.

    linear: z(t) = (1 - t) a + t b.
    slerp (spherical, Shoemake 1985; White 2016 "Sampling generative networks"):

        omega = arccos(<a, b> / (|a| |b|))
        z(t)  = sin((1 - t) omega) / sin(omega) a + sin(t omega) / sin(omega) b

    which keeps the norm of z near that of typical draws from a Gaussian prior
    (a straight line between two such codes passes through the low-norm
    centre, where the prior puts little mass in high dimensions). Falls back
    to the linear path where a and b are (anti)parallel.

    Returns [B, T, D].
    """
    za, zb = za[:, None, :], zb[:, None, :]
    t = ts[None, :, None]
    linear = (1.0 - t) * za + t * zb
    if method == "linear":
        return linear
    cos = np.sum(za * zb, -1, keepdims=True) / np.maximum(
        np.linalg.norm(za, axis=-1, keepdims=True) * np.linalg.norm(zb, axis=-1, keepdims=True),
        1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    safe = np.where(sin > 1e-6, sin, 1.0)
    slerp = (np.sin((1.0 - t) * omega) * za + np.sin(t * omega) * zb) / safe
    return np.where(sin > 1e-6, slerp, linear)


def _batch_of_one_or_more(model, images):
    """A single image [H, W(, C)] gets a batch axis; batches (and dicts, tuples) pass through."""
    if isinstance(images, (dict, tuple, list)):
        return images
    array = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
    shape = tuple(model.image_shape or ())
    if array.shape == shape or (shape[-1:] == (1,) and array.shape == shape[:2]):
        return array[None]
    return array


def interpolation(model, a, b, steps=10, method="linear", *, title=None, path=None,
                  cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """Decoded points on the path between the latent codes of images ``a`` and ``b``.

    Each row shows ``a`` (as the model sees it), the ``steps`` decoded points
    z(t) for t = 0 ... 1 between the posterior means of a and b, then ``b``.

    Args:
      model: a ``vaezoo.VAE``.
      a, b: two images (or two batches of the same size, one row per pair),
        uint8 or float, [H, W(, C)] or [N, H, W(, C)]; for a conditional
        model, ``(images, labels)`` or dicts: the path is decoded with the
        labels of ``a`` (the class stays fixed, the style changes).
      steps: number of points on the path, ends included (>= 2).
      method: "linear" or "slerp" (spherical; see ``_interpolate``).
      title, path, cell, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
    steps = check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends); got {steps}")
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {', '.join(map(repr, INTERPOLATIONS))}; "
                         f"got {method!r}")
    xa, ya = _encode_decode_inputs(model, _batch_of_one_or_more(model, a))
    xb, yb = _encode_decode_inputs(model, _batch_of_one_or_more(model, b))
    if xa.shape[0] != xb.shape[0]:
        raise ValueError(f"a and b must hold the same number of images; got {xa.shape[0]} "
                         f"and {xb.shape[0]}")
    za = np.asarray(_encode(model, xa, ya).mean(), np.float64)
    zb = np.asarray(_encode(model, xb, yb).mean(), np.float64)
    path_z = _interpolate(za, zb, np.linspace(0.0, 1.0, steps), method).astype(np.float32)
    y = None if ya is None else np.repeat(np.asarray(ya), steps)
    decoded = np.asarray(_decode(model, path_z.reshape(-1, za.shape[-1]), y).mean())
    decoded = decoded.reshape((za.shape[0], steps) + decoded.shape[1:])
    rows = [np.concatenate([np.asarray(xa)[i:i + 1], decoded[i], np.asarray(xb)[i:i + 1]])
            for i in range(za.shape[0])]
    labels = ["a"] + [f"{t:.2g}" for t in np.linspace(0.0, 1.0, steps)] + ["b"]
    fig = _image_grid(rows, col_labels=labels,
                      title=(f"{_model_name(model)}: {method} interpolation" if title is None
                             else title), cell=cell, dpi=dpi)
    return _finish(fig, path)


def _prior_marginals(model, y=None, num_samples=20_000, seed=0):
    """(quantile function, mean [D], stddev [D]) of the prior's per-dimension marginals.

    Exact for a factorized prior (``Independent`` of scalar distributions with a
    ``quantile``); from ``num_samples`` prior draws otherwise (e.g. a mixture).
    """
    prior = model.prior(y) if y is not None else model.prior()
    inner = getattr(prior, "distribution", None)
    if type(prior).__name__ == "Independent" and inner.event_shape.rank == 0:
        try:
            dim, shape = model.latent_dim, tuple(prior.batch_shape) + tuple(prior.event_shape)

            def first(values):  # the first batch member's [D] values (a conditional prior)
                return np.broadcast_to(np.asarray(values, np.float64), shape).reshape(-1, dim)[0]

            mean, std = first(inner.mean()), first(inner.stddev())
            inner.quantile(0.5)

            def quantile(p):  # [n] probabilities -> [n, D]
                p = np.asarray(p, np.float32).reshape((-1,) + (1,) * len(shape))
                values = np.asarray(inner.quantile(p), np.float64)
                return np.broadcast_to(values, (len(p),) + shape).reshape(len(p), -1, dim)[:, 0]

            return quantile, mean, std
        except NotImplementedError:
            pass
    draws = np.asarray(prior.sample(num_samples, seed=_tf_seed(seed)), np.float64)
    draws = draws.reshape(-1, model.latent_dim)

    def empirical(p):
        return np.quantile(draws, np.asarray(p, np.float64), axis=0)

    return empirical, draws.mean(0), draws.std(0)


def _tf_seed(seed):
    import tensorflow as tf
    return tf.constant([int(seed), 0], tf.int32)


def _kl_order(model, data):
    """(KL per latent dimension [D] in nats, how it was computed) for ordering traversals."""
    try:
        from vaezoo.evaluation import kl_per_dimension
    except ImportError:  # evaluation not available: compute it below
        kl_per_dimension = None
    if kl_per_dimension is not None:
        try:
            return np.asarray(kl_per_dimension(model, data, progress=False)), "KL(q || prior)"
        except NotImplementedError:
            pass
    # Non-factorized prior (e.g. a mixture): KL of each diagonal Gaussian factor
    # of q against a Gaussian with the prior marginal's mean and stddev.
    # For a conditional prior p(z|y), the moments of each example's own p(z|y), from draws.
    conditional = _is_conditional(model)
    if not conditional:
        _, mean, std = _prior_marginals(model)
    kls = []
    for index, (x, y) in enumerate(_labelled_batches(model, data, max_examples=2000)):
        q = _encode(model, x, y if conditional else None)
        if conditional:
            draws = np.asarray(model.prior(y).sample(2000, seed=_tf_seed(index)), np.float64)
            mean, std = draws.mean(0), draws.std(0)
        mu = np.asarray(q.mean(), np.float64)
        sd = np.asarray(q.stddev(), np.float64)
        kls.append(np.log(std / sd) + (sd ** 2 + (mu - mean) ** 2) / (2 * std ** 2) - 0.5)
    return np.concatenate(kls).mean(0), "KL to a moment-matched Gaussian prior"


def traversal(model, image, dims=8, *, steps=9, span=3.0, data=None, title=None, path=None,
              cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """Latent traversals: one row per latent dimension, ordered by its KL.

    Starting from the posterior mean z of ``image``, row ``i`` changes only
    z_d, through ``steps`` values from (mean - span * stddev) to
    (mean + span * stddev) of the prior's marginal in dimension d, and shows
    the decoded means. Rows are the dimensions with the largest average
    ``KL(q(z_d|x) || p(z_d))`` (``vaezoo.evaluation.kl_per_dimension``) first:
    informative units at the top, collapsed ones (KL ~ 0, no visible change)
    at the bottom.

    Args:
      model: a ``vaezoo.VAE``.
      image: one image [H, W(, C)] (or a batch, of which the first is used);
        for a conditional model ``(images, labels)`` or a dict.
      dims: how many dimensions to show (the top ``dims`` by KL, at most
        latent_dim), or an explicit list of dimension indices (then shown in
        the given order).
      steps: values per row.
      span: half-width of the traversed range in prior standard deviations.
      data: examples over which the KL is averaged (any format
        ``vaezoo.evaluation`` takes, e.g. a few hundred test images); default
        ``image`` itself.
      title, path, cell, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
    steps = check_positive_int("steps", steps)
    if not span > 0:
        raise ValueError(f"span must be > 0 (prior standard deviations); got {span!r}")
    x, y = _encode_decode_inputs(model, _take(_batch_of_one_or_more(model, image), 1))
    kl, kl_name = _kl_order(model, data if data is not None else _take(
        _batch_of_one_or_more(model, image), None))
    latent_dim = model.latent_dim
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        chosen = list(np.argsort(-kl, kind="stable")[:min(check_positive_int("dims", dims),
                                                           latent_dim)])
    else:
        chosen = [int(d) for d in dims]
        bad = [d for d in chosen if not 0 <= d < latent_dim]
        if not chosen or bad:
            raise ValueError(f"dims must be a positive count or a list of indices in "
                             f"[0, {latent_dim}); got {dims!r}")
    _, mean, std = _prior_marginals(model, y)
    z0 = np.asarray(_encode(model, x, y).mean(), np.float32)[0]
    offsets = np.linspace(-span, span, steps)
    codes = np.repeat(z0[None, None, :], len(chosen), 0).repeat(steps, 1)
    for row, d in enumerate(chosen):
        codes[row, :, d] = mean[d] + offsets * std[d]
    yy = None if y is None else np.repeat(np.asarray(y)[:1], len(chosen) * steps)
    decoded = np.asarray(_decode(model, codes.reshape(-1, latent_dim), yy).mean())
    decoded = decoded.reshape((len(chosen), steps) + decoded.shape[1:])
    fig = _image_grid(list(decoded), row_labels=[f"z{d}  KL {kl[d]:.2f}" for d in chosen],
                      col_labels=[f"{o:+.1f}σ" for o in offsets],
                      title=(f"{_model_name(model)}: latent traversals ({kl_name}, nats)"
                             if title is None else title), cell=cell, dpi=dpi)
    return _finish(fig, path)


def manifold(model, n=20, *, quantiles=(0.05, 0.95), condition=None, title=None, path=None,
             cell=0.3, dpi=DEFAULT_DPI):
    """The learned 2-D manifold: decoded means over a grid of prior quantiles.

    As in Kingma & Welling (2014, fig. 4): z_1 and z_2 each take ``n`` values
    at evenly spaced quantiles of the prior's marginal (the inverse CDF of the
    prior at p = quantiles[0] ... quantiles[1]), so equal areas of the grid
    carry equal prior mass. z_1 grows to the right, z_2 upwards.

    Args:
      model: a ``vaezoo.VAE`` with ``latent_dim == 2``.
      n: grid points per axis.
      quantiles: (low, high) prior probabilities at the edges, in (0, 1).
      condition: for a conditional model, the label to decode with (default 0).
      title, path, cell, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
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
    y = 0 if _is_conditional(model) and condition is None else condition
    quantile, _, _ = _prior_marginals(model, y)
    grid = np.asarray(quantile(np.linspace(low, high, n)), np.float32)  # [n, 2]
    z1, z2 = np.meshgrid(grid[:, 0], grid[::-1, 1])  # z_2 decreasing down the rows
    codes = np.stack([z1, z2], -1).reshape(-1, 2)
    decoded = np.asarray(_decode(model, codes, y).mean())
    decoded = decoded.reshape((n, n) + decoded.shape[1:])
    fig = _image_grid(list(decoded),
                      title=(f"{_model_name(model)}: 2-D latent manifold" if title is None
                             else title), cell=cell, dpi=dpi)
    return _finish(fig, path)


# ---------------------------------------------------------------------------
# The latent codes of data
# ---------------------------------------------------------------------------


def _labelled_batches(model, data, max_examples=None, batch_size=500):
    """Yields (x preprocessed, labels or None) from arrays, tuples, dicts or a tf.data.Dataset."""
    import tensorflow as tf
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        image_spec = spec.get("image") if isinstance(spec, dict) else (
            spec[0] if isinstance(spec, (tuple, list)) else spec)
        if image_spec.shape.rank is not None and image_spec.shape.rank <= 3 and not (
                image_spec.shape.rank == 3 and model.image_shape is not None
                and image_spec.shape[-1] != model.image_shape[-1]):
            data = data.batch(batch_size)  # a dataset of single images
        seen = 0
        for batch in data:
            if max_examples is not None and seen >= max_examples:
                return
            x, y = model.preprocess(_take(batch, None if max_examples is None
                                          else max_examples - seen), training=False)
            seen += int(x.shape[0])
            yield x, y
        return
    if isinstance(data, dict):
        total = len(data["image"])
    elif isinstance(data, (tuple, list)):
        total = len(data[0])
    else:
        total = len(data)
    total = total if max_examples is None else min(total, int(max_examples))
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        if isinstance(data, dict):
            batch = {k: v[start:stop] for k, v in data.items()}
        elif isinstance(data, (tuple, list)):
            batch = tuple(v[start:stop] for v in data)
        else:
            batch = data[start:stop]
        yield model.preprocess(batch, training=False)


def _pca_2d(points):
    """Projection of [N, D] points on their first two principal axes, and the explained share."""
    centred = points - points.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    share = singular ** 2 / max(np.sum(singular ** 2), 1e-300)
    return centred @ vt[:2].T, share[:2]


def latent_scatter(model, data, *, max_examples=2000, class_names=None, title=None, path=None,
                   size=(6.0, 5.0), dpi=DEFAULT_DPI):
    """Scatter of the posterior means E[z|x] of ``data``, coloured by label.

    2-D latents are drawn as they are; higher-dimensional ones are projected
    on their first two principal components (PCA of the means; the axis labels
    give the share of variance each explains); 1-D latents are drawn against
    the label.

    Args:
      model: a ``vaezoo.VAE``.
      data: labelled examples: ``(images, labels)``, a dict {"image",
        "label"}, a ``tf.data.Dataset`` of those, or bare images (one colour).
      max_examples: at most this many points.
      class_names: names of the labels for the legend (e.g.
        ``vaezoo.data.info("fashion_mnist")["class_names"]``).
      title, path, dpi: as in :func:`sample_grid`; ``size`` is (width, height)
        in inches.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
    means, labels = [], []
    for x, y in _labelled_batches(model, data, max_examples):
        q = _encode(model, x, y if _is_conditional(model) else None)
        means.append(np.asarray(q.mean(), np.float64).reshape(int(x.shape[0]), -1))
        if y is not None:
            labels.append(np.asarray(y).reshape(-1))
    if not means:
        raise ValueError("latent_scatter got no examples; give a non-empty data set")
    means = np.concatenate(means)
    labels = np.concatenate(labels) if labels else None
    if means.shape[1] == 1:
        points = np.stack([means[:, 0], labels if labels is not None
                           else np.zeros(len(means))], 1)
        xlabel, ylabel = "z", "label"
    elif means.shape[1] == 2:
        points, xlabel, ylabel = means, "z1", "z2"
    else:
        points, share = _pca_2d(means)
        xlabel = f"PC 1 of E[z|x] ({share[0]:.0%} of variance)"
        ylabel = f"PC 2 of E[z|x] ({share[1]:.0%} of variance)"
    fig = _new_figure(*size, dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.6)
    else:
        classes = np.unique(labels)
        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, c in enumerate(classes):
            keep = labels == c
            name = (class_names[int(c)] if class_names is not None and 0 <= c < len(class_names)
                    else str(int(c)))
            ax.scatter(points[keep, 0], points[keep, 1], s=4, alpha=0.6,
                       color=cmap(i % cmap.N), label=name)
        ax.legend(markerscale=3, fontsize=7, loc="best", framealpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{_model_name(model)}: latent means of {len(means)} examples"
                 if title is None else title, fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)


def conditional_grid(model, n_per_class=8, *, classes=None, seed=0, class_names=None,
                     title=None, path=None, cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """Samples of a conditional model, one row per class.

    Every row is drawn with the same ``seed``, so when the prior does not
    depend on the label, column j shares its z across rows: the same "style"
    rendered as each class (Kingma et al. 2014, "Semi-supervised learning with
    deep generative models", fig. 1).

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
    """
    check_image_path(path)
    if not _is_conditional(model):
        raise ValueError(
            f"conditional_grid needs a conditional model (model.is_conditional, e.g. a "
            f"ConditionalVAE); {type(model).__name__} is not. Use sample_grid instead")
    n_per_class = check_positive_int("n_per_class", n_per_class)
    classes = list(range(_num_classes(model))) if classes is None else [int(c) for c in classes]
    rows = [np.asarray(model.sample(n_per_class, seed=seed,
                                    condition=np.full([n_per_class], c, np.int64)))
            for c in classes]
    names = [class_names[c] if class_names is not None else str(c) for c in classes]
    fig = _image_grid(rows, row_labels=names,
                      title=(f"{_model_name(model)}: samples per class" if title is None
                             else title), cell=cell, dpi=dpi)
    return _finish(fig, path)


# ---------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------


def _history(metrics):
    """{name: [value per epoch]} from a metrics.json path / run dir / dict / keras History."""
    import json
    import os
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


#: Panel order of the known metrics (others follow alphabetically).
CURVE_ORDER = ("loss", "elbo", "iwae", "rate", "distortion", "accuracy")


def training_curves(metrics, *, keys=None, title=None, path=None, dpi=DEFAULT_DPI):
    """Per-epoch training (solid) and validation (dashed) curves, one panel per quantity.

    Args:
      metrics: a run directory (its ``metrics.json``), the path of a
        ``metrics.json``, a dict ``{"history": {"loss": [...], "val_loss":
        [...], ...}}`` (or the history dict itself), or a ``keras`` History.
      keys: the quantities to draw (e.g. ["elbo", "rate"]); default every
        metric found (a ``val_`` metric joins the panel of its training twin).
      title, path, dpi: as in :func:`sample_grid`.

    Returns:
      a ``matplotlib.figure.Figure``.
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
    fig = _new_figure(4.0 * ncols, 3.0 * nrows + (0.4 if title else 0.0), dpi=dpi)
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
    return _finish(fig, path)
