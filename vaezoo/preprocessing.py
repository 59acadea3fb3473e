"""Pixel preprocessing shared by the models and the data pipeline.

Static binarization here is *content-addressed*: the Bernoulli draw for pixel
``p`` of an image is a hash of (the image's 8-bit content, ``p``, ``seed``)
mapped to a uniform ``u`` in [0, 1), and the pixel becomes ``1[u < x_p]``
with ``x_p = q_p / 255``.  So the binarized data set is

* reproducible across runs, machines, batchings and shuffles (no RNG state);
* a fair draw: for a fixed image each pixel is Bernoulli(x_p) over seeds;
* idempotent: binarizing a binary image returns it unchanged, so a model with
  ``binarization="static"`` can be fed data that ``vaezoo.data.load`` already
  binarized with the same seed.

Everything is elementwise int64 arithmetic (murmur3's 32-bit finalizer), so it
runs inside XLA-compiled train steps.
"""

import tensorflow as tf

_MASK32 = 0xFFFFFFFF


def _fmix32(h):
    """Murmur3 finalizer on int64 tensors holding uint32 values."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))
    h = tf.bitwise.bitwise_and(h * 0x85EBCA6B, _MASK32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13))
    h = tf.bitwise.bitwise_and(h * 0xC2B2AE35, _MASK32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def to_unit_interval(images):
    """uint8 images -> float32 in [0, 1]; float images are cast to float32."""
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def static_binarize(images, seed=0):
    """Content-addressed Bernoulli binarization of images of rank 3 or 4.

    Args:
      images: ``uint8`` in [0, 255] or float in [0, 1], shape ``[H, W, C]``
        or ``[B, H, W, C]``.
      seed: integer; a different seed gives an independent binarization.

    Returns:
      float32 tensor of the same shape with values in {0, 1}.

    Example:
      >>> b = static_binarize(tf.constant([[[[128]]]], tf.uint8), seed=0)
    """
    x = to_unit_interval(images)
    unbatched = x.shape.rank == 3
    if unbatched:
        x = x[None]
    q = tf.cast(tf.round(x * 255.0), tf.int64)
    flat = tf.reshape(q, [tf.shape(q)[0], -1])
    pos = tf.range(tf.shape(flat)[1], dtype=tf.int64)[None, :]
    seed = tf.cast(seed, tf.int64) & _MASK32
    # Per-image key: a sum of per-pixel hashes (order-aware through `pos`).
    pixel_hash = _fmix32(tf.bitwise.bitwise_and(
        flat * 0x9E3779B1 + pos * 0x85EBCA77 + seed, _MASK32))
    key = tf.bitwise.bitwise_and(tf.reduce_sum(pixel_hash, axis=1, keepdims=True), _MASK32)
    u = _fmix32(tf.bitwise.bitwise_and(
        _fmix32(tf.bitwise.bitwise_xor(key, pos * 0x27D4EB2F)) + seed * 0x165667B1, _MASK32))
    u = tf.cast(u, tf.float32) / 4294967296.0
    out = tf.reshape(tf.cast(u < tf.reshape(x, tf.shape(flat)), tf.float32), tf.shape(x))
    return out[0] if unbatched else out
