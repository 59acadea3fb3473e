r"""The codebook of a VQ-VAE: nearest-neighbour quantization and its updates.

van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
Learning". A codebook e_1..e_K in R^D quantizes each encoder output z_e to its
nearest code,

    k(z_e) = argmin_k ||z_e - e_k||^2,      z_q = e_{k(z_e)},

and the decoder sees z_q through the straight-through estimator
z_e + stop_gradient(z_q - z_e) (forward: z_q; backward: the identity to z_e).

The codebook is learned in one of two ways (``update``):

* ``"gradient"``: by the codebook loss ||sg(z_e) - e||^2 (equation 3 of the
  paper; the codebook is a trainable weight);
* ``"ema"``: by exponential moving averages (the paper's appendix A.1), with
  decay gamma, n_k the number of encoder outputs assigned to code k in the batch
  and s_k their sum:

      N_k <- gamma N_k + (1 - gamma) n_k,      m_k <- gamma m_k + (1 - gamma) s_k,
      N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j     (Laplace smoothing),
      e_k <- m_k / N~_k,

  started from N_k = 1, m_k = e_k (each code counts as one observation of its
  initial value, so a code no batch has used keeps its place).

Dead codes (``restart_threshold`` > 0): a code whose moving-average use
U_k <- gamma U_k + (1 - gamma) n_k (started at 0) falls below the threshold is
moved onto a random encoder output of the current batch (Dhariwal et al. 2020,
"Jukebox", section 3.3), its use set to twice the threshold (a grace of about ln 2 / (1 - gamma) steps
before an unused restarted code is moved again). The use counts start at 0, so
the first training step places the codes on encoder outputs of the data.

The codebook's perplexity, exp(-sum_k p_k log p_k) with p_k the fraction of the
batch's outputs assigned to code k, measures how many codes are in use: K
when all are used equally, 1 when one code takes everything.
"""

import keras
import tensorflow as tf

from vaezoo.registry import lookup
from vaezoo.validation import check_positive_int

UPDATES = ("gradient", "ema")


