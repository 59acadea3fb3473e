"""Property-based tests (hypothesis) over image shapes, batch contents and configs.

Kept fast: few examples, tiny networks, no deadline (TensorFlow's first call
of a shape traces a graph). The properties:

* any H x W x C image (H, W in 5..32, C in 1..3) works through the public
  model API (encode / decode / sample / reconstruct / elbo / one fit step);
* any uint8 batch and any float batch in [0, 1] gives a finite ELBO, and a
  Bernoulli ELBO is <= 0; any batch with a NaN/Inf or a value outside [0, 1]
  is a ValueError at every entry point;
* the input checks never raise anything but ValueError / TypeError;
* every valid config validates, builds, and round-trips through the TOML that
  ``vaezoo train`` writes; an unknown key anywhere is a ValueError naming it.
"""

import tomllib

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vaezoo
from vaezoo import config as config_lib
from vaezoo import training, validation
from vaezoo.training.run_config import config_digest

FAST = settings(max_examples=6, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

image_shapes = st.tuples(st.integers(5, 32), st.integers(5, 32), st.integers(1, 3))


def tiny(image_shape, cls=vaezoo.MLPVAE, **kwargs):
    if cls is vaezoo.ConvVAE:
        kwargs = {"filters": (4, 8), "dense_units": 8, **kwargs}
    else:
        kwargs = {"hidden_units": (8,), **kwargs}
    return cls(latent_dim=2, image_shape=image_shape, binarization="dynamic", seed=0, **kwargs)


@FAST
@given(shape=image_shapes, cls=st.sampled_from([vaezoo.MLPVAE, vaezoo.ConvVAE]),
       batch=st.integers(1, 3))
def test_any_image_shape_through_the_model_api(shape, cls, batch):
    model = tiny(shape, cls)
    images = np.random.default_rng(0).integers(0, 256, (batch,) + shape, dtype=np.uint8)
    q = model.encode(images)
    assert tuple(q.batch_shape) == (batch,) and tuple(q.event_shape) == (2,)
    p = model.decode(q.sample(seed=(1, 2)))
    assert tuple(p.event_shape) == shape
    assert tuple(model.sample(2, seed=0).shape) == (2,) + shape
    assert tuple(model.reconstruct(images).shape) == (batch,) + shape
    elbo = model.elbo(images).numpy()
    assert elbo.shape == (batch,) and np.isfinite(elbo).all() and (elbo <= 1e-3).all()


@settings(max_examples=3, deadline=None, derandomize=True)
@given(shape=image_shapes)
def test_one_training_step_on_any_image_shape(shape):
    model = tiny(shape)
    model.compile(optimizer="adam")
    images = np.random.default_rng(1).integers(0, 256, (4,) + shape, dtype=np.uint8)
    logs = model.fit(images, batch_size=2, epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in logs.values())


@pytest.fixture(scope="module")
def model_8x8():
    return tiny((8, 8, 1))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(images=hnp.arrays(np.uint8, st.tuples(st.integers(1, 4), st.just(8), st.just(8),
                                             st.just(1))))
def test_any_uint8_batch_gives_a_finite_elbo(model_8x8, images):
    elbo = model_8x8.elbo(images).numpy()
    assert np.isfinite(elbo).all() and (elbo <= 1e-3).all()


unit_floats = st.floats(0.0, 1.0, width=32)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(images=hnp.arrays(np.float32, (2, 8, 8, 1), elements=unit_floats))
def test_any_float_batch_in_the_unit_interval_gives_a_finite_elbo(model_8x8, images):
    assert np.isfinite(model_8x8.elbo(images).numpy()).all()


bad_pixels = st.one_of(st.just(np.nan), st.just(np.inf), st.just(-np.inf),
                       st.floats(1.0, 1e6, exclude_min=True, width=32),
                       st.floats(-1e6, 0.0, exclude_max=True, width=32))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(images=hnp.arrays(np.float32, (2, 8, 8, 1), elements=unit_floats),
       where=st.tuples(st.integers(0, 1), st.integers(0, 7), st.integers(0, 7)),
       value=bad_pixels)
def test_one_bad_pixel_is_a_clear_error_everywhere(model_8x8, images, where, value):
    images = images.copy()
    images[where + (0,)] = value
    for entry in (model_8x8.elbo, model_8x8.encode, model_8x8.reconstruct,
                  lambda x: validation.check_images(x, (8, 8, 1))):
        with pytest.raises(ValueError, match=r"NaN or Inf|\[0, 1\]"):
            entry(images)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(array=hnp.arrays(
    st.sampled_from([np.uint8, np.int32, np.float16, np.float32, np.float64, np.bool_]),
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)),
    built=st.sampled_from([None, (6, 6, 1), (6, 6, 3)]))
