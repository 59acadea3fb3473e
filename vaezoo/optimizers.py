r"""Opt-in: Adam with TensorFlow's fused update kernel.

Keras 3's ``keras.optimizers.Adam`` (vaezoo's default, ``optimizer="adam"``)
writes the update of each variable as about twenty small graph ops (casts,
powers, two ``assign_add``, a square, a square root, a division, an
``assign_sub``). :class:`FusedAdam` computes the very same update with one
``ResourceApplyAdam`` kernel per variable, which reads and writes
``variable``, ``m`` and ``v`` in a single pass::

    t      = iterations + 1
    alpha  = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m     <- m + (g - m) * (1 - beta_1)
    v     <- v + (g^2 - v) * (1 - beta_2)
    var   <- var - alpha * m / (sqrt(v) + epsilon)

which is exactly the formula of ``keras.optimizers.Adam.update_step`` (Kingma &
Ba 2015, with the "epsilon hat" placement). It is a subclass of
``keras.optimizers.Adam``: the same constructor arguments, the same variables
(``momentum`` and ``velocity`` per model variable, so checkpoints are
interchangeable), learning-rate schedules, clipping, weight decay, EMA and loss
scaling all go through Keras unchanged. ``amsgrad=True`` and sparse gradients
use the Keras update. It uses TensorFlow's kernel, so it needs the TensorFlow
backend (vaezoo's).

Opt in with ``VAE.compile(optimizer="fused_adam")``, ``optimizer=FusedAdam(...)``
or ``[optimizer] name = "fused_adam"`` in a zoo config (its speed against Keras'
Adam: ``docs/benchmarks.md``).
"""

import keras
import tensorflow as tf

__all__ = ["FusedAdam", "get"]


@keras.saving.register_keras_serializable(package="vaezoo")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with one fused TF kernel per variable update."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        var = _tf_variable(variable)
        dtype = var.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=_tf_variable(self._momentums[index]).handle,
            v=_tf_variable(self._velocities[index]).handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def get(optimizer):
    """The optimizer ``VAE.compile`` gives Keras: ``"fused_adam"`` (any case) ->
    ``FusedAdam()``; anything else as given (Keras resolves ``"adam"`` to its Adam)."""
    if isinstance(optimizer, str) and optimizer.lower() == "fused_adam":
        return FusedAdam()
    return optimizer
