"""The `vaezoo` command: list / train / evaluate, exit codes and messages.

Training runs in-process through ``cli.main`` (a subprocess would pay the
TensorFlow import again); the console script itself is checked with
``--help``, which imports no TensorFlow.
"""

import json
import shutil
import subprocess
import sys

import pytest

from vaezoo import cli

TINY_TOML = """
description = "tiny CLI test run"
[model]
class = "MLPVAE"
latent_dim = 2
hidden_units = [16]
likelihood = "bernoulli"
binarization = "static"
[data]
dataset = "fashion_mnist"
train_split = "train[:96]"
test_split = "test[:48]"
batch_size = 32
shuffle_buffer = 96
[training]
epochs = 3
seed = 1
[evaluation]
num_importance_samples = 3
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


def test_console_script_help():
    exe = shutil.which("vaezoo") or str(
        __import__("pathlib").Path(sys.executable).parent / "vaezoo")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for command in ("list", "train", "evaluate"):
        assert command in out.stdout
    assert "examples:" in out.stdout


@pytest.mark.parametrize("command", ["list", "train", "evaluate"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert f"vaezoo {command}" in capsys.readouterr().out.split("examples:")[1]


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mlp_vae_fashion_mnist" in out and "conv_vae_fashion_mnist" in out
    assert cli.main(["list", "--json"]) == 0
    assert "mlp_vae_fashion_mnist" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["trian"], "invalid choice: 'trian'"),
    (["train"], "required: CONFIG"),
    (["train", "x", "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["train", "x", "--epochs", "many"], "expected a positive integer, got 'many'"),
    (["train", "x", "--bogus"], "unrecognized arguments: --bogus"),
    (["evaluate", "d", "--num-samples", "-5"], "--num-samples: expected a positive integer"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: vaezoo" in err


def test_library_errors_exit_1_without_traceback(tmp_path, capsys):
    assert cli.main(["train", "mlp_vae_fashion_mnst", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaezoo: error: ") and "mlp_vae_fashion_mnist" in err   # close match
    assert "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML.replace("latent_dim = 2", "latent_dims = 2"))
    assert cli.main(["train", str(bad), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "latent_dims" in err
    assert cli.main(["evaluate", str(tmp_path)]) == 1
    assert "not a vaezoo run directory" in capsys.readouterr().err


def test_library_errors_in_a_real_process(tmp_path):
    """The console script prints one line and exits 1: no traceback reaches the user."""
    out = subprocess.run([sys.executable, "-m", "vaezoo.cli", "evaluate", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("vaezoo: error:") and "not a vaezoo run directory" in last
    assert "Traceback" not in out.stderr


def test_train_then_evaluate(tiny_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", str(tiny_config), "--epochs", "1", "--out", str(out),
                     "--num-samples", "2", "--max-examples", "16", "-v", "0"]) == 0
    summary = capsys.readouterr().out
    assert "test log p(x) =" in summary and str(out) in summary
    assert "K = 2 importance samples, 16 of 48 test images (split 'test[:48]'), " \
           "statically binarized (seed 0)" in summary
    # The full protocol is the config's K on every test image, and the output says how.
    assert f"run it with: vaezoo evaluate {out} --num-samples 3" in summary
    for name in ("config.toml", "metrics.json", "samples.png", "model.keras",
                 "model.weights.h5"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["test"]["num_importance_samples"] == 2
    assert metrics["evaluation"]["num_examples"] == 16
    assert metrics["binarization"] == "static" and metrics["binarization_seed"] == 0
    assert metrics["evaluation"]["binarization"] == "static"

    # The same command again: the finished run's metrics, not a new evaluation.
    assert cli.main(["train", str(tiny_config), "--epochs", "1", "--out", str(out),
                     "--num-samples", "2", "--max-examples", "16", "-v", "2"]) == 0
    assert "reusing its metrics.json" in capsys.readouterr().out

    assert cli.main(["evaluate", str(out), "--num-samples", "2", "--max-examples", "16",
                     "--json", "-v", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_importance_samples"] == 2 and result["num_examples"] == 16

    # Running again with more epochs resumes from the last checkpoint.
    assert cli.main(["train", str(tiny_config), "--epochs", "2", "--out", str(out),
                     "-v", "2"]) == 0
    assert "resuming" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["resumed_from"]["epoch"] == 1


def test_evaluate_a_pretrained_entry(capsys):
    from vaezoo import zoo
    before = sorted(p.name for p in zoo.pretrained_entries()["mlp_vae_fashion_mnist"].iterdir())
    assert cli.main(["evaluate", "mlp_vae_fashion_mnist", "--num-samples", "2",
                     "--max-examples", "8", "--json", "-v", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "mlp_vae_fashion_mnist" and result["test_split"] == "test"
    assert result["num_importance_samples"] == 2 and result["num_examples"] == 8
    assert result["num_examples_in_split"] == 10000 and result["binarization"] == "static"
    assert -400 < result["log_likelihood"] < -150
    # Nothing is written into the shipped entry.
    after = sorted(p.name for p in zoo.pretrained_entries()["mlp_vae_fashion_mnist"].iterdir())
    assert after == before
    assert cli.main(["evaluate", "mlp_vae_fashion_mnst"]) == 1
    assert "'mlp_vae_fashion_mnist'" in capsys.readouterr().err          # close match


def test_train_evaluation_flags_parse():
    args = cli.build_parser().parse_args(["train", "x", "--no-eval"])
    assert args.eval is False and args.num_samples is None and args.max_examples is None
    args = cli.build_parser().parse_args(["train", "x", "--num-samples", "10",
                                          "--max-examples", "500"])
    assert args.eval is True and (args.num_samples, args.max_examples) == (10, 500)


DSPRITES_TOML = """
description = "a beta-TC-VAE on a slice of the rendered dSprites"
[model]
class = "BetaTCVAE"
latent_dim = 3
filters = [4, 4]
dense_units = 8
likelihood = "bernoulli"
binarization = "dynamic"
dataset_size = 115
[data]
dataset = "dsprites"
train_split = "train[:128]"
test_split = "train[128:160]"
batch_size = 32
[training]
epochs = 1
[evaluation]
num_importance_samples = 2
"""


def test_train_a_disentangling_family_on_dsprites(tmp_path, capsys):
    """``vaezoo train`` runs a code-regularizing family on the rendered dSprites: its
    regularizer's terms are logged beside the ELBO's, and the run reloads."""
    config = tmp_path / "dsprites.toml"
    config.write_text(DSPRITES_TOML)
    out = tmp_path / "run"
    assert cli.main(["train", str(config), "--out", str(out), "-v", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    history = metrics["history"]
    for name in ("elbo", "total_correlation", "mutual_information", "dimension_kl",
                 "val_total_correlation"):
        assert name in history, sorted(history)
    import keras
    assert type(keras.models.load_model(out / "model.keras")).__name__ == "BetaTCVAE"
