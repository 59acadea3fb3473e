"""VQVAE: the shared harness, straight-through gradients, the codebook updates by hand,
the bound, the two training stages, sampling from the prior and the errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from harness import check_vae, mock_batches
from vaezoo.models.vq_vae import VQVAE, CodeAssignment
from vaezoo.networks.vector_quantizer import VectorQuantizer

TINY = dict(num_embeddings=8, embedding_dim=4, filters=(8,), num_residual_blocks=1,
            prior_kwargs={"filters": 8, "num_layers": 2, "embedding_size": 4}, seed=0)


def tiny(**overrides):
    return VQVAE(**{**TINY, "binarization": "dynamic", **overrides})


@pytest.mark.parametrize("update", ["gradient", "ema"])
def test_vqvae_passes_the_harness(tmp_path, update):
    data, images, _ = mock_batches(image_shape=(8, 8, 1), n=16, batch_size=8)
    model = check_vae(lambda: tiny(codebook_update=update, restart_threshold=0.5), data,
                      images[:4], tmp_path)
    assert model.grid_shape == (4, 4) and model.latent_dim == 16
    q = model.encode(images[:4])
    assert isinstance(q, CodeAssignment) and q.dtype == tf.int32
    assert q.codes.numpy().min() >= 0 and q.codes.numpy().max() < 8


def test_a_gray_level_likelihood_and_odd_image_sizes():
    data, images, _ = mock_batches(image_shape=(7, 9, 3), n=8, batch_size=4)
    model = VQVAE(**{**TINY, "filters": (4, 4)}, likelihood="discretized_logistic_mixture",
                  likelihood_kwargs={"num_components": 2})
    model.compile(optimizer="adam")
    logs = model.fit(data, epochs=1, verbose=0).history
    assert model.grid_shape == (2, 3)
    assert all(np.isfinite(v[0]) for v in logs.values())
    assert tuple(model.sample(2, seed=0).shape) == (2, 7, 9, 3)
    assert tuple(model.reconstruct(images[:2]).shape) == (2, 7, 9, 3)


def test_straight_through_gradients_reach_the_encoder():
    model = tiny(image_shape=(8, 8, 1))
    x = model.preprocess(mock_batches(image_shape=(8, 8, 1), n=4)[1])[0]
    with tf.GradientTape(persistent=True) as tape:
        t = model._forward(x)[0]
        distortion = tf.reduce_mean(t["distortion"])
        codebook = tf.reduce_mean(t["codebook_loss"])
        commitment = tf.reduce_mean(t["commitment_loss"])
    encoder = model.encoder.trainable_variables
    # The decoder's loss reaches the encoder only through the straight-through estimator.
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0
               for g in tape.gradient(distortion, encoder))
    # The codebook learns from the codebook loss only; the commitment loss moves the encoder.
    assert tape.gradient(distortion, model.quantizer.codebook) is None
    assert float(tf.reduce_sum(tf.abs(tape.gradient(codebook, model.quantizer.codebook)))) > 0
    assert all(g is None for g in tape.gradient(codebook, encoder))
    assert tape.gradient(commitment, model.quantizer.codebook) is None
    assert all(g is not None for g in tape.gradient(commitment, encoder))


def test_nearest_codes_and_perplexity():
    vq = VectorQuantizer(3, 2)
    vq.build()
    vq.codebook.assign([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]])
    z = tf.constant([[[0.1, 0.1], [0.9, -0.2]], [[0.0, 4.0], [0.6, 0.0]]])
    np.testing.assert_array_equal(vq.codes(z), [[0, 1], [2, 1]])
    np.testing.assert_allclose(vq.lookup([2, 0]), [[0.0, 5.0], [0.0, 0.0]])
    np.testing.assert_allclose(vq.perplexity(tf.constant([0, 1, 2])), 3.0, rtol=1e-6)
    np.testing.assert_allclose(vq.perplexity(tf.constant([1, 1, 1, 1])), 1.0, rtol=1e-6)
    p = np.array([0.5, 0.5])
    np.testing.assert_allclose(vq.perplexity(tf.constant([0, 2, 0, 2])),
                               np.exp(-(p * np.log(p)).sum()), rtol=1e-6)


def test_the_ema_update_matches_a_hand_computation():
    k, d, g, eps = 3, 2, 0.9, 1e-5
    vq = VectorQuantizer(k, d, update="ema", decay=g, epsilon=eps)
    vq.build()
    e0 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]], np.float32)
    vq.codebook.assign(e0)
    vq.ema_sum.assign(e0)
    assert not vq.codebook.trainable
    z = np.array([[0.2, 0.0], [0.0, 0.2], [1.2, 0.4]], np.float32)
    codes = np.array([0, 0, 1])
    vq.apply_updates(z, codes, tf.constant([0, 0]))
    n = np.array([2.0, 1.0, 0.0])
    s = np.array([[0.2, 0.2], [1.2, 0.4], [0.0, 0.0]])
    count = g * np.ones(k) + (1 - g) * n
    total = count.sum()
    smoothed = (count + eps) / (total + k * eps) * total
    ema_sum = g * e0 + (1 - g) * s
    np.testing.assert_allclose(vq.ema_count, count, rtol=1e-6)
    np.testing.assert_allclose(vq.ema_sum, ema_sum, rtol=1e-6)
    np.testing.assert_allclose(vq.codebook, ema_sum / smoothed[:, None], rtol=1e-5)
    # The unused code keeps its place (up to the smoothing), as the docstring says.
    np.testing.assert_allclose(vq.codebook[2], e0[2], rtol=1e-3)
    np.testing.assert_allclose(vq.use, (1 - g) * n, rtol=1e-6)


def test_dead_codes_restart_onto_encoder_outputs():
    vq = VectorQuantizer(4, 2, decay=0.5, restart_threshold=0.4)
    vq.build()
    vq.codebook.assign([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    vq.use.assign([1.0, 1.0, 1.0, 0.0])
    z = np.array([[0.1, 0.0], [0.0, 0.1], [9.9, 10.0], [0.2, 0.2]], np.float32)
    vq.apply_updates(z, vq.codes(z), tf.constant([1, 2]))
    # use: 0.5 * [1, 1, 1, 0] + 0.5 * [3, 1, 0, 0] = [2, 1, 0.5, 0]: code 3 is dead.
    book = vq.codebook.numpy()
    np.testing.assert_array_equal(book[:3], [[0, 0], [10, 10], [20, 20]])
    assert any(np.allclose(book[3], row) for row in z), book[3]
    np.testing.assert_allclose(vq.use, [2.0, 1.0, 0.5, 0.8])


def test_the_elbo_is_the_bound_log_p_x_given_zq_plus_log_prior():
    data, images, _ = mock_batches(image_shape=(8, 8, 1), n=8)
    model = tiny()
    model.compile(optimizer="adam")
    model.fit(data, epochs=1, verbose=0)
    x = model.preprocess(images)[0]
    codes = model.encode(x).codes
    by_hand = model.decode(codes).log_prob(x) + model.prior().log_prob(codes)
    np.testing.assert_allclose(model.elbo(images), by_hand, rtol=1e-5, atol=1e-3)
    # The importance-sampled estimate with a point-mass q is the same bound, for any K.
    for k in (1, 4):
        ll = vaezoo.evaluation.log_likelihood(model, images, num_samples=k, progress=False,
                                              return_per_example=True)
        np.testing.assert_allclose(ll["per_example"], by_hand, rtol=1e-5, atol=1e-3)


def test_uniform_prior_rate_is_grid_size_times_log_k():
    model = tiny(prior="uniform", image_shape=(8, 8, 1))
    x = model.preprocess(mock_batches(image_shape=(8, 8, 1), n=4)[1])[0]
    t = model._forward(x)[0]
    np.testing.assert_allclose(t["rate"], 16 * np.log(8), rtol=1e-6)
    with pytest.raises(ValueError, match="prior='uniform'"):
        model.compile(optimizer="adam")
        model.fit_prior(np.zeros((4, 8, 8, 1), np.uint8), verbose=0)


def test_fit_prior_trains_the_prior_alone_and_lowers_the_rate():
    data, images, _ = mock_batches(image_shape=(8, 8, 1), n=32, batch_size=8)
    model = tiny(prior_training="separate", image_shape=(8, 8, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    initial = [v.numpy() for v in model.prior_layer.trainable_variables]
    model.fit(data, epochs=1, verbose=0)
    # prior_training="separate": fit did not touch the prior.
    for got, want in zip(model.prior_layer.trainable_variables, initial):
        np.testing.assert_array_equal(got.numpy(), want)
    rest = [v.numpy() for v in model.weights if not any(v is p for p in model.prior_layer.weights)]
    rate_before = model.evaluate(data, verbose=0, return_dict=True)["rate"]
    model.fit_prior(data, epochs=5, verbose=0)
    rate_after = model.evaluate(data, verbose=0, return_dict=True)["rate"]
    assert rate_after < rate_before - 1.0, (rate_before, rate_after)
    after = [v.numpy() for v in model.weights if not any(v is p for p in model.prior_layer.weights)]
    for got, want in zip(after, rest):   # encoder, codebook (and its counts), decoder frozen
        np.testing.assert_array_equal(got, want)
    # fit trains the autoencoder again afterwards.
    model.fit(data, epochs=1, verbose=0)
    assert any(not np.array_equal(v.numpy(), w) for v, w in zip(model.encoder.weights, rest))


def test_samples_are_decoded_draws_of_the_prior():
    model = tiny(image_shape=(8, 8, 1))
    codes = model.prior().sample(3, seed=tf.constant([5, 0]))
    assert codes.dtype == tf.int32 and tuple(codes.shape) == (3, 16)
    np.testing.assert_allclose(model.sample(3, seed=5), model.decode(codes).mean(), atol=1e-6)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="VQVAE takes no num_samples, objective"):
        VQVAE(objective="iwae", num_samples=5)
    with pytest.raises(ValueError, match="takes no latent_dim"):
        VQVAE(latent_dim=8)
    with pytest.raises(ValueError, match="'pixelcnn', 'uniform'"):
        VQVAE(prior="vamp")
    with pytest.raises(ValueError, match="'ema', 'gradient'"):
        VQVAE(codebook_update="kmeans")
    with pytest.raises(ValueError, match="commitment_cost"):
        VQVAE(commitment_cost=-1)
    with pytest.raises(ValueError, match="decay"):
        VQVAE(ema_decay=1.5)
    model = tiny(image_shape=(8, 8, 1))
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        model.decode(np.full((2, 16), 9))
    with pytest.raises(ValueError, match="shape \\[batch, 16\\]"):
        model.decode(np.zeros((2, 5), np.int32))
