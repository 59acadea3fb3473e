"""The reduced-precision decoder of evaluation.log_likelihood: when it is chosen, and
that it leaves the estimate where float32 puts it."""

import keras
import numpy as np
import pytest

import vaezoo
from vaezoo import evaluation, hardware
from vaezoo.models.base import trunk_layers


@pytest.fixture(scope="module")
def trained():
    """A small MLP VAE fitted for a few epochs on real (binarized) Fashion-MNIST."""
    x, _ = vaezoo.data.load_arrays("fashion_mnist", "train[:3000]", binarization="static")
    x_test, _ = vaezoo.data.load_arrays("fashion_mnist", "test[:200]", binarization="static")
    keras.utils.set_random_seed(0)
    model = vaezoo.MLPVAE(latent_dim=16, hidden_units=(200, 200), binarization=None)
    model.compile(precision="mixed_bfloat16")    # trained as "auto" picks on bf16 CPUs
    model.fit(x, batch_size=100, epochs=3, verbose=0)
    return model, x_test


def test_bfloat16_decoder_matches_float32(trained):
    model, x = trained
    encoder, decoder = trunk_layers(model)
    before = [layer.dtype_policy.name for layer in encoder + decoder]
    fp32 = evaluation.log_likelihood(model, x, num_samples=200, progress=False,
                                     precision="float32", return_per_example=True)
    bf16 = evaluation.log_likelihood(model, x, num_samples=200, progress=False,
                                     precision="bfloat16", return_per_example=True)
    assert fp32["precision"] == "float32" and bf16["precision"] == "bfloat16"
    diff = bf16["per_example"] - fp32["per_example"]
    assert np.any(diff != 0.0), "the bfloat16 step did not change any rounding"
    assert abs(diff.mean()) < 0.05, diff.mean()      # nats, mean over 200 images
    assert np.abs(diff).max() < 1.0, np.abs(diff).max()
    # The layers are back in the training precision afterwards: training and decode()
    # are unchanged.
    assert [layer.dtype_policy.name for layer in encoder + decoder] == before
    assert model.decode(np.zeros((1, 16), "float32")).mean().dtype.name == "float32"
    again = evaluation.log_likelihood(model, x, num_samples=200, progress=False,
                                      precision="float32", return_per_example=True)
    np.testing.assert_array_equal(again["per_example"], fp32["per_example"])


def test_auto_precision(monkeypatch):
    monkeypatch.setattr(hardware, "accelerator_present", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    assert evaluation.resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    assert evaluation.resolve_precision("auto") == "float32"
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(hardware, "accelerator_present", lambda: True)
    assert evaluation.resolve_precision("auto") == "float32"
    assert evaluation.resolve_precision("float32") == "float32"


def test_unknown_precision_is_a_clear_error(trained):
    model, x = trained
    with pytest.raises(ValueError, match="bfloat16"):
        evaluation.log_likelihood(model, x[:4], num_samples=2, precision="bf16")
