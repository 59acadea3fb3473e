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


def check_vae(factory, data, images, tmp_path, labels=None, fit_kwargs=None,
              loss_is_negative_elbo=None):
    """Runs the checks every vaezoo VAE must pass; returns the fitted model.

    Args:
      factory: () -> an uncompiled model.
      data: a batched tf.data.Dataset in a format the model takes.
      images: a uint8 numpy array of a few images of the data's shape.
      tmp_path: pytest's tmp_path for the .keras file.
      labels: the labels of ``images`` for conditional models.
      loss_is_negative_elbo: whether the training loss is -ELBO; None: when the model
        trains on the plain ELBO (objective "elbo", beta 1, no free bits). A family that
        adds a regularizer to the ELBO passes False.
    """
    model = factory()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(data, epochs=1, verbose=0, **(fit_kwargs or {}))
    for name in ("loss", "elbo", "rate", "distortion"):
        assert name in history.history, f"metric {name} missing: {sorted(history.history)}"
        assert np.isfinite(history.history[name][0])
    logs = history.history
    # loss = -elbo when beta = 1 and the objective is the ELBO.
    if loss_is_negative_elbo is None:
        loss_is_negative_elbo = (getattr(model, "objective", "elbo") == "elbo"
                                 and model.beta == 1.0 and not model.free_bits)
    if loss_is_negative_elbo:
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


# ---------------------------------------------------------------------- the Keras workflows
#: Tiny constructor arguments of every VAE family, for the workflows every family must
#: support (``check_keras_workflows``, run by ``tests/test_keras_workflows.py``). A new
#: family is one line here; that test fails for a family of ``vaezoo.models`` without one.
NUM_CLASSES = 3
FAMILIES = {
    "MLPVAE": {"latent_dim": 2, "hidden_units": (8,)},
    "ConvVAE": {"latent_dim": 2, "filters": (4,), "dense_units": 8},
    "ConditionalVAE": {"num_classes": NUM_CLASSES, "latent_dim": 2, "hidden_units": (8,),
                       "conditional_prior": True, "prior_hidden_units": (8,)},
    "SemiSupervisedVAE": {"num_classes": NUM_CLASSES, "latent_dim": 2, "hidden_units": (8,),
                          "classifier_hidden_units": (8,)},
    "AuxiliaryDGM": {"num_classes": NUM_CLASSES, "latent_dim": 2, "hidden_units": (8,),
                     "classifier_hidden_units": (8,), "auxiliary_dim": 2,
                     "auxiliary_hidden_units": (8,)},
    "HierarchicalVAE": {"latent_dims": (3, 2), "hidden_units": ((8,), (4,))},
    "ConvHierarchicalVAE": {"latent_dims": (3, 2), "filters": (4,), "dense_units": 8},
    "VQVAE": {"num_embeddings": 4, "embedding_dim": 2, "filters": (4,), "num_residual_blocks": 1,
              "prior_kwargs": {"filters": 4, "num_layers": 2, "embedding_size": 4}},
}
#: The families that regularize the codes (``vaezoo.models.regularized_vae``), on the
#: ConvVAE trunk of ``FAMILIES["ConvVAE"]``.
_CONV = {"latent_dim": 2, "filters": (4,), "dense_units": 8}
FAMILIES.update({
    "BetaVAE": {**_CONV, "capacity_max": 5.0, "capacity_steps": 10, "gamma": 10.0},
    "BetaTCVAE": {**_CONV, "dataset_size": 32},
    "DIPVAE": {**_CONV, "dip_type": "ii"},
    "FactorVAE": {**_CONV, "discriminator_units": (8,)},
    "InfoVAE": {**_CONV, "info_lambda": 10.0},
    "WAE": {**_CONV, "mmd_weight": 10.0},
})
WORKFLOW_IMAGE_SHAPE = (8, 8, 1)


def family_model(name, **overrides):
    """A tiny, uncompiled model of the family ``name`` that takes uint8 images
    (Bernoulli likelihood, dynamic binarization); built from its first batch
    unless ``image_shape`` is among ``overrides``."""
    from vaezoo import models
    return getattr(models, name)(**{"binarization": "dynamic", "seed": 0, **FAMILIES[name],
                                    **overrides})


def workflow_data(n=32, image_shape=WORKFLOW_IMAGE_SHAPE, seed=0):
    """(uint8 images [n, *image_shape], int64 labels [n] in [0, NUM_CLASSES)) as NumPy arrays."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n,) + tuple(image_shape), dtype=np.uint8)
    return images, rng.integers(0, NUM_CLASSES, size=n).astype(np.int64)


class Interrupted(Exception):
    """Raised by ``InterruptAfter`` to stand for a killed training run."""


class InterruptAfter(keras.callbacks.Callback):
    """Raises ``Interrupted`` at the end of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupted(f"interrupted after epoch {epoch}")


