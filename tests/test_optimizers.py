"""The default optimizer is Keras' Adam; FusedAdam, opt-in, gives its numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from vaezoo.optimizers import FusedAdam


def _train(optimizer, steps=5):
    keras.utils.set_random_seed(3)
    w = keras.Variable(np.random.default_rng(0).normal(size=(7, 3)).astype("float32"))
    b = keras.Variable(np.zeros(3, "float32"))
    x = tf.constant(np.random.default_rng(1).normal(size=(16, 7)).astype("float32"))
    optimizer.build([w, b])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.tanh(x @ w + b) - 0.5))
        grads = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip(grads, [w, b]))

    for _ in range(steps):
        step()
    return [w.numpy(), b.numpy()] + [v.numpy() for v in optimizer.variables[1:]]


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-4},
    {"learning_rate": keras.optimizers.schedules.CosineDecay(0.01, 10)},
    {"clipnorm": 0.01},
    {"amsgrad": True},
], ids=["defaults", "hyperparameters", "schedule", "clipnorm", "amsgrad"])
def test_fused_adam_matches_keras_adam(kwargs):
    fused = _train(FusedAdam(**kwargs))
    plain = _train(keras.optimizers.Adam(**kwargs))
    assert len(fused) == len(plain) > 2
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and it did move the weights
    assert not np.allclose(fused[0], np.random.default_rng(0).normal(size=(7, 3)))


def test_fused_adam_serializes():
    opt = FusedAdam(learning_rate=0.01, beta_2=0.99)
    back = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(back) is FusedAdam
    assert back.get_config()["beta_2"] == 0.99


def test_adam_is_keras_adam_and_fused_adam_is_opt_in():
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(4, 4, 1))
    for given in (None, "adam", "Adam"):
        model.compile(**({} if given is None else {"optimizer": given}))
        assert type(model.optimizer) is keras.optimizers.Adam, given
    for given in ("fused_adam", "Fused_Adam", FusedAdam()):
        model.compile(optimizer=given)
        assert type(model.optimizer) is FusedAdam, given
    from_config = vaezoo.config.optimizer_from_config
    assert type(from_config({"optimizer": {"name": "adam"}})) is keras.optimizers.Adam
    assert type(from_config({"optimizer": {"name": "fused_adam"}})) is FusedAdam


def test_fused_adam_trains_a_vae_as_keras_adam_does():
    """The opt-in gives Keras' result: the same weights after a few epochs."""
    x = np.random.default_rng(0).integers(0, 256, (48, 6, 6, 1), dtype=np.uint8)
    weights = []
    for optimizer in ("adam", "fused_adam"):
        model = vaezoo.MLPVAE(latent_dim=3, hidden_units=(16,), binarization="static",
                              image_shape=(6, 6, 1), seed=0)
        keras.utils.set_random_seed(1)
        model.set_weights([np.random.default_rng(i).normal(0, 0.3, w.shape).astype("float32")
                           for i, w in enumerate(model.get_weights())])
        model.compile(optimizer=optimizer, steps_per_execution=2)
        model.fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_keras_file_keeps_compile_arguments_and_optimizer_state(tmp_path):
    import warnings
    x = np.random.default_rng(0).integers(0, 2, (32, 4, 4, 1)).astype("float32")
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(4, 4, 1),
                          binarization=None)
    model.compile(optimizer=FusedAdam(learning_rate=0.003), steps_per_execution=4)
    model.fit(x, batch_size=8, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no "compile() was not called" warning
        back = keras.models.load_model(tmp_path / "m.keras")
    assert type(back.optimizer) is FusedAdam
    assert back.steps_per_execution == 4
    assert float(back.optimizer.learning_rate) == pytest.approx(0.003)
    assert int(back.optimizer.iterations) == int(model.optimizer.iterations) == 8
    for a, b in zip(model.optimizer.variables, back.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    back.fit(x, batch_size=8, epochs=1, verbose=0)   # and it trains on
    assert int(back.optimizer.iterations) == 12
