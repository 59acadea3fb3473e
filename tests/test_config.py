"""Zoo configs: every entry builds and trains a step; bad files name the file and the key."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaezoo import config

ENTRIES = config.zoo_config_names()


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


GOOD = """
description = "tiny"
[model]
class = "MLPVAE"
latent_dim = 2
hidden_units = [8]
likelihood = "bernoulli"
binarization = "static"
[data]
batch_size = 4
[training]
epochs = 1
"""


def mock_batch(image_shape, n=8, seed=0):
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n,) + tuple(image_shape), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,)).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(n)


# ---------------------------------------------------------------------- every shipped entry
def test_there_are_entries():
    assert {"mlp_vae_fashion_mnist", "conv_vae_fashion_mnist", "mlp_vae_mnist"} <= set(ENTRIES)


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_builds_and_trains_one_step(name):
    """The entry's model at full size with its optimizer: one training step of ``fit``,
    run eagerly (``run_eagerly=True``): tracing ``fit``'s graph costs seconds per model.
    Graph-mode training of every family, prior, posterior, likelihood and objective an
    entry combines is checked by their own tests (``harness.check_vae``,
    ``test_keras_workflows``, ``test_properties``, ...)."""
    cfg = config.load_config(name)
    assert cfg["name"] == name
    assert isinstance(cfg["description"], str) and cfg["description"]
    model = config.model_from_config(cfg)
    assert type(model).__name__ == cfg["model"]["class"]
    for key, value in cfg["model"].items():
        if key not in ("class", "image_shape"):
            got = model.get_config()[key]
            assert (list(got) if isinstance(got, tuple) else got) == value, key
    model.compile(optimizer=config.optimizer_from_config(cfg), run_eagerly=True)
    history = model.fit(mock_batch(model.image_shape), epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 1


def test_mlp_entry_is_the_reference_setup():
    cfg = config.load_config("mlp_vae_fashion_mnist")
    assert cfg["model"] == {"class": "MLPVAE", "latent_dim": 50, "hidden_units": [500, 500],
                            "activation": "relu", "likelihood": "bernoulli",
                            "prior": "standard_normal", "binarization": "static",
                            "binarization_seed": 0}
    assert cfg["data"]["batch_size"] == 128 and cfg["data"]["dataset"] == "fashion_mnist"
    assert cfg["optimizer"]["name"] == "adam" and cfg["optimizer"]["learning_rate"] == 0.001
    assert cfg["training"]["epochs"] == 10
    assert cfg["evaluation"]["num_importance_samples"] == 1000


def test_variant_states_only_what_differs():
    raw = config.read_toml(config.ZOO_CONFIG_DIR / "mlp_vae_mnist.toml")
    assert set(raw["model"]) == {"binarization"}
    base = config.load_config("mlp_vae_fashion_mnist")
    variant = config.load_config("mlp_vae_mnist")
    assert variant["data"]["dataset"] == "mnist"
    assert variant["model"]["binarization"] == "dynamic"
    assert {k: v for k, v in variant["model"].items() if k != "binarization"} == \
        {k: v for k, v in base["model"].items() if k != "binarization"}
    assert variant["optimizer"] == base["optimizer"]


# ---------------------------------------------------------------------- composition
def test_base_deep_merges_tables(tmp_path):
    write(tmp_path, "parent", GOOD)
    child = write(tmp_path, "child", 'base = "parent.toml"\n[model]\nlatent_dim = 3\n'
                                     '[data]\nshuffle_buffer = 7\n')
    cfg = config.load_config(child)
    assert cfg["model"]["latent_dim"] == 3 and cfg["model"]["hidden_units"] == [8]
    assert cfg["data"] == {**config.load_config(tmp_path / "parent.toml")["data"],
                           "shuffle_buffer": 7}
    assert cfg["description"] == "tiny" and cfg["name"] == "child" and "base" not in cfg


def test_base_chain_and_class_change(tmp_path):
    write(tmp_path, "a", GOOD)
    write(tmp_path, "b", 'base = "a.toml"\n[optimizer]\nlearning_rate = 0.01\n')
    c = write(tmp_path, "c", 'base = "b.toml"\n[model]\nclass = "ConvVAE"\nfilters = [4]\n'
                             'binarization = "dynamic"\n')
    cfg = config.load_config(c)
    # Another class: [model] is replaced, the other tables are inherited through the chain.
    assert cfg["model"] == {"class": "ConvVAE", "filters": [4], "binarization": "dynamic"}
    assert cfg["optimizer"]["learning_rate"] == 0.01 and cfg["data"]["batch_size"] == 4


def test_dict_config_with_a_zoo_base():
    cfg = config.load_config({"base": "mlp_vae_fashion_mnist", "training": {"epochs": 1}})
    assert cfg["training"]["epochs"] == 1 and cfg["model"]["latent_dim"] == 50


# ---------------------------------------------------------------------- errors
def _error(path_or_cfg):
    with pytest.raises(ValueError) as info:
        config.load_config(path_or_cfg)
    return str(info.value)


@pytest.mark.parametrize("table, line, key, hint", [
    ("", 'descripton = "x"', "descripton", "description"),
    ("[data]", "batch_sise = 3", "batch_sise", "batch_size"),
    ("[training]", "epoch = 3", "epoch", "epochs"),
    ("[evaluation]", "num_importance_sample = 3", "num_importance_sample",
     "num_importance_samples"),
    ("[optimizer]", "learning_rat = 0.1", "learning_rat", "learning_rate"),
    ("[model]", "hiden_units = [3]", "hiden_units", "hidden_units"),
    ("[modle]", "x = 1", "modle", "model"),
])
def test_unknown_key_names_file_key_and_close_match(tmp_path, table, line, key, hint):
    if not table:
        text = f"{line}\n{GOOD}"
    elif table == "[model]":
        text = GOOD.replace("latent_dim = 2", f"latent_dim = 2\n{line}")
    elif table in GOOD:
        text = GOOD.replace(f"{table}\n", f"{table}\n{line}\n")
    else:
        text = f"{GOOD}\n{table}\n{line}\n"
    path = write(tmp_path, "bad_key", text)
    message = _error(path)
    assert str(path) in message and repr(key) in message and repr(hint) in message


@pytest.mark.parametrize("old, new, key", [
    ("batch_size = 4", 'batch_size = "4"', "batch_size"),
    ("batch_size = 4", "batch_size = 4.5", "batch_size"),
    ("batch_size = 4", "batch_size = 0", "batch_size"),
    ("epochs = 1", "epochs = true", "epochs"),
    ("latent_dim = 2", "latent_dim = 2.5", "latent_dim"),
    ("hidden_units = [8]", 'hidden_units = "8"', "hidden_units"),
    ('likelihood = "bernoulli"', "likelihood = 1", "likelihood"),
    ('description = "tiny"', "description = 3", "description"),
    ("[data]\nbatch_size = 4", '[training2]\nbatch_size = 4', "training2"),
])
def test_wrong_type_names_file_and_key(tmp_path, old, new, key):
    path = write(tmp_path, "bad_type", GOOD.replace(old, new))
    message = _error(path)
    assert str(path) in message and repr(key) in message


def test_a_table_that_is_not_a_table():
    message = _error({"model": {"class": "MLPVAE"}, "data": 3})
    assert "'data'" in message and "table" in message


def test_learning_rate_accepts_int_and_float(tmp_path):
    path = write(tmp_path, "lr", GOOD + "[optimizer]\nlearning_rate = 1\n")
    assert config.load_config(path)["optimizer"]["learning_rate"] == 1


@pytest.mark.parametrize("broken", [
    GOOD.replace("latent_dim = 2", "latent_dim 2"),
    GOOD.replace('"bernoulli"', '"bernoulli'),
    GOOD.replace("[8]", "[8"),
    GOOD.replace("[data]", "[data"),
    GOOD + "\n[data]\n",  # a table defined twice
])
def test_broken_toml_names_file_and_line(tmp_path, broken):
    path = write(tmp_path, "broken", broken)
    message = _error(path)
    assert str(path) in message and "TOML syntax error" in message and "line" in message


def test_syntax_error_quotes_the_offending_key(tmp_path):
    path = write(tmp_path, "broken", GOOD.replace("latent_dim = 2", "latent_dim 2"))
    assert "latent_dim 2" in _error(path)


def test_base_cycle_is_detected(tmp_path):
    write(tmp_path, "a", 'base = "b.toml"\n' + GOOD)
    b = write(tmp_path, "b", 'base = "a.toml"\n[data]\nbatch_size = 2\n')
    message = _error(b)
    assert "cycle" in message and "'base'" in message and "a.toml" in message
    me = write(tmp_path, "me", 'base = "me.toml"\n' + GOOD)
    assert "cycle" in _error(me)


def test_unknown_base_and_unknown_class(tmp_path):
    path = write(tmp_path, "orphan", 'base = "mlp_vae_fashion_mnst"\n[model]\nlatent_dim = 3\n')
    message = _error(path)
    assert str(path) in message and "'base'" in message and "mlp_vae_fashion_mnist" in message
    path = write(tmp_path, "cls", GOOD.replace('"MLPVAE"', '"MLPVea"'))
    message = _error(path)
    assert str(path) in message and "'class'" in message and "'MLPVAE'" in message
    path = write(tmp_path, "nocls", GOOD.replace('class = "MLPVAE"\n', ""))
    assert "'class'" in _error(path)


def test_unknown_entry_lists_close_matches():
    message = _error("mlp_vae_fashion")
    assert "unknown zoo entry 'mlp_vae_fashion'" in message and "'mlp_vae_fashion_mnist'" in message
    assert "does not exist" in _error("no/such/file.toml")


def test_bad_optimizer_and_schedule(tmp_path):
    path = write(tmp_path, "opt", GOOD + '[optimizer]\nname = "adan"\n')
    message = _error(path)
    assert "'name'" in message and "'adam'" in message
    path = write(tmp_path, "sched", GOOD + '[optimizer]\nschedule = "cosine"\n')
    assert "decay_steps" in _error(path)


def test_invalid_model_value_is_reported_with_the_entry(tmp_path):
    path = write(tmp_path, "lik", GOOD.replace('"bernoulli"', '"bernouli"'))
    cfg = config.load_config(path)  # types are right; the value is checked by the model
    with pytest.raises(ValueError, match="'lik'.*likelihood must be one of.*'bernoulli'"):
        config.model_from_config(cfg)


# ---------------------------------------------------------------------- writing and optimizers
def test_dump_then_load_round_trips(tmp_path):
    for name in ENTRIES:
        cfg = config.load_config(name)
        path = config.save_config(cfg, tmp_path / f"{name}.toml")
        assert config.load_config(path) == cfg


def test_optimizer_from_config():
    import keras
    opt = config.optimizer_from_config({"name": "adam", "learning_rate": 0.01, "clipnorm": 1.0,
                                        "schedule": "cosine", "decay_steps": 10})
    assert isinstance(opt, keras.optimizers.Adam) and opt.clipnorm == 1.0
    assert isinstance(opt.learning_rate, float) or hasattr(opt, "_learning_rate")
    sgd = config.optimizer_from_config(config.load_config(
        {"base": "mlp_vae_fashion_mnist", "optimizer": {"name": "sgd", "learning_rate": 0.5}}))
    assert isinstance(sgd, keras.optimizers.SGD)
    np.testing.assert_allclose(float(sgd.learning_rate), 0.5)


_scalars = st.one_of(st.integers(-2**31, 2**31), st.booleans(), st.text(max_size=10),
                     st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_size=st.integers(1, 4096), lr=st.floats(1e-6, 10.0), epochs=st.integers(1, 1000),
       description=st.text(max_size=40), latent=st.integers(1, 512),
       hidden=st.lists(st.integers(1, 2048), min_size=1, max_size=4),
       seed=st.integers(0, 2**31))
def test_any_valid_config_round_trips(tmp_path_factory, batch_size, lr, epochs, description,
                                      latent, hidden, seed):
    cfg = config.load_config({
        "description": description,
        "model": {"class": "MLPVAE", "latent_dim": latent, "hidden_units": hidden},
        "data": {"batch_size": batch_size}, "optimizer": {"learning_rate": lr},
        "training": {"epochs": epochs, "seed": seed}})
    path = config.save_config(cfg, tmp_path_factory.mktemp("rt") / "c.toml")
    assert config.load_config(path) == {**cfg, "name": "custom"}


@settings(max_examples=40, deadline=None)
@given(table=st.sampled_from(sorted(config.SCHEMA)), key=st.text(min_size=1, max_size=12),
       value=_scalars)
def test_any_unknown_or_mistyped_key_is_a_value_error(table, key, value):
    cfg = {"model": {"class": "MLPVAE"}, table: {key: value}}
    known = config.SCHEMA[table].get(key)
    try:
        out = config.load_config(cfg)
    except ValueError as e:
        assert repr(key) in str(e)
    else:
        assert known is not None and config.schema.type_ok(value, known[0])
        assert out[table][key] == value
