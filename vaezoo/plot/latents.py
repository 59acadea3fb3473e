r"""Views of the latent space: paths between codes, traversals of one unit, the codes of data.

Interpolation (linear or spherical) between the posterior means of two images,
traversals ordered by each unit's KL, and a scatter of the posterior means
(projected on their principal axes when there are more than two). Each needs a
continuous latent: a discrete one (a VQ-VAE's code grid) is refused with the
pictures that work instead (``vaezoo.plot.codes``).
"""

import matplotlib
import numpy as np

from vaezoo.evaluation import kl_per_dimension, labelled_batches
from vaezoo.plot.codes import require_continuous_latent
from vaezoo.plot.grid import (DEFAULT_CELL, DEFAULT_DPI, check_image_path, image_grid,
                              model_name, new_figure, save)
from vaezoo.plot.inputs import examples, model_inputs
from vaezoo.plot.marginals import prior_marginals, tf_seed
from vaezoo.validation import check_positive_int

__all__ = ["INTERPOLATIONS", "interpolate_codes", "interpolation", "kl_order", "traversal",
           "pca_2d", "latent_scatter"]

INTERPOLATIONS = ("linear", "slerp")

#: Why traversals need a continuous latent, and what to draw for a discrete one.
_NO_UNITS = ("its positions have no prior mean and standard deviation to walk in, nor a KL "
             "to order them by")
_CODE_PICTURES = "code_usage (vaezoo plot --kind codes) or reconstructions"


def interpolate_codes(za, zb, ts, method="linear"):
    r"""Points between latent codes ``za`` and ``zb`` ([B, D] each) at fractions ``ts`` [T].

    linear: z(t) = (1 - t) a + t b.
    slerp (spherical):

        omega = arccos(<a, b> / (|a| |b|))
        z(t)  = sin((1 - t) omega) / sin(omega) a + sin(t omega) / sin(omega) b

    which keeps the norm of z near that of typical draws from a Gaussian prior
    (a straight line between two such codes passes through the low-norm
    centre, where the prior puts little mass in high dimensions). Falls back
    to the linear path where a and b are (anti)parallel (sin(omega) ~ 0).

    Returns:
      [B, T, D].

    Reference:
      Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985;
      White, "Sampling generative networks", 2016.
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
      method: "linear" or "slerp" (spherical; see :func:`interpolate_codes`).
      title, path, cell, dpi: as in ``sample_grid``.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
    require_continuous_latent(
        model, "interpolation", "the points between two code grids are not codes",
        "reconstructions or sample_grid (vaezoo plot --kind reconstructions, vaezoo sample)")
    steps = check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends); got {steps}")
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {', '.join(map(repr, INTERPOLATIONS))}; "
                         f"got {method!r}")
    xa, ya = model_inputs(model, a)
    xb, yb = model_inputs(model, b)
    if xa.shape[0] != xb.shape[0]:
        raise ValueError(f"a and b must hold the same number of images; got {xa.shape[0]} "
                         f"and {xb.shape[0]}")
    za = np.asarray(model.encode(xa, ya).mean(), np.float64)
    zb = np.asarray(model.encode(xb, yb).mean(), np.float64)
    ts = np.linspace(0.0, 1.0, steps)
    path_z = interpolate_codes(za, zb, ts, method).astype(np.float32)
    y = None if ya is None else np.repeat(np.asarray(ya), steps, axis=0)
    decoded = np.asarray(model.decode(path_z.reshape(-1, za.shape[-1]), y).mean())
    decoded = decoded.reshape((za.shape[0], steps) + decoded.shape[1:])
    rows = [np.concatenate([np.asarray(xa)[i:i + 1], decoded[i], np.asarray(xb)[i:i + 1]])
            for i in range(za.shape[0])]
    labels = ["a"] + [f"{t:.2g}" for t in ts] + ["b"]
    fig = image_grid(rows, col_labels=labels,
                     title=(f"{model_name(model)}: {method} interpolation" if title is None
                            else title), cell=cell, dpi=dpi)
    return save(fig, path)


def kl_order(model, data):
    r"""(KL per latent dimension [D] in nats, how it was computed): the order of traversals.

    For a factorized posterior and prior, ``E_x KL(q(z_d|x) || p(z_d))``
    (``vaezoo.evaluation.kl_per_dimension``). Otherwise (e.g. a mixture prior),
    the KL of each Gaussian factor N(mu_d, sigma_d^2) of q against a Gaussian
    N(m_d, s_d^2) with the prior marginal's mean and stddev:

        KL = log(s_d / sigma_d) + (sigma_d^2 + (mu_d - m_d)^2) / (2 s_d^2) - 1/2

    averaged over (at most 2000 examples of) ``data``; for a conditional prior
    p(z|y), m and s are the moments of each batch's own p(z|y), from draws.
    """
    require_continuous_latent(model, "kl_order", _NO_UNITS, _CODE_PICTURES)
    try:
        return np.asarray(kl_per_dimension(model, data, progress=False)), "KL(q || prior)"
    except NotImplementedError:  # not factorized: the moment-matched Gaussian below
        pass
    if not model.is_conditional:
        _, mean, std = prior_marginals(model)
    kls = []
    for index, (x, _, y) in enumerate(labelled_batches(model, data, max_examples=2000)):
        q = model.encode(x, y)
        if model.is_conditional:
            draws = np.asarray(model.prior(y).sample(2000, seed=tf_seed(index)), np.float64)
            mean, std = draws.mean(0), draws.std(0)
        mu = np.asarray(q.mean(), np.float64)
        sd = np.asarray(q.stddev(), np.float64)
        kls.append(np.log(std / sd) + (sd ** 2 + (mu - mean) ** 2) / (2 * std ** 2) - 0.5)
    return np.concatenate(kls).mean(0), "KL to a moment-matched Gaussian prior"


def traversal(model, image, dims=8, *, steps=9, span=3.0, data=None, title=None, path=None,
              cell=DEFAULT_CELL, dpi=DEFAULT_DPI):
    """Latent traversals: one row per latent dimension, ordered by its KL.

    Starting from the posterior mean z of ``image``, row ``i`` changes only
    z_d, through ``steps`` values m_d + s * sd_d for s from -span to +span,
    with m_d and sd_d the mean and stddev of the prior's marginal in dimension
    d, and shows the decoded means. Rows are the dimensions with the largest
    average KL (:func:`kl_order`) first: informative units at the top,
    collapsed ones (KL ~ 0, no visible change) at the bottom.

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
      title, path, cell, dpi: as in ``sample_grid``.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
    require_continuous_latent(model, "traversal", _NO_UNITS, _CODE_PICTURES)
    steps = check_positive_int("steps", steps)
    if not span > 0:
        raise ValueError(f"span must be > 0 (prior standard deviations); got {span!r}")
    x, y = model_inputs(model, image, 1)
    kl, kl_name = kl_order(model, examples(model, image) if data is None else data)
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
    _, mean, std = prior_marginals(model, y)
    z0 = np.asarray(model.encode(x, y).mean(), np.float32)[0]
    offsets = np.linspace(-span, span, steps)
    codes = np.repeat(z0[None, None, :], len(chosen), 0).repeat(steps, 1)
    for row, d in enumerate(chosen):
        codes[row, :, d] = mean[d] + offsets * std[d]
    yy = None if y is None else np.repeat(np.asarray(y)[:1], len(chosen) * steps, axis=0)
    decoded = np.asarray(model.decode(codes.reshape(-1, latent_dim), yy).mean())
    decoded = decoded.reshape((len(chosen), steps) + decoded.shape[1:])
    fig = image_grid(list(decoded), row_labels=[f"z{d}  KL {kl[d]:.2f}" for d in chosen],
                     col_labels=[f"{o:+.1f}σ" for o in offsets],
                     title=(f"{model_name(model)}: latent traversals ({kl_name}, nats)"
                            if title is None else title), cell=cell, dpi=dpi)
    return save(fig, path)


