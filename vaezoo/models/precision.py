"""A VAE's precision: its Keras dtype policy, given to every layer it holds.

A model computes in its ``dtype=`` policy, else the global one
(``keras.config.set_dtype_policy``), one of ``PRECISIONS``. The mixed policies
multiply in bfloat16 / float16 with float32 weights; the distributions'
parameters, densities and losses are float32 under all three (``float32``).

``trunk_precision`` runs the encoder and decoder trunks in a policy of their
own for a while (``vaezoo.evaluation``'s ``precision=``); the model's own
training and inference precision is its dtype policy, not this.
"""

import tensorflow as tf

#: The Keras dtype policies a VAE computes in.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision, what="precision"):
    """A ValueError unless ``precision`` is one of ``PRECISIONS``."""
    if precision not in PRECISIONS:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, PRECISIONS))}; got "
                         f"{precision!r}")


def adopt_policy(layer, policy):
    """Gives ``layer`` and every layer inside it the dtype policy ``policy``.

    Keras gives a layer the global policy when it is made; a model sets its own
    on each layer it holds before the layer is built, so the whole model
    computes in one policy.
    """
    for sub in layer._flatten_layers(include_self=True):
        if sub.dtype_policy.name != policy.name:
            sub.dtype_policy = policy


def float32(params):
    """Distribution parameters from a reduced-precision layer, in float32: every
    density, sample and loss is computed in float32."""
    return params if params.dtype == tf.float32 else tf.cast(params, tf.float32)


def kernel_layers(layer):
    """The layers with a kernel inside ``layer``, in call order (Sequential/functional)."""
    out = []
    for sub in getattr(layer, "layers", []):
        if getattr(sub, "layers", None):
            out += kernel_layers(sub)
        elif hasattr(sub, "kernel"):
            out.append(sub)
    return out


def trunk_layers(model):
    """(the encoder's and posterior head's layers, the decoder's layers) with a
    kernel; empty lists for parts a model does not have (or has not built)."""
    encoder = getattr(model, "encoder", None)
    head = getattr(model, "posterior_head", None)
    decoder = getattr(model, "decoder", None)
    return ((kernel_layers(encoder) if encoder is not None else [])
            + ([head] if head is not None else []),
            kernel_layers(decoder) if decoder is not None else [])


class trunk_precision:
    """While active, the encoder and posterior head compute in ``encoder`` and the
    decoder in ``decoder`` (names of ``PRECISIONS``; None leaves a part in its own
    policy); the policies are put back on exit.

    Example:
      >>> with trunk_precision(model, decoder="mixed_bfloat16"):
      ...     step = tf.function(model.elbo)   # traced with a bfloat16 decoder
    """

    def __init__(self, model, encoder=None, decoder=None):
        for policy in (encoder, decoder):
            if policy is not None:
                check_precision(policy)
        self._model, self._encoder, self._decoder = model, encoder, decoder
        self._saved = []

    def __enter__(self):
        encoder, decoder = trunk_layers(self._model)
        for layers, policy in ((encoder, self._encoder), (decoder, self._decoder)):
            for layer in layers if policy is not None else []:
                self._saved.append((layer, layer.dtype_policy))
                layer.dtype_policy = policy
        return self

    def __exit__(self, *exc):
        for layer, policy in self._saved:
            layer.dtype_policy = policy
        self._saved = []
        return False
