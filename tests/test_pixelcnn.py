"""The gated PixelCNN prior over code grids: exact causality (no blind spot), a
normalized log_prob, seeded sampling that agrees with log_prob, serialization."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaezoo.priors import GatedPixelCNN, PixelCNNCodes, uniform_codes


def _net(num_embeddings=5, grid_shape=(4, 5), num_layers=3, **kwargs):
    keras.utils.set_random_seed(0)
    net = GatedPixelCNN(num_embeddings, grid_shape, filters=8, num_layers=num_layers,
                        embedding_size=4, **kwargs)
    net.build((None,) + tuple(grid_shape))
    return net


def _all_grids(num_positions, k):
    return np.array(list(itertools.product(range(k), repeat=num_positions)), np.int32)


def _dependence(net, codes, k):
    """dep[p, q]: changing the code at position p (raster order) to any other value
    changes the logits at position q; and the largest change seen at positions q <= p."""
    n = codes.size
    # Row (p, r) of the batch: codes with code p replaced by its r-th other value.
    perturbed = np.repeat(codes[None, None], n, 0).repeat(k - 1, 1)
    perturbed[np.arange(n), :, np.arange(n)] = (codes[:, None] + np.arange(1, k)) % k
    logits = net(np.concatenate([codes[None], perturbed.reshape(-1, n)])).numpy()
    base, logits = logits[0].reshape(n, k), logits[1:].reshape(n, k - 1, n, k)
    change = np.abs(logits - base).max(axis=(1, 3))           # [p, q]
    return change > 0, float(change[np.tril_indices(n)].max())


def test_logits_depend_only_on_earlier_positions_and_there_is_no_blind_spot(rng):
    h, w, k, layers = 4, 5, 5, 3
    net = _net(k, (h, w), num_layers=layers)
    dep = np.zeros((h * w, h * w), bool)
    # A ReLU in the head can hide a dependence at one input: look at several.
    for codes in rng.integers(0, k, size=(3, h * w)).astype(np.int32):
        seen, leak = _dependence(net, codes, k)
        assert leak == 0.0                       # exactly causal, not approximately
        dep |= seen
    for p in range(h * w - 1):
        assert dep[p, p + 1:].any(), p
    for i, j in itertools.product(range(h), range(w)):
        q = i * w + j
        if j:
            assert dep[q - 1, q], (i, j)                    # the code to the left
        # The row above, up to `layers` columns to the right: a single stack of masked
        # 3x3 convolutions (the blind-spot PixelCNN) never sees (i-1, j+2) or beyond.
        for d in range(1, min(layers, w - 1 - j) + 1) if i else ():
            assert dep[q - w + d, q], (i, j, d)


def test_codes_may_be_a_grid_or_flat_in_raster_order(rng):
    net = _net()
    codes = rng.integers(0, 5, size=(3, 4, 5))
    logits = net(codes)
    assert logits.dtype == tf.float32 and tuple(logits.shape) == (3, 4, 5, 5)
    np.testing.assert_array_equal(net(codes.reshape(3, 20)).numpy(), logits.numpy())


def test_log_prob_is_the_sum_of_the_categorical_log_probs_and_is_normalized(rng):
    net = _net(3, (2, 2), num_layers=2)
    prior = net.distribution()
    assert isinstance(prior, PixelCNNCodes)
    assert prior.batch_shape == [] and prior.event_shape == [4] and prior.dtype == tf.int32
    codes = rng.integers(0, 3, size=(2, 6, 4)).astype(np.int32)
    logits = net(codes.reshape(12, 4)).numpy().reshape(2, 6, 4, 3)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_softmax, codes[..., None], -1)[..., 0].sum(-1)
    np.testing.assert_allclose(prior.log_prob(codes).numpy(), expected, rtol=1e-5)
    total = np.exp(prior.log_prob(_all_grids(4, 3)).numpy()).sum()     # 81 grids
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


def test_sample_shape_range_and_seeds():
    prior = _net(grid_shape=(2, 3)).distribution()
    codes = prior.sample(6, seed=3)
    assert codes.dtype == tf.int32 and tuple(codes.shape) == (6, 6)
    assert 0 <= int(tf.reduce_min(codes)) and int(tf.reduce_max(codes)) < 5
    assert tuple(prior.sample([2, 3], seed=3).shape) == (2, 3, 6)
    np.testing.assert_array_equal(prior.sample(6, seed=3).numpy(), codes.numpy())
    assert not np.array_equal(prior.sample(6, seed=4).numpy(), codes.numpy())
    pair = tf.constant([7, 11], tf.int32)
    np.testing.assert_array_equal(prior.sample(6, seed=pair).numpy(),
                                  prior.sample(6, seed=pair).numpy())
    compiled = tf.function(lambda seed: prior.sample(6, seed=seed))
    np.testing.assert_array_equal(compiled(pair).numpy(), prior.sample(6, seed=pair).numpy())
    assert tuple(tf.function(lambda: prior.sample(4, seed=1))().shape) == (4, 6)


def test_samples_follow_exp_log_prob():
    net = _net(3, (1, 2), num_layers=2)
    # Larger weights than at initialization, so that the conditionals are far from
    # uniform and the second code depends on the first: a mismatch would show.
    rng = np.random.default_rng(0)
    for variable in net.trainable_variables:
        variable.assign(rng.normal(scale=0.5, size=variable.shape))
    prior = net.distribution()
    grids = _all_grids(2, 3)
    probs = np.exp(prior.log_prob(grids).numpy())
    conditionals = probs.reshape(3, 3) / probs.reshape(3, 3).sum(1, keepdims=True)
    assert np.ptp(conditionals, axis=0).max() > 0.1 and probs.max() > 0.3
    n = 4000
    samples = prior.sample(n, seed=0).numpy()
    counts = np.array([(samples == g).all(-1).sum() for g in grids])
    expected = n * probs
    assert expected.min() > 5
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30.0, (chi2, counts, np.round(expected))     # 8 dof: p ~ 2e-4


def test_config_round_trip_and_keras_file(tmp_path, rng):
    net = _net(6, (3, 4), num_layers=2, kernel_size=5, name="prior")
    config = net.get_config()
    assert {k: config[k] for k in ("num_embeddings", "grid_shape", "filters", "num_layers",
                                   "kernel_size", "embedding_size")} == {
        "num_embeddings": 6, "grid_shape": [3, 4], "filters": 8, "num_layers": 2,
        "kernel_size": 5, "embedding_size": 4}
    clone = GatedPixelCNN.from_config(config)
    assert clone.get_config() == config
    inputs = keras.Input((3, 4), dtype="int32")
    model = keras.Model(inputs, net(inputs))
    net.distribution().sample(2, seed=0)        # a layer that has sampled saves as well
    model.save(tmp_path / "pixelcnn.keras")
    loaded = keras.models.load_model(tmp_path / "pixelcnn.keras")
    layer = loaded.get_layer("prior")
    assert isinstance(layer, GatedPixelCNN)
    codes = rng.integers(0, 6, size=(2, 12)).astype(np.int32)
    np.testing.assert_array_equal(layer.distribution().log_prob(codes).numpy(),
                                  net.distribution().log_prob(codes).numpy())


def test_mixed_bfloat16_gives_float32_logits_and_densities():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        net = _net()
        assert net.horizontal_convs[0].compute_dtype == "bfloat16"
        prior = net.distribution()
        codes = prior.sample(2, seed=0)
        log_prob = prior.log_prob(codes)
        assert net(codes).dtype == tf.float32 and log_prob.dtype == tf.float32
        assert np.all(np.isfinite(log_prob.numpy()))
    finally:
        keras.config.set_dtype_policy("float32")


def test_training_learns_a_deterministic_successor():
    # Codes c_t = c_{t-1} + 1 mod 4 from a uniform c_1: the best log p(c) is -log 4.
    k, n = 4, 4
    data = (np.arange(64)[:, None] + np.arange(n)[None]) % k
    net = _net(k, (1, n), num_layers=2)
    prior = net.distribution()
    optimizer = keras.optimizers.Adam(0.05)
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(prior.log_prob(data))
        optimizer.apply(tape.gradient(loss, net.trainable_variables), net.trainable_variables)
    # Uniform over the grids would be n log 4 = 5.5.
    assert float(loss) < np.log(k) + 0.2, float(loss)


def test_uniform_codes():
    prior = uniform_codes((3, 4), 7)
    assert prior.batch_shape == [] and prior.event_shape == [12] and prior.dtype == tf.int32
    codes = tf.constant([[0] * 12, [6] * 12])
    np.testing.assert_allclose(prior.log_prob(codes).numpy(), [-12 * np.log(7)] * 2,
                               rtol=1e-6)
    assert tuple(prior.sample(5, seed=[1, 2]).shape) == (5, 12)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_embeddings": 1}, "num_embeddings .* must be an integer >= 2"),
    ({"num_embeddings": 2.0}, "num_embeddings .* must be an integer >= 2"),
    ({"grid_shape": (4,)}, "grid_shape must be the \\(height, width\\)"),
    ({"grid_shape": (4, 5, 1)}, "grid_shape must be the \\(height, width\\)"),
    ({"grid_shape": (0, 5)}, "grid_shape must be a list or tuple of positive integers"),
    ({"grid_shape": 7}, "grid_shape must be a list or tuple of positive integers"),
    ({"kernel_size": 4}, "kernel_size must be an odd integer >= 3"),
    ({"filters": 0}, "filters must be a positive integer"),
    ({"num_layers": 0}, "num_layers must be a positive integer"),
])
def test_bad_arguments_are_value_errors(kwargs, message):
    args = {"num_embeddings": 4, "grid_shape": (4, 5), **kwargs}
    with pytest.raises(ValueError, match=message):
        GatedPixelCNN(**args)
    if set(kwargs) <= {"num_embeddings", "grid_shape"}:
        with pytest.raises(ValueError, match=message):
            uniform_codes(args["grid_shape"], args["num_embeddings"])


def test_build_checks_the_grid_shape():
    GatedPixelCNN(4, (4, 5), filters=8, num_layers=1).build((None, 20))
    with pytest.raises(ValueError, match="code grids of shape \\(4, 5\\)"):
        GatedPixelCNN(4, (4, 5), filters=8, num_layers=1).build((None, 5, 4))
