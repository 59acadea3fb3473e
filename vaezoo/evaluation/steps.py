"""The per-batch step of an estimator: compiled once per model, seeded per batch.

Each estimator is a Python function of one batch, ``step(x, y, seed)``, run as
a ``tf.function`` kept on the model (so a second evaluation of the same model
reuses the traced graph, and the graph goes away with the model):

* with a GPU or TPU visible, the whole step is one XLA computation (Keras'
  ``jit_compile="auto"`` rule);
* on a CPU, the step is a plain ``tf.function`` (TensorFlow's oneDNN matrix
  products) whose elementwise log-densities, over ``samples * batch * pixels``
  values, are one XLA-compiled function (:func:`log_weights`,
  :func:`log_prob`), taking the ``tfd`` distributions (composite tensors) as
  arguments. ``docs/benchmarks.md`` (Speed) has the measurements behind this.

If XLA cannot compile a step (``InvalidArgumentError`` "unsupported
operations" or ``UnimplementedError``), the step is traced again without XLA,
with a warning; every other error propagates.

A stateless seed per batch, ``fold_in(fold_in(seed, batch index), salt)``,
makes each estimate reproducible from its ``seed`` alone.
"""

import contextlib
import warnings

import tensorflow as tf

from vaezoo.models.precision import trunk_precision
from vaezoo.registry import lookup

#: ``log_likelihood(precision=...)`` values besides None (the model's own dtype policy).
PRECISIONS = ("float32", "bfloat16")

#: What XLA raises for a graph it cannot compile (ops without an XLA kernel, shapes
#: it cannot make static).
XLA_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError)

# The model attribute holding its compiled steps: set through ``vars`` so that
# neither Keras' nor TensorFlow's attribute tracking sees it (not saved, not exported).
_STEPS_ATTRIBUTE = "_vaezoo_evaluation_steps"


def check_precision(precision):
    """``precision`` if it is None or one of ``PRECISIONS``, else a ValueError naming them."""
    if precision is None:
        return None
    return lookup("precision", precision, {p: p for p in PRECISIONS})


def precision_scope(model, precision):
    """While tracing, the layers compute in the estimate's ``precision``.

    None: the model's own dtype policy (no change). ``"float32"``: every layer in
    float32. ``"bfloat16"``: the decoder in ``mixed_bfloat16``, the encoder and
    posterior head in float32 (``vaezoo.models.precision.trunk_precision``); the
    policies are put back on exit, so training and ``decode`` are unchanged.
    """
    if precision is None:
        return contextlib.nullcontext()
    return trunk_precision(model, "float32",
                           "mixed_bfloat16" if precision == "bfloat16" else "float32")


def _accelerator_present():
    """Keras' rule for ``jit_compile="auto"``: XLA where a GPU or TPU is visible."""
    return any(d.device_type in ("GPU", "TPU") for d in tf.config.list_logical_devices())


def _composite(*dists):
    return all(isinstance(d, tf.__internal__.CompositeTensor) for d in dists)


@tf.function(jit_compile=True, reduce_retracing=True)
def _fused_log_weights(p, q, prior, x, z):
    return p.log_prob(x) + prior.log_prob(z) - q.log_prob(z)


@tf.function(jit_compile=True, reduce_retracing=True)
def _fused_log_prob(p, x):
    return p.log_prob(x)


def log_weights(p, q, prior, x, z, fuse):
    """``log p(x|z) + log p(z) - log q(z|x)``, one XLA function when ``fuse``."""
    if fuse and _composite(p, q, prior):
        return _fused_log_weights(p, q, prior, x, z)
    return p.log_prob(x) + prior.log_prob(z) - q.log_prob(z)


def log_prob(p, x, fuse):
    """``p.log_prob(x)``, one XLA function when ``fuse``."""
    if fuse and _composite(p):
        return _fused_log_prob(p, x)
    return p.log_prob(x)


class Step:
    """A compiled per-batch step (see the module docstring).

    Args:
      make: ``make(fuse) -> fn(*args)``, the step's Python function; ``fuse``
        says whether to fuse its log-densities (:func:`log_weights`).
      name: what the step computes, for the fallback's warning.
      scope: a context entered while the step traces (e.g. :func:`precision_scope`).
    """

    def __init__(self, make, name, scope=contextlib.nullcontext):
        self._make, self._name, self._scope = make, name, scope
        fuse = not _accelerator_present()
        self._function = self._compile(fuse, jit_compile=not fuse)
        self._uses_xla = True

    def _compile(self, fuse, jit_compile):
        fn = self._make(fuse)

        def traced(*args):
            with self._scope():
                return fn(*args)

        return tf.function(traced, jit_compile=jit_compile, reduce_retracing=True)

    def __call__(self, *args):
        if not self._uses_xla:
            return self._function(*args)
        try:
            return self._function(*args)
        except XLA_ERRORS as err:
            warnings.warn(
                f"vaezoo.evaluation: XLA compilation of {self._name} failed "
                f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                "falling back to a non-XLA tf.function.", RuntimeWarning, stacklevel=3)
            self._function, self._uses_xla = self._compile(False, jit_compile=False), False
            return self._function(*args)


def cached_step(model, key, make_step):
    """The step ``key`` of ``model``, made by ``make_step()`` on first use and kept on
    the model (a second evaluation reuses its traced graph)."""
    steps = vars(model).setdefault(_STEPS_ATTRIBUTE, {})
    if key not in steps:
        steps[key] = make_step()
    return steps[key]


def base_seed(seed):
    """An integer seed as the ``[2]`` int32 seed of TensorFlow's stateless ops."""
    seed = int(seed)
    return tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int32)


def batch_seed(base, index, salt=0):
    """The seed of batch ``index``; ``salt`` separates the estimators' streams."""
    s = tf.random.experimental.stateless_fold_in(base, index)
    return tf.random.experimental.stateless_fold_in(s, salt) if salt else s
