"""NumPy arrays in memory TensorFlow can use as a tensor's own, without a copy.

TensorFlow's CPU allocator puts every tensor on a ``TENSOR_ALIGNMENT``-byte
boundary; a C-contiguous array that starts on one can become a tensor in
place (through DLPack, ``tf.experimental.dlpack.from_dlpack``). A leaf module:
NumPy only, so the data loaders can use it without TensorFlow.

Example:
  >>> from vaezoo.memory import aligned, is_aligned
  >>> x = aligned(np.zeros((100, 28, 28, 1)), "float32")
  >>> is_aligned(x)
  True
"""

import numpy as np

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

    Arrays from ``vaezoo.data.load_arrays`` are aligned already.

    Example:
      >>> x = aligned(my_images, "float32")
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
