"""A VAE as a TensorFlow SavedModel with inference endpoints (``VAE.export``).

``VAE.export(path)`` (``format="tf_saved_model"``) writes, through
``keras.export.ExportArchive``, a SavedModel with these endpoints
(``tf.saved_model.load`` it, then call ``loaded.encode(images)``, ...):

============================  ==============================================
``reconstruct(images)``       mean of p(x | z = posterior point), [N, H, W, C]
                              (also ``serve``, Keras' endpoint name, and the
                              ``serving_default`` signature)
``encode(images)``            q(z|x) as a dict: ``"mean"``, the latent point
                              ``reconstruct`` decodes, [N, latent_dim] (for a
                              flow posterior, its base mean pushed through the
                              flow); ``"stddev"`` where q has a closed-form one
                              (diagonal Gaussian posteriors)
``decode(z)``                 mean of p(x|z), [N, H, W, C] (pixel
                              probabilities for a Bernoulli likelihood)
``sample(n, seed)``           n images drawn as ``model.sample(n, seed=seed)``
                              (int32 scalars), the same images
============================  ==============================================

``images`` are a batch [N, H, W, C] of uint8 (0..255) or float32 (0..1)
pixels, preprocessed as ``evaluate`` does (a Bernoulli model binarizes them
statically; one with ``binarization=None`` takes float32 only). Conditional
families take the condition ``y`` after the images or ``z`` (the model's
``_condition_specs``: int32 or int64 class labels [N], or a float32 / uint8
tensor condition), and ``sample`` takes ``(condition, seed)`` instead of
``(n, seed)``; a family adds endpoints by extending ``VAE._export_endpoints``
(``SemiSupervisedVAE`` adds ``classify(images)``, q(y|x) as class
probabilities [N, num_classes]).

Example:
  >>> model.export("exported")
  >>> loaded = tf.saved_model.load("exported")
  >>> loaded.encode(images)["mean"], loaded.sample(16, 0)
"""

import os

import keras
import tensorflow as tf


def image_specs(model):
    """The input specs of the images in the endpoints: uint8 and float32, or float32
    only for a model that refuses uint8 (``model._accepts_uint8()``)."""
    dtypes = (tf.uint8, tf.float32) if model._accepts_uint8() else (tf.float32,)
    return [tf.TensorSpec((None,) + tuple(model.image_shape), d, name="images")
            for d in dtypes]


def endpoints(model):
    """(name, function, list of input signatures) of each endpoint of the table above."""
    images = [[spec] for spec in model._image_specs()]
    z = [[tf.TensorSpec((None, model.latent_dim), tf.float32, name="z")]]
    ys = model._condition_specs()

    def with_y(signatures):
        return [s + [y] for s in signatures for y in ys] if ys else signatures

    def reconstruct(images, y=None):
        return model.reconstruct(images, y)

    def encode(images, y=None):
        q = model.encode(model.preprocess(images)[0], y)
        params = {"mean": model.posterior_point(q)}
        try:
            params["stddev"] = q.stddev()
        except NotImplementedError:   # no closed form (a flow, a two-level chain)
            pass
        return params

    def decode(z, y=None):
        return model.decode(z, y).mean()

    seed = tf.TensorSpec((), tf.int32, name="seed")
    if ys:
        def sample(condition, seed):
            return model._sample(tf.shape(condition)[0], condition, tf.stack([seed, 0]))
        sample_signatures = [[y, seed] for y in ys]
    else:
        def sample(n, seed):
            return model._sample(n, None, tf.stack([seed, 0]))
        sample_signatures = [[tf.TensorSpec((), tf.int32, name="n"), seed]]
    return [("reconstruct", reconstruct, with_y(images)),
            ("encode", encode, with_y(images)),
            ("decode", decode, with_y(z)),
            ("sample", sample, sample_signatures)]


def write_saved_model(model, filepath, verbose=None):
    """Writes ``model``'s endpoints (``model._export_endpoints()``) as a SavedModel."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn, signatures in model._export_endpoints():
        fn = tf.function(fn, autograph=False)
        for signature in signatures:
            fn.get_concrete_function(*signature)
        archive.add_endpoint(name, fn)
        if name == "reconstruct":
            archive.add_endpoint("serve", fn)
    archive.write_out(os.fspath(filepath), verbose=True if verbose is None else verbose)
