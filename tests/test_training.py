"""Training runs: the run directory, checkpoints, resume, the NaN guard.

In-process tests use tiny configs on slices of the real Fashion-MNIST IDX
files (a few batches). Tests that need several training runs (resume from an
epoch checkpoint, from a mid-epoch checkpoint, and the SIGKILL test, which runs
real ``vaezoo train`` subprocesses in deterministic mode) are marked slow: each
run traces its train, test and evaluation functions, which takes minutes on the
shared 2-core machine.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from vaezoo import config as config_lib
from vaezoo import training
from vaezoo.training import datasets


def tiny_config(**tables):
    """A config dict: MLP 16 units, latent 2, 128 training images in batches of 32."""
    cfg = {
        "name": "tiny",
        "model": {"class": "MLPVAE", "latent_dim": 2, "hidden_units": [16],
                  "likelihood": "bernoulli", "binarization": "dynamic"},
        "data": {"dataset": "fashion_mnist", "train_split": "train[:128]",
                 "test_split": "test[:64]", "batch_size": 32, "shuffle_buffer": 128},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "training": {"epochs": 2, "seed": 3},
        "evaluation": {"num_importance_samples": 4},
    }
    for table, values in tables.items():
        cfg[table] = {**cfg.get(table, {}), **values}
    return cfg


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    metrics = training.train(tiny_config(), out, verbose=0)
    return out, metrics


def test_train_writes_the_run_directory(reference_run):
    out, metrics = reference_run
    for name in ("config.toml", "metrics.json", "samples.png", "reconstructions.png",
                 "model.keras", "model.weights.h5"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["epochs"] == 2 and metrics["steps"] == 2 * 4
    assert len(metrics["history"]["elbo"]) == 2 and len(metrics["history"]["val_elbo"]) == 2
    test = metrics["test"]
    assert test["num_importance_samples"] == 4 and test["num_examples"] == 64
    assert np.isfinite(test["log_likelihood"]) and test["stderr"] > 0
    assert np.isclose(test["bits_per_dim"], -test["log_likelihood"] / (784 * np.log(2)))
    # log p(x) estimate (IWAE, K=4) is at least the ELBO up to Monte-Carlo noise.
    assert test["log_likelihood"] >= test["elbo"] - 3 * test["elbo_stderr"]
    # Validation: the last 10% of the train split (13 of 128), held out of training.
    assert metrics["train"]["num_examples"] == metrics["train_examples"] == 115
    assert metrics["validation"]["held_out_of_train"] is True
    assert metrics["validation"]["first_example"] == 115
    assert metrics["validation"]["num_examples"] == 13
    assert "'train[:128]' examples 115 to 127" in metrics["validation"]["split"]
    # The evaluation says what it measured.
    assert metrics["evaluation"] == {**metrics["evaluation"], "split": "test[:64]",
                                     "num_importance_samples": 4, "num_examples": 64,
                                     "num_examples_in_split": 64, "max_examples": None,
                                     "binarization": "static"}   # dynamic: static test set
    # The resolved config reloads, and is complete (image shape, model seed).
    cfg = config_lib.load_config(out / "config.toml")
    assert cfg["model"]["image_shape"] == [28, 28, 1] and cfg["model"]["seed"] == 3
    # Checkpoints: only the newest two are kept, named by (epochs done, batch).
    names = [p.name for p in training.list_checkpoints(out)]
    assert names == ["epoch-0001-batch-000000.ckpt.npz", "epoch-0002-batch-000000.ckpt.npz"]
    meta, _ = training.read_checkpoint(out / "checkpoints" / names[-1])
    assert meta["epoch"] == 2 and meta["step"] == 8 and meta["history"] == metrics["history"]


def test_run_directory_reloads(reference_run):
    import vaezoo
    out, _ = reference_run
    model = vaezoo.load(out)
    keras_model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_allclose(model.encode(images).mean(), keras_model.encode(images).mean(),
                               rtol=1e-6)


def test_evaluate_run_directory(reference_run):
    out, metrics = reference_run
    import vaezoo
    # the default dtype policy, on any machine
    assert metrics["training_precision"] == "float32"
    result = training.evaluate(out, num_samples=4, verbose=0)
    # Same model, data, K and seed as at the end of training: the same numbers.
    assert result["log_likelihood"] == pytest.approx(metrics["test"]["log_likelihood"], abs=1e-4)
    assert result["elbo"] == pytest.approx(metrics["test"]["elbo"], abs=1e-4)
    assert (out / "evaluation.json").is_file()
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        training.evaluate(out, num_samples=0)
    with pytest.raises(ValueError, match="not a vaezoo run directory"):
        training.evaluate(out / "checkpoints")


class _NoEvaluation(AssertionError):
    pass


def _forbid_evaluation(monkeypatch):
    from vaezoo import evaluation

    def fail(*args, **kwargs):
        raise _NoEvaluation("the final evaluation ran again")

    for name in ("elbo", "log_likelihood", "classification_accuracy"):
        monkeypatch.setattr(evaluation, name, fail)


def test_rerun_of_a_finished_run_reuses_its_metrics(reference_run, monkeypatch, capsys):
    out, metrics = reference_run
    weights_time = (out / "model.weights.h5").stat().st_mtime_ns
    _forbid_evaluation(monkeypatch)
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert training.train(tiny_config(), out, verbose=1) == json.loads(json.dumps(metrics))
    assert "reusing its metrics.json" in capsys.readouterr().out
    assert training.train(tiny_config(), out, verbose=0, evaluate=False)["test"] is not None
    assert (out / "model.weights.h5").stat().st_mtime_ns == weights_time
    # Another evaluation than the stored one is computed (from the finished model).
    with pytest.raises(_NoEvaluation):
        training.train(tiny_config(), out, verbose=0, num_samples=3)


def test_no_eval_then_a_small_evaluation(tmp_path):
    cfg = tiny_config(training={"epochs": 1})
    metrics = training.train(cfg, tmp_path, verbose=0, evaluate=False)
    assert metrics["train"] is None and metrics["test"] is None
    assert metrics["evaluation"]["skipped"] is True
    assert metrics["evaluation"]["command"] == f"vaezoo evaluate {tmp_path}"
    assert len(metrics["history"]["val_elbo"]) == 1          # validation still ran
    assert (tmp_path / "model.weights.h5").is_file()
    # The rerun trains nothing more (one epoch asked, one done) and evaluates as asked.
    metrics = training.train(cfg, tmp_path, verbose=0, num_samples=2, max_examples=16)
    assert metrics["resumed_from"]["epoch"] == 1 and metrics["steps"] == 4
    record = metrics["evaluation"]
    assert record["num_importance_samples"] == metrics["test"]["num_importance_samples"] == 2
    assert record["num_examples"] == metrics["test"]["num_examples"] == 16
    assert record["num_examples_in_split"] == 64 and record["max_examples"] == 16
    assert record["split"] == "test[:64]"
    assert json.loads((tmp_path / "metrics.json").read_text())["evaluation"] == record


def _images(dataset):
    return np.stack([e["image"] for e in dataset.as_numpy_iterator()])


def test_validation_is_held_out_of_train_never_test(monkeypatch):
    from vaezoo import data as data_lib
    loaded = []
    load = data_lib.load
    monkeypatch.setattr(data_lib, "load", lambda name, split, **kw: (
        loaded.append(split), load(name, split, **kw))[1])
    cfg = training.resolve_config(tiny_config())
    train, val, test, record = datasets.split_datasets(cfg, verbose=0)
    assert loaded == ["train[:128]", "test[:64]"]          # no split loaded for validation
    everything = _images(load("fashion_mnist", "train[:128]", verbose=False))
    np.testing.assert_array_equal(_images(train), everything[:115])
    np.testing.assert_array_equal(_images(val), everything[115:])
    assert record["num_examples"] == 13 and record["held_out_of_train"] is True
    # None of the held-out images is a test image.
    test_images = _images(test).reshape(64, -1)
    assert not any((test_images == image.reshape(1, -1)).all(axis=1).any()
                   for image in _images(val))
    _, val, _, record = datasets.split_datasets(
        training.resolve_config(tiny_config(data={"validation_fraction": 0})), verbose=0)
    assert val is None and record["num_examples"] == 0
    with pytest.raises(ValueError, match="names the test split"):
        training.resolve_config(tiny_config(data={"validation_split": "test[:64]"}))
    with pytest.raises(ValueError, match=r"validation_fraction' must be in \[0, 1\)"):
        training.resolve_config(tiny_config(data={"validation_fraction": 1.0}))


@pytest.mark.parametrize("given", [True, False])
@pytest.mark.parametrize("known_length", [True, False])
def test_progress_bar_counts_the_batches_truly_run(known_length, given, monkeypatch):
    """10 batches, 4 steps per execution: Keras' own bar would pass 12/10 on the way."""
    import tensorflow as tf
    from keras.src.utils import progbar

    import vaezoo
    from vaezoo.callbacks import BatchProgbarLogger
    shown = []
    update = progbar.Progbar.update
    monkeypatch.setattr(progbar.Progbar, "update", lambda self, current, *a, **k: (
        shown.append((current, self.target)), update(self, current, *a, **k))[1])
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(6, 6, 1),
                          binarization="dynamic")
    model.compile(optimizer="adam", steps_per_execution=4)
    images = np.random.default_rng(0).integers(0, 256, (40, 6, 6, 1), dtype=np.uint8)
    data = tf.data.Dataset.from_tensor_slices(images).batch(4)
    if not known_length:
        data = data.filter(lambda batch: True)
    # VAE.fit uses the bar by itself; a user's own one is used as given.
    model.fit(data, epochs=1, verbose=1, callbacks=[BatchProgbarLogger()] if given else None)
    assert [current for current, _ in shown] == [4, 8, 10, 10]
    assert shown[-1][1] == 10                                   # the total, at the end


