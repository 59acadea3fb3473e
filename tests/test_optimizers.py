"""FusedAdam: the same numbers as keras.optimizers.Adam, one kernel per variable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from vaezoo.models.base import trunk_layers, trunk_precision
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


def test_compile_and_config_default_to_fused_adam():
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(4, 4, 1))
    model.compile()
    assert type(model.optimizer) is FusedAdam
    model.compile(optimizer="Adam")
    assert type(model.optimizer) is FusedAdam
    model.compile(optimizer=keras.optimizers.Adam())
    assert type(model.optimizer) is keras.optimizers.Adam
    opt = vaezoo.config.optimizer_from_config({"optimizer": {"name": "adam",
                                                             "learning_rate": 0.002}})
    assert type(opt) is FusedAdam


def _matmul_dtypes(model, batch):
    """The dtypes of the matrix products in the traced training step."""
    fn = tf.function(model.train_step).get_concrete_function(
        tf.TensorSpec((batch,) + model.image_shape, tf.float32))
    return {op.get_attr("T").name for op in fn.graph.get_operations()
            if op.type == "MatMul"}


def test_mixed_bfloat16_is_the_training_steps_precision_only():
    x = np.random.default_rng(0).integers(0, 2, (32, 6, 6, 1)).astype("float32")
    model = vaezoo.MLPVAE(latent_dim=3, hidden_units=(16, 16), image_shape=(6, 6, 1),
                          binarization=None)
    model.compile(precision="mixed_bfloat16", steps_per_execution=1)
    assert model.training_precision == "mixed_bfloat16"
    # Every product of the step in bfloat16 (the encoder's, the posterior head's, the
    # decoder's, forward and backward); the variables stay float32.
    assert _matmul_dtypes(model, 16) == {"bfloat16"}
    history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    # Outside the step everything is float32: the policies were put back.
    encoder, decoder = trunk_layers(model)
    assert {layer.dtype_policy.name for layer in encoder + decoder} == {"float32"}
    assert model.decode(np.zeros((2, 3), "float32")).distribution.logits.dtype == tf.float32
    q = model.encode(x[:2])
    assert q.mean().dtype == tf.float32 and q.stddev().dtype == tf.float32
    model.compile(precision="float32")
    assert _matmul_dtypes(model, 16) == {"float32"}
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        model.compile(precision="bf16")


def test_trunk_precision_sets_and_restores_policies():
    model = vaezoo.MLPVAE(latent_dim=3, hidden_units=(16,), image_shape=(6, 6, 1))
    encoder, decoder = trunk_layers(model)
    with trunk_precision(model, "float32", "mixed_bfloat16"):
        assert {layer.dtype_policy.name for layer in encoder} == {"float32"}
        assert {layer.dtype_policy.name for layer in decoder} == {"mixed_bfloat16"}
        # bfloat16 products inside, float32 parameters out
        assert model.decode(np.zeros((2, 3), "float32")).distribution.logits.dtype == tf.float32
    assert {layer.dtype_policy.name for layer in encoder + decoder} == {"float32"}
    with pytest.raises(ValueError, match="precision must be one of 'float32', 'mixed_bfloat16'"):
        trunk_precision(model, "auto")


def test_precision_given_before_build_applies_to_the_step():
    unbuilt = vaezoo.MLPVAE(latent_dim=3, hidden_units=(16,), binarization=None)
    unbuilt.compile(precision="mixed_bfloat16", steps_per_execution=1)
    x = np.random.default_rng(0).integers(0, 2, (16, 6, 6, 1)).astype("float32")
    unbuilt.fit(x, batch_size=8, epochs=1, verbose=0)
    assert _matmul_dtypes(unbuilt, 8) == {"bfloat16"}


def test_auto_precision_follows_the_hardware_and_the_family(monkeypatch):
    from vaezoo import hardware
    from vaezoo.models.base import resolve_precision
    monkeypatch.setattr(hardware, "accelerator_present", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", vaezoo.MLPVAE) == "mixed_bfloat16"
    model = vaezoo.MLPVAE(latent_dim=3, hidden_units=(16,), image_shape=(6, 6, 1))
    model.compile()                               # the default is "auto"
    assert model.training_precision == "mixed_bfloat16"
    assert model.get_compile_config()["precision"] == "auto"  # resolved again on load
    # Families whose likelihood was not measured in bfloat16 stay float32 unless asked.
    for family in (vaezoo.ConvVAE, vaezoo.ConditionalVAE, vaezoo.SemiSupervisedVAE,
                   vaezoo.HierarchicalVAE):
        assert resolve_precision("auto", family) == "float32", family
        assert resolve_precision("mixed_bfloat16", family) == "mixed_bfloat16"
    conv = vaezoo.ConvVAE(latent_dim=2, image_shape=(8, 8, 1))
    conv.compile()
    assert conv.training_precision == "float32"
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", vaezoo.MLPVAE) == "float32"
    model.compile()
    assert model.training_precision == "float32"
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(hardware, "accelerator_present", lambda: True)
    assert resolve_precision("auto", model) == "float32"  # GPUs and TPUs: not measured here
    assert resolve_precision("float32", model) == "float32"


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
