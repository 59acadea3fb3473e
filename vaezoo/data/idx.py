"""The offline source: MNIST-format IDX files on disk, and where to find them.

The original LeCun-format files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``
are parsed with numpy and cached in memory per process. Directories searched
for them, first match wins (``find_idx_dir``):

1. the ``data_dir`` argument,
2. ``$VAEZOO_DATA_DIR`` (``DATA_DIR_ENV``),
3. ``DEFAULT_IDX_DIRS[name]``: ``/usr/share/datasets/fashion-mnist`` (the Debian
   package ``dataset-fashion-mnist`` installs it) or ``/usr/share/datasets/mnist``.

Each directory ``d`` may hold the files directly or in ``d/<name>`` or
``d/<name with "-" for "_">``, so one ``$VAEZOO_DATA_DIR`` can serve both
data sets. ``install_help`` says what provides a data set when no source has it.
"""

import functools
import gzip
import math
import os

import numpy as np

#: Data sets that can be read from local IDX files when tfds cannot help.
IDX_DATASETS = ("fashion_mnist", "mnist")

#: Environment variable naming an extra directory holding IDX files.
DATA_DIR_ENV = "VAEZOO_DATA_DIR"

#: The directory searched last for each of ``IDX_DATASETS``.
DEFAULT_IDX_DIRS = {
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
    "mnist": "/usr/share/datasets/mnist",
}

#: IDX file stems (images, labels) of each split; a ``.gz`` suffix is optional.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_IDX_NAMES = ("train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz")


def tfds_data_dir(data_dir=None):
    """The tfds data dir ``tfds.load`` uses for ``data_dir``, as text for messages."""
    return data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"


def _tfds_help(name, data_dir=None):
    where = tfds_data_dir(data_dir)
    return (f"let tensorflow_datasets download and prepare {name} into its data dir ({where}; "
            f"set by data_dir= or $TFDS_DATA_DIR): it needs network access, or copy a prepared "
            f"{where}/{name}/ from a machine that has it (`tfds build {name}` there)")


def install_help(name, data_dir=None):
    """How to make ``name`` loadable here: the package or directory that provides it."""
    if name == "fashion_mnist":
        return ("To fix it, do one of: install the Debian package `dataset-fashion-mnist` "
                "(apt-get install dataset-fashion-mnist, which provides "
                f"{DEFAULT_IDX_DIRS[name]}); put the IDX files ({_IDX_NAMES}) in a directory "
                f"and set ${DATA_DIR_ENV} to it; or {_tfds_help(name, data_dir)}.")
    if name in IDX_DATASETS:
        return (f"No Debian package ships {name}. To fix it, do one of: put its IDX files "
                f"({_IDX_NAMES}) in {DEFAULT_IDX_DIRS[name]}, or in a directory named by "
                f"${DATA_DIR_ENV} (directly or in its {name}/ subdirectory); or "
                f"{_tfds_help(name, data_dir)}.")
    return f"To fix it, {_tfds_help(name, data_dir)}."


def _find_file(directory, stem):
    for fname in (stem + ".gz", stem):
        path = os.path.join(directory, fname)
        if os.path.isfile(path):
            return path
    return None


def _has_idx_files(directory, split_names):
    return directory and os.path.isdir(directory) and all(
        _find_file(directory, stem) for s in split_names for stem in IDX_FILES[s])


def _candidate_dirs(name, data_dir):
    """Directories searched for IDX files, in order (see the module docstring)."""
    dirs = []
    for root in (data_dir, os.environ.get(DATA_DIR_ENV)):
        if root:
            root = os.path.expanduser(root)
            dirs += [root, os.path.join(root, name),
                     os.path.join(root, name.replace("_", "-"))]
    dirs.append(DEFAULT_IDX_DIRS[name])
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
def read_idx(path):
    """Parses one IDX file of unsigned bytes into a read-only numpy array (cached per path).

    Raises:
      ValueError: the file is unreadable, truncated or not an IDX file of bytes.
    """
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
def read_split(directory, split_name):
    """``(images uint8 [N, H, W, 1], labels int64 [N])`` of one split, read-only (cached)."""
    img_path, lbl_path = (_find_file(directory, s) for s in IDX_FILES[split_name])
    images, labels = read_idx(img_path), read_idx(lbl_path)
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


def clear_cache():
    """Forgets the files read so far (after they changed on disk)."""
    read_idx.cache_clear()
    read_split.cache_clear()
