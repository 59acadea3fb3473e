"""``load`` and ``load_arrays``: one split of a data set from tfds or, offline, its IDX files.

With ``source="auto"`` tfds is tried first (``tfds_source``); when it cannot
provide the data and the data set is in ``IDX_DATASETS``, the IDX files are
read (``idx``). When no source has the data, the error says what provides it
(``install_help``). The data sets of ``RENDERED_DATASETS`` (``"dsprites"``)
are neither: vaezoo renders them (``vaezoo.data.dsprites``), never reading tfds
or the network, under ``source="auto"`` only. The source used is logged on the
``vaezoo.data`` logger and, with ``verbose=True``, printed as one line on stderr.
"""

import logging
import sys

import numpy as np
import tensorflow as tf

from vaezoo.data import dsprites, idx, splits, tfds_source
from vaezoo.data.idx import IDX_DATASETS, install_help
from vaezoo.preprocessing import static_binarize, to_unit_interval

LOGGER_NAME = "vaezoo.data"
logger = logging.getLogger(LOGGER_NAME)

_BINARIZATIONS = ("static", None)
_SOURCES = ("auto", "tfds", "idx")
#: Data sets vaezoo renders itself, with the module that renders them.
RENDERED_DATASETS = {"dsprites": dsprites}


def _check_binarization(binarization):
    if binarization not in _BINARIZATIONS:
        raise ValueError(
            f"binarization={binarization!r} is not supported; valid values are "
            '"static" (reproducible Bernoulli binarization of the data set) and '
            "None (keep uint8 pixels). Dynamic binarization is done by the model "
            '(binarization="dynamic" on the model), not by the data pipeline.')


def _check_source(source):
    if source not in _SOURCES:
        raise ValueError(
            f"source={source!r} is not supported; valid values are "
            '"auto" (tfds, falling back to IDX files for mnist/fashion_mnist), '
            '"tfds" and "idx".')


def _idx_arrays(name, split, data_dir):
    """Fresh uint8 images and int64 labels of a split string; returns (x, y, dir)."""
    splits.read_instruction(split)  # a bad split is a ValueError before any file search
    directory = idx.find_idx_dir(name, data_dir)
    counts = {s: len(idx.read_split(directory, s)[1]) for s in idx.IDX_FILES}
    pieces = [(idx.read_split(directory, s), a, b)
              for s, a, b in splits.parse_split(split, counts)]
    images = np.concatenate([x[a:b] for (x, _), a, b in pieces])
    labels = np.concatenate([y[a:b] for (_, y), a, b in pieces])
    return images, labels, directory


def _announce(message, verbose):
    logger.info(message)
    if verbose:
        print(f"{LOGGER_NAME}: {message}", file=sys.stderr, flush=True)


def _resolve(name, split, data_dir, source, verbose):
    """Returns ("tfds", dataset), ("idx", (images, labels)) or ("render", flat indices)."""
    _check_source(source)
    if name in RENDERED_DATASETS:
        if source != "auto":
            raise ValueError(
                f'source={source!r} does not apply to {name!r}: vaezoo renders it '
                f'(vaezoo.data.{name}), so only source="auto" (the default) is valid. The '
                f'published images are tensorflow_datasets.load({name!r}) (pixels 0/1, '
                f'a download).')
        flat = RENDERED_DATASETS[name].split_indices(split)
        _announce(f"{name}[{split}] rendered by vaezoo.data.{name} ({len(flat)} images)",
                  verbose)
        return "render", flat
    if source == "idx" and name not in IDX_DATASETS:
        raise ValueError(f'source="idx" only supports {list(IDX_DATASETS)}, '
                         f"not {name!r}; use source=\"tfds\".")
    reason = None
    if source in ("auto", "tfds"):
        try:
            ds = tfds_source.load_tfds(name, split, data_dir, precheck=source == "auto")
        except tfds_source.TfdsUnavailable as e:
            reason = str(e)
            if "DatasetNotFoundError" in reason:
                raise ValueError(
                    f"tensorflow_datasets has no data set named {name!r} ({reason}); check "
                    f"the name (tfds.list_builders() lists them), e.g. 'fashion_mnist' or "
                    f"'mnist'.") from e.__cause__
            if source == "tfds":
                raise RuntimeError(
                    f"tensorflow_datasets cannot load {name}[{split}]: {reason}. "
                    + ('Use source="auto" or "idx" to read local IDX files. '
                       if name in IDX_DATASETS else "")
                    + install_help(name, data_dir)) from e.__cause__
            if name not in IDX_DATASETS:
                raise RuntimeError(
                    f"tensorflow_datasets cannot load {name}[{split}]: {reason}. Only "
                    f"mnist and fashion_mnist have a local IDX fallback. "
                    + install_help(name, data_dir)) from e.__cause__
        else:
            _announce(f"{name}[{split}] from tfds (data_dir="
                      f"{idx.tfds_data_dir(data_dir)})", verbose)
            return "tfds", ds
    try:
        images, labels, directory = _idx_arrays(name, split, data_dir)
    except FileNotFoundError as e:
        if reason is not None:
            raise FileNotFoundError(f"{e} (tfds unavailable too: {reason})") from e
        raise
    why = f" (tfds unavailable: {reason})" if reason else ""
    _announce(f"{name}[{split}] from IDX files in {directory}{why}", verbose)
    return "idx", (images, labels)


