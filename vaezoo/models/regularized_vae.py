r"""The shared part of the VAEs whose loss regularizes the codes: beta-VAE with capacity,
beta-TC-VAE, FactorVAE, DIP-VAE, InfoVAE and WAE.

Each family is a ``ConvVAE`` (its trunks, its probability model, sampling, saving and
export unchanged) whose training loss replaces or extends the ELBO's rate term with a
regularizer of the codes from ``vaezoo.regularizers``. The reported ``elbo``, ``rate``
and ``distortion`` stay those of the ELBO on the same draw of z, so ``fit``'s logs,
``evaluate`` and ``vaezoo.evaluation.log_likelihood`` mean what they mean for every
family; the regularizer's terms are reported beside them (``EXTRA_METRICS``).

A family implements

    _regularized_loss(x, q, p, z, t, training) -> (loss, extra terms)

with q = q(z|x) and p = p(z) the distributions, z [S, B, D] the reparameterized codes
the ELBO terms ``t`` were computed on, and returns the scalar loss it minimizes.
"""

import tensorflow as tf

from vaezoo import objectives
from vaezoo.models.conv_vae import ConvVAE


def gaussian_parameters(approx_posterior, family):
    """(loc, scale) [B, D] of a diagonal Gaussian q(z|x); a ValueError for another posterior."""
    base = getattr(approx_posterior, "distribution", None)
    if base is None or not hasattr(base, "loc") or not hasattr(base, "scale"):
        raise ValueError(f"{family} needs the diagonal Gaussian posterior (posterior="
                         f"'gaussian'); its regularizer is computed from q(z|x)'s means and "
                         f"scales")
    return base.loc, base.scale


class RegularizedVAE(ConvVAE):
    """A ``ConvVAE`` whose loss is a family's regularized objective (module docstring).

    Not a family itself (it is not registered): the families subclass it.

    The families take the ``ConvVAE`` arguments; ``objective`` must be "elbo" (the
    importance-weighted bound has no rate term to regularize).
    """

    #: Base arguments a family's objective replaces, with the value they must keep
    #: (e.g. ``{"beta": 1.0}`` when the family weights the KL's parts itself).
    FIXED_ARGUMENTS = {}

    def __init__(self, objective="elbo", **kwargs):
        name = type(self).__name__
        if objective != "elbo":
            raise ValueError(f"{name} trains on its regularized ELBO; objective must be 'elbo' "
                             f"(got {objective!r}). The importance-weighted bound goes with "
                             f"MLPVAE, ConvVAE or HierarchicalVAE.")
        for key, value in self.FIXED_ARGUMENTS.items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(f"{name} does not take {key}={kwargs[key]!r}: "
                                 f"{self._fixed_argument_reason(key)} Leave {key} out.")
        super().__init__(objective=objective, **kwargs)

    def _fixed_argument_reason(self, key):
        if key == "posterior":
            return ("its regularizer is computed from the means and scales of the diagonal "
                    "Gaussian q(z|x) (posterior='gaussian').")
        return "its objective sets it."

    def _step(self, training):
        """The optimizer step being taken when training (schedules), else None."""
        if training and self.optimizer is not None:
            return self.optimizer.iterations
        return None

    def _elbo_loss(self, t, q, p, training):
        """The base loss: distortion + beta_t * rate (warm-up and free bits as in ``VAE``)."""
        return objectives.loss(t, objective="elbo", beta=self.current_beta(training),
                               free_bits=self.free_bits, approx_posterior=q, prior=p)

    def _regularized_loss(self, x, q, p, z, t, training):
        """(scalar loss, dict of extra terms) of the family; subclasses implement."""
        raise NotImplementedError

    def compute_objective(self, x, y=None, training=False):
        """(loss, per-example ELBO terms and the regularizer's terms) for a batch."""
        y = self._batch_condition(y)
        q, p = self.encode(x), self.prior()
        seed = self._stateless_seed()
        t = objectives.terms(x, q, p, self.decode, num_samples=self.num_samples, seed=seed)
        z = q.sample(self.num_samples, seed=seed)   # the codes ``terms`` drew (same seed)
        loss, extra = self._regularized_loss(x, q, p, z, t, training)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return loss, {**t, **extra}
