"""Data sets for the zoo: TensorFlow Datasets with an offline IDX fallback.

Sources
-------
``load`` returns the same thing as ``tfds.load(name, split=split)``: an
*unbatched* ``tf.data.Dataset`` of ``{"image": uint8 [H, W, C],
"label": int64 []}`` dicts.  The data come from one of two sources:

* **tfds** (``source="tfds"``): ``tensorflow_datasets`` reads the prepared
  data set from its data dir, downloading and preparing it first if needed.
* **IDX files** (``source="idx"``, only for ``"mnist"`` and
  ``"fashion_mnist"``, see ``IDX_DATASETS``): the original LeCun-format files
  ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``, parsed with numpy and
  cached in memory per process.  Directories searched, first match wins:

  1. the ``data_dir`` argument (if it holds the IDX files),
  2. ``$VAEZOO_DATA_DIR``,
  3. ``/usr/share/datasets/fashion-mnist`` resp. ``/usr/share/datasets/mnist``
     (the Debian package ``dataset-fashion-mnist`` installs the former).

  Each directory ``d`` may hold the files directly or in ``d/<name>`` or
  ``d/<name with "-" for "_">`` (so one ``$VAEZOO_DATA_DIR`` can serve both
  data sets).  The usual tfds split syntax is understood: ``"train"``,
  ``"test"``, ``"train[:10%]"``, ``"train[50000:]"``, ``"train[10%:20%]"``,
  ``"train+test"``, ``"all"``; percent boundaries are rounded like tfds does
  (``round(pct * n / 100)``), so slices have the same sizes as with tfds.
  Note that tfds stores examples in its own (hashed) order while the IDX
  files keep the original order, so ``"train[:10%]"`` is an equally sized but
  different subset under the two sources.

With the default ``source="auto"`` tfds is tried first; when it cannot provide
the data (not prepared and no network, tfds not importable, download error...)
and the data set is in ``IDX_DATASETS``, the IDX files are used.  To avoid
long network timeouts, a data set that is not yet prepared is only downloaded
if ``storage.googleapis.com:443`` answers within 3 seconds.  Data that tfds
serves without preparing come before that check, so inside
``tfds.testing.mock_data(...)`` every data set (mnist and fashion_mnist
included) is tfds' generated data, offline, as with ``tfds.load``.  When no
source has the data, the error says what provides it for that data set (the
Debian package ``dataset-fashion-mnist`` or ``$VAEZOO_DATA_DIR`` for
fashion_mnist, IDX files in ``/usr/share/datasets/mnist`` or
``$VAEZOO_DATA_DIR`` for mnist, tfds' data dir for every data set).  The source used is
logged on the ``vaezoo.data`` logger and, with ``verbose=True``, printed as
one line on stderr.

Binarization
------------
``binarization="static"`` turns each image into float32 {0, 1} with
``vaezoo.preprocessing.static_binarize(image, seed)``: a content-addressed
Bernoulli draw (pixel ``p`` is 1 with probability ``q_p / 255``), so the same
image always gets the same binary version for a given seed, whatever the
order, split or batching, and binarizing twice changes nothing.
``binarization=None`` keeps the uint8 pixels.  *Dynamic* binarization (a new
draw at every step) is not done here: it belongs to the model
(``binarization="dynamic"`` on the model).

Example:
  >>> from vaezoo import data
  >>> ds = data.load("fashion_mnist", "train[:10%]", binarization="static")
  >>> images, labels = data.load_arrays("fashion_mnist", "test")
  >>> data.info("fashion_mnist")["image_shape"]
  (28, 28, 1)
"""

import functools
import gzip
import logging
import math
import os
import re
import socket
import sys
import threading

import numpy as np

logger = logging.getLogger(__name__)

#: Data sets that can be read from local IDX files when tfds cannot help.
IDX_DATASETS = ("fashion_mnist", "mnist")

#: Environment variable naming an extra directory holding IDX files.
DATA_DIR_ENV = "VAEZOO_DATA_DIR"

_DEFAULT_IDX_DIRS = {
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
    "mnist": "/usr/share/datasets/mnist",
}