def _binarize_fn(seed):
    def fn(example):
        return {**example, "image": static_binarize(example["image"], seed)}
    return fn


def _unit_interval_fn(example):
    return {**example, "image": to_unit_interval(example["image"])}


def _binarize_array(images, seed, batch_size=8192):
    out = np.empty(images.shape, np.float32)
    for i in range(0, len(images), batch_size):
        out[i:i + batch_size] = static_binarize(images[i:i + batch_size], seed).numpy()
    return out


def load(name, split="train", *, data_dir=None, binarization=None, seed=0,
         source="auto", verbose=True):
    """Loads a data set split as an unbatched ``tf.data.Dataset``.

    Args:
      name: tfds name, e.g. ``"fashion_mnist"`` or ``"mnist"``.
      split: tfds split string: ``"train"``, ``"test"``, ``"train[:10%]"``,
        ``"train[50000:]"``, ``"train[10%:20%]"``, ``"train+test"``...
      data_dir: tfds data dir; also searched first for IDX files. Unused by
        the rendered data sets.
      binarization: ``None`` (uint8 images) or ``"static"`` (float32 {0, 1}
        images from ``static_binarize(image, seed)``).  Dynamic binarization
        is done by the model. dSprites images are already binary (0/255), so
        for them ``"static"`` is exactly ``image / 255``, for every seed.
      seed: seed of the static binarization.
      source: ``"auto"`` (tfds, falling back to IDX files for the data sets
        in ``IDX_DATASETS``; rendering for ``RENDERED_DATASETS``), ``"tfds"``
        or ``"idx"`` (neither for a rendered data set).
      verbose: print the source used on stderr (it is always logged).

    Returns:
      unbatched ``tf.data.Dataset`` of ``{"image": [H, W, C], "label": int64
      []}``, image uint8 or, with ``binarization="static"``, float32. For
      ``"dsprites"`` the elements are tfds' dsprites elements instead:
      ``image`` (0/255) and, for each factor, ``label_<factor>`` int64 and
      ``value_<factor>`` float32 (``vaezoo.data.dsprites.dataset``), rendered
      as they are read; the whole grid is ``"train"``.

    Raises:
      ValueError: bad ``binarization``, ``source`` or split syntax, a data
        set name tfds does not know, a corrupted IDX file, or ``source``
        other than ``"auto"`` for a rendered data set.
      FileNotFoundError: no source can provide the data (message says how to
        fix it).
      RuntimeError: ``source="tfds"`` (or a data set without IDX fallback)
        and tfds fails.

    Example:
      >>> ds = load("fashion_mnist", "train[:10%]", binarization="static")
      >>> ds = ds.shuffle(6000).batch(128)
    """
    _check_binarization(binarization)
    kind, payload = _resolve(name, split, data_dir, source, verbose)
    if kind == "tfds":
        ds = payload
    elif kind == "render":
        ds = RENDERED_DATASETS[name].dataset(split)
    else:
        images, labels = payload
        ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    if binarization == "static":
        # Rendered images are binary (0/255), where static_binarize is exactly x / 255
        # whatever the seed: the cast gives the same floats without the per-pixel hashes.
        ds = ds.map(_unit_interval_fn if kind == "render" else _binarize_fn(seed),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds


def load_arrays(name, split="train", *, data_dir=None, binarization=None,
                seed=0, source="auto", verbose=True):
    """Loads a data set split as numpy arrays.

    Same arguments as ``load``.

    Returns:
      ``(images, labels)``: images ``[N, H, W, C]`` uint8 (float32 {0, 1}
      with ``binarization="static"``, identical to what ``load`` yields) and
      labels int64 ``[N]``.  The arrays are fresh copies, free to modify.
      For ``"dsprites"`` the labels are the factor indices, int64 ``[N, 5]``
      in ``vaezoo.data.dsprites.FACTOR_NAMES`` order (the whole grid is 3 GB
      of images: take a slice such as ``"train[:10%]"``).

    Example:
      >>> x, y = load_arrays("fashion_mnist", "test")
      >>> x.shape, x.dtype, y.dtype
      ((10000, 28, 28, 1), dtype('uint8'), dtype('int64'))
    """
    _check_binarization(binarization)
    kind, payload = _resolve(name, split, data_dir, source, verbose)
    if kind == "render":
        labels = RENDERED_DATASETS[name].factor_indices(payload)
        images = RENDERED_DATASETS[name].render(labels)
        if binarization == "static":  # binary images: static_binarize is x / 255 (see load)
            images = images.astype(np.float32) / np.float32(255)
        return images, labels
    if kind == "idx":
        images, labels = payload  # already fresh arrays (np.concatenate)
        if binarization == "static":
            images = _binarize_array(images, seed)
        return images, labels
    ds = payload.batch(4096)
    if binarization == "static":
        ds = ds.map(_binarize_fn(seed))
    xs, ys = [], []
    for batch in ds.as_numpy_iterator():
        xs.append(batch["image"])
        ys.append(batch["label"])
    if not xs:
        spec = payload.element_spec
        return (np.zeros((0, *spec["image"].shape),
                         np.float32 if binarization else spec["image"].dtype.as_numpy_dtype),
                np.zeros((0,), np.int64))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64, copy=False)


