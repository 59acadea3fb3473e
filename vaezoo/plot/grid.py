"""Images -> one tiled array -> a figure -> a file: the layout every image plot shares.

A grid of images is drawn as one tiled image (one ``imshow``), so a 64-image
grid is one artist, not 64 axes. The pixel size of a saved PNG is
``figure.get_size_inches() * dpi``; each image cell is ``cell`` inches wide.

Figures are made on an Agg canvas directly, never through ``pyplot``: no GUI,
no global figure list to leak into, and the user's pyplot backend is left alone.
"""

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["tile", "image_formats", "check_image_path"]

DEFAULT_DPI = 100
DEFAULT_CELL = 0.6  # inches per image cell
PAD = 1  # pixels between tiles


def as_images(images):
    """Anything image-like -> float numpy [N, H, W, C] in [0, 1] for display.

    uint8 pixels are divided by 255; a [N, H, W] batch gets a channel axis;
    NaN becomes 0 and values are clipped to [0, 1].
    """
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

    Example:
      >>> tile([np.zeros((3, 4, 5, 1)), np.ones((2, 4, 5, 1))]).shape
      (9, 17, 1)
    """
    rows = [as_images(r) for r in rows]
    ncols = max(len(r) for r in rows)
    _, height, width, channels = rows[0].shape
    out = np.ones((len(rows) * (height + PAD) - PAD, ncols * (width + PAD) - PAD, channels),
                  np.float32)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = i * (height + PAD), j * (width + PAD)
            out[top:top + height, left:left + width] = image
    return out


def square_rows(images, ncols=None):
    """[N, H, W, C] -> rows of ``ncols`` images (``ceil(sqrt(N))`` by default)."""
    n = len(images)
    ncols = int(ncols or math.ceil(math.sqrt(n)))
    return [images[i:i + ncols] for i in range(0, n, ncols)]


def new_figure(width, height, dpi=DEFAULT_DPI):
    """An empty ``Figure`` of ``width`` x ``height`` inches on an Agg canvas."""
    # Whole pixels, so a saved PNG is exactly get_size_inches() * dpi.
    width, height = round(width * dpi) / dpi, round(height * dpi) / dpi
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def image_grid(rows, *, row_labels=None, col_labels=None, title=None, cell=DEFAULT_CELL,
               dpi=DEFAULT_DPI):
    """A figure showing ``rows`` (list of [N_i, H, W, C] arrays) as one tiled image.

    Gray images use the gray colormap on [0, 1]; colour images show their first
    three channels. Row labels go on the left, column labels on top, the title
    above, centred; the figure is wide enough for the title.
    """
    rows = [as_images(r) for r in rows]
    ncols = max(len(r) for r in rows)
    label_width = 0.2 + 0.075 * max(len(str(t)) for t in row_labels) if row_labels else 0.0
    title_height = 0.35 if title else 0.0
    col_height = 0.25 if col_labels else 0.0
    needed = ncols * cell + label_width + 0.15
    # Wide enough for the title (~0.09 inch per character at 10 pt); the grid is centred.
    width = max(needed, 0.09 * len(title) + 0.3) if title else needed
    height = len(rows) * cell + title_height + col_height + 0.1
    fig = new_figure(width, height, dpi)
    ax = fig.add_axes([(label_width + (width - needed) / 2) / width, 0.05 / height,
                       ncols * cell / width, len(rows) * cell / height])
    tiled = tile(rows)
    if tiled.shape[-1] == 1:
        ax.imshow(tiled[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
                  aspect="auto")
    else:
        ax.imshow(tiled[..., :3], interpolation="nearest", aspect="auto")
    height_px, width_px = rows[0].shape[1] + PAD, rows[0].shape[2] + PAD
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if row_labels:
        ax.set_yticks([i * height_px + (height_px - PAD) / 2 for i in range(len(rows))])
        ax.set_yticklabels(row_labels, fontsize=8)
        ax.tick_params(axis="y", length=0)
    if col_labels:
        ax.xaxis.set_ticks_position("top")
        ax.set_xticks([j * width_px + (width_px - PAD) / 2 for j in range(len(col_labels))])
        ax.set_xticklabels(col_labels, fontsize=7)
        ax.tick_params(axis="x", length=0)
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 - 0.04 / height, va="top")
    return fig


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


def save(fig, path):
    """Saves ``fig`` at ``path`` (if given) in the format of its extension; returns ``fig``."""
    if path is not None:
        path = check_image_path(path)
        fig.savefig(path, format=os.path.splitext(path)[1][1:].lower(), dpi=fig.dpi)
    return fig


def model_name(model):
    """The name a figure's default title gives the model."""
    return getattr(model, "name", None) or type(model).__name__
