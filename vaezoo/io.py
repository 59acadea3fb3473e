"""The names of the files vaezoo writes, and the one way it writes them: atomically.

A run directory of ``vaezoo train`` and a preset share their file names;
they are defined here once and imported wherever a file is read or written.

Atomic writes. ``atomic_write(path, write)`` calls ``write(tmp)`` on a
temporary file in the same directory, flushes and fsyncs it, then
``os.replace``-s it over ``path`` (and fsyncs the directory), so a crash or a
``SIGKILL`` at any moment leaves either the old file or the new one, never a
torn one. ``atomic_replace_dir`` does the same for a whole directory (a
preset): it is filled next to its final place and renamed into it.

This is a leaf: it imports nothing of vaezoo and nothing heavy.

Example:
  >>> from vaezoo import io
  >>> io.write_json(run_dir / io.METRICS_FILE, {"epochs": 3})
  >>> io.atomic_write(run_dir / io.KERAS_FILE, model.save, suffix=".keras")
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

#: The resolved zoo config of a run or a preset (``vaezoo.config``).
CONFIG_FILE = "config.toml"
#: The weights (Keras HDF5, no pickle).
WEIGHTS_FILE = "model.weights.h5"
#: The whole model, loadable in Keras safe mode.
KERAS_FILE = "model.keras"
#: A preset's model card, with the sha256 of every other file.
METADATA_FILE = "metadata.json"
#: A grid of samples from the prior.
SAMPLES_FILE = "samples.png"
#: Test images above their reconstructions.
RECONSTRUCTIONS_FILE = "reconstructions.png"
#: A run's record: history, train / test ELBO, test log p(x).
METRICS_FILE = "metrics.json"
#: The result of ``vaezoo evaluate RUN_DIR``.
EVALUATION_FILE = "evaluation.json"
#: The directory of a run's checkpoints.
CHECKPOINT_DIR = "checkpoints"


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                               # some file systems cannot sync a directory
    finally:
        os.close(fd)


def atomic_write(path, write, suffix=""):
    """Write ``path`` atomically: ``write(tmp_path)``, fsync, then ``os.replace``.

    Args:
      path: the file to write (its directory is created).
      write: a callable writing the whole file at the path it is given.
      suffix: the ending the temporary file needs (Keras insists on ``.keras`` /
        ``.weights.h5``, NumPy on ``.npz``).

    Returns:
      ``path`` as a Path. If ``write`` raises, the old file is left as it was
      and the temporary one is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)     # mkstemp makes 0600 files; use the usual mode
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def write_text(path, text):
    """Write a UTF-8 text file atomically."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return atomic_write(path, write)


def _numpy_to_python(obj):
    """``json.dumps``' ``default``: NumPy scalars and arrays as Python numbers and lists."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps_json(obj, **kwargs):
    """``json.dumps`` that also writes NumPy scalars and arrays."""
    return json.dumps(obj, default=_numpy_to_python, **kwargs)


def write_json(path, obj):
    """Write ``obj`` as indented JSON (NumPy values as Python ones), atomically."""
    return write_text(path, dumps_json(obj, indent=2) + "\n")


def atomic_replace_dir(directory, fill):
    """Create or replace ``directory`` whole: ``fill(tmp_dir)``, then rename it into place.

    ``tmp_dir`` is a fresh sibling ``.<name>.tmp``; an existing ``directory`` is
    first renamed aside (``.<name>.old``) and removed once the new one is in
    place, so no crash leaves a half-written directory under the final name.
    Returns ``directory`` as a Path.
    """
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)
    _fsync_dir(directory.parent)
    return directory


def damaged(path, error, what="weights file"):
    """The ValueError of an unreadable (truncated or corrupted) model or weights file."""
    detail = str(error).splitlines()[0][:200] if str(error) else ""
    return ValueError(
        f"cannot read the {what} {path}: it is truncated or corrupted "
        f"({type(error).__name__}: {detail}). Re-save or re-download it.")


__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "KERAS_FILE", "METADATA_FILE", "SAMPLES_FILE",
           "RECONSTRUCTIONS_FILE", "METRICS_FILE", "EVALUATION_FILE", "CHECKPOINT_DIR",
           "atomic_write", "write_text", "write_json", "dumps_json", "atomic_replace_dir", "damaged"]