def test_input_checks_raise_only_value_or_type_errors(array, built):
    try:
        validation.check_images(array, built)
    except (ValueError, TypeError) as e:
        assert str(e)                                   # and they say something
    else:
        # Accepted input is a batch of the built shape with valid pixels.
        shape = array.shape + ((1,) if array.ndim == 3 else ())
        assert len(shape) == 4 and shape[0] > 0
        assert built is None or shape[1:] == built
        if array.dtype.kind == "f":
            assert np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1


# ---------------------------------------------------------------------- configs
model_tables = st.fixed_dictionaries({
    "class": st.sampled_from(["MLPVAE", "ConvVAE"]),
    "latent_dim": st.integers(1, 8),
    "likelihood": st.sampled_from(["bernoulli", "gaussian", "gaussian_pixelwise"]),
    "prior": st.sampled_from(["standard_normal", "mixture"]),
    "beta": st.floats(0.0, 4.0),
    "warmup_steps": st.integers(0, 1000),
})
configs = st.fixed_dictionaries({
    "description": st.text(max_size=30),
    "model": model_tables,
    "data": st.fixed_dictionaries({"batch_size": st.integers(1, 256),
                                   "train_split": st.sampled_from(["train", "train[:10%]"])}),
    "optimizer": st.fixed_dictionaries({"name": st.sampled_from(["adam", "sgd", "rmsprop"]),
                                        "learning_rate": st.floats(1e-5, 1.0),
                                        "clipnorm": st.floats(0.1, 100.0)}),
    "training": st.fixed_dictionaries({"epochs": st.integers(1, 50),
                                       "seed": st.integers(0, 2**31 - 1)}),
})


def _fix(cfg):
    cfg["model"] = dict(cfg["model"])
    if cfg["model"]["likelihood"] != "bernoulli":
        cfg["model"]["binarization"] = None
        del cfg["model"]["binarization"]
    else:
        cfg["model"]["binarization"] = "dynamic"
    if cfg["model"]["class"] == "ConvVAE":
        cfg["model"].update(filters=[4], dense_units=8)
    else:
        cfg["model"].update(hidden_units=[8])
    return cfg


@settings(max_examples=8, deadline=None, derandomize=True)
@given(cfg=configs)
def test_any_valid_config_builds_and_round_trips(cfg, tmp_path_factory):
    cfg = _fix(cfg)
    resolved = config_lib.load_config(cfg)
    model = config_lib.model_from_config(resolved)
    assert model.image_shape == (28, 28, 1) and model.latent_dim == cfg["model"]["latent_dim"]
    # The TOML written into a run directory reads back to the same config.
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    config_lib.save_config(resolved, path)
    again = config_lib.load_config(path)
    assert config_digest(again) == config_digest(resolved)
    assert tomllib.loads(path.read_text())["model"] == {
        k: v for k, v in resolved["model"].items() if v is not None}


@settings(max_examples=10, deadline=None, derandomize=True)
@given(cfg=configs, table=st.sampled_from(["model", "data", "optimizer", "training"]),
       key=st.from_regex(r"[a-z]{3,10}_x", fullmatch=True))
def test_an_unknown_key_is_named(cfg, table, key):
    cfg = _fix(cfg)
    cfg[table] = {**cfg[table], key: 1}
    with pytest.raises(ValueError, match=key):
        config_lib.load_config(cfg)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), epoch=st.integers(0, 10_000))
def test_epoch_seed_is_a_pure_function(seed, epoch):
    s = training.epoch_seed(seed, epoch)
    assert s == training.epoch_seed(seed, epoch) and 0 <= s < 2**32
    assert s != training.epoch_seed(seed, epoch + 1)
