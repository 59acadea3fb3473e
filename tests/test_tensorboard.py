"""keras.callbacks.TensorBoard on a vaezoo model (the optional extra ``tensorboard``).

``make test`` installs ``.[test,tensorboard]``.
"""

import glob
import os

import keras
import numpy as np
import pytest
import tensorboard  # noqa: F401  (the [tensorboard] extra, which make test installs)
import tensorflow as tf

import vaezoo


def _scalar_tags(directory):
    tags = set()
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


@pytest.mark.parametrize("feed", ["arrays", "dataset"])
def test_tensorboard_callback_writes_event_files(tmp_path, feed):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 6, 6, 1), dtype=np.uint8)
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), binarization="dynamic", seed=0)
    model.compile(optimizer="adam")
    log_dir = str(tmp_path / "logs")
    data = {"arrays": (images[:16],),
            "dataset": (tf.data.Dataset.from_tensor_slices(images[:16]).batch(8),)}[feed]
    kwargs = {"batch_size": 8} if feed == "arrays" else {}
    model.fit(*data, validation_data=images[16:], epochs=2, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir)], **kwargs)
    for split in ("train", "validation"):
        tags = _scalar_tags(os.path.join(log_dir, split))
        assert {"epoch_loss", "epoch_elbo", "epoch_rate", "epoch_distortion"} <= tags, tags
