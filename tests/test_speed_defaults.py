"""The fast defaults of ``VAE.compile`` and the train step (no timing here: see
``benchmarks/throughput.py`` for the measured speed-ups)."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import vaezoo
from vaezoo.models import base, compiling, inputs
from vaezoo.preprocessing import static_binarize


def _model(**kwargs):
    kwargs = {"latent_dim": 3, "hidden_units": (16,), "likelihood": "bernoulli",
              "binarization": "static", "image_shape": (6, 6, 1), "seed": 0, **kwargs}
    return vaezoo.MLPVAE(**kwargs)


def _images(n=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 6, 6, 1), dtype=np.uint8)


def _reference_jit_compile():
    """What Keras itself decides for ``jit_compile="auto"`` on this machine."""
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    plain.compile(optimizer="adam", loss="mse")
    return plain.jit_compile


def test_compile_defaults_are_keras_own():
    model = _model()
    model.compile()
    assert model.steps_per_execution == compiling.DEFAULT_STEPS_PER_EXECUTION == 32
    assert model.jit_compile == _reference_jit_compile()   # Keras decides XLA, not vaezoo
    assert type(model.optimizer) is keras.optimizers.Adam
    assert model.get_compile_config()["jit_compile"] == "auto"


def test_defaults_do_not_depend_on_the_hardware(monkeypatch):
    """Nothing in construction, compile or a training step reads the CPU's flags or
    asks which devices are there: the same float32 step on any machine."""
    import builtins

    real_open = builtins.open

    def no_cpuinfo(file, *args, **kwargs):
        assert "cpuinfo" not in str(file), "vaezoo read /proc/cpuinfo"
        return real_open(file, *args, **kwargs)

    class FakeGPU:
        name, device_type = "/device:GPU:0", "GPU"

    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    # A machine that looks like it has a GPU (what the old rule asked) changes nothing.
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda *a, **k: [FakeGPU()])
    model = _model()
    model.compile(steps_per_execution=1)
    assert model.training_precision == "float32"
    assert type(model.optimizer) is keras.optimizers.Adam
    history = model.fit(_images(16), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    fn = tf.function(model.train_step).get_concrete_function(
        tf.TensorSpec((8, 6, 6, 1), tf.uint8))
    assert {op.get_attr("T").name for op in fn.graph.get_operations()
            if op.type == "MatMul"} == {"float32"}


def test_compile_respects_explicit_settings():
    model = _model()
    model.compile(optimizer="adam", jit_compile=True, steps_per_execution=4)
    assert model.jit_compile is True and model.steps_per_execution == 4
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    assert model.jit_compile is False and model.steps_per_execution == 1


@pytest.mark.parametrize("bad", [0, -3, 2.5, "fast", True])
def test_compile_rejects_bad_steps_per_execution(bad):
    with pytest.raises(ValueError, match="steps_per_execution must be 'auto' or a positive"):
        _model().compile(optimizer="adam", steps_per_execution=bad)


def test_compile_rejects_bad_jit_compile():
    with pytest.raises(ValueError, match="jit_compile must be 'auto', True or False"):
        _model().compile(optimizer="adam", jit_compile="yes")


def test_fused_static_binarization_is_exactly_the_reference_hash():
    gray = tf.constant(_images(8), tf.float32) / 255.0
    want = static_binarize(gray, 3)
    np.testing.assert_array_equal(inputs.static_binarize_once(gray, 3), want)  # the XLA one
    # Binary input passes through unchanged (static binarization is idempotent on it).
    np.testing.assert_array_equal(inputs.static_binarize_once(want, 3), want)
    np.testing.assert_array_equal(static_binarize(want, 3), want)


def test_preprocess_gives_the_same_binarization_for_uint8_and_prebinarized_input():
    model = _model(binarization_seed=5)
    images = _images(8)
    from_uint8, _ = model.preprocess(images)
    from_binary, _ = model.preprocess(static_binarize(images, 5).numpy())
    np.testing.assert_array_equal(from_uint8, static_binarize(images, 5))
    np.testing.assert_array_equal(from_binary, from_uint8)


def test_training_does_not_retrace():
    traces = []

    class Counting(vaezoo.MLPVAE):
        def train_step(self, data):
            traces.append(1)  # runs only while TensorFlow traces the step
            return super().train_step(data)

    model = Counting(latent_dim=3, hidden_units=(16,), likelihood="bernoulli",
                     binarization="static", image_shape=(6, 6, 1), seed=0)
    model.compile(optimizer="adam", steps_per_execution=4)
    data = tf.data.Dataset.from_tensor_slices(_images(40)).batch(8)  # 5 batches per epoch
    history = model.fit(data, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert all(np.isfinite(history.history["loss"]))
    # One trace for the steps of the while loop; none per epoch or per batch.
    assert len(traces) <= 2, f"train_step traced {len(traces)} times"


def test_steps_per_execution_trains_all_batches():
    """With 32 steps per execution an epoch of 5 batches still runs 5 steps."""
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # default steps_per_execution=32
    data = tf.data.Dataset.from_tensor_slices(_images(40)).batch(8)
    model.fit(data, epochs=2, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 10


def test_loss_is_not_rescaled_without_a_strategy():
    loss = tf.constant(3.0)
    assert float(base._scale_for_replicas(loss)) == 3.0
    assert not base._multi_worker()
