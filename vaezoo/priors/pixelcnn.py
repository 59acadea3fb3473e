r"""A gated PixelCNN prior over the discrete code grid of a VQ-VAE.

The VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete
Representation Learning") trains with a uniform prior over its [h, w] grid of
codes c in {0, ..., K-1}, then fits an autoregressive prior over the grid,
read in raster order (row by row, left to right), c_1, ..., c_{hw}:

    log p(c) = sum_{t=1}^{hw} log Categorical(c_t; softmax(logits_t(c_{<t}))).

All hw conditionals come from one pass of a network whose output at t sees
only c_{<t}, so ``log_prob`` is one network pass and ``sample`` is hw passes
(one position at a time).

The network is the gated PixelCNN of van den Oord et al. 2016 ("Conditional
Image Generation with PixelCNN Decoders"). Each layer has a gated activation

    y = tanh(W_f * v) ⊙ sigmoid(W_g * v)

and two stacks. A single stack of masked 3x3 convolutions has a blind spot:
its receptive field grows up and to the left but never reaches the positions
up and to the right, such as (i-1, j+1). The two-stack design removes it:

* the vertical stack sees every row above, over the full kernel width
  (a (k//2+1) x k convolution padded at the top: rows i-k//2..i);
* the horizontal stack sees the current row to the left
  (a 1 x (k//2+1) convolution padded on the left: columns j-k//2..j);
* the vertical stack feeds the horizontal one through a 1x1 convolution after
  a one-row down-shift, so that row i of the horizontal stack sees the rows
  above it only (never row i of the vertical stack, which holds the future of
  row i);
* the horizontal stack has a residual connection, h <- h + W_o * y_h.

Causality follows from padding and shifting, not from masks multiplied into
kernels: the first layer is mask type 'A' (the current position excluded) by
shifting the code embeddings one column to the right before the horizontal
convolution, and has no residual connection (its input holds the current
code); later layers are type 'B' (their input at (i, j) already depends on
c_{<(i, j)} only). A 1x1 head (ReLU, 1x1 convolution, ReLU, 1x1 convolution)
maps the horizontal stack to K logits per position.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from vaezoo.validation import check_positive_int, check_positive_ints

tfd = tfp.distributions


def _check_grid(grid_shape, num_embeddings):
    if isinstance(num_embeddings, bool) or not isinstance(num_embeddings, (int, np.integer)) \
            or num_embeddings < 2:
        raise ValueError(f"num_embeddings (the codebook size K) must be an integer >= 2 "
                         f"(e.g. 512); got {num_embeddings!r}")
    grid_shape = check_positive_ints("grid_shape", grid_shape, (7, 7))
    if len(grid_shape) != 2:
        raise ValueError(f"grid_shape must be the (height, width) of the code grid, two "
                         f"positive integers, e.g. (7, 7); got {grid_shape!r}")
    return grid_shape, int(num_embeddings)


def _stateless_seed(seed):
    """A [2] int32 stateless seed: a Python int maps to a fixed seed (same int, same
    draws); None draws a fresh one; a tensor or pair is used as given."""
    if seed is None:
        return tfp.random.sanitize_seed(None)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seed = int(seed)
        return tf.constant([seed % 2**31, (seed // 2**31) % 2**31], tf.int32)
    return tfp.random.sanitize_seed(seed)


def uniform_codes(grid_shape, num_embeddings):
    """The uniform distribution over [h, w] grids of K codes, flattened in raster order:
    batch_shape [], event_shape [h*w], dtype int32 (the VQ-VAE's prior before its
    PixelCNN is trained; log_prob = -h*w*log K).

    Example:
      >>> uniform_codes((7, 7), 512).log_prob(tf.zeros([49], tf.int32))  # -49 log 512
    """
    (h, w), k = _check_grid(grid_shape, num_embeddings)
    return tfd.Independent(tfd.Categorical(logits=tf.zeros([h * w, k]), dtype=tf.int32),
                           reinterpreted_batch_ndims=1, name="UniformCodes")


class PixelCNNCodes(tfd.Distribution):
    """The distribution over code grids a ``GatedPixelCNN`` defines.

    batch_shape [], event_shape [h*w] (the grid flattened in raster order), dtype
    int32. ``log_prob(codes [..., h*w])`` is one network pass; ``sample(n, seed)``
    draws position by position in raster order (h*w passes) with stateless
    sampling, eagerly or inside ``tf.function``; ``seed`` is a [2] int32 tensor or
    a Python int (the same seed gives the same codes) or None.

    Args:
      network: a ``GatedPixelCNN`` (built here if it is not yet).
    """

    def __init__(self, network, validate_args=False, allow_nan_stats=True,
                 name="PixelCNNCodes"):
        parameters = dict(locals())
        if not network.built:
            network.build((None,) + tuple(network.grid_shape))
        self._network = network
        h, w = network.grid_shape
        self._num_positions = h * w
        super().__init__(dtype=tf.int32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                         validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                         parameters=parameters, name=name)

    @property
    def network(self):
        return self._network

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _event_shape(self):
        return tf.TensorShape([self._num_positions])

    def _event_shape_tensor(self):
        return tf.constant([self._num_positions], tf.int32)

    def _log_prob(self, codes):
        codes = tf.cast(codes, tf.int32)
        sample_shape = tf.shape(codes)[:-1]
        flat = tf.reshape(codes, [-1, self._num_positions])
        logits = _flat_logits(self._network, flat)
        log_probs = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=flat, logits=logits)
        return tf.reshape(tf.reduce_sum(log_probs, axis=-1), sample_shape)

    def _sample_n(self, n, seed=None):
        seed = _stateless_seed(seed)
        n = tf.convert_to_tensor(n, tf.int32)
        if tf.executing_eagerly():
            # hw Keras calls from Python cost several times the compiled loop.
            return self._network._compiled_sampler()(n, seed)
        return _sample_loop(self._network, n, seed)


def _flat_logits(network, codes):
    """codes [N, h*w] -> float32 logits [N, h*w, K]."""
    h, w = network.grid_shape
    return tf.reshape(network(codes), [-1, h * w, network.num_embeddings])


def _sample_loop(network, n, seed):
    """codes [n, h*w] drawn position by position: code t from Categorical(logits_t(codes_<t)),
    with the stateless seed ``seed`` folded with t."""
    h, w = network.grid_shape
    num_positions = h * w
    positions = tf.range(num_positions)

    def step(t, codes):
        logits = _flat_logits(network, codes)[:, t]
        draw = tf.random.stateless_categorical(
            logits, 1, seed=tf.random.experimental.stateless_fold_in(seed, t), dtype=tf.int32)
        return t + 1, tf.where(positions[None] == t, draw, codes)

    codes = tf.zeros([n, num_positions], tf.int32)
    _, codes = tf.while_loop(lambda t, _: t < num_positions, step, (tf.constant(0), codes))
    return codes


@keras.saving.register_keras_serializable(package="vaezoo")
class GatedPixelCNN(keras.layers.Layer):
    """A gated PixelCNN over an [h, w] grid of codes in {0, ..., K-1}: codes -> logits.

    ``call(codes)`` takes int codes [B, h, w] (or [B, h*w] flat, raster order) and
    returns float32 logits [B, h, w, K] whose value at (i, j) depends only on the
    codes strictly before (i, j) in raster order, under any dtype policy (the
    convolutions compute in the policy, the logits are cast to float32).
    ``distribution()`` is the ``PixelCNNCodes`` distribution p(c) the logits define.

    Args:
      num_embeddings: the codebook size K (>= 2).
      grid_shape: (h, w) of the code grid.
      filters: channels of each stack (the gates use 2 * filters).
      num_layers: number of gated layers (the first is mask type 'A').
      kernel_size: odd size k >= 3 of the receptive field of each layer.
      embedding_size: size of the learned embedding of each code.

    Example:
      >>> pixelcnn = GatedPixelCNN(num_embeddings=512, grid_shape=(7, 7))
      >>> prior = pixelcnn.distribution()
      >>> codes = prior.sample(16, seed=0)              # int32 [16, 49]
      >>> loss = -tf.reduce_mean(prior.log_prob(codes))

    Reference:
      van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
      NeurIPS 2016; van den Oord et al., "Neural Discrete Representation
      Learning", NeurIPS 2017.
    """

    def __init__(self, num_embeddings, grid_shape, filters=64, num_layers=6, kernel_size=3,
                 embedding_size=32, **kwargs):
        super().__init__(**kwargs)
        self.grid_shape, self.num_embeddings = _check_grid(grid_shape, num_embeddings)
        self.filters = check_positive_int("filters", filters, 64)
        self.num_layers = check_positive_int("num_layers", num_layers, 6)
        self.embedding_size = check_positive_int("embedding_size", embedding_size, 32)
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) \
                or kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 3 (e.g. 3 or 5); got "
                             f"{kernel_size!r}")
        self.kernel_size = int(kernel_size)
        k, half, p = self.kernel_size, self.kernel_size // 2, self.filters

        def conv(units, size, name):
            return keras.layers.Conv2D(units, size, padding="valid", name=name,
                                       dtype=self.dtype_policy)

        self.embedding = keras.layers.Embedding(self.num_embeddings, self.embedding_size,
                                                name="embedding", dtype=self.dtype_policy)
        # Flat lists (Keras tracks the layers of a list attribute), one entry per layer.
        self.vertical_convs = [conv(2 * p, (half + 1, k), f"vertical{i}")
                               for i in range(self.num_layers)]
        self.vertical_to_horizontal = [conv(2 * p, 1, f"vertical_to_horizontal{i}")
                                       for i in range(self.num_layers)]
        self.horizontal_convs = [conv(2 * p, (1, half + 1), f"horizontal{i}")
                                 for i in range(self.num_layers)]
        self.horizontal_outputs = [conv(p, 1, f"horizontal_output{i}")
                                   for i in range(self.num_layers)]
        self.head_hidden = conv(p, 1, "head_hidden")
        self.head_logits = conv(self.num_embeddings, 1, "head_logits")

    def build(self, input_shape=None):
        if input_shape is not None:
            dims = tuple(input_shape)[1:]
            h, w = self.grid_shape
            if dims not in ((h, w), (h * w,)) and not all(d is None for d in dims):
                raise ValueError(f"this GatedPixelCNN is for code grids of shape {(h, w)}; got "
                                 f"codes of shape {tuple(input_shape)}. Give codes [batch, {h}, "
                                 f"{w}] or [batch, {h * w}] (raster order).")
        self.embedding.build((None,) + self.grid_shape)
        channels = self.embedding_size
        for vertical, to_horizontal, horizontal, output in zip(
                self.vertical_convs, self.vertical_to_horizontal, self.horizontal_convs,
                self.horizontal_outputs):
            vertical.build((None, None, None, channels))
            horizontal.build((None, None, None, channels))
            to_horizontal.build((None, None, None, 2 * self.filters))
            output.build((None, None, None, self.filters))
            channels = self.filters
        self.head_hidden.build((None, None, None, self.filters))
        self.head_logits.build((None, None, None, self.filters))
        self.built = True

    @staticmethod
    def _gate(x):
        f, g = ops.split(x, 2, axis=-1)
        return ops.tanh(f) * ops.sigmoid(g)

    def call(self, codes):
        h, w = self.grid_shape
        half = self.kernel_size // 2
        codes = ops.reshape(ops.cast(codes, "int32"), (-1, h, w))
        x = self.embedding(codes)
        # Type 'A': the horizontal stack of the first layer reads the row shifted one
        # column to the right, so (i, j) sees (i, <j) and never the code at (i, j).
        v, hz = x, ops.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]])[:, :, :w]
        for layer in range(self.num_layers):
            # Vertical: rows i-k//2..i, columns j-k//2..j+k//2 (for the output at (i, j)).
            v_pre = self.vertical_convs[layer](
                ops.pad(v, [[0, 0], [half, 0], [half, half], [0, 0]]))
            # Down-shift by one row: the horizontal stack sees only the rows above.
            v_down = ops.pad(v_pre, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :h]
            # Horizontal: columns j-k//2..j of the current row.
            h_pre = self.horizontal_convs[layer](ops.pad(hz, [[0, 0], [0, 0], [half, 0], [0, 0]]))
            h_pre = h_pre + self.vertical_to_horizontal[layer](v_down)
            h_out = self.horizontal_outputs[layer](self._gate(h_pre))
            # No residual in the first layer: its input holds the current code.
            hz = h_out if layer == 0 else hz + h_out
            v = self._gate(v_pre)
        logits = self.head_logits(ops.relu(self.head_hidden(ops.relu(hz))))
        return ops.cast(logits, "float32")

    def compute_output_spec(self, codes):
        h, w = self.grid_shape
        return keras.KerasTensor((codes.shape[0], h, w, self.num_embeddings), dtype="float32")

    def _compiled_sampler(self):
        """``_sample_loop`` on this layer as a ``tf.function`` of (n, seed), traced once
        per dtype policy (the policy is fixed in the trace)."""
        cached = getattr(self, "_sampler", None)
        if cached is None or cached[0] != self.dtype_policy.name:
            fn = tf.function(lambda n, seed: _sample_loop(self, n, seed), input_signature=[
                tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int32)], autograph=False)
            cached = (self.dtype_policy.name, fn)
            # A plain attribute: not a weight or a sublayer for Keras/TF to track or save.
            object.__setattr__(self, "_sampler", cached)
        return cached[1]

    def distribution(self):
        """p(c) over flattened code grids: a ``PixelCNNCodes``."""
        return PixelCNNCodes(self)

    def get_config(self):
        return {**super().get_config(), "num_embeddings": self.num_embeddings,
                "grid_shape": list(self.grid_shape), "filters": self.filters,
                "num_layers": self.num_layers, "kernel_size": self.kernel_size,
                "embedding_size": self.embedding_size}


__all__ = ["GatedPixelCNN", "PixelCNNCodes", "uniform_codes"]
