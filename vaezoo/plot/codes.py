r"""The codebook of a discrete latent (a VQ-VAE): how often each code is used, and which
pictures such a latent cannot have.

A VQ-VAE's posterior is a grid of code indices k(x) in {0..K-1}^{h w}
(``vaezoo.VQVAE``). Its health is the use of its codebook: a codebook in which
a few codes take every position ("codebook collapse") wastes the rest. The
bar chart of :func:`code_usage` counts, over the code positions of some
images, how often each of the K codes is chosen, and reports the codebook's
perplexity, exp(-sum_k p_k log p_k) with p_k the share of positions assigned
to code k (K when every code is used equally, 1 when one code takes them all;
``vaezoo.networks.vector_quantizer``), and how many codes are used at all.

The latent pictures of a continuous latent (interpolation, traversal,
manifold, the scatter of the posterior means, the prior's marginals) read a
code index as a coordinate, which it is not: code 3 is no nearer to code 4
than to code 200. They refuse a discrete latent with
:func:`require_continuous_latent`, which names the reason and a picture that
works, instead of failing deep inside NumPy or TensorFlow.

Example:
  >>> model = vaezoo.load("runs/vqvae")
  >>> images = vaezoo.data.load_arrays("fashion_mnist", "test")["image"][:2000]
  >>> vaezoo.plot.code_usage(model, images, path="codes.png")
"""

import numpy as np

from vaezoo.evaluation import labelled_batches
from vaezoo.plot.grid import DEFAULT_DPI, check_image_path, model_name, new_figure, save

__all__ = ["discrete_latent", "require_continuous_latent", "code_usage"]

#: Above this many codes, the bars are labelled by rank rather than by code index.
_LABELLED_CODES = 32


def discrete_latent(model):
    """Whether ``model``'s latent is a grid of discrete codes (a ``VQVAE``), not real vectors.

    Duck-typed: a model with a codebook (``model.quantizer`` once built, its
    size ``model.num_embeddings`` before).
    """
    return (getattr(model, "quantizer", None) is not None
            or getattr(model, "num_embeddings", None) is not None)


def require_continuous_latent(model, what, reason, instead):
    """Raises a ValueError naming ``reason`` and ``instead`` if ``model``'s latent is discrete.

    Args:
      model: the model a plot was given.
      what: the plot's name (``"interpolation"``).
      reason: why it means nothing on code grids.
      instead: the pictures that work on such a model.
    """
    if discrete_latent(model):
        raise ValueError(
            f"{what} needs a continuous latent; {type(model).__name__} has a discrete one, a "
            f"grid of code indices, and {reason}. Use {instead} instead")


def _codes_of(model, data, max_examples):
    """The int code grids [N, h * w] of ``data``, raster order."""
    grids = [np.asarray(model.encode(x, y).mean()).reshape(int(x.shape[0]), -1)
             for x, _, y in labelled_batches(model, data, max_examples)]
    if not grids:
        raise ValueError("code_usage got no examples; give a non-empty data set")
    return np.concatenate(grids)


def code_usage(model, data, *, max_examples=2000, title=None, path=None, size=(7.0, 3.6),
               dpi=DEFAULT_DPI):
    """Bar chart of how often each code of the codebook is used by the codes of ``data``.

    Each bar is one of the K codes of ``model.quantizer``, its height the number
    of code positions (h * w per image) of ``data`` assigned to it, so the bars
    sum to N h w. The bars are sorted by use, most used first (a rank-frequency
    plot: a flat chart is a codebook in full use, a short head and a long empty
    tail a collapsed one); up to 32 codes, each bar is labelled with its code
    index. A dashed line marks the equal use N h w / K. The axes title gives the
    perplexity of the codes (K at most) and how many codes are used at all.

    Args:
      model: a model with a discrete latent (a ``vaezoo.VQVAE``).
      data: images in any format the model takes (an array, a dict {"image",
        "label"}, an (images, labels) tuple, a ``tf.data.Dataset`` of those).
      max_examples: at most this many images.
      title: figure title (default: the model's name).
      path, dpi: as in ``sample_grid``; ``size`` is (width, height) in inches.

    Returns:
      a ``matplotlib.figure.Figure``.

    Example:
      >>> vaezoo.plot.code_usage(model, images, path="codes.png")

    Reference:
      van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation
      Learning", NeurIPS 2017.
    """
    check_image_path(path)
    if not discrete_latent(model):
        raise ValueError(
            f"code_usage needs a model with a discrete latent (VQVAE); {type(model).__name__} "
            f"has a continuous latent; use --kind latents (latent_scatter) to see its codes")
    codes = _codes_of(model, data, max_examples)
    num_images = len(codes)
    quantizer = model.quantizer
    counts = np.asarray(quantizer.counts(codes), np.int64)
    perplexity = float(quantizer.perplexity(codes))
    k, positions = len(counts), codes.size
    order = np.argsort(-counts, kind="stable")
    fig = new_figure(*size, dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(k), counts[order], width=0.9 if k <= _LABELLED_CODES else 1.0,
           color="tab:blue", linewidth=0, label="uses of a code")
    ax.axhline(positions / k, color="tab:orange", linestyle="--", linewidth=1,
               label=f"equal use ({positions / k:.4g})")
    if k <= _LABELLED_CODES:
        ax.set_xticks(np.arange(k))
        ax.set_xticklabels([str(c) for c in order], fontsize=7)
        ax.set_xlabel("code index, most used first", fontsize=9)
    else:
        ax.set_xlabel("codes by rank, most used first", fontsize=9)
    ax.set_xlim(-0.5, k - 0.5)
    ax.set_ylabel(f"uses ({num_images} images x {codes.shape[1]} positions)", fontsize=8)
    ax.set_title(f"perplexity {perplexity:.2f} of K = {k}; {int(np.sum(counts > 0))} of {k} "
                 f"codes used", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    suptitle = f"{model_name(model)}: code usage" if title is None else title
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