def pca_2d(points):
    r"""Projection of [N, D] points on their first two principal axes, and the explained share.

    With the centred points X - mean = U S V^T (SVD), the projection is
    (X - mean) V_{:, :2} and the share of variance of axis k is s_k^2 / sum_j s_j^2.

    Returns:
      ([N, 2] projected points, [2] shares of variance).
    """
    centred = points - points.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    share = singular ** 2 / max(np.sum(singular ** 2), 1e-300)
    return centred @ vt[:2].T, share[:2]


def latent_scatter(model, data, *, max_examples=2000, class_names=None, title=None, path=None,
                   size=(6.0, 5.0), dpi=DEFAULT_DPI):
    """Scatter of the posterior means E[z|x] of ``data``, coloured by label.

    2-D latents are drawn as they are; higher-dimensional ones are projected
    on their first two principal components (:func:`pca_2d` of the means; the
    axis labels give the share of variance each explains); 1-D latents are
    drawn against the label.

    Args:
      model: a ``vaezoo.VAE``.
      data: labelled examples: ``(images, labels)``, a dict {"image",
        "label"}, a ``tf.data.Dataset`` of those, or bare images (one colour).
      max_examples: at most this many points.
      class_names: names of the labels for the legend (e.g.
        ``vaezoo.data.info("fashion_mnist")["class_names"]``).
      title, path, dpi: as in ``sample_grid``; ``size`` is (width, height)
        in inches.

    Returns:
      a ``matplotlib.figure.Figure``.
    """
    check_image_path(path)
    require_continuous_latent(
        model, "latent_scatter", "a code index is a name, not a coordinate to project",
        _CODE_PICTURES)
    means, labels = [], []
    for x, batch_labels, y in labelled_batches(model, data, max_examples):
        q = model.encode(x, y)
        means.append(np.asarray(q.mean(), np.float64).reshape(int(x.shape[0]), -1))
        if batch_labels is not None:
            labels.append(np.asarray(batch_labels).reshape(-1))
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
        points, share = pca_2d(means)
        xlabel = f"PC 1 of E[z|x] ({share[0]:.0%} of variance)"
        ylabel = f"PC 2 of E[z|x] ({share[1]:.0%} of variance)"
    fig = new_figure(*size, dpi=dpi)
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
    ax.set_title(f"{model_name(model)}: latent means of {len(means)} examples"
                 if title is None else title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