@pytest.mark.slow
def test_resume_continues_and_matches_an_uninterrupted_run(reference_run, tmp_path):
    _, reference = reference_run
    first = training.train(tiny_config(), tmp_path, epochs=1, verbose=0)
    assert first["resumed_from"] is None and first["steps"] == 4
    second = training.train(tiny_config(), tmp_path, epochs=2, verbose=0)
    assert second["resumed_from"]["epoch"] == 1 and second["steps"] == 8
    for key, values in reference["history"].items():
        np.testing.assert_allclose(second["history"][key], values, rtol=1e-5, err_msg=key)
    assert second["test"]["elbo"] == pytest.approx(reference["test"]["elbo"], rel=1e-5)
    # The directory now holds this config's run: another config is refused...
    other = tiny_config(model={"latent_dim": 3})
    with pytest.raises(ValueError, match="holds a run of another config"):
        training.train(other, tmp_path, verbose=0)
    # ... unless asked to start over.
    metrics = training.train(other, tmp_path, epochs=1, resume=False, verbose=0)
    assert metrics["resumed_from"] is None and metrics["steps"] == 4


@pytest.mark.slow
def test_resume_from_a_mid_epoch_checkpoint(reference_run, tmp_path):
    """Crash (an exception) after a step checkpoint; the resumed epoch ends identically."""
    _, reference = reference_run
    # Every 2 steps: train() then runs 2 steps per graph call; callbacks see steps 2, 4, 6, 8.
    cfg = tiny_config(training={"checkpoint_every": 2})

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 8:     # before its checkpoint
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        training.train(cfg, tmp_path, verbose=0, callbacks=[Crash()])
    latest = training.latest_checkpoint(tmp_path)
    assert latest.name == "epoch-0001-batch-000002.ckpt.npz"      # step 6 = epoch 1, batch 2
    resumed = training.train(cfg, tmp_path, verbose=0)
    assert resumed["resumed_from"] == {"checkpoint": latest.name, "epoch": 1, "batch": 2,
                                       "step": 6}
    for key, values in reference["history"].items():
        np.testing.assert_allclose(resumed["history"][key], values, rtol=1e-5, err_msg=key)


