"""Precision is the Keras dtype policy: ``dtype=`` or the global policy, applied to the
whole model, reported truthfully, with float32 distributions (keras-hub's
``run_precision_test``). Every family of ``tests/harness.FAMILIES`` runs under ``dtype=``;
the global policy, which reaches every family the same way, on one family per policy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import FAMILIES, family_model, workflow_data

MIXED = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


@pytest.fixture
def global_policy():
    """Sets the global dtype policy for one test and puts float32 back after it."""
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


def _fit_one_step(model, images, labels):
    model.compile(steps_per_execution=1)
    data = (images[:8], labels[:8]) if model.is_conditional else (images[:8],)
    return model.fit(*data, batch_size=8, epochs=1, verbose=0).history


def _step_matmul_dtypes(model, images, labels):
    spec = tf.TensorSpec((8,) + images.shape[1:], tf.uint8)
    if model.is_conditional:
        spec = (spec, tf.TensorSpec((8,), tf.int64))
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    # A VQ-VAE's nearest-code search compares distances in float32 by design (its argmin
    # picks the codes); every other product and convolution is the trunks'.
    return {op.get_attr("T").name for op in graph.get_operations()
            if op.type in ("MatMul", "Conv2D") and "nearest_code" not in op.name}


def _check_mixed(model, policy, images, labels):
    history = _fit_one_step(model, images, labels)
    assert np.all(np.isfinite(history["loss"])), history
    assert model.training_precision == policy
    assert {layer.dtype_policy.name for layer in model._flatten_layers()
            if not isinstance(layer, keras.layers.InputLayer)} == {policy}
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    # Every matrix product and convolution of the step in the policy's compute dtype,
    # forward and backward.
    assert _step_matmul_dtypes(model, images, labels) == {MIXED[policy]}
    # The distributions are float32 (a VQ-VAE's posterior is over int32 code grids).
    y = labels[:2] if model.is_conditional else None
    latent_dtype = tf.int32 if model.deterministic_posterior else tf.float32
    assert model.encode(images[:2], y).sample(seed=(0, 0)).dtype == latent_dtype
    assert model.decode(np.zeros((2, model.latent_dim), "float32"), y).mean().dtype == tf.float32
    lso = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert lso is (policy == "mixed_float16")   # Keras' loss scaling for float16


@pytest.mark.parametrize("policy", sorted(MIXED))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_dtype_argument_applies_to_the_whole_model(family, policy):
    images, labels = workflow_data(16)
    _check_mixed(family_model(family, dtype=policy), policy, images, labels)


# The global policy reaches a model through the Keras default of every layer (``dtype=None``),
# a path no family has its own code for; each family's own layers are checked under
# ``dtype=`` above. Here each policy on one family: a conditional one with its label
# network and conditional prior, and a convolutional one.
@pytest.mark.parametrize("policy, family", [("mixed_bfloat16", "ConvVAE"),
                                            ("mixed_float16", "ConditionalVAE")])
def test_global_policy_applies_to_the_whole_model(global_policy, policy, family):
    assert family in FAMILIES
    images, labels = workflow_data(16)
    global_policy(policy)
    _check_mixed(family_model(family), policy, images, labels)


def test_dtype_argument_wins_over_the_global_policy(global_policy):
    global_policy("mixed_bfloat16")
    model = family_model("MLPVAE", dtype="float32", image_shape=(8, 8, 1))
    assert model.training_precision == "float32"
    assert {layer.dtype_policy.name for layer in model._flatten_layers()
            if not isinstance(layer, keras.layers.InputLayer)} == {"float32"}


def test_an_unsupported_policy_is_a_clear_error(global_policy):
    with pytest.raises(ValueError, match="must be one of 'float32', 'mixed_bfloat16', "
                                         "'mixed_float16'; got 'bfloat16'"):
        family_model("MLPVAE", dtype="bfloat16")
    global_policy("float16")
    with pytest.raises(ValueError, match="keras.config.set_dtype_policy"):
        family_model("MLPVAE")


def test_compile_takes_no_precision():
    model = family_model("MLPVAE", image_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="dtype='mixed_bfloat16'"):
        model.compile(precision="mixed_bfloat16")


def test_a_mixed_model_saves_and_loads_in_its_policy(tmp_path):
    images, labels = workflow_data(16)
    model = family_model("MLPVAE", dtype="mixed_float16", image_shape=(8, 8, 1))
    _fit_one_step(model, images, labels)
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.training_precision == "mixed_float16"
    assert isinstance(back.optimizer, keras.optimizers.LossScaleOptimizer)
    np.testing.assert_allclose(back.encode(images[:4]).mean(), model.encode(images[:4]).mean())


def test_compile_configs_saved_with_precision_still_load():
    """Files written before precision became the dtype policy hold compile(precision=...)."""
    model = family_model("MLPVAE", image_shape=(8, 8, 1))
    adam = keras.optimizers.serialize(keras.optimizers.Adam(0.002))
    for legacy in ("auto", "float32"):
        model.compile_from_config({"optimizer": adam, "jit_compile": "auto",
                                   "steps_per_execution": "auto", "precision": legacy})
        assert model.training_precision == "float32"
        assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    with pytest.warns(UserWarning, match="dtype='mixed_bfloat16'"):
        model.compile_from_config({"optimizer": adam, "precision": "mixed_bfloat16"})
    assert model.training_precision == "float32"


@pytest.mark.parametrize("argument, value, hint", [
    ("loss", "mse", "objective="),
    ("loss_weights", [0.5], "beta="),
    ("metrics", ["mae"], "elbo, rate, distortion"),
    ("weighted_metrics", ["mae"], "vaezoo.evaluation"),
])
def test_compile_refuses_keras_losses_and_metrics(argument, value, hint):
    model = family_model("MLPVAE", image_shape=(8, 8, 1))
    with pytest.raises(ValueError, match=f"does not take {argument}=") as error:
        model.compile(optimizer="adam", **{argument: value})
    assert hint in str(error.value) and f"Remove {argument}" in str(error.value)
