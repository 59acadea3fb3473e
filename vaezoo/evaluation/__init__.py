"""Evaluation of trained VAEs: marginal likelihood, ELBO, collapse diagnostics, accuracy.

=====================  ==========================================================
``likelihood``         ``log_likelihood`` (importance sampled, Burda et al. 2016),
                       ``bits_per_dim``
``lower_bound``        ``elbo``: the bound with its rate / distortion split
``diagnostics``        ``active_units``, ``kl_per_dimension``,
                       ``classification_accuracy``
``batches``            ``labelled_batches``: data -> ``(x, labels, y)`` as the model
                       sees it, shared by every estimator (and the plots)
``steps``              each estimator's per-batch step, compiled once per model
``disentanglement``    the disentanglement metrics of a representation against
                       ground-truth factors (beta-VAE and FactorVAE scores, MIG,
                       SAP, DCI, modularity / explicitness, unsupervised scores),
                       imported as ``vaezoo.evaluation.disentanglement`` (it needs
                       scikit-learn, which the estimators above do not)
=====================  ==========================================================

Model interface
---------------
``model.preprocess(batch, training=False) -> (x, labels)``, ``model.encode(x, y)``
-> q(z|x), ``model.decode(z, y)`` -> p(x|z), ``model.prior(y)`` -> p(z),
``model.is_conditional``, ``model.image_shape``, ``model.dtype_policy`` and, for
``classification_accuracy``, ``model.classify(x)``. ``y`` is the batch's labels
for a conditional model and None otherwise: one call for every family, the
same ``encode`` / ``decode`` / ``prior`` the model trains with.

Data
----
Every estimator takes ``data`` as a ``tf.data.Dataset`` of batches (dicts
``{"image", "label"}``, ``(image, label)`` tuples or image tensors; an unbatched
dataset of single images is batched here), or in-memory arrays (images, or a
tuple / dict of arrays), sliced into batches of 500.

Example:
  >>> from vaezoo import evaluation
  >>> evaluation.log_likelihood(model, test_images, num_samples=1000)["log_likelihood"]
"""

from vaezoo.evaluation.batches import DEFAULT_BATCH_SIZE, labelled_batches
from vaezoo.evaluation.diagnostics import active_units, classification_accuracy, kl_per_dimension
from vaezoo.evaluation.lower_bound import elbo
from vaezoo.evaluation.likelihood import bits_per_dim, log_likelihood
from vaezoo.evaluation.steps import PRECISIONS, check_precision

__all__ = [
    "log_likelihood",
    "elbo",
    "bits_per_dim",
    "active_units",
    "kl_per_dimension",
    "classification_accuracy",
    "labelled_batches",
    "check_precision",
    "PRECISIONS",
    "DEFAULT_BATCH_SIZE",
]