class PoisonDecoder(keras.callbacks.Callback):
    """Makes training diverge for real: NaN in the decoder's output bias when an epoch begins.

    (Callbacks run between graph calls of ``steps_per_execution`` steps, so an
    epoch start is the one place a test can act at a known step.)
    """

    def __init__(self, epoch):
        super().__init__()
        self.at, self.seen = epoch, 0
        self.clipnorm = None

    def on_epoch_begin(self, epoch, logs=None):
        self.clipnorm = self.model.optimizer.clipnorm
        self.seen += 1           # train() calls fit once per epoch: count the calls
        if self.seen == self.at:
            bias = self.model.decoder.trainable_variables[-1]
            bias.assign(np.full(bias.shape, np.nan, np.float32))


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(training={"epochs": 3}, optimizer={"clipnorm": 100.0})
    poison = PoisonDecoder(epoch=2)
    with pytest.raises(training.TrainingDiverged) as info:
        training.train(cfg, tmp_path, verbose=0, callbacks=[poison])
    assert poison.clipnorm == 100.0                      # [optimizer] clipnorm is used
    message = str(info.value)
    # Step 5 (the first of epoch 2) is computed with the NaN decoder: its distortion is NaN;
    # the rate, from the untouched encoder, is finite at that step.
    assert "step 5: distortion became NaN or Inf" in message, message
    assert "clipnorm" in message
    names = [p.name for p in training.list_checkpoints(tmp_path)]
    assert names == ["epoch-0001-batch-000000.ckpt.npz"]
    _, arrays = training.read_checkpoint(tmp_path / "checkpoints" / names[0])
    assert all(np.isfinite(a).all() for a in arrays if a.dtype.kind == "f")
    assert not (tmp_path / "model.keras").exists()
    assert not (tmp_path / "metrics.json").exists()


def test_nan_guard_as_a_plain_keras_callback():
    import vaezoo
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(6, 6, 1),
                          binarization="dynamic")
    model.compile(optimizer="adam")
    guard = training.NonFiniteGuard()
    images = np.random.default_rng(0).integers(0, 256, (32, 6, 6, 1), dtype=np.uint8)
    model.fit(images, batch_size=8, epochs=3, verbose=0,
              callbacks=[guard, PoisonDecoder(epoch=2)])
    assert guard.step == 5 and "step 5: distortion" in guard.failure
    assert int(model.optimizer.iterations.numpy()) == 8          # stopped after that epoch


