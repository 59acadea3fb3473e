"""evaluation.log_likelihood's precision: the model's dtype policy by default, and the
explicit bfloat16 decoder, which leaves the estimate within bfloat16's rounding of
where float32 puts it, on any CPU."""

import keras
import numpy as np
import pytest

import vaezoo
from vaezoo import evaluation
from vaezoo.models.precision import trunk_layers

#: bfloat16's unit roundoff: 8 significant bits, so rounding to nearest moves a value
#: by at most 2^-8 of itself.
BFLOAT16_UNIT_ROUNDOFF = 2.0 ** -8


@pytest.fixture(scope="module")
def trained():
    """A small MLP VAE fitted for a few epochs on real (binarized) Fashion-MNIST."""
    x, _ = vaezoo.data.load_arrays("fashion_mnist", "train[:3000]", binarization="static")
    x_test, _ = vaezoo.data.load_arrays("fashion_mnist", "test[:200]", binarization="static")
    keras.utils.set_random_seed(0)
    model = vaezoo.MLPVAE(latent_dim=16, hidden_units=(200, 200), binarization=None)
    model.compile()
    model.fit(x, batch_size=100, epochs=3, verbose=0)
    return model, x_test


def test_default_is_the_models_policy(trained):
    model, x = trained
    default = evaluation.log_likelihood(model, x[:20], num_samples=20, progress=False,
                                        return_per_example=True)
    fp32 = evaluation.log_likelihood(model, x[:20], num_samples=20, progress=False,
                                     precision="float32", return_per_example=True)
    assert default["precision"] == "float32"          # the default policy, on any machine
    np.testing.assert_array_equal(default["per_example"], fp32["per_example"])


def test_bfloat16_decoder_stays_within_bfloat16_rounding_of_float32(trained):
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
    # The bound, by construction independent of the CPU. The same z are decoded (same
    # seed, float32 encoder), so only log p(x|z) = sum_pixels log Bern(x; logit) moves,
    # through the logits. The decoder rounds its input, weights and output to bfloat16
    # in each of its 3 layers; how the rounding errors of a layer's sum add up depends
    # on the CPU's bfloat16 arithmetic (docs/benchmarks.md, "Precision is the user's",
    # has the moves measured on this model). Either way the logits carry a relative
    # error of a few unit roundoffs, and log p(x|z) moves by at most sum_pixels |x - sigmoid(logit)| |d logit| <= that relative error times the
    # magnitude of the sum. So: the mean moves by at most 2u (0.8%) of |log p(x)|, and
    # one example by at most 8u (3%) of its own, with u bfloat16's unit roundoff.
    u = BFLOAT16_UNIT_ROUNDOFF
    mean = abs(fp32["log_likelihood"])
    assert abs(diff.mean()) <= 2 * u * mean, (diff.mean(), mean)
    assert np.all(np.abs(diff) <= 8 * u * np.abs(fp32["per_example"])), np.abs(diff).max()
    # The layers are back in the model's precision afterwards: training and decode()
    # are unchanged.
    assert [layer.dtype_policy.name for layer in encoder + decoder] == before
    assert model.decode(np.zeros((1, 16), "float32")).mean().dtype.name == "float32"
    again = evaluation.log_likelihood(model, x, num_samples=200, progress=False,
                                      precision="float32", return_per_example=True)
    np.testing.assert_array_equal(again["per_example"], fp32["per_example"])


def test_unknown_precision_is_a_clear_error(trained):
    model, x = trained
    for bad in ("bf16", "auto"):
        with pytest.raises(ValueError, match="bfloat16"):
            evaluation.log_likelihood(model, x[:4], num_samples=2, precision=bad)
