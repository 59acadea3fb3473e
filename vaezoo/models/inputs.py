"""A VAE's input handling: a batch of images -> a float32 tensor on the likelihood's support.

``VAE.preprocess`` splits a batch (``vaezoo.batches.unpack_batch``), checks
and shapes its images (``as_image_batch``), then maps the pixels to the
likelihood's support (``on_support``):

* uint8 images are divided by 255; float images must already be in [0, 1];
* for a Bernoulli likelihood, ``binarization`` maps gray levels x to {0, 1}:
  ``"dynamic"`` draws ``1[u < x]`` with a fresh ``u ~ U(0, 1)`` each training
  step (the static draw otherwise), ``"static"`` is the content-addressed draw
  of ``vaezoo.preprocessing.static_binarize``, None takes the pixels as given.

``as_latent`` is the same for a latent code given to ``decode``.
"""

import keras
import numpy as np
import tensorflow as tf

from vaezoo import validation
from vaezoo.preprocessing import static_binarize, to_unit_interval

BINARIZATIONS = ("dynamic", "static", None)

# The hash is ~20 elementwise int64 ops per pixel, which XLA fuses into one loop;
# compiled on its own, so the matrix products around it keep their own kernels.
_fused_static_binarize = tf.function(static_binarize, jit_compile=True, reduce_retracing=True)


def check_binarization(binarization, likelihood, support):
    """``binarization``, or a ValueError if it is not one of ``BINARIZATIONS`` or is
    set for a likelihood (named ``likelihood``) whose ``support`` is not binary."""
    if binarization not in BINARIZATIONS:
        raise ValueError(
            f"binarization must be one of 'dynamic', 'static', None; got {binarization!r}")
    if binarization is not None and support != "binary":
        raise ValueError(
            f"binarization={binarization!r} only applies to a Bernoulli likelihood; "
            f"likelihood {likelihood!r} models gray levels, so use binarization=None")
    return binarization


def static_binarize_once(x, seed):
    """``static_binarize`` that skips images already in {0, 1}.

    Static binarization is idempotent on binary pixels, so data binarized by
    ``vaezoo.data.load(..., binarization="static")`` passes through unchanged
    and the hash is not recomputed every step (one check, ``x (1 - x) == 0``).
    """
    is_binary = tf.reduce_all(tf.equal(x * (1.0 - x), 0.0))
    return tf.cond(is_binary, lambda: tf.identity(x),
                   lambda: _fused_static_binarize(x, seed))


def on_support(model, x, training=False):
    """Images ``x`` [B, H, W, C] (uint8 or float in [0, 1]) on ``model``'s likelihood's
    support: [0, 1], or {0, 1} by its ``binarization`` for a Bernoulli likelihood."""
    if model.likelihood_layer.support != "binary":
        return to_unit_interval(x)
    if model.binarization is None and x.dtype == tf.uint8:
        raise ValueError(
            "uint8 images given to a Bernoulli model with binarization=None: a Bernoulli "
            "likelihood needs pixels in {0, 1}. Construct the model with "
            "binarization='dynamic' or 'static', or give float images in [0, 1] "
            "(e.g. vaezoo.data.load(..., binarization='static')).")
    x = to_unit_interval(x)
    if model.binarization == "dynamic" and training:
        u = keras.random.uniform(tf.shape(x), seed=model.seed_generator)
        return tf.cast(u < x, tf.float32)
    if model.binarization is not None:
        return static_binarize_once(x, model.binarization_seed)
    return x


def as_image_batch(model, images):
    """``images`` as a uint8 or float32 tensor [B, H, W, C] for ``model``.

    Checks rank, shape and dtype (and, eagerly, the pixel values: see
    ``vaezoo.validation.check_image_values``); adds the channel axis to
    [B, H, W] gray images; builds an unbuilt model for the images' shape.
    """
    if not tf.is_tensor(images):
        images = np.asarray(images)
        if images.dtype == np.float64:
            images = images.astype(np.float32)
    x = tf.convert_to_tensor(images)
    if tf.executing_eagerly():
        validation.check_image_values(x)  # NaN/Inf, 0..255 floats: cheap, eager only
    if x.dtype != tf.uint8 and not x.dtype.is_floating:
        raise TypeError(
            f"images must be uint8 (0..255) or float (0..1); got dtype {x.dtype.name}. "
            f"Cast them, e.g. tf.cast(images, tf.uint8).")
    if x.dtype.is_floating and x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    shape = model.image_shape
    if x.shape.rank == 3 and (shape is None or (
            shape[-1] == 1 and tuple(x.shape[1:]) == shape[:2])):
        x = x[..., None]
    if x.shape.rank != 4:
        raise ValueError(
            f"expected a batch of images of shape [batch, height, width, channels]; got shape "
            f"{tuple(x.shape)}. A single image needs a batch axis: images[None].")
    if model.image_shape is None:
        model.build(tuple(x.shape))
    got = tuple(x.shape[1:])
    if any(g is not None and g != e for g, e in zip(got, model.image_shape)):
        raise ValueError(
            f"this model was built for images of shape {model.image_shape}; got images of "
            f"shape {got}. Resize the images or build a new model for this shape.")
    return x


def as_latent(z, latent_dim, owner, *, dtype=tf.float32, what="a float array of latent codes",
              layout="[batch, latent_dim] (or [..., batch, latent_dim])"):
    """z as ``dtype`` [..., latent_dim] (float32 latent codes; a VQ-VAE asks for int32
    code grids); the last axis is checked when it is known (always eagerly), so a
    wrong size is a ValueError, not a failed reshape. ``owner`` names the model and
    ``what`` / ``layout`` the expected values in the messages."""
    if not tf.is_tensor(z):
        z = np.asarray(z)
        if z.dtype.kind not in "fiu":
            raise TypeError(f"z must be {what} [..., latent_dim={latent_dim}]; "
                            f"got dtype {z.dtype}")
    z = tf.convert_to_tensor(z)
    if not (z.dtype.is_floating or z.dtype.is_integer):
        raise TypeError(f"z must be {what.replace('array', 'tensor')} [..., latent_dim="
                        f"{latent_dim}]; got dtype {z.dtype.name}")
    if z.shape.rank == 0 or (z.shape.rank is not None and z.shape[-1] is not None
                             and z.shape[-1] != latent_dim):
        raise ValueError(
            f"z must have shape {layout} with latent_dim={latent_dim} for this {owner}; got "
            f"shape {tuple(z.shape)}. Decode codes from model.encode(x) or "
            f"model.prior().sample(n).")
    return tf.cast(z, dtype) if z.dtype != dtype else z