def test_checkpoint_files(tmp_path):
    import vaezoo
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(6, 6, 1))
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    path = training.save_checkpoint(tmp_path / "a.ckpt.npz", model, {"epoch": 1, "step": 0})
    assert not [p for p in tmp_path.iterdir() if p.name != "a.ckpt.npz"]    # no temp left over
    meta = training.restore_checkpoint(path, model)
    assert meta["epoch"] == 1
    # Truncated file: a clear error, not a zipfile trace.
    data = path.read_bytes()
    (tmp_path / "cut.ckpt.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="unreadable"):
        training.read_checkpoint(tmp_path / "cut.ckpt.npz")
    # Another architecture.
    other = vaezoo.MLPVAE(latent_dim=3, hidden_units=(8,), image_shape=(6, 6, 1))
    other.compile(optimizer="adam")
    other.optimizer.build(other.trainable_variables)
    with pytest.raises(ValueError, match="different model or optimizer"):
        training.restore_checkpoint(path, other)
    # Non-finite weights are never written.
    model.decoder.trainable_variables[0].assign(
        np.full(model.decoder.trainable_variables[0].shape, np.inf, np.float32))
    with pytest.raises(training.TrainingDiverged, match="not finite"):
        training.save_checkpoint(path, model, {"epoch": 2, "step": 0})
    assert training.read_checkpoint(path)[0]["epoch"] == 1             # the old one is intact


def test_epoch_seed_depends_only_on_seed_and_epoch():
    assert training.epoch_seed(0, 1) == training.epoch_seed(0, 1)
    assert len({training.epoch_seed(s, e) for s in range(3) for e in range(5)}) == 15


@pytest.mark.parametrize("tables, match", [
    ({"data": {"batch_size": 0}}, "batch_size"),
    ({"model": {"latent_dim": 0}}, "latent_dim"),
    ({"evaluation": {"num_importance_samples": 0}}, "num_importance_samples"),
    ({"optimizer": {"name": "adamm"}}, "adam"),
    ({"model": {"likelihood": "bernouli"}}, "bernoulli"),
])
def test_bad_configs_are_clear_errors(tmp_path, tables, match):
    with pytest.raises(ValueError, match=match):
        training.train(tiny_config(**tables), tmp_path, verbose=0)


def test_epochs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        training.train(tiny_config(), tmp_path, epochs=0, verbose=0)


# ---------------------------------------------------------------------- SIGKILL and resume
TINY_TOML = """
description = "tiny run for the kill-and-resume test"
[model]
class = "MLPVAE"
latent_dim = 2
hidden_units = [16]
likelihood = "bernoulli"
binarization = "dynamic"
[data]
dataset = "fashion_mnist"
train_split = "train[:256]"
test_split = "test[:64]"
batch_size = 32
shuffle_buffer = 256
[optimizer]
name = "adam"
learning_rate = 0.003
[training]
epochs = 4
seed = 5
checkpoint_every = 3
[evaluation]
num_importance_samples = 4
"""


def _vaezoo_train(config, out, **popen):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [sys.executable, "-m", "vaezoo.cli", "train", str(config), "--out", str(out),
         "--deterministic", "-v", "2"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, **popen)


@pytest.mark.slow
def test_sigkill_at_a_random_time_then_resume_gives_the_same_metrics(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    started = time.time()
    reference = _vaezoo_train(config, tmp_path / "reference")
    output = reference.communicate(timeout=900)[0]
    assert reference.returncode == 0, output
    ref_metrics = json.loads((tmp_path / "reference" / "metrics.json").read_text())

    out = tmp_path / "killed"
    victim = _vaezoo_train(config, out)
    # Kill at a random moment once training has started (the first checkpoint appears):
    # mid-step, mid-checkpoint-write, during validation, whatever comes.
    deadline = time.time() + 600
    while not training.list_checkpoints(out) and victim.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 2.0))
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    killed_at = training.latest_checkpoint(out)
    print(f"killed after checkpoint {killed_at.name} (returncode {victim.returncode})")
    assert victim.returncode == -signal.SIGKILL, "the run ended before the kill; rerun"
    assert not (out / "metrics.json").exists()

    resumed = _vaezoo_train(config, out)
    output = resumed.communicate(timeout=900)[0]
    assert resumed.returncode == 0, output
    assert "resuming" in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from"] is not None
    for key in ("train", "test", "history", "steps", "epochs"):
        assert metrics[key] == ref_metrics[key], key                # exactly equal
    print(f"kill-and-resume test took {time.time() - started:.0f} s")