_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_STATIC_INFO = {
    "fashion_mnist": {
        "image_shape": (28, 28, 1),
        "num_classes": 10,
        "splits": {"train": 60000, "test": 10000},
        "class_names": _FASHION_CLASSES,
    },
    "mnist": {
        "image_shape": (28, 28, 1),
        "num_classes": 10,
        "splits": {"train": 60000, "test": 10000},
        "class_names": tuple(str(i) for i in range(10)),
    },
}

# IDX file stems for each split (".gz" optional).
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_BINARIZATIONS = ("static", None)
_SOURCES = ("auto", "tfds", "idx")
_SPLIT_HELP = (
    'accepted forms: "train", "test", "all", "train[:10%]", "train[50000:]", '
    '"test[:1000]", "train[10%:20%]", "train[-1000:]" and sums such as '
    '"train+test" or "train[:10%]+test"'
)
_IDX_NAMES = ("train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz")


def _tfds_help(name, data_dir=None):
    where = _tfds_data_dir_str(data_dir)
    return (f"let tensorflow_datasets download and prepare {name} into its data dir ({where}; "
            f"set by data_dir= or $TFDS_DATA_DIR): it needs network access, or copy a prepared "
            f"{where}/{name}/ from a machine that has it (`tfds build {name}` there)")


def install_help(name, data_dir=None):
    """How to make ``name`` loadable here: the package or directory that provides it."""
    if name == "fashion_mnist":
        return ("To fix it, do one of: install the Debian package `dataset-fashion-mnist` "
                "(apt-get install dataset-fashion-mnist, which provides "
                f"{_DEFAULT_IDX_DIRS[name]}); put the IDX files ({_IDX_NAMES}) in a directory "
                f"and set ${DATA_DIR_ENV} to it; or {_tfds_help(name, data_dir)}.")
    if name in IDX_DATASETS:
        return (f"No Debian package ships {name}. To fix it, do one of: put its IDX files "
                f"({_IDX_NAMES}) in {_DEFAULT_IDX_DIRS[name]}, or in a directory named by "
                f"${DATA_DIR_ENV} (directly or in its {name}/ subdirectory); or "
                f"{_tfds_help(name, data_dir)}.")
    return f"To fix it, {_tfds_help(name, data_dir)}."


class _TfdsUnavailable(Exception):
    """tfds cannot provide the data set (internal signal)."""


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Split syntax
# --------------------------------------------------------------------------

_SUB_SPLIT_RE = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)(?:\[(?P<from>[^:\]]*):(?P<to>[^:\]]*)\])?$")
_BOUND_RE = re.compile(r"^(?P<val>-?\d+(?:\.\d*)?)(?P<pct>%)?$")


def _parse_bound(text, spec):
    text = text.strip()
    if not text:
        return None, None
    m = _BOUND_RE.match(text)
    if not m:
        raise ValueError(f"Unsupported split {spec!r}: bad boundary {text!r}; "
                         f"{_SPLIT_HELP}.")
    if m.group("pct"):
        return float(m.group("val")), "%"
    if "." in m.group("val"):
        raise ValueError(f"Unsupported split {spec!r}: absolute boundaries must "
                         f"be integers (use '%' for fractions); {_SPLIT_HELP}.")
    return int(m.group("val")), "abs"


def _split_parts(split):
    """Yields ``(name, match)`` for each ``+``-joined part of ``split`` (syntax checked)."""
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"Unsupported split {split!r}; {_SPLIT_HELP}.")
    for part in re.split(r"\s*\+\s*", split.strip()):
        m = _SUB_SPLIT_RE.match(part)
        if not m:
            raise ValueError(f"Unsupported split {split!r} (at {part!r}); "
                             f"{_SPLIT_HELP}.")
        yield m.group("name"), m