class RecordStart(keras.callbacks.Callback):
    """Records the state ``fit`` starts from: weights and optimizer step at
    ``on_train_begin`` (after a BackupAndRestore placed before it), and the epochs run."""

    def on_train_begin(self, logs=None):
        self.weights = [w.numpy() for w in self.model.trainable_weights]
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def _reconstructions(model, images, labels):
    args = (images, labels) if model.is_conditional else (images,)
    return np.asarray(model.reconstruct(*args))


def check_keras_workflows(factory, images, labels, tmp_path, tensorboard=True):
    """Runs the Keras workflows a user tries first on one family; returns the fitted model.

    ``summary()``; ``fit`` on NumPy arrays with ``validation_data`` and with
    ``validation_split``; ``EarlyStopping``; ``ModelCheckpoint`` to ``.keras`` and
    to ``.weights.h5``; ``load_weights`` of both into fresh models, unbuilt and
    built; ``BackupAndRestore`` resuming an interrupted run at the right epoch
    with its weights and optimizer state, into a model built from its first batch
    and into one constructed with ``image_shape``; ``export`` to a SavedModel
    whose ``encode`` / ``decode`` / ``sample`` / ``reconstruct`` endpoints take
    uint8 and float32 images and give the model's own outputs; and, with
    ``tensorboard`` (the ``[tensorboard]`` extra, which ``make test`` installs), the
    ``TensorBoard`` callback in the same ``fit``.

    Args:
      factory: (**overrides) -> an uncompiled model, built from its first batch
        unless ``image_shape=`` is given (as ``family_model``).
      images: uint8 images [32, H, W, C]; labels: their int labels [32].
      tmp_path: pytest's tmp_path.
      tensorboard: whether to run the TensorBoard callback.
    """
    shape = images.shape[1:]
    train, val = slice(0, 24), slice(24, None)
    few = (images[:4], labels[:4])

    def data(model, rows=slice(None)):
        return (images[rows], labels[rows]) if model.is_conditional else (images[rows],)

    def compiled(**overrides):
        model = factory(**overrides)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        return model

    def summary(model):
        lines = []
        model.summary(print_fn=lambda line, **kwargs: lines.append(line))
        assert "Total params" in "\n".join(lines), "\n".join(lines)

    summary(compiled(image_shape=shape))

    # fit, built from its first batch, with validation_data, EarlyStopping, ModelCheckpoint.
    model = compiled()
    assert not model.built
    keras_file, weights_file = str(tmp_path / "last.keras"), str(tmp_path / "last.weights.h5")
    logs_dir = tmp_path / "tensorboard"
    history = model.fit(*data(model, train), validation_data=data(model, val), batch_size=8,
                        epochs=5, verbose=0, callbacks=[
                            # no epoch improves val_loss by 1e9: stops after the second
                            keras.callbacks.EarlyStopping(min_delta=1e9, patience=0),
                            keras.callbacks.ModelCheckpoint(keras_file),
                            keras.callbacks.ModelCheckpoint(weights_file,
                                                            save_weights_only=True),
                        ] + ([keras.callbacks.TensorBoard(str(logs_dir), histogram_freq=1)]
                             if tensorboard else []))
    if tensorboard:
        for split in ("train", "validation"):
            assert list((logs_dir / split).iterdir()), f"TensorBoard wrote no {split} events"
    logs = history.history
    assert len(logs["loss"]) == 2, f"EarlyStopping did not stop the run: {logs}"
    for name in ("val_loss", "val_elbo", "val_rate", "val_distortion"):
        assert name in logs and np.all(np.isfinite(logs[name])), f"{name} missing: {sorted(logs)}"
    summary(model)
    expected = _reconstructions(model, *few)

    # The checkpoints hold the last epoch: as .keras and into fresh models, unbuilt or built.
    loaded = keras.models.load_model(keras_file)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(_reconstructions(loaded, *few), expected, atol=1e-6)
    for path in (weights_file, keras_file):
        for fresh in (factory(), factory(image_shape=shape)):
            fresh.load_weights(path)
            np.testing.assert_allclose(_reconstructions(fresh, *few), expected, atol=1e-6,
                                       err_msg=f"load_weights({path}) into {fresh}")

    # validation_split on NumPy arrays (the model goes on training).
    history = model.fit(*data(model), validation_split=0.25, batch_size=8, epochs=1, verbose=0)
    assert "val_loss" in history.history and np.isfinite(history.history["val_loss"][0])

    check_export(model, images[:4], labels[:4], tmp_path / "exported")

    # BackupAndRestore: a run interrupted after epoch 1 resumes at epoch 2, with the
    # weights and optimizer step it had, in a fresh process (a fresh model). The
    # interrupted run is a new fit of the model above (its train step is traced already).
    backup = tmp_path / "backup"
    interrupted = model
    steps_before = int(interrupted.optimizer.iterations.numpy())
    try:
        interrupted.fit(*data(interrupted, train), batch_size=8, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(str(backup)),
                                   InterruptAfter(1)])
        raise AssertionError("the run was not interrupted")
    except Interrupted:
        pass
    at_interruption = [w.numpy() for w in interrupted.trainable_weights]
    steps = int(interrupted.optimizer.iterations.numpy())
    assert steps == steps_before + 6, (steps_before, steps)
    import shutil
    shutil.copytree(backup, tmp_path / "backup_copy")   # each resume deletes its backup
    for resumed, directory in ((compiled(), backup),
                               (compiled(image_shape=shape), tmp_path / "backup_copy")):
        start = RecordStart()
        resumed.fit(*data(resumed, train), batch_size=8, epochs=3, verbose=0,
                    callbacks=[keras.callbacks.BackupAndRestore(str(directory)), start])
        assert start.epochs == [2], f"resumed at epochs {start.epochs}, not [2]"
        assert start.iterations == steps, (start.iterations, steps)
        for got, want in zip(start.weights, at_interruption):
            np.testing.assert_array_equal(got, want)
    return model


