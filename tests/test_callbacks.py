"""ImageLogger writes sample and reconstruction images to TensorBoard event files."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaezoo.callbacks import ImageLogger
from vaezoo.models import conditional_vae as conditional
from vaezoo.models import MLPVAE

SHAPE = (12, 12, 1)


def image_summaries(log_dir):
    """{(tag, step): (height, width, channels)} of the image summaries in ``log_dir/images``."""
    files = glob.glob(os.path.join(log_dir, "images", "events.out.tfevents.*"))
    assert files, f"no event file in {log_dir}/images"
    found = {}
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                # tf.summary.image stores [width, height, png bytes...] as a string tensor.
                strings = tf.make_ndarray(value.tensor)
                image = tf.io.decode_png(strings[2]).numpy()
                found[(value.tag, event.step)] = image
    return found


def test_image_logger_writes_every_n_epochs(tmp_path, rng):
    images = rng.integers(0, 256, size=(16,) + SHAPE, dtype=np.uint8)
    model = MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=SHAPE, binarization="static")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    logger = ImageLogger(images[:5], every_n_epochs=2, log_dir=tmp_path, num_samples=9)
    model.fit(images, epochs=4, batch_size=8, verbose=0, callbacks=[logger])
    found = image_summaries(str(tmp_path))
    assert sorted(found) == [("reconstructions", 2), ("reconstructions", 4),
                             ("samples", 2), ("samples", 4)]
    # samples: 3 x 3 tiles with 1-pixel gaps; reconstructions: 2 rows of 5.
    assert found[("samples", 2)].shape == (3 * 13 - 1, 3 * 13 - 1, 1)
    assert found[("reconstructions", 2)].shape == (2 * 13 - 1, 5 * 13 - 1, 1)
    assert found[("samples", 4)].std() > 0
    # Samples use a fixed seed; training changed the decoder between epochs 2 and 4.
    assert np.abs(found[("samples", 2)].astype(int) - found[("samples", 4)]).max() > 0


def test_image_logger_for_a_conditional_model(tmp_path, rng):
    images = rng.integers(0, 256, size=(8,) + SHAPE, dtype=np.uint8)
    labels = rng.integers(0, 3, size=8).astype(np.int64)
    model = conditional.ConditionalVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                       image_shape=SHAPE, binarization="static")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    logger = ImageLogger((images[:4], labels[:4]), log_dir=tmp_path, num_samples=6)
    model.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(4), epochs=1,
              verbose=0, shuffle=False, callbacks=[logger])
    found = image_summaries(str(tmp_path))
    # One column per class: 2 rows of 3.
    assert found[("samples", 1)].shape == (2 * 13 - 1, 3 * 13 - 1, 1)


def test_image_logger_rejects_bad_arguments():
    with pytest.raises(ValueError, match="every_n_epochs must be a positive integer; got 0"):
        ImageLogger(np.zeros((2,) + SHAPE), every_n_epochs=0)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 0"):
        ImageLogger(np.zeros((2,) + SHAPE), num_samples=-1)
    with pytest.raises(ValueError, match="images must be a small batch"):
        ImageLogger(None)