def _check_fraction(name, value, high_inclusive=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        0.0 < value <= 1.0 if high_inclusive else 0.0 < value < 1.0)
    if not ok:
        raise ValueError(f"{name} must be a number in (0, 1{']' if high_inclusive else ')'}; "
                         f"got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="vaezoo")
class VectorQuantizer(keras.layers.Layer):
    """A codebook of ``num_embeddings`` vectors of size ``embedding_dim``.

    Args:
      num_embeddings: K, the number of codes.
      embedding_dim: D, the size of each code vector (the encoder's output channels).
      update: "gradient" (codebook loss) or "ema" (moving averages); see the
        module docstring.
      decay: gamma of the moving averages (the EMA update and the use counts).
      epsilon: the Laplace smoothing of the EMA counts.
      restart_threshold: restart codes whose moving-average use per batch is
        below this (0: never).
    """

    def __init__(self, num_embeddings, embedding_dim, update="gradient", decay=0.99,
                 epsilon=1e-5, restart_threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings = check_positive_int("num_embeddings", num_embeddings, 256)
        if self.num_embeddings < 2:
            raise ValueError(f"num_embeddings must be at least 2; got {num_embeddings}")
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim, 16)
        self.update = lookup("codebook update", update, {u: u for u in UPDATES})
        self.decay = _check_fraction("decay", decay)
        self.epsilon = _check_fraction("epsilon", epsilon)
        if isinstance(restart_threshold, bool) or not isinstance(
                restart_threshold, (int, float)) or restart_threshold < 0:
            raise ValueError(f"restart_threshold must be a number >= 0 (0: no restarts); "
                             f"got {restart_threshold!r}")
        self.restart_threshold = float(restart_threshold)

    def build(self, input_shape=None):
        k, d = self.num_embeddings, self.embedding_dim
        self.codebook = self.add_weight(
            shape=(k, d), name="codebook", dtype="float32",
            initializer=keras.initializers.RandomUniform(-1.0 / k, 1.0 / k),
            trainable=self.update == "gradient")
        if self.update == "ema":
            self.ema_count = self.add_weight(shape=(k,), name="ema_count", dtype="float32",
                                             initializer="ones", trainable=False)
            self.ema_sum = self.add_weight(shape=(k, d), name="ema_sum", dtype="float32",
                                           initializer="zeros", trainable=False)
            self.ema_sum.assign(self.codebook)
        self.use = self.add_weight(shape=(k,), name="use", dtype="float32",
                                   initializer="zeros", trainable=False)
        self.built = True

    def codes(self, z_e):
        """k(z_e): int32 indices [...] of the nearest codes of z_e [..., D]."""
        with tf.name_scope("nearest_code"):   # float32 under any dtype policy
            flat = tf.reshape(tf.cast(z_e, tf.float32), [-1, self.embedding_dim])
            distances = (tf.reduce_sum(flat ** 2, axis=1, keepdims=True)
                         - 2.0 * tf.matmul(flat, self.codebook, transpose_b=True)
                         + tf.reduce_sum(self.codebook ** 2, axis=1)[None, :])
            indices = tf.argmin(distances, axis=1, output_type=tf.int32)
            return tf.reshape(indices, tf.shape(z_e)[:-1])

    def lookup(self, codes):
        """e_k for int codes [...]: float32 [..., D]."""
        return tf.gather(self.codebook, tf.cast(codes, tf.int32))

    def counts(self, codes):
        """n_k: how many of ``codes`` are each code, float32 [K]."""
        flat = tf.reshape(tf.cast(codes, tf.int32), [-1])
        return tf.math.unsorted_segment_sum(tf.ones_like(flat, tf.float32), flat,
                                            self.num_embeddings)

    def perplexity(self, codes):
        """exp of the entropy of the codes' empirical distribution (module docstring)."""
        n = self.counts(codes)
        p = n / tf.maximum(tf.reduce_sum(n), 1.0)
        return tf.exp(-tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p)))

    def apply_updates(self, z_e, codes, seed):
        """After a training step: the EMA update (``update="ema"``), the use counts and
        the dead-code restarts, from the batch's encoder outputs z_e [..., D] and
        their codes [...]. ``seed``: a [2] int32 seed for the restarts' choice."""
        flat = tf.reshape(tf.cast(z_e, tf.float32), [-1, self.embedding_dim])
        flat_codes = tf.reshape(tf.cast(codes, tf.int32), [-1])
        n = self.counts(flat_codes)
        g = self.decay
        if self.update == "ema":
            sums = tf.math.unsorted_segment_sum(flat, flat_codes, self.num_embeddings)
            count = g * self.ema_count + (1.0 - g) * n
            total = tf.reduce_sum(count)
            smoothed = (count + self.epsilon) / (total + self.num_embeddings * self.epsilon) \
                * total
            self.ema_count.assign(count)
            self.ema_sum.assign(g * self.ema_sum + (1.0 - g) * sums)
            self.codebook.assign(self.ema_sum / smoothed[:, None])
        use = g * self.use + (1.0 - g) * n
        if self.restart_threshold > 0:
            dead = use < self.restart_threshold
            picks = tf.random.stateless_uniform([self.num_embeddings], seed, 0,
                                                tf.shape(flat)[0], dtype=tf.int32)
            fresh = tf.gather(flat, picks)
            self.codebook.assign(tf.where(dead[:, None], fresh, self.codebook))
            use = tf.where(dead, 2.0 * self.restart_threshold, use)
            if self.update == "ema":
                self.ema_count.assign(tf.where(dead, 1.0, self.ema_count))
                self.ema_sum.assign(tf.where(dead[:, None], fresh, self.ema_sum))
        self.use.assign(use)

    def get_config(self):
        return {**super().get_config(), "num_embeddings": self.num_embeddings,
                "embedding_dim": self.embedding_dim, "update": self.update,
                "decay": self.decay, "epsilon": self.epsilon,
                "restart_threshold": self.restart_threshold}
