"""One shared check for every VAE family: build, fit a step, save/load, determinism.

Per-model tests call ``check_vae(factory, ...)`` and add only what is special
about their model (keras-hub's ``run_backbone_test`` idea).
"""

import numpy as np
import tensorflow as tf

import keras


def mock_batches(image_shape=(28, 28, 1), n=16, batch_size=8, num_classes=10, seed=0,
                 as_dict=True):
    """Small tfds-like data: uint8 images and int64 labels, batched."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n,) + tuple(image_shape), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=(n,)).astype(np.int64)
    if as_dict:
        ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    else:
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return ds.batch(batch_size), images, labels


def check_vae(factory, data, images, tmp_path, labels=None, fit_kwargs=None):
    """Runs the checks every vaezoo VAE must pass; returns the fitted model.

    Args:
      factory: () -> an uncompiled model.
      data: a batched tf.data.Dataset in a format the model takes.
      images: a uint8 numpy array of a few images of the data's shape.
      tmp_path: pytest's tmp_path for the .keras file.
      labels: the labels of ``images`` for conditional models.
    """
    model = factory()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(data, epochs=1, verbose=0, **(fit_kwargs or {}))
    for name in ("loss", "elbo", "rate", "distortion"):
        assert name in history.history, f"metric {name} missing: {sorted(history.history)}"
        assert np.isfinite(history.history[name][0])
    logs = history.history
    # loss = -elbo when beta = 1 and the objective is the ELBO.
    if getattr(model, "objective", "elbo") == "elbo" and model.beta == 1.0 and not model.free_bits:
        np.testing.assert_allclose(logs["loss"][0], -logs["elbo"][0], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(logs["elbo"][0], -(logs["rate"][0] + logs["distortion"][0]),
                               rtol=1e-4, atol=1e-2)
    assert logs["rate"][0] >= -1e-3 or model.prior_layer.trainable_weights

    x, _ = model.preprocess(images)
    y = None
    if getattr(model, "is_conditional", False):
        y = labels
    q = model.encode(x, y) if y is not None else model.encode(x)
    assert tuple(q.batch_shape) == (len(images),)
    assert tuple(q.event_shape) == (model.latent_dim,)
    z = q.sample(seed=tf.constant([1, 2]))
    p = model.decode(z, y) if y is not None else model.decode(z)
    assert tuple(p.event_shape) == tuple(model.image_shape)
    assert tuple(p.batch_shape) == (len(images),)

    # Deterministic outputs are reproducible and survive a save/load round trip.
    enc_mean = q.mean().numpy()
    dec_mean = (model.decode(enc_mean, y) if y is not None else model.decode(enc_mean)).mean()
    again = (model.encode(x, y) if y is not None else model.encode(x)).mean().numpy()
    np.testing.assert_array_equal(enc_mean, again)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    q2 = loaded.encode(x, y) if y is not None else loaded.encode(x)
    np.testing.assert_allclose(q2.mean().numpy(), enc_mean, rtol=1e-5, atol=1e-5)
    dec2 = (loaded.decode(enc_mean, y) if y is not None else loaded.decode(enc_mean)).mean()
    np.testing.assert_allclose(dec2.numpy(), dec_mean.numpy(), rtol=1e-5, atol=1e-5)

    # Sampling with a seed is reproducible; evaluate and predict work.
    kw = {"condition": labels[:4]} if y is not None else {}
    s1, s2 = model.sample(4, seed=3, **kw), model.sample(4, seed=3, **kw)
    assert tuple(s1.shape) == (4,) + tuple(model.image_shape)
    np.testing.assert_array_equal(s1.numpy(), s2.numpy())
    result = model.evaluate(data, verbose=0, return_dict=True)
    assert np.isfinite(result["elbo"])
    pred = model.predict(data, verbose=0)
    assert pred.shape[1:] == tuple(model.image_shape)
    return model
