"""Bad input gets a clear ValueError/TypeError, never a tf.errors trace (issue 6 item 1).

Each test feeds one kind of bad input through a public entry point and checks
the message names the problem and the fix. Models are tiny (6x6 images).
"""

import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from harness import FAMILIES, family_model
from vaezoo import evaluation, models, saving, validation

SHAPE = (6, 6, 1)


def small_model(**kwargs):
    kwargs = {"latent_dim": 2, "hidden_units": (8,), "image_shape": SHAPE,
              "binarization": "dynamic", "seed": 0, **kwargs}
    model = vaezoo.MLPVAE(**kwargs)
    model.compile(optimizer="adam")
    return model


def uint8_images(n=8, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape, dtype=np.uint8)


def float_images(n=8, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).random((n,) + shape).astype(np.float32)


def with_nan(images):
    images = images.copy()
    images[1, 2, 3, 0] = np.nan
    return images


# ---------------------------------------------------------------------- arrays
@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict", "elbo", "encode",
                                   "reconstruct"])
@pytest.mark.parametrize("bad, match", [
    (float_images() * 255, r"\[0, 1\].*0\.\.255 values stored as floats.*images / 255"),
    (with_nan(float_images()), "NaN or Inf"),
    (np.where(float_images() > 0.5, np.inf, 0.0).astype(np.float32), "NaN or Inf"),
    (float_images(shape=(7, 6, 1)), r"built for images of shape \(6, 6, 1\).*\(7, 6, 1\)"),
    (float_images(shape=(6, 6, 3)), r"built for images of shape \(6, 6, 1\).*\(6, 6, 3\)"),
    (np.zeros((8, 36), np.float32), r"\[batch, height, width, channels\]"),
    (np.zeros((2, 8, 6, 6, 1), np.float32), r"\[batch, height, width, channels\]"),
    (np.zeros((8,) + SHAPE, np.int32), "uint8 .* or float"),
])
def test_bad_arrays(entry, bad, match):
    model = small_model()
    call = {
        "fit": lambda: model.fit(bad, batch_size=4, epochs=1, verbose=0),
        "evaluate": lambda: model.evaluate(bad, batch_size=4, verbose=0),
        "predict": lambda: model.predict(bad, batch_size=4, verbose=0),
        "elbo": lambda: model.elbo(bad),
        "encode": lambda: model.encode(bad),
        "reconstruct": lambda: model.reconstruct(bad),
    }[entry]
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_single_image_without_batch_axis():
    with pytest.raises(ValueError, match=r"images\[None\]|single images"):
        small_model().fit(uint8_images()[0], epochs=1, verbose=0)


# ---------------------------------------------------------------------- datasets
def _dataset(images, as_dict=True, batch=4):
    labels = np.zeros(len(images), np.int64)
    ds = tf.data.Dataset.from_tensor_slices(
        {"image": images, "label": labels} if as_dict else (images, labels))
    return ds.batch(batch) if batch else ds


@pytest.mark.parametrize("bad, match", [
    (float_images() * 255, r"\[0, 1\]; got min .* max .*images / 255"),
    (with_nan(float_images()), "NaN or Inf"),
])
def test_bad_pixel_values_in_a_dataset(bad, match):
    """Values are checked in the input pipeline (XLA would drop in-step asserts)."""
    model = small_model()
    for entry in (lambda d: model.fit(d, epochs=1, verbose=0),
                  lambda d: model.evaluate(d, verbose=0),
                  lambda d: model.predict(d, verbose=0)):
        with pytest.raises(ValueError, match=match) as info:
            entry(_dataset(bad, as_dict=False))
        assert "Graph execution" not in str(info.value)


def test_dataset_shapes_checked_statically_and_at_run_time():
    model = small_model()
    with pytest.raises(ValueError, match=r"built for images of shape \(6, 6, 1\)"):
        model.fit(_dataset(uint8_images(shape=(5, 6, 1))), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="single images .* Batch them"):
        model.fit(_dataset(uint8_images(), batch=0), epochs=1, verbose=0)
    # Unknown static shape: the check runs on each batch.
    gen = tf.data.Dataset.from_generator(
        lambda: iter([uint8_images(4, (5, 6, 1))]),
        output_signature=tf.TensorSpec([None, None, None, 1], tf.uint8))
    with pytest.raises(ValueError, match=r"images have shape 5 6 1 but this model was built"):
        model.fit(gen, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="uint8 .* or float"):
        model.fit(tf.data.Dataset.from_tensor_slices(np.zeros((4,) + SHAPE, np.int32)).batch(2),
                  epochs=1, verbose=0)


def test_empty_data():
    model = small_model()
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0,) + SHAPE, np.uint8)).batch(4)
    with pytest.raises(ValueError, match="empty"):
        model.fit(empty, epochs=1, verbose=0)
    unknown = tf.data.Dataset.from_tensor_slices(uint8_images()).filter(lambda x: False).batch(4)
    assert int(unknown.cardinality()) < 0                # not known before reading it
    for entry in (lambda: model.fit(unknown, epochs=1, verbose=0),
                  lambda: model.evaluate(unknown, verbose=0),
                  lambda: model.predict(unknown, verbose=0)):
        with pytest.raises(ValueError, match="empty"):
            entry()
    with pytest.raises(ValueError, match="empty"):
        evaluation.log_likelihood(model, empty, num_samples=2, progress=False)


