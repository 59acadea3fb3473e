r"""The conditional VAE (CVAE) of Sohn, Lee & Yan (2015).

A condition y (a class label, or any tensor such as the observed part of an
image) enters all three distributions of the VAE:

    p(z|y)          the prior: N(0, I), or a diagonal Gaussian N(mu(y), diag sigma(y)^2)
                    from a small network when ``conditional_prior=True``  ``model.prior(y)``
    p(x|z,y)        the likelihood (decoder sees [z, y])                    ``model.decode(z, y)``
    q(z|x,y)        the approximate posterior (encoder sees [x, y])         ``model.encode(x, y)``

and the model maximizes the conditional evidence lower bound (Sohn et al. 2015, eq. 4)

    log p(x|y) >= E_{q(z|x,y)}[log p(x|z,y)] - KL(q(z|x,y) || p(z|y)),

so the base ``VAE`` objective, training loop, sampling and evaluation apply
unchanged with y passed along. A class label y in {0..num_classes-1} enters
the networks one-hot; a tensor condition enters flattened (uint8 scaled to
[0, 1]).

Two trunks (``trunk=``) carry x and y through the networks; f(y) below is the
one-hot label or the flattened tensor condition, of size S:

    "mlp"   q(z|x,y): MLP([flatten(x), f(y)])      p(x|z,y): MLP([z, f(y)]) -> H x W x P
    "conv"  q(z|x,y): conv_encoder([x, tile(f(y))])  with f(y) tiled over H x W as S
                      constant channels beside the C of x (a tensor condition of shape
                      (H, W, c) enters as its own c channels instead);
            p(x|z,y): conv_decoder([z, f(y)]): dense -> reshape to ceil(H/2^n) x
                      ceil(W/2^n) -> n stride-2 transposed convolutions -> crop to H x W

(``vaezoo.networks.conv``), so the conv trunk takes any image size.

Labels are data, so they are checked where they enter (``preprocess``,
``encode``/``decode``/``prior``, ``sample``): eagerly a ValueError; inside a
``tf.function`` (``fit``, ``evaluate``, ``predict``) a ``tf.debugging`` assertion
tagged with ``vaezoo.validation.MARKER``, which those methods re-raise as a
ValueError. Keras compiles ``fit`` with XLA only on accelerators
(``jit_compile="auto"`` is off on CPU), and XLA drops assertions: there an
out-of-range label silently becomes an all-zero one-hot vector, so check
such data once with ``vaezoo.models.conditional_vae.check_labels``.

Over 400 lines with one job: the family holds its two kinds of condition (class
labels and tensors), the one condition reader (``condition_labels``) and the
learned conditional prior p(z|y) beside the model that uses them.

Reference:
  K. Sohn, H. Lee, X. Yan. Learning Structured Output Representation using Deep
  Conditional Generative Models. NeurIPS 2015.
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo import validation
from vaezoo.batches import unpack_batch
from vaezoo.models.base import VAE
from vaezoo.models.precision import float32
from vaezoo.networks import conv_decoder, conv_encoder, mlp, mlp_decoder
from vaezoo.priors.base import Prior

tfd = tfp.distributions

CONDITIONS = ("label", "tensor")
TRUNKS = ("mlp", "conv")
#: The conv trunk's defaults (those of ``ConvVAE``).
CONV_DEFAULTS = {"filters": (32, 64), "kernel_size": 3, "dense_units": 256}



def check_labels(labels, num_classes, allow_unlabeled=False, where="labels"):
    """Integer class labels [B] checked to lie in [0, num_classes) (or -1 if allowed).

    Eager tensors and numpy arrays are checked now (ValueError); symbolic tensors
    get ``tf.debugging`` assertions (an error when the graph runs, except under XLA).

    Args:
      labels: integer array-like of shape [B] (or [B, 1]).
      num_classes: number of classes.
      allow_unlabeled: also accept -1, the "unlabeled" marker of semi-supervised data.
      where: what the labels are, for the error message.

    Returns:
      an int32 tensor [B].
    """
    low = -1 if allow_unlabeled else 0
    valid = f"integers in [{low}, {num_classes - 1}]" + (" (-1 = unlabeled)" if low < 0 else "")
    if not tf.is_tensor(labels):
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            if labels.dtype.kind == "f" and labels.size and np.all(labels == np.round(labels)):
                labels = labels.astype(np.int64)
            else:
                raise ValueError(
                    f"{where} must be {valid}; got an array of dtype {labels.dtype}. Pass integer "
                    f"class indices (not one-hot vectors or names).")
    labels = tf.convert_to_tensor(labels)
    if not labels.dtype.is_integer:
        raise ValueError(f"{where} must be {valid}; got a tensor of dtype {labels.dtype.name}. "
                         f"Cast them, e.g. tf.cast(labels, tf.int64).")
    if labels.shape.rank == 2 and labels.shape[-1] == 1:
        labels = labels[:, 0]
    if labels.shape.rank != 1:
        raise ValueError(f"{where} must have shape [batch] ({valid}); got shape "
                         f"{tuple(labels.shape)}. One-hot labels: pass argmax(labels, -1).")
    labels = tf.cast(labels, tf.int32)
    if tf.executing_eagerly():
        values = labels.numpy()
        bad = values[(values < low) | (values >= num_classes)]
        if bad.size:
            raise ValueError(
                f"{where} must be {valid}; got {np.unique(bad)[:10].tolist()}. "
                + ("-1 marks an unlabeled example: it has no class to condition on "
                   "(only SemiSupervisedVAE's fit, evaluate and classify take it). "
                   if (bad == -1).any() and not allow_unlabeled else "")
                + f"Check num_classes={num_classes} and the data.")
        return labels
    # Tagged so that fit / evaluate / predict turn the failed assertion into a ValueError.
    message = (f"{validation.MARKER}{where} must be {valid}; check num_classes={num_classes} "
               f"and the data")
    with tf.control_dependencies([
            tf.debugging.assert_greater_equal(labels, low, message=message),
            tf.debugging.assert_less(labels, num_classes, message=message)]):
        return tf.identity(labels)


def condition_labels(condition, num_classes, n=None, *, allow_unlabeled=False,
                     where="condition"):
    """Class labels int32 [n] from a condition given as one class, classes or one-hot rows.

    The one reading of a class condition, for ``sample(n, condition=...)``,
    ``encode(x, y)``, ``decode(z, y)``, ``prior(y)``, ``reconstruct(x, y)``, the
    ``y`` of ``fit`` / ``evaluate`` and the CLI's ``--condition``:

    =======================  ==========================================
    ``3`` (a scalar)         class 3 for each of the ``n`` examples
    ``[3, 1, 4]``            one class per example (``[B]`` or ``[B, 1]``)
    ``[[0, 0, 1], ...]``     one-hot rows ``[B, num_classes]``
    =======================  ==========================================

    Args:
      condition: the condition, as above (NumPy, list, scalar or tensor).
      num_classes: the number of classes.
      n: the number of examples the labels are for (checked against a vector or
        one-hot rows, the length a scalar is repeated to); None: any number
        (a scalar gives one label).
      allow_unlabeled: also accept -1, the "unlabeled" marker of semi-supervised data.
      where: what the condition is called in error messages.

    Returns:
      an int32 tensor [n]. Eager input is checked now (ValueError / TypeError);
      inside a ``tf.function`` the values get ``check_labels``' tagged assertions.

    Example:
      >>> condition_labels(3, 10, n=2).numpy()
      array([3, 3], dtype=int32)
      >>> condition_labels(np.eye(10)[[7, 1]], 10).numpy()
      array([7, 1], dtype=int32)
    """
    if tf.is_tensor(condition) and not tf.executing_eagerly():
        y = condition
        if y.shape.rank == 0:
            y = tf.fill(tf.reshape(1 if n is None else n, [1]), y)
        elif y.shape.rank == 2 and y.shape[-1] == num_classes:
            y = tf.argmax(y, axis=-1)                     # one-hot rows
        return check_labels(y, num_classes, allow_unlabeled, where)
    try:
        y = condition.numpy() if tf.is_tensor(condition) else np.asarray(condition)
    except ValueError:                  # NumPy refuses ragged nested lists
        y = np.empty(0, dtype=object)
    if y.dtype.kind not in "biuf":
        raise TypeError(
            f"{where} must be class indices (integers in [0, {num_classes - 1}]) or one-hot rows "
            f"of width {num_classes}; got "
            f"{'ragged or mixed data' if y.dtype == object else 'an array'} of dtype {y.dtype}. "
            f"E.g. 3, [3, 1, 4] or np.eye({num_classes})[[3, 1, 4]].")
    if y.ndim == 0:
        y = np.full([1 if n is None else int(n)], y)
    elif y.ndim == 2 and y.shape[1] != 1:
        if y.shape[1] != num_classes:
            raise ValueError(
                f"{where} given as one-hot rows must have num_classes={num_classes} columns; got "
                f"shape {y.shape}. Give class indices (shape [batch]) or rows of "
                f"np.eye({num_classes}).")
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError(
                f"{where} given as rows of shape [batch, {num_classes}] must be one-hot (a single "
                f"1 per row, zeros elsewhere); give class indices instead, e.g. "
                f"np.argmax(probabilities, -1).")
        y = y.argmax(axis=1)
    labels = check_labels(y, num_classes, allow_unlabeled, where)
    if n is not None and int(labels.shape[0]) != int(n):
        raise ValueError(
            f"got {labels.shape[0]} labels for {int(n)} examples ({where}); give one label per "
            f"example, or a single class (a scalar) for all of them.")
    return labels


def _scale_condition(y):
    y = tf.convert_to_tensor(y)
    if y.dtype == tf.uint8:
        return tf.cast(y, tf.float32) / 255.0
    return tf.cast(y, tf.float32)


class _LearnedConditionalPrior(Prior):
    """A learned p(z|y); y arrives as features [B, condition_size].

    With one component, p(z|y) = N(mu(y), diag sigma(y)^2) and the KL to a diagonal
    Gaussian q(z|x,y) is closed-form. With K > 1 components,

        p(z|y) = sum_k pi_k(y) N(z; mu_k(y), diag sigma_k(y)^2),

    a class-dependent mixture that can cover a multi-modal class (heels and flat
    sandals) without the holes a single Gaussian leaves; its KL is Monte-Carlo.
    """

    def __init__(self, latent_dim, condition_size, hidden_units, activation, featurize,
                 num_components=1, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.condition_size = condition_size
        self.num_components = num_components
        self.net = mlp(hidden_units, activation, name="prior_trunk") if hidden_units else None
        width = 2 * latent_dim if num_components == 1 else num_components * (2 * latent_dim + 1)
        self.head = keras.layers.Dense(width, name="prior_head")
        self._featurize = featurize

    def build(self, input_shape=None):
        shape = (None, self.condition_size)
        if self.net is not None:
            self.net.build(shape)
            shape = self.net.compute_output_shape(shape)
        self.head.build(shape)
        self.built = True

    def distribution(self, y=None, encoder=None):
        h = self._featurize(y)
        if self.net is not None:
            h = self.net(h)
        out = float32(self.head(h))  # the prior's parameters in float32 under any policy
        k, d = self.num_components, self.latent_dim
        if k == 1:
            loc, raw_scale = tf.split(out, 2, axis=-1)
            return tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-4),
                                   reinterpreted_batch_ndims=1)
        logits, params = out[..., :k], out[..., k:]
        params = tf.reshape(params, tf.concat([tf.shape(params)[:-1], [k, 2 * d]], axis=0))
        loc, raw_scale = tf.split(params, 2, axis=-1)
        components = tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-4),
                                     reinterpreted_batch_ndims=1)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=logits), components)


@keras.saving.register_keras_serializable(package="vaezoo")
class ConditionalVAE(VAE):
    """A VAE conditioned on a class label or on any tensor y (MLP or convolutional trunks).

    Args:
      num_classes: number of classes when ``condition="label"`` (required then).
      condition: "label" (integer class labels, one-hot inside) or "tensor" (any
        array with a batch axis, e.g. the observed quadrants of an image).
      condition_shape: shape of one tensor condition without the batch axis;
        taken from the first batch when None.
      conditional_prior: False for p(z|y) = N(0, I); True for a diagonal Gaussian
        whose mean and scale a small MLP computes from y.
      prior_hidden_units: hidden layers of that prior network.
      prior_components: with ``conditional_prior=True``, the number K of Gaussian
        components of p(z|y) (1: one diagonal Gaussian, closed-form KL; K > 1: a
        mixture with weights, means and scales computed from y, Monte-Carlo KL).
      hidden_units: with ``trunk="mlp"``, the hidden layers of the encoder; the decoder
        uses them reversed.
      activation: Keras activation of the hidden layers.
      trunk: "mlp" (default) or "conv": strided convolutions over the image with the
        condition as extra input channels, and a transposed-convolution decoder from
        [z, y] (see the module docstring).
      filters: with ``trunk="conv"``, the channels of the encoder's stride-2
        convolutions (the decoder mirrors them); default (32, 64).
      kernel_size: with ``trunk="conv"``, the convolution kernel size; default 3.
      dense_units: with ``trunk="conv"``, the width of the dense layer between the
        convolutions and z, in the encoder and the decoder (0: none); default 256.
      **kwargs: the base ``VAE`` arguments (latent_dim, likelihood, binarization, ...).

    Example:
      >>> model = vaezoo.ConditionalVAE(num_classes=10, latent_dim=20,
      ...                               likelihood="bernoulli", binarization="dynamic")
      >>> model.compile(optimizer="adam")
      >>> model.fit(vaezoo.data.load("fashion_mnist", "train").batch(128), epochs=10)
      >>> images = model.sample(10, condition=np.arange(10))   # one of each class
      >>> conv = vaezoo.ConditionalVAE(num_classes=10, trunk="conv", filters=(32, 64),
      ...                              dense_units=0, binarization="dynamic")

    Reference:
      Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
      Conditional Generative Models", NeurIPS 2015.
    """

    is_conditional = True
    _allow_unlabeled = False
    SHAPE_KEYS = ("image_shape", "condition_shape")

    def __init__(self, num_classes=None, condition="label", condition_shape=None,
                 conditional_prior=False, prior_hidden_units=(256,), prior_components=1,
                 hidden_units=(500, 500), activation="relu", trunk="mlp", filters=None,
                 kernel_size=None, dense_units=None, **kwargs):
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of 'label', 'tensor'; got {condition!r}. "
                             f"Use 'label' for class labels, 'tensor' for any other array.")
        if condition == "label":
            if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                    or num_classes < 2:
                raise ValueError(
                    f"num_classes must be an integer >= 2 when condition='label'; got "
                    f"{num_classes!r}. Example: ConditionalVAE(num_classes=10).")
            num_classes = int(num_classes)
            if condition_shape is not None:
                raise ValueError("condition_shape only applies to condition='tensor'; "
                                 "drop it for class labels")
        elif num_classes is not None:
            raise ValueError(f"num_classes only applies to condition='label'; got "
                             f"num_classes={num_classes!r} with condition='tensor'. Drop it.")
        self.num_classes = num_classes
        self.condition = condition
        self.condition_shape = (None if condition_shape is None
                                else tuple(int(d) for d in condition_shape))
        self.conditional_prior = bool(conditional_prior)
        if self.conditional_prior and kwargs.get("prior", "standard_normal") != "standard_normal":
            raise ValueError(
                f"conditional_prior=True learns p(z|y) and replaces the prior; got "
                f"prior={kwargs['prior']!r} too. Use one: conditional_prior=True, or "
                f"conditional_prior=False with prior={kwargs['prior']!r}.")
        self.prior_hidden_units = tuple(int(u) for u in prior_hidden_units or ())
        self.prior_components = validation.check_positive_int(
            "prior_components", prior_components, "prior_components=10")
        if self.prior_components > 1 and not self.conditional_prior:
            raise ValueError(
                f"prior_components={prior_components} only applies to the learned prior: "
                f"use conditional_prior=True with it, or drop prior_components.")
        self.hidden_units = validation.check_positive_ints("hidden_units", hidden_units,
                                                           (500, 500))
        self.activation = activation
        keras.activations.get(activation)  # fail early on an unknown activation name
        self._set_trunk(trunk, filters, kernel_size, dense_units)
        if condition == "tensor" and self.condition_shape is None and \
                kwargs.get("image_shape") is not None:
            raise ValueError(
                "condition='tensor' with image_shape given needs condition_shape too (the "
                "shape of one condition without the batch axis), e.g. condition_shape=(28, 28, 1)")
        super().__init__(**kwargs)

    def _set_trunk(self, trunk, filters, kernel_size, dense_units):
        if trunk not in TRUNKS:
            raise ValueError(f"trunk must be one of 'mlp', 'conv'; got {trunk!r}. Use 'conv' "
                             f"for convolutional encoder and decoder, 'mlp' for dense layers.")
        self.trunk = trunk
        given = {"filters": filters, "kernel_size": kernel_size, "dense_units": dense_units}
        if trunk == "mlp":
            extra = [k for k, v in given.items() if v is not None]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)} only appl{'ies' if len(extra) == 1 else 'y'} to "
                    f"trunk='conv'; got {', '.join(f'{k}={given[k]!r}' for k in extra)} with "
                    f"trunk='mlp'. Add trunk='conv', or drop them (the MLP trunk takes "
                    f"hidden_units).")
            self.filters = self.kernel_size = self.dense_units = None
            return
        given = {k: CONV_DEFAULTS[k] if v is None else v for k, v in given.items()}
        self.filters = validation.check_positive_ints("filters", given["filters"], (32, 64))
        self.kernel_size = validation.check_positive_int("kernel_size", given["kernel_size"], 3)
        units = given["dense_units"]
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 0:
            raise ValueError(f"dense_units must be an integer >= 0 (0: no dense layer between "
                             f"the convolutions and z); got {units!r}")
        self.dense_units = int(units)

    # ------------------------------------------------------------------ building
    def _make_prior_layer(self, prior):
        # A learned p(z|y) needs the condition's size: _build_for makes it.
        return None if self.conditional_prior else super()._make_prior_layer(prior)

    @property
    def condition_size(self):
        """Width of the condition features the networks see."""
        if self.condition == "label":
            return self.num_classes
        return int(np.prod(self.condition_shape))

    def _build_for(self, image_shape):
        if self.condition_shape is None and self.condition == "tensor":
            raise ValueError(
                "condition='tensor' needs condition_shape to build: give it to the constructor "
                "or build the model on a batch that carries the condition, e.g. (images, y)")
        if self.conditional_prior:
            self.prior_layer = _LearnedConditionalPrior(
                self.latent_dim, self.condition_size, self.prior_hidden_units, self.activation,
                self._condition_features, num_components=self.prior_components,
                name="conditional_prior")
        super()._build_for(image_shape)

    def _make_encoder(self, image_shape):
        if self.trunk == "conv":
            return conv_encoder(self.filters, self.kernel_size, self.dense_units,
                                self.activation, name="encoder")
        return mlp(self.hidden_units, self.activation, name="encoder")

    def _make_decoder(self, image_shape, out_channels):
        if self.trunk == "conv":
            return conv_decoder(image_shape, out_channels, self.filters, self.kernel_size,
                                self.dense_units, self.activation, name="decoder")
        return mlp_decoder(image_shape, out_channels, self.hidden_units, self.activation)

    def _encoder_input_shape(self, image_shape):
        if self.trunk == "conv":
            return tuple(image_shape[:2]) + (image_shape[2] + self._condition_channels(),)
        return (math.prod(image_shape) + self.condition_size,)

    def _condition_is_image(self):
        """Whether a tensor condition has the images' height and width (then the conv
        encoder takes its channels as they are, rather than its flattened values tiled)."""
        return (self.condition == "tensor" and len(self.condition_shape) == 3
                and self.image_shape is not None
                and tuple(self.condition_shape[:2]) == tuple(self.image_shape[:2]))

    def _condition_channels(self):
        return self.condition_shape[-1] if self._condition_is_image() else self.condition_size

    def _decoder_input_size(self):
        return self.latent_dim + self.condition_size

    def build(self, input_shape=None):
        """As the base ``build``; a tensor condition's shape is taken from the batch's
        second part (``(images, y)``, or a dict's ``"label"``) when not given."""
        if self.condition == "tensor" and self.condition_shape is None:
            shape = None
            if isinstance(input_shape, dict):
                shape = input_shape.get("label")
            elif isinstance(input_shape, (tuple, list)) and len(input_shape) > 1 and isinstance(
                    input_shape[0], (tuple, list)):
                shape = input_shape[1]
            if shape is not None:
                self.condition_shape = tuple(int(d) for d in tuple(shape)[1:])
        super().build(input_shape)

    def _condition_specs(self):
        if self.condition == "label":
            return [tf.TensorSpec((None,), dtype, name="y") for dtype in (tf.int32, tf.int64)]
        return [tf.TensorSpec((None,) + self.condition_shape, dtype, name="y")
                for dtype in (tf.float32, tf.uint8)]

    # ------------------------------------------------------------------ the condition
    def _condition_features(self, y, n=None, where="y"):
        """y -> float features [n, condition_size] (see ``condition_labels`` for the
        forms of a class condition); ``n`` is the number of examples, if known."""
        if y is None:
            what = ("class labels y" if self.condition == "label"
                    else f"the condition tensor y of shape [batch, {self.condition_shape}]")
            raise ValueError(
                f"{type(self).__name__} needs {what}: fit on dicts with a 'label' key or on "
                f"(images, y) tuples, call encode(x, y) / decode(z, y) / prior(y), and "
                f"sample(n, condition=y).")
        if self.condition == "label":
            if tf.is_tensor(y) and not tf.executing_eagerly() and y.shape.rank == 1 \
                    and y.dtype.is_integer:
                labels = y          # a batch's labels, checked by preprocess
            else:
                # -1 (unlabeled) is data for SemiSupervisedVAE, never a condition.
                labels = condition_labels(y, self.num_classes, n, where=where)
            return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)
        y = _scale_condition(y)
        if y.shape.rank is not None and tuple(y.shape) == self.condition_shape:
            y = tf.broadcast_to(y[None], [1 if n is None else n, *self.condition_shape])
        if y.shape.rank is not None and tuple(y.shape[1:]) != self.condition_shape:
            raise ValueError(f"{where} must have shape [batch, *{self.condition_shape}] (or "
                             f"{self.condition_shape} for one condition for all); got "
                             f"{tuple(y.shape)}")
        if isinstance(n, int) and y.shape[0] is not None and y.shape[0] != n:
            raise ValueError(f"got {y.shape[0]} conditions for {n} examples ({where}); give "
                             f"one per example, or one of shape {self.condition_shape} for all")
        return tf.reshape(y, [-1, self.condition_size])

    def _encoder_input(self, x, y):
        n = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
        features = self._condition_features(y, n)
        if self.trunk == "conv":
            if self._condition_is_image():
                maps = tf.reshape(features, [-1, *self.condition_shape])
            else:   # S constant channels: the condition at every pixel
                shape = tf.concat([tf.shape(x)[:3], [self.condition_size]], axis=0)
                maps = tf.broadcast_to(features[:, None, None, :], shape)
            return tf.concat([x, tf.cast(maps, x.dtype)], axis=-1)
        flat_x = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.concat([flat_x, features], axis=-1)

    def _decoder_input(self, flat_z, z, y):
        if z.shape.rank == 1:                   # a single code [D]
            return tf.concat([flat_z, self._condition_features(y, 1)], axis=-1)
        n = z.shape[-2] if z.shape[-2] is not None else tf.shape(z)[-2]
        features = self._condition_features(y, n)
        # z is [..., B, D]: repeat y's features over z's leading sample axes.
        lead = tf.shape(z)[:-1]
        features = tf.broadcast_to(features, tf.concat([lead, [self.condition_size]], axis=0))
        return tf.concat([flat_z, tf.reshape(features, [-1, self.condition_size])], axis=-1)

    def preprocess(self, data, training=False):
        """As the base ``preprocess``; class labels are read by ``condition_labels`` (classes
        or one-hot rows) and checked, a tensor condition is kept as is."""
        if self.condition == "tensor" and self.condition_shape is None:
            _, y = unpack_batch(data)
            if y is not None:
                self.condition_shape = tuple(int(d) for d in y.shape[1:])
        x, y = super().preprocess(data, training)
        if y is not None and self.condition == "label":
            n = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
            y = condition_labels(y, self.num_classes, n, allow_unlabeled=self._allow_unlabeled,
                                 where="labels")
        return x, y

    def _labels_argument(self, y, n, where):
        if self.condition == "label":
            return condition_labels(y, self.num_classes, n, allow_unlabeled=self._allow_unlabeled,
                                    where=f"the labels (y) given to {where}").numpy()
        shape = tuple(np.shape(y))
        if self.condition_shape is not None and shape[1:] != self.condition_shape:
            raise ValueError(f"the conditions (y) given to {where} must have shape [batch, "
                             f"*{self.condition_shape}]; got {shape}")
        if shape[:1] != (n,):
            raise ValueError(f"the conditions (y) given to {where} hold {shape[:1] or 'no'} "
                             f"rows for {n} images; give one per image")
        return y

    def _check_condition(self, condition, n):
        if condition is None:
            raise ValueError(
                f"{type(self).__name__}.sample needs condition=: "
                + (f"a class in [0, {self.num_classes - 1}] for all n images (condition=3), "
                   f"one per image (condition=np.arange(n) % {self.num_classes}) or one-hot rows "
                   f"[n, {self.num_classes}]"
                   if self.condition == "label"
                   else f"a tensor of shape (n, *{self.condition_shape})"))
        if self.condition == "label":
            return condition_labels(condition, self.num_classes, n)
        y = tf.convert_to_tensor(condition)
        if tuple(y.shape) == self.condition_shape:
            return tf.broadcast_to(y[None], [n, *self.condition_shape])
        if y.shape.rank == 0 or y.shape[0] != n:
            raise ValueError(f"condition must have n={n} rows; got shape {tuple(y.shape)}")
        return y

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "condition": self.condition,
                "condition_shape": (None if self.condition_shape is None
                                    else list(self.condition_shape)),
                "conditional_prior": self.conditional_prior,
                "prior_hidden_units": list(self.prior_hidden_units),
                "prior_components": self.prior_components,
                "hidden_units": list(self.hidden_units), "activation": self.activation,
                "trunk": self.trunk,
                "filters": None if self.filters is None else list(self.filters),
                "kernel_size": self.kernel_size, "dense_units": self.dense_units}