def parse_split(split, num_examples):
    """Turns a tfds-style split string into ``(split_name, start, stop)`` slices.

    Args:
      split: e.g. ``"train"``, ``"train[:10%]"``, ``"train[50000:]"`` or
        ``"train[:10%]+test"``.
      num_examples: dict ``{split_name: number of examples}``.

    Returns:
      list of ``(split_name, start, stop)`` with ``0 <= start <= stop <= n``;
      percent boundaries are rounded to the closest example like tfds.

    Raises:
      ValueError: unsupported syntax, unknown split name or out-of-range
        boundary.

    Example:
      >>> parse_split("train[10%:20%]+test", {"train": 60000, "test": 10000})
      [('train', 6000, 12000), ('test', 0, 10000)]
    """
    out = []
    for name, m in _split_parts(split):
        if name == "all" and m.group("from") is None:
            out.extend((s, 0, n) for s, n in num_examples.items())
            continue
        if name not in num_examples:
            raise ValueError(f"Unknown split {name!r} in {split!r}; this data set "
                             f"has splits {sorted(num_examples)} (and 'all').")
        n = num_examples[name]
        if m.group("from") is None:
            out.append((name, 0, n))
            continue
        lo, lo_unit = _parse_bound(m.group("from"), split)
        hi, hi_unit = _parse_bound(m.group("to"), split)
        units = {u for u in (lo_unit, hi_unit) if u is not None}
        if not units:
            raise ValueError(f"Unsupported split {split!r}: empty slice [:]; "
                             f"{_SPLIT_HELP}.")
        if len(units) > 1:
            raise ValueError(f"Unsupported split {split!r}: do not mix percent "
                             f"and absolute boundaries; {_SPLIT_HELP}.")
        pct = units == {"%"}
        bounds = []
        for value, default in ((lo, 0), (hi, n)):
            if value is None:
                bounds.append(default)
                continue
            if abs(value) > (100 if pct else n):
                raise ValueError(
                    f"Split {split!r}: boundary {value}{'%' if pct else ''} is "
                    f"out of range for {name!r} with {n} examples.")
            if pct:
                value = int(round(value * n / 100.0))  # tfds "closest" rounding
            bounds.append(value + n if value < 0 else value)
        start, stop = bounds
        out.append((name, start, max(start, stop)))
    return out


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------

def _find_file(directory, stem):
    for fname in (stem + ".gz", stem):
        path = os.path.join(directory, fname)
        if os.path.isfile(path):
            return path
    return None


def _has_idx_files(directory, split_names):
    return directory and os.path.isdir(directory) and all(
        _find_file(directory, stem) for s in split_names for stem in _IDX_FILES[s])


def _candidate_dirs(name, data_dir):
    """Directories searched for IDX files, in order (see module docstring)."""
    roots = [data_dir, os.environ.get(DATA_DIR_ENV)]
    dirs = []
    for root in roots:
        if root:
            root = os.path.expanduser(root)
            dirs += [root, os.path.join(root, name),
                     os.path.join(root, name.replace("_", "-"))]
    dirs.append(_DEFAULT_IDX_DIRS[name])
    return list(dict.fromkeys(dirs))  # dedupe, keep order


def find_idx_dir(name, data_dir=None, split_names=("train", "test")):
    """Returns the first directory holding the IDX files of ``name``.

    Args:
      name: one of ``IDX_DATASETS``.
      data_dir: optional directory searched first.
      split_names: splits whose image and label files must be present.

    Returns:
      the directory path.

    Raises:
      FileNotFoundError: no searched directory holds the files; the message
        lists the directories and how to fix it.
    """
    dirs = _candidate_dirs(name, data_dir)
    for d in dirs:
        if _has_idx_files(d, split_names):
            return d
    raise FileNotFoundError(
        f"No IDX files for {name!r} (splits {list(split_names)}) in any of "
        f"{dirs}. {install_help(name, data_dir)}")


