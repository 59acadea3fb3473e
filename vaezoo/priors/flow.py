r"""A normalizing-flow prior: RealNVP couplings on a standard normal.

Dinh, Sohl-Dickstein & Bengio (2017), "Density estimation using Real NVP".
The prior is the push-forward of eps ~ N(0, I) through an invertible f =
f_L o ... o f_1, so by the change of variables

    log p(z) = log N(f^{-1}(z); 0, I) + log |det d f^{-1}(z) / dz|.

Each f_l is an affine coupling (``tfp.bijectors.RealNVP``): with z split as
(z_a, z_b), z_a = the first floor(D/2) coordinates,

    f_l(z)_a = z_a,    f_l(z)_b = z_b * exp(s_l(z_a)) + t_l(z_a),

whose Jacobian is triangular (log-det = sum s_l(z_a)), and whose inverse is
one pass too. A reversal permutation between couplings lets every coordinate
be transformed. s_l and t_l are small MLPs made of Keras 3 ``Dense`` layers
owned by this layer (so they train with the model and are saved in ``.keras``
files); the log-scale is bounded, s = 2 tanh(raw / 2), for stability, and
the last layer starts at zero so the flow starts as the identity
(p(z) = N(0, I) at initialization).

There is no closed-form KL(q(z|x) || p(z)); the rate is the Monte-Carlo
estimate E_q[log q(z|x) - log p(z)] (``vaezoo.objectives.terms``). A
learned prior of this kind reduces the gap between the prior and the
aggregate posterior (Chen et al. 2017, "Variational lossy autoencoder",
use an autoregressive-flow prior for the same reason).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.priors.base import Prior
from vaezoo.validation import check_positive_int, check_positive_ints

tfd = tfp.distributions
tfb = tfp.bijectors


@keras.saving.register_keras_serializable(package="vaezoo")
class FlowPrior(Prior):
    """p(z) = RealNVP flow of a standard normal, with ``num_flows`` affine couplings.

    Args:
      latent_dim: size of z (>= 2: a coupling needs two parts).
      num_flows: number of coupling layers.
      hidden_units: hidden layer sizes of each coupling's shift/log-scale MLP.
      activation: Keras activation of those hidden layers.

    Example:
      >>> vaezoo.MLPVAE(latent_dim=50, prior="flow", prior_kwargs={"num_flows": 4})

    Reference:
      Dinh et al., "Density estimation using Real NVP", ICLR 2017.
    """

    def __init__(self, latent_dim, num_flows=4, hidden_units=(128, 128), activation="relu",
                 **kwargs):
        super().__init__(latent_dim, **kwargs)
        if latent_dim < 2:
            raise ValueError(
                f"the flow prior needs latent_dim >= 2 (a RealNVP coupling transforms one part "
                f"of z given the other); got latent_dim={latent_dim}. Use prior='mixture' or "
                f"'standard_normal' for a 1-dimensional latent.")
        num_flows = check_positive_int("num_flows", num_flows, 4)
        hidden_units = check_positive_ints("hidden_units", hidden_units, (128, 128))
        keras.activations.get(activation)
        self.num_flows = num_flows
        self.hidden_units = hidden_units
        self.activation = activation
        self.num_masked = latent_dim // 2
        # One flat list (Keras tracks the layers of a list attribute); coupling i owns
        # the slice [i * depth, (i + 1) * depth).
        self.coupling_layers = []
        for i in range(num_flows):
            self.coupling_layers += [
                keras.layers.Dense(u, activation=activation, name=f"coupling{i}_hidden{j}")
                for j, u in enumerate(hidden_units)]
            # Zero-initialized output: shift 0 and log-scale 0, the identity map.
            self.coupling_layers.append(keras.layers.Dense(
                2 * (latent_dim - self.num_masked), kernel_initializer="zeros",
                name=f"coupling{i}_out"))

    @property
    def couplings(self):
        depth = len(self.hidden_units) + 1
        return [self.coupling_layers[i * depth:(i + 1) * depth] for i in range(self.num_flows)]

    def build(self, input_shape=None):
        for layers in self.couplings:
            width = self.num_masked
            for layer in layers:
                layer.build((None, width))
                width = layer.units
        self.built = True

    def _shift_and_log_scale_fn(self, layers):
        def fn(x, output_units, **condition_kwargs):
            h = x
            for layer in layers:
                h = layer(h)
            shift, raw = tf.split(h, 2, axis=-1)
            return shift, 2.0 * tf.tanh(raw / 2.0)
        return fn

    def bijector(self):
        """The flow f (eps -> z) as a ``tfb.Chain`` of RealNVP couplings and reversals."""
        reverse = tfb.Permute(permutation=np.arange(self.latent_dim)[::-1].copy())
        steps = []
        for i, layers in enumerate(self.couplings):
            if i:
                steps.append(reverse)
            steps.append(tfb.RealNVP(num_masked=self.num_masked,
                                     shift_and_log_scale_fn=self._shift_and_log_scale_fn(layers)))
        # tfb.Chain applies its last bijector first.
        return tfb.Chain(list(reversed(steps)))

    def distribution(self, y=None, encoder=None):
        if not self.built:
            self.build()
        base = tfd.Independent(tfd.Normal(tf.zeros([self.latent_dim]), 1.0),
                               reinterpreted_batch_ndims=1)
        return tfd.TransformedDistribution(base, self.bijector())

    def get_config(self):
        return {**super().get_config(), "num_flows": self.num_flows,
                "hidden_units": list(self.hidden_units), "activation": self.activation}