def test_good_input_still_works():
    model = small_model()
    model.fit(_dataset(uint8_images()), epochs=1, verbose=0)
    model.fit(_dataset(float_images(), as_dict=False), epochs=1, verbose=0)
    logs = model.evaluate(uint8_images(), batch_size=4, verbose=0, return_dict=True)
    assert np.isfinite(logs["elbo"])
    assert model.predict(float_images(), batch_size=4, verbose=0).shape == (8,) + SHAPE
    assert np.isfinite(model.elbo(uint8_images()).numpy()).all()


# ---------------------------------------------------------------------- sizes and names
def test_sizes_must_be_positive():
    model = small_model()
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        model.fit(uint8_images(), batch_size=0, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got -4"):
        model.predict(uint8_images(), batch_size=-4, verbose=0)
    with pytest.raises(ValueError, match="latent_dim must be a positive integer; got 0"):
        vaezoo.MLPVAE(latent_dim=0)
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        evaluation.log_likelihood(model, uint8_images(), num_samples=0)
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        model.elbo(uint8_images(), num_samples=-1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.sample(0)


@pytest.mark.parametrize("kwargs, match", [
    ({"likelihood": "bernouli"}, "likelihood must be one of .* Did you mean 'bernoulli'"),
    ({"prior": "standard_norma"}, "prior must be one of .*'standard_normal'"),
    ({"posterior": "gausian"}, "posterior must be one of .*'gaussian'"),
    ({"objective": "iwea"}, "objective must be one of .*'elbo', 'iwae'"),
])
def test_unknown_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vaezoo.MLPVAE(latent_dim=2, **kwargs)


# ---------------------------------------------------------------------- weights files
@pytest.fixture
def saved_weights(tmp_path):
    model = small_model()
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    return model, path


def test_truncated_and_corrupted_weights(saved_weights, tmp_path):
    _, path = saved_weights
    data = path.read_bytes()
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(np.random.default_rng(0).bytes(len(data)))
    for bad in (cut, junk):
        with pytest.raises(ValueError, match="truncated or corrupted.*Re-save or re-download"):
            small_model().load_weights(bad)
    with pytest.raises(FileNotFoundError):
        small_model().load_weights(tmp_path / "missing.weights.h5")


@pytest.mark.parametrize("other", [
    {"latent_dim": 3}, {"hidden_units": (8, 8)}, {"image_shape": (7, 6, 1)},
])
def test_weights_of_another_architecture(saved_weights, other):
    _, path = saved_weights
    with pytest.raises(ValueError, match="do not fit this MLPVAE.*different architecture"):
        small_model(**other).load_weights(path)


def test_weights_roundtrip_still_works(saved_weights):
    model, path = saved_weights
    fresh = small_model()
    fresh.load_weights(path)
    x = uint8_images()
    np.testing.assert_allclose(fresh.encode(x).mean(), model.encode(x).mean())


def test_damaged_keras_file(tmp_path):
    model = small_model()
    path = tmp_path / "m.keras"
    model.save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        saving.load_model(cut)
    loaded = saving.load_model(path)                   # safe mode, same class
    assert type(loaded) is vaezoo.MLPVAE


def test_input_check_message_extracts_the_reason():
    error = tf.errors.InvalidArgumentError(
        None, None, "Graph execution error:\n...assertion failed: [" + validation.MARKER +
        "images have shape] [5 6 1] [but this model was built for (6, 6, 1)]\n\t [[{{node x}}]]")
    assert validation.input_check_message(error) == (
        "images have shape 5 6 1 but this model was built for (6, 6, 1)")
    assert validation.input_check_message(ValueError("other")) is None


# ---------------------------------------------------------------------- unconditional models
#: Every unconditional family of ``harness.FAMILIES`` (tiny models, static binarization).
UNCONDITIONAL = {name: (lambda name=name: family_model(name, binarization="static"))
                 for name in FAMILIES if not getattr(models, name).is_conditional}


def _unconditional(family):
    model = UNCONDITIONAL[family]()
    model.build((None,) + SHAPE)
    model.compile(optimizer="adam")
    return model


@pytest.mark.parametrize("family", sorted(UNCONDITIONAL))
def test_labels_given_to_an_unconditional_model_are_errors(family):
    """An explicit y / condition is refused with the fix, never silently ignored."""
    model = _unconditional(family)
    x, labels = float_images(), np.arange(8) % 3
    z = np.zeros((8, model.latent_dim), np.float32)
    calls = {
        "fit": lambda: model.fit(x, labels, verbose=0),
        "fit(y=)": lambda: model.fit(x, y=labels, verbose=0),
        "fit on a dataset": lambda: model.fit(_dataset(x), y=labels, verbose=0),
        "evaluate": lambda: model.evaluate(x, labels, verbose=0),
        "encode": lambda: model.encode(x, labels),
        "decode": lambda: model.decode(z, labels),
        "prior": lambda: model.prior(labels),
        "sample": lambda: model.sample(4, condition=3),
        "reconstruct": lambda: model.reconstruct(x, labels),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"{family} is unconditional .*takes no labels.*"
                                             r"use ConditionalVAE"):
            call()
    with pytest.raises(ValueError, match=r"unconditional.*condition=.*Drop condition"):
        model.sample(4, condition=np.array([0, 1, 2, 3]))


#: The entry points that take a batch and set its labels aside (``vaezoo.batches``).
BATCH_ENTRY_POINTS = ("train_step", "test_step", "predict_step", "fit", "evaluate", "predict",
                      "reconstruct", "elbo", "call", "preprocess", "_model_input")


def _own_batch_handling(family):
    """MLPVAE (the base class's code, which every family shares), and each family that
    defines one of ``BATCH_ENTRY_POINTS`` itself."""
    cls = getattr(vaezoo, family)
    return family == "MLPVAE" or any(
        name in vars(klass) for klass in cls.__mro__[:cls.__mro__.index(vaezoo.models.VAE)]
        for name in BATCH_ENTRY_POINTS)


# Every family also fits, evaluates and predicts on batches with labels in the shared
# harness (tests/harness.check_vae on mock_batches: dicts, and tuples for ConvVAE).
@pytest.mark.parametrize("family", [f for f in sorted(UNCONDITIONAL) if _own_batch_handling(f)])
def test_labels_that_come_with_the_data_are_fine(family):
    """tfds-style batches carry labels: an unconditional model uses the images."""
    model = _unconditional(family)
    x, labels = uint8_images(), np.arange(8) % 3
    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": labels}).batch(4)
    assert np.isfinite(model.fit(ds, verbose=0).history["loss"]).all()
    assert np.isfinite(model.fit((x, labels), batch_size=4, verbose=0).history["loss"]).all()
    assert np.isfinite(model.evaluate({"image": x, "label": labels}, verbose=0)[0])
    assert model.predict(ds, verbose=0).shape == x.shape
    np.testing.assert_array_equal(model.reconstruct({"image": x, "label": labels}).numpy(),
                                  model.reconstruct(x).numpy())
    assert np.isfinite(model.elbo(ds.take(1).get_single_element()).numpy()).all()


@pytest.mark.parametrize("family", sorted(UNCONDITIONAL))
def test_decode_checks_the_latent_size(family):
    model = _unconditional(family)
    d = model.latent_dim
    for bad in (np.zeros((3, d + 1), np.float32), np.zeros((2, 3, d - 1)), np.float32(0.0)):
        with pytest.raises(ValueError, match=rf"latent_dim={d} for this {family}"):
            model.decode(bad)
    latents = "integer array of code grids" if family == "VQVAE" else "float array of latent codes"
    with pytest.raises(TypeError, match=latents):
        model.decode(np.full((2, d), "a"))
    assert model.decode(np.zeros((3, d))).mean().shape == (3,) + SHAPE  # float64 is cast
    assert model.decode(tf.zeros([5, 3, d])).batch_shape == (5, 3)


def test_decode_before_build_says_how_to_build():
    with pytest.raises(ValueError, match="not built yet"):
        vaezoo.MLPVAE(latent_dim=2).decode(np.zeros((1, 2), np.float32))


@pytest.mark.parametrize("bad, error, match", [
    ([np.zeros((6, 6, 1)), np.zeros((5, 6, 1))], TypeError, "ragged or mixed"),
    (np.zeros((0,) + SHAPE, np.float32), ValueError, "empty batch"),
    (np.full((4,) + SHAPE, "a"), TypeError, "uint8 .* or float"),
    (np.zeros((4,) + SHAPE, bool), TypeError, "uint8 .* or float"),
])
def test_more_bad_arrays(bad, error, match):
    model = small_model()
    for call in (lambda: model.fit(bad, verbose=0), lambda: model.evaluate(bad, verbose=0),
                 lambda: model.predict(bad, verbose=0)):
        with pytest.raises(error, match=match):
            call()
    # A failed call leaves the model usable: the next fit traces a fresh step.
    assert np.isfinite(model.fit(float_images(), batch_size=4, verbose=0).history["loss"]).all()


def test_float64_images_train():
    model = small_model()
    images = float_images().astype(np.float64)
    assert np.isfinite(model.fit(images, batch_size=4, verbose=0).history["loss"]).all()
    assert np.isfinite(model.evaluate(images, verbose=0)[0])


def test_validation_labels_of_an_unconditional_model_name_validation_data():
    model = small_model()
    x = float_images()
    with pytest.raises(ValueError, match=r"validation_data=\(x_val, y_val\).*validation_data="
                                         r"x_val"):
        model.fit(x, validation_data=(x, np.zeros(8)), verbose=0)
    with pytest.raises(ValueError, match=r"target is its input: fit\(x\) needs no y"):
        model.fit(x, x, verbose=0)                  # the Keras autoencoder habit
    history = model.fit(x, validation_data=x, batch_size=4, verbose=0)
    assert "val_loss" in history.history