@functools.lru_cache(maxsize=None)
def _read_idx(path):
    """Parses one IDX file of unsigned bytes into a read-only numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ValueError(f"Cannot read IDX file {path}: {e} (corrupted or "
                         "truncated; delete and reinstall it).") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes: bad magic number "
            f"{raw[:4].hex() or '(empty file)'} (expected 00000801 for labels "
            "or 00000803 for images); the file is corrupted.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file {path} is truncated inside its header.")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    size = math.prod(dims)
    if len(raw) - header != size:
        raise ValueError(
            f"IDX file {path} is truncated or corrupted: header says shape "
            f"{dims} ({size} bytes) but it holds {len(raw) - header} data bytes.")
    arr = np.frombuffer(raw, np.uint8, size, header).reshape(dims)
    arr.flags.writeable = False
    return arr


@functools.lru_cache(maxsize=None)
def _read_idx_split(directory, split_name):
    """(images uint8 [N, H, W, 1], labels int64 [N]) of one split, read-only."""
    img_path, lbl_path = (_find_file(directory, s) for s in _IDX_FILES[split_name])
    images, labels = _read_idx(img_path), _read_idx(lbl_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{img_path} / {lbl_path}: expected 3-d images and 1-d "
                         f"labels, got shapes {images.shape} and {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{img_path} has {len(images)} images but {lbl_path} "
                         f"has {len(labels)} labels.")
    images = images[..., None]
    labels = labels.astype(np.int64)
    labels.flags.writeable = False
    return images, labels


def _idx_arrays(name, split, data_dir):
    """uint8 images and int64 labels for a split string; returns (x, y, dir)."""
    split_names = _split_names(split)
    directory = find_idx_dir(name, data_dir, split_names)
    counts = {s: len(_read_idx_split(directory, s)[1]) for s in _IDX_FILES}
    pieces = [(_read_idx_split(directory, s), a, b)
              for s, a, b in parse_split(split, counts)]
    images = concatenate_aligned([x[a:b] for (x, _), a, b in pieces])
    labels = concatenate_aligned([y[a:b] for (_, y), a, b in pieces])
    return images, labels, directory


def _split_names(split):
    """Split names used by ``split`` (syntax checked; bounds checked later)."""
    found = []
    for name, m in _split_parts(split):
        if name == "all" and m.group("from") is None:
            found += list(_IDX_FILES)
        elif name in _IDX_FILES:
            found.append(name)
        else:
            raise ValueError(f"Unknown split {name!r} in {split!r}; this data "
                             f"set has splits {sorted(_IDX_FILES)} (and 'all').")
    return tuple(dict.fromkeys(found))


# --------------------------------------------------------------------------
# tfds
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _network_error(host="storage.googleapis.com", port=443, timeout=3.0):
    """None if ``host:port`` accepts a TCP connection within ``timeout`` s,
    else a short reason.  DNS lookups cannot be timed out, so the connection is
    tried in a daemon thread and abandoned after ``timeout``."""
    result = [None]

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result[0] = None
        except OSError as e:
            result[0] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return "timed out after %gs" % timeout if t.is_alive() else result[0]


def _short(exc, limit=160):
    text = str(exc).strip().splitlines()
    text = text[0] if text else ""
    msg = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def _tfds_load(name, split, data_dir, precheck):
    """``tfds.load`` or ``_TfdsUnavailable`` with a short reason.

    With ``precheck`` and a data set not prepared yet, gives up early when the
    download server is unreachable instead of waiting for network timeouts.
    """
    try:
        import tensorflow_datasets as tfds
        if precheck:
            builder = tfds.builder(name, data_dir=data_dir)
            if not builder.is_prepared():
                # Data tfds serves without preparing (``tfds.testing.mock_data``) comes
                # first; an unprepared builder fails here at once, without the network.
                try:
                    return builder.as_dataset(split=split)
                except Exception:  # noqa: BLE001 - not there: download, if that can work
                    pass
                reason = _network_error()
                if reason is not None:
                    raise _TfdsUnavailable(
                        f"not prepared in {builder.data_dir} and cannot download "
                        f"(storage.googleapis.com:443 unreachable: {reason})")
        return tfds.load(name, split=split, data_dir=data_dir)
    except _TfdsUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - any tfds failure means "unavailable"
        raise _TfdsUnavailable(_short(e)) from e


def _tfds_data_dir_str(data_dir):
    return data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"


def _announce(message, verbose):
    logger.info(message)
    if verbose:
        print(f"{__name__}: {message}", file=sys.stderr, flush=True)


def _resolve(name, split, data_dir, source, verbose):
    """Returns ("tfds", dataset) or ("idx", (images, labels))."""
    _check_source(source)
    if source == "idx" and name not in IDX_DATASETS:
        raise ValueError(f'source="idx" only supports {list(IDX_DATASETS)}, '
                         f"not {name!r}; use source=\"tfds\".")
    reason = None
    if source in ("auto", "tfds"):
        try:
            ds = _tfds_load(name, split, data_dir, precheck=source == "auto")
        except _TfdsUnavailable as e:
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
                      f"{_tfds_data_dir_str(data_dir)})", verbose)
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
    from vaezoo.preprocessing import static_binarize

    def fn(example):
        return {**example, "image": static_binarize(example["image"], seed)}
    return fn


#: Byte alignment of TensorFlow's CPU tensors (``Allocator::kAllocatorAlignment``).
TENSOR_ALIGNMENT = 64


def empty_aligned(shape, dtype):
    """``np.empty(shape, dtype)`` whose data starts on a ``TENSOR_ALIGNMENT`` boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(nbytes + TENSOR_ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % TENSOR_ALIGNMENT
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


def is_aligned(a):
    """True for a C-contiguous array whose data starts on a ``TENSOR_ALIGNMENT`` boundary:
    TensorFlow can use its memory as a tensor's, without a copy."""
    return a.flags.c_contiguous and a.ctypes.data % TENSOR_ALIGNMENT == 0


def aligned(a, dtype=None):
    """``a`` (as ``dtype``) in memory TensorFlow can use without a copy: ``a`` itself
    when it already is, else an aligned C-contiguous copy.

    ``VAE.fit`` reads such NumPy arrays in place (``vaezoo.pipeline``); any other
    array is copied once per ``fit`` call, as Keras copies every array. Arrays
    from ``load_arrays`` are aligned already.

    Example:
      >>> x = vaezoo.data.aligned(my_images, "float32")   # once; then fit(x, ...) reads it in place
    """
    a = np.asarray(a)
    dtype = a.dtype if dtype is None else np.dtype(dtype)
    if a.dtype == dtype and is_aligned(a):
        return a
    out = empty_aligned(a.shape, dtype)
    out[...] = a
    return out


def concatenate_aligned(parts, dtype=None):
    """``np.concatenate(parts).astype(dtype)`` written straight into aligned memory
    (``empty_aligned``): one pass, no second copy to align it."""
    dtype = np.dtype(dtype or parts[0].dtype)
    out = empty_aligned((sum(len(p) for p in parts), *parts[0].shape[1:]), dtype)
    return np.concatenate(parts, out=out, casting="unsafe")


def _binarize_array(images, seed, batch_size=8192):
    from vaezoo.preprocessing import static_binarize
    out = empty_aligned(images.shape, np.float32)
    for i in range(0, len(images), batch_size):
        out[i:i + batch_size] = static_binarize(images[i:i + batch_size], seed).numpy()
    return out


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def load(name, split="train", *, data_dir=None, binarization=None, seed=0,
         source="auto", verbose=True):
    """Loads a data set split as an unbatched ``tf.data.Dataset``.

    Args:
      name: tfds name, e.g. ``"fashion_mnist"`` or ``"mnist"``.
      split: tfds split string: ``"train"``, ``"test"``, ``"train[:10%]"``,
        ``"train[50000:]"``, ``"train[10%:20%]"``, ``"train+test"``...
      data_dir: tfds data dir; also searched first for IDX files.
      binarization: ``None`` (uint8 images) or ``"static"`` (float32 {0, 1}
        images from ``static_binarize(image, seed)``).  Dynamic binarization
        is done by the model.
      seed: seed of the static binarization.
      source: ``"auto"`` (tfds, falling back to IDX files for the data sets
        in ``IDX_DATASETS``), ``"tfds"`` or ``"idx"``.
      verbose: print the source used on stderr (it is always logged).

    Returns:
      unbatched ``tf.data.Dataset`` of ``{"image": [H, W, C], "label": int64
      []}``, image uint8 or, with ``binarization="static"``, float32.

    Raises:
      ValueError: bad ``binarization``, ``source`` or split syntax, a data
        set name tfds does not know, or a corrupted IDX file.
      FileNotFoundError: no source can provide the data (message says how to
        fix it).
      RuntimeError: ``source="tfds"`` (or a data set without IDX fallback)
        and tfds fails.

    Example:
      >>> ds = load("fashion_mnist", "train[:10%]", binarization="static")
      >>> ds = ds.shuffle(6000).batch(128)
    """
    import tensorflow as tf
    _check_binarization(binarization)
    kind, payload = _resolve(name, split, data_dir, source, verbose)
    if kind == "tfds":
        ds = payload
    else:
        images, labels = payload
        ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    if binarization == "static":
        ds = ds.map(_binarize_fn(seed), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
    return ds


def load_arrays(name, split="train", *, data_dir=None, binarization=None,
                seed=0, source="auto", verbose=True):
    """Loads a data set split as numpy arrays (handy for benchmarks).

    Same arguments as ``load``.

    Returns:
      ``(images, labels)``: images ``[N, H, W, C]`` uint8 (float32 {0, 1}
      with ``binarization="static"``, identical to what ``load`` yields) and
      labels int64 ``[N]``.  The arrays are fresh copies, free to modify, and
      aligned for TensorFlow (``aligned``: ``fit`` reads them without a copy).

    Example:
      >>> x, y = load_arrays("fashion_mnist", "test")
      >>> x.shape, x.dtype, y.dtype
      ((10000, 28, 28, 1), dtype('uint8'), dtype('int64'))
    """
    _check_binarization(binarization)
    kind, payload = _resolve(name, split, data_dir, source, verbose)
    if kind == "idx":
        images, labels = payload  # already fresh arrays (np.concatenate)
        if binarization == "static":
            images = _binarize_array(images, seed)
        return aligned(images), aligned(labels)
    import tensorflow_datasets as tfds
    ds = payload.batch(4096)
    if binarization == "static":
        ds = ds.map(_binarize_fn(seed))
    xs, ys = [], []
    for batch in tfds.as_numpy(ds):
        xs.append(batch["image"])
        ys.append(batch["label"])
    if not xs:
        spec = payload.element_spec
        return (np.zeros((0, *spec["image"].shape),
                         np.float32 if binarization else spec["image"].dtype.as_numpy_dtype),
                np.zeros((0,), np.int64))
    return concatenate_aligned(xs), concatenate_aligned(ys, np.int64)


def info(name):
    """Static facts about a data set.

    Args:
      name: tfds name.

    Returns:
      dict with ``image_shape`` (tuple ``(H, W, C)``), ``num_classes``,
      ``splits`` (``{split: num_examples}``, possibly empty if tfds has no
      metadata) and ``class_names``.  For ``IDX_DATASETS`` this comes from a
      static table without importing tfds, otherwise from
      ``tfds.builder(name).info``.

    Example:
      >>> info("fashion_mnist")["num_classes"]
      10
    """
    if name in _STATIC_INFO:
        d = _STATIC_INFO[name]
        return {**d, "splits": dict(d["splits"])}
    import tensorflow_datasets as tfds
    tinfo = tfds.builder(name).info
    features = tinfo.features
    image_key = "image" if "image" in features else None
    label = features["label"] if "label" in features else None
    return {
        "image_shape": tuple(features[image_key].shape) if image_key else None,
        "num_classes": getattr(label, "num_classes", None),
        "splits": {k: v.num_examples for k, v in tinfo.splits.items()},
        "class_names": tuple(getattr(label, "names", None) or ()),
    }


# --------------------------------------------------------------------------
# Semi-supervised splits
# --------------------------------------------------------------------------

def _balanced_indices(labels, num_labels, seed):
    """Indices of a class-balanced subset of ``num_labels`` examples."""
    classes = np.unique(labels)
    k = len(classes)
    if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) \
            or not k <= num_labels <= len(labels):
        raise ValueError(
            f"num_labels must be an integer between the number of classes ({k}) and the "
            f"number of examples ({len(labels)}); got {num_labels!r}")
    rng = np.random.default_rng(seed)
    per_class = np.full(k, num_labels // k)
    per_class[rng.permutation(k)[:num_labels % k]] += 1  # the remainder goes to random classes
    chosen = []
    for c, count in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if len(members) < count:
            raise ValueError(
                f"class {int(c)} has only {len(members)} examples, fewer than the {int(count)} "
                f"labels a balanced subset of num_labels={num_labels} needs; lower num_labels")
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


def semi_supervised_split(dataset_or_arrays, num_labels, seed=0):
    """Keeps a class-balanced subset of ``num_labels`` labels; every other label becomes -1.

    Each class gets ``num_labels // K`` labeled examples (the remainder, if any,
    one more for randomly chosen classes), drawn without replacement with
    ``seed``; the examples themselves are all kept, in their order, so the
    result trains ``vaezoo.SemiSupervisedVAE`` in one ``fit``.

    Args:
      dataset_or_arrays: an unbatched ``tf.data.Dataset`` of ``{"image",
        "label"}`` dicts or ``(image, label)`` tuples (as ``load`` gives), or
        numpy ``(images, labels)``.
      num_labels: number of examples that keep their label.
      seed: seed of the draw.

    Returns:
      the same kind of object with labels -1 except on the labeled subset
      (a dataset, or ``(images, labels)`` with a fresh int64 labels array).

    Example:
      >>> train = semi_supervised_split(load("fashion_mnist", "train"), 100, seed=0)
      >>> x, y = semi_supervised_split(load_arrays("fashion_mnist", "train"), 100, seed=0)
      >>> np.bincount(y[y >= 0]).tolist()
      [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    """
    import tensorflow as tf
    if isinstance(dataset_or_arrays, tf.data.Dataset):
        ds = dataset_or_arrays
        spec = ds.element_spec
        if isinstance(spec, dict) and "label" in spec:
            def get_label(e):
                return e["label"]

            def set_label(e, label):
                return {**e, "label": label}
        elif isinstance(spec, tuple) and len(spec) == 2:
            def get_label(*e):
                return e[1]

            def set_label(e, label):
                return (e[0], label)
        else:
            raise ValueError(
                "semi_supervised_split needs an unbatched dataset of {'image', 'label'} dicts or "
                f"(image, label) tuples; got element_spec {spec}")
        if spec["label"].shape.rank if isinstance(spec, dict) else spec[1].shape.rank:
            raise ValueError("semi_supervised_split needs an unbatched dataset (one scalar label "
                             "per element); call it before .batch()")
        labels = np.concatenate([np.asarray(b).reshape(-1) for b in
                                 ds.map(get_label).batch(8192).as_numpy_iterator()] or
                                [np.zeros((0,), np.int64)])
        keep = np.zeros(len(labels), bool)
        keep[_balanced_indices(labels, num_labels, seed)] = True
        keep = tf.constant(keep)

        def relabel(i, e):
            label = get_label(e) if isinstance(e, dict) else e[1]
            return set_label(e, tf.where(keep[i], label, tf.constant(-1, label.dtype)))

        return ds.enumerate().map(relabel, num_parallel_calls=tf.data.AUTOTUNE,
                                  deterministic=True)
    if not (isinstance(dataset_or_arrays, (tuple, list)) and len(dataset_or_arrays) == 2):
        raise ValueError(
            "semi_supervised_split takes a tf.data.Dataset or a pair (images, labels); got "
            f"{type(dataset_or_arrays).__name__}")
    images, labels = dataset_or_arrays
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    out = np.full_like(labels, -1)
    idx = _balanced_indices(labels, num_labels, seed)
    out[idx] = labels[idx]
    return images, out


def _label_of(element):
    if isinstance(element, dict):
        return element["label"]
    return element[1]


def mixed_batches(dataset, batch_size, labeled_batch_size, seed=0, *, shuffle_buffer=None,
                  reshuffle_each_iteration=True):
    """Batches that each hold exactly ``labeled_batch_size`` labeled examples, the rest unlabeled.

    With 100 labels among 60,000 images a uniformly shuffled batch of 128
    holds a labeled example about one time in five, so the classifier of M2
    would hardly learn. Here every batch holds exactly ``labeled_batch_size``
    labeled examples (label >= 0), drawn cyclically from the labeled subset
    and reshuffled at every pass over it, followed by ``batch_size -
    labeled_batch_size`` unlabeled ones (label -1). One pass over the
    unlabeled examples is the length of the dataset (an incomplete last
    batch of unlabeled examples is dropped, so every batch has the same
    composition).

    The order is a function of ``seed`` only: the first iteration of the
    returned dataset is the same whenever it is built with the same seed (so
    ``vaezoo.training`` builds epoch ``e`` with ``epoch_seed(seed, e)`` and a
    resumed epoch skips the batches it already did).

    Args:
      dataset: an unbatched ``tf.data.Dataset`` of ``{"image", "label"}`` dicts
        or ``(image, label)`` tuples, unlabeled examples carrying label -1
        (``semi_supervised_split``).
      batch_size: examples per batch.
      labeled_batch_size: labeled examples per batch, in ``[1, batch_size - 1]``.
      seed: shuffling seed.
      shuffle_buffer: shuffle buffer of the unlabeled examples (default: all of them).
      reshuffle_each_iteration: whether a second iteration over the returned
        dataset (e.g. Keras ``fit(epochs=n)`` on it) shuffles the unlabeled
        examples again. The labeled ones are reshuffled at every pass regardless.

    Returns:
      a dataset of batches with the structure of ``dataset``'s elements.

    Example:
      >>> train = semi_supervised_split(load("fashion_mnist", "train"), 100, seed=0)
      >>> batches = mixed_batches(train, batch_size=128, labeled_batch_size=32, seed=0)
    """
    import tensorflow as tf

    from vaezoo.validation import check_positive_int
    check_positive_int("batch_size", batch_size)
    check_positive_int("labeled_batch_size", labeled_batch_size)
    if labeled_batch_size >= batch_size:
        raise ValueError(
            f"labeled_batch_size must be smaller than batch_size, so that each batch also holds "
            f"unlabeled examples: valid values are 1 to {batch_size - 1}; got "
            f"labeled_batch_size={labeled_batch_size} with batch_size={batch_size}. Lower "
            f"labeled_batch_size or raise batch_size.")
    spec = dataset.element_spec
    if not ((isinstance(spec, dict) and "label" in spec)
            or (isinstance(spec, tuple) and len(spec) == 2)):
        raise ValueError("mixed_batches needs an unbatched dataset of {'image', 'label'} dicts or "
                         f"(image, label) tuples; got element_spec {spec}")
    if _label_of(spec).shape.rank:
        raise ValueError("mixed_batches needs an unbatched dataset (one scalar label per "
                         "element); call it before .batch()")
    labels = np.concatenate(
        [np.asarray(b).reshape(-1) for b in
         dataset.map(lambda *e: _label_of(e[0] if len(e) == 1 else e)).batch(8192)
         .as_numpy_iterator()] or [np.zeros((0,), np.int64)])
    num_labeled = int((labels >= 0).sum())
    num_unlabeled = len(labels) - num_labeled
    unlabeled_batch_size = batch_size - labeled_batch_size
    if num_labeled == 0 or num_unlabeled < unlabeled_batch_size:
        raise ValueError(
            f"mixed_batches needs labeled (label >= 0) examples and at least one batch of "
            f"{unlabeled_batch_size} unlabeled (label -1) ones; got {num_labeled} labeled and "
            f"{num_unlabeled} unlabeled. Mark the unlabeled examples with semi_supervised_split.")

    def is_labeled(*e):
        return _label_of(e[0] if len(e) == 1 else e) >= 0

    def is_unlabeled(*e):
        return tf.logical_not(is_labeled(*e))

    # Two seeds derived from one: the labeled cycle and the unlabeled pass are independent.
    seed_labeled, seed_unlabeled = (int(s) for s in np.random.SeedSequence(
        [int(seed), 0x5eed]).generate_state(2, np.uint32))
    labeled = (dataset.filter(is_labeled).cache()
               .shuffle(num_labeled, seed=seed_labeled, reshuffle_each_iteration=True)
               .repeat().batch(labeled_batch_size))
    unlabeled = (dataset.filter(is_unlabeled)
                 .shuffle(min(shuffle_buffer or num_unlabeled, num_unlabeled),
                          seed=seed_unlabeled,
                          reshuffle_each_iteration=reshuffle_each_iteration)
                 .batch(unlabeled_batch_size, drop_remainder=True))

    def merge(a, b):
        return tf.nest.map_structure(lambda u, v: tf.concat([u, tf.cast(v, u.dtype)], 0), a, b)

    merged = tf.data.Dataset.zip((labeled, unlabeled)).map(merge)
    # The zip with an endless labeled stream has the unlabeled pass's length; say so.
    return merged.apply(tf.data.experimental.assert_cardinality(num_unlabeled
                                                                // unlabeled_batch_size))