def check_export(model, images, labels, path):
    """``model.export(path)`` and its endpoints on uint8 and float32 images against
    the model's own ``encode`` / ``decode`` / ``sample`` / ``reconstruct``."""
    model.export(str(path), verbose=False)
    exported = tf.saved_model.load(str(path))
    y = (labels,) if model.is_conditional else ()
    as_float = images.astype(np.float32) / 255.0
    q = model.encode(model.preprocess(images)[0], *y)
    want = {"mean": model.posterior_point(q).numpy(),
            "reconstruct": model.reconstruct(images, *y).numpy()}
    for x in (images, as_float):
        params = exported.encode(x, *y)
        np.testing.assert_allclose(params["mean"], want["mean"], atol=1e-5)
        if "stddev" in params:
            np.testing.assert_allclose(params["stddev"], q.stddev(), atol=1e-5)
        np.testing.assert_allclose(exported.reconstruct(x, *y), want["reconstruct"], atol=1e-5)
        np.testing.assert_allclose(exported.serve(x, *y), want["reconstruct"], atol=1e-5)
    np.testing.assert_allclose(exported.decode(want["mean"], *y),
                               model.decode(want["mean"], *y).mean(), atol=1e-5)
    if model.is_conditional:
        drawn = exported.sample(tf.constant(labels), 7)
        expected = model.sample(len(labels), seed=7, condition=labels)
    else:
        drawn, expected = exported.sample(4, 7), model.sample(4, seed=7)
    assert tuple(drawn.shape) == (len(images) if model.is_conditional else 4,) + model.image_shape
    np.testing.assert_allclose(drawn, expected, atol=1e-5)
    assert {"encode", "decode", "sample", "reconstruct", "serving_default"} <= set(
        exported.signatures)
    return exported


def check_gradients_reach_every_variable(model, x):
    """Every trainable variable of ``model`` gets a nonzero gradient of its
    ``compute_objective`` loss on the preprocessed batch ``x``."""
    with tf.GradientTape() as tape:
        loss, _ = model.compute_objective(x)
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads)
               if g is None or not np.any(g.numpy())]
    assert not missing, f"no gradient for {missing}"


def check_semi_supervised_objective(model, x, bounds, qy, y, alpha, atol=1e-3):
    """``compute_objective`` of a semi-supervised family against a hand computation:
    given the labeled bounds L(x, k) [B, K] and q(y|.) [B, K] (Kingma et al. 2014, eqs. 6,
    7 and 9), the labeled examples' elbo is L(x, y), the unlabeled ones'
    U(x) = sum_y q(y|.) L(x, y) + H(q(y|.)), rate + distortion = -elbo, and the loss adds
    alpha * cross-entropy on the labeled examples only; ``atol`` (nats) is the noise of the
    bounds the model draws. Returns the terms."""
    expected_u = (qy * bounds).sum(-1) - (qy * np.log(qy)).sum(-1)
    loss, t = model.compute_objective(x, tf.constant(y))
    elbo = t["elbo"].numpy()
    unl = y < 0
    np.testing.assert_allclose(elbo[unl], expected_u[unl], rtol=1e-4, atol=atol)
    np.testing.assert_allclose(elbo[~unl], bounds[~unl, y[~unl]], rtol=1e-4, atol=atol)
    np.testing.assert_allclose(t["rate"] + t["distortion"], -elbo, rtol=1e-5, atol=1e-4)
    ce = -np.log(qy[~unl, y[~unl]])
    np.testing.assert_allclose(loss, np.mean(-elbo) + alpha * ce.sum() / len(y), rtol=1e-5)
    return t
