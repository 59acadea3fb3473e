"""Keras callbacks for watching a VAE train.

``ImageLogger`` writes a grid of samples and a grid of reconstructions (inputs
above outputs) to TensorBoard every N epochs, so you can see the model learn::

    model.fit(train, epochs=20,
              callbacks=[vaezoo.callbacks.ImageLogger(test_images[:16], log_dir="logs")])
    # then: tensorboard --logdir logs

``BatchProgbarLogger`` is Keras' progress bar counting the batches truly run
when ``compile(steps_per_execution=S)`` runs S steps per call: Keras' own reads
``480/469`` at the end of a 469-batch epoch with S = 32.

No warm-up callback: the KL warm-up lives inside the model. ``VAE(warmup_steps=N)``
scales the KL term by ``beta * min(1, (step + 1) / N)`` with ``step`` read from
``model.optimizer.iterations`` (``vaezoo.objectives.warmup_beta``), so it resumes
correctly after a reload and needs nothing from ``fit``.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from vaezoo import plot
from vaezoo.progress import BatchProgbarLogger  # noqa: F401  (re-exported)

__all__ = ["ImageLogger", "BatchProgbarLogger", "write_image_summary"]


def write_image_summary(tag, images, step):
    """Writes [N, H, W, C] float images in [0, 1] as a TensorBoard image summary.

    The same record as ``tf.summary.image``, which needs the ``tensorboard``
    package installed only to *write*: a string tensor [width, height, png_1,
    ..., png_N] tagged with the "images" plugin. Writing it here keeps
    training free of that dependency; viewing needs ``pip install tensorboard``.
    """
    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    pixels = tf.image.convert_image_dtype(tf.clip_by_value(images, 0.0, 1.0), tf.uint8,
                                          saturate=True)
    encoded = [tf.image.encode_png(image) for image in tf.unstack(pixels)]
    shape = tf.shape(pixels)
    tensor = tf.stack([tf.as_string(shape[2]), tf.as_string(shape[1])] + encoded)
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images"))
    return tf.summary.write(tag=tag, tensor=tensor, step=step, metadata=metadata)


class ImageLogger(keras.callbacks.Callback):
    """Logs sample and reconstruction grids to TensorBoard every ``every_n_epochs``.

    Two image summaries per logged epoch, under the epoch number as step:
    ``samples`` (``num_samples`` draws from the prior, always with the same
    ``seed`` so successive epochs show the same z) and ``reconstructions``
    (``images`` on top, their reconstructions below). Each is one tiled image
    (``vaezoo.plot.tile``).

    Args:
      images: a fixed batch to reconstruct (uint8 or float [N, H, W(, C)], or
        ``(images, labels)`` / a dict {"image", "label"} for a conditional
        model); keep it small (8-16 images).
      every_n_epochs: log after epochs N, 2N, ... (and never otherwise).
      log_dir: TensorBoard log directory; the summaries go to
        ``log_dir/images``.
      num_samples: images in the sample grid (0 to skip it).
      seed: seed of the samples.

    Example:
      >>> logger = ImageLogger(x_test[:16], every_n_epochs=2, log_dir="logs/run1")
      >>> model.fit(train, epochs=10, callbacks=[logger])
    """

    def __init__(self, images, every_n_epochs=1, log_dir="logs", num_samples=16, seed=0):
        super().__init__()
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) \
                or every_n_epochs <= 0:
            raise ValueError(f"every_n_epochs must be a positive integer; got {every_n_epochs!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f"num_samples must be an integer >= 0; got {num_samples!r}")
        if images is None:
            raise ValueError("images must be a small batch of images to reconstruct; got None")
        self.images = images
        self.every_n_epochs = every_n_epochs
        self.log_dir = os.fspath(log_dir)
        self.num_samples = num_samples
        self.seed = int(seed)
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "images"))
        return self._writer

    def grids(self):
        """{"samples": [1, H', W', C], "reconstructions": [1, H', W', C]} float32 in [0, 1]."""
        out = {}
        if self.num_samples:
            rows = plot.sample_rows(self.model, self.num_samples, seed=self.seed)
            out["samples"] = plot.tile(rows)[None]
        out["reconstructions"] = plot.tile(plot.reconstruction_rows(self.model, self.images))[None]
        return out

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        with self.writer.as_default():
            for name, grid in self.grids().items():
                write_image_summary(name, grid, step=epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