def sample_arrays(name, split="train", n=16, *, seed=0, data_dir=None, source="auto",
                  verbose=True):
    """``n`` examples of a split drawn at random, as NumPy arrays.

    The examples are ``min(n, N)`` distinct positions of the split's ``N``, chosen by
    ``np.random.default_rng(seed).choice(N, n, replace=False)`` and kept in split
    order; images and labels as ``load_arrays`` gives them (uint8 images; for
    ``"dsprites"`` the labels are the factor indices ``[n, 5]``). A rendered data set
    renders only the chosen images, so a sample of the 737,280 dSprites costs ``n``.

    Example:
      >>> images, labels = sample_arrays("fashion_mnist", "test", 16, seed=0)
    """
    if name in RENDERED_DATASETS:
        _, flat = _resolve(name, split, data_dir, source, verbose)
        labels = RENDERED_DATASETS[name].factor_indices(flat[_chosen(len(flat), n, seed)])
        return RENDERED_DATASETS[name].render(labels), labels
    images, labels = load_arrays(name, split, data_dir=data_dir, source=source,
                                 verbose=verbose)
    keep = _chosen(len(images), n, seed)
    return images[keep], labels[keep]


def _chosen(total, n, seed):
    """Sorted positions of ``min(n, total)`` distinct draws among ``total``."""
    return np.sort(np.random.default_rng(seed).choice(total, min(n, total), replace=False))


def source_of(name, split="train", *, data_dir=None):
    """``"tfds"``, ``"idx"`` or ``"render"``: the source ``load(name, split)`` reads here."""
    return _resolve(name, split, data_dir, "auto", verbose=False)[0]
