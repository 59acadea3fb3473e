"""Presets: ``vaezoo.load`` compiles, ``from_preset`` / ``save_to_preset`` round-trip.

A tiny model keeps every test fast; the shipped entry is read once, to check
that a pretrained model comes back ready to fine-tune and evaluate.
"""

import json

import numpy as np
import pytest

import vaezoo
from vaezoo import presets


def images(n=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


def tiny(**kwargs):
    return vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), binarization="static",
                         image_shape=(28, 28, 1), seed=0, **kwargs)


def means(model, x):
    return model.encode(model.preprocess(x)[0]).mean().numpy()


def test_load_returns_a_compiled_model_that_fits_and_evaluates():
    model = vaezoo.load("mlp_vae_fashion_mnist")
    assert model.compiled and model.optimizer is not None
    # The entry's [optimizer]: Adam at 1e-3.
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    before = model.evaluate(images(), batch_size=8, verbose=0, return_dict=True)
    assert {"loss", "elbo", "rate", "distortion"} <= set(before)
    model.fit(images(), batch_size=8, epochs=1, verbose=0)          # one fine-tuning step
    assert int(model.optimizer.iterations.numpy()) == 1
    assert not vaezoo.load("mlp_vae_fashion_mnist", compile=False).compiled


def test_save_to_preset_then_from_preset_round_trip(tmp_path):
    model = tiny()
    model.compile(optimizer="sgd")
    model.fit(images(), batch_size=8, epochs=1, verbose=0)
    directory = model.save_to_preset(tmp_path / "my_mlp", metadata={"note": "tiny"})
    card = json.loads((directory / "metadata.json").read_text())
    assert set(card["files"]) == {"config.toml", "model.weights.h5"}
    assert card["model_class"] == "MLPVAE" and card["note"] == "tiny"
    for loader in (vaezoo.MLPVAE.from_preset, vaezoo.VAE.from_preset, vaezoo.load):
        again = loader(directory)
        assert type(again) is vaezoo.MLPVAE and again.compiled
        assert type(again.optimizer).__name__ == "SGD"             # the saved optimizer
        np.testing.assert_array_equal(means(again, images()), means(model, images()))
    # A preset loaded and saved again keeps its config (the data set, the recipe).
    again.save_to_preset(tmp_path / "copy")
    assert vaezoo.config.load_config(tmp_path / "copy") == {
        **vaezoo.config.load_config(directory), "name": "copy"}
    # Checksums are verified as for a shipped entry.
    (directory / "model.weights.h5").write_bytes(b"not weights")
    with pytest.raises(presets.ChecksumError):
        vaezoo.MLPVAE.from_preset(directory)


def test_from_preset_on_the_wrong_class_names_the_right_one(tmp_path):
    directory = tiny().save_to_preset(tmp_path / "mlp")
    with pytest.raises(ValueError, match=r"holds a MLPVAE, which is not a ConvVAE.*"
                                         r"vaezoo\.MLPVAE\.from_preset"):
        vaezoo.ConvVAE.from_preset(directory)
    with pytest.raises(ValueError, match=r"vaezoo\.MLPVAE\.from_preset\('mlp_vae_fashion"):
        vaezoo.ConditionalVAE.from_preset("mlp_vae_fashion_mnist")
    with pytest.raises(ValueError, match="unknown zoo entry"):
        vaezoo.MLPVAE.from_preset("mlp_vae_fashion_mnst")


def test_save_to_preset_of_an_unbuilt_model_says_build(tmp_path):
    with pytest.raises(ValueError, match="needs a built model"):
        vaezoo.MLPVAE(latent_dim=2).save_to_preset(tmp_path / "x")


def test_presets_imports_no_model():
    """Models import presets (from_preset), so presets must not import a model."""
    import ast
    source = open(presets.__file__, encoding="utf-8").read()
    imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import)
                 for a in n.names}
    assert not {m for m in imported if m and m.startswith(("vaezoo.models", "vaezoo.zoo",
                                                           "vaezoo.training", "vaezoo.cli"))}
