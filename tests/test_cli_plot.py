"""`vaezoo sample` and `vaezoo plot`: every command exits 0 and writes its PNG; bad input fails.

The run directories are tiny untrained models in the layout `vaezoo train`
writes (config.toml + model.weights.h5 + metrics.json); the test data is a
small generated stand-in for the data set the config names.
"""

import json
import os
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import pytest

from vaezoo import cli, config

SHAPE = (28, 28, 1)


def write_run(directory, model_table):
    cfg = config.load_config({"description": "tiny test run",
                              "model": {**model_table, "image_shape": list(SHAPE)},
                              "data": {"dataset": "fashion_mnist", "batch_size": 4},
                              "training": {"epochs": 2}})
    model = config.model_from_config(cfg)
    directory.mkdir()
    config.save_config(cfg, directory / "config.toml")
    model.save_weights(str(directory / "model.weights.h5"))
    history = {"loss": [200.0, 150.0], "elbo": [-200.0, -150.0], "rate": [5.0, 9.0],
               "val_loss": [210.0, 170.0]}
    (directory / "metrics.json").write_text(json.dumps({"history": history}))
    return directory


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("runs") / "mlp2d",
                     {"class": "MLPVAE", "latent_dim": 2, "hidden_units": [8],
                      "likelihood": "bernoulli", "binarization": "static"})


@pytest.fixture(autouse=True)
def small_test_data(monkeypatch):
    """60 generated images instead of the 10,000 of the real test split."""
    from vaezoo import data

    def load_arrays(name, split="train", **kwargs):
        assert (name, split) == ("fashion_mnist", "test")
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, size=(60,) + SHAPE, dtype=np.uint8),
                rng.integers(0, 10, size=60).astype(np.int64))

    monkeypatch.setattr(data, "load_arrays", load_arrays)


def check_png(path):
    assert os.path.isfile(path), f"{path} was not written"
    array = matplotlib.image.imread(str(path))
    assert array.ndim == 3 and array.shape[0] > 50 and array.shape[1] > 50
    assert array.std() > 0
    return array


def test_sample(run_dir, tmp_path, capsys):
    out = tmp_path / "samples.png"
    assert cli.main(["sample", str(run_dir), "-n", "16", "-o", str(out), "--seed", "2"]) == 0
    check_png(out)
    assert "wrote 16 samples" in capsys.readouterr().out


@pytest.mark.parametrize("kind,extra", [
    ("reconstructions", ["-n", "6"]),
    ("interpolation", ["-n", "2", "--method", "slerp", "--steps", "5"]),
    ("traversal", ["-n", "2", "--steps", "5"]),
    ("manifold", ["-n", "5"]),
    ("latents", ["-n", "40"]),
    ("curves", []),
])
def test_plot_kinds(run_dir, tmp_path, kind, extra):
    out = tmp_path / f"{kind}.png"
    assert cli.main(["plot", str(run_dir), "--kind", kind, "-o", str(out)] + extra) == 0
    check_png(out)


def test_plot_conditional(tmp_path):
    pytest.importorskip("vaezoo.models.conditional_vae")
    run = write_run(tmp_path / "cvae", {"class": "ConditionalVAE", "num_classes": 10,
                                        "latent_dim": 2, "hidden_units": [8],
                                        "likelihood": "bernoulli", "binarization": "static"})
    for kind in ("conditional", "reconstructions"):
        out = tmp_path / f"{kind}.png"
        assert cli.main(["plot", str(run), "--kind", kind, "-n", "3", "-o", str(out)]) == 0
        check_png(out)
    out = tmp_path / "class3.png"
    assert cli.main(["sample", str(run), "-n", "4", "--condition", "3", "-o", str(out)]) == 0
    check_png(out)


@pytest.mark.parametrize("argv,message", [
    (["sample", "RUN", "-o", "x.png", "-n", "0"], "expected a positive integer, got 0"),
    (["sample", "RUN"], "the following arguments are required: -o/--output"),
    (["plot", "RUN", "--kind", "histogram", "-o", "x.png"], "invalid choice: 'histogram'"),
    (["plot", "RUN", "-o", "x.png"], "the following arguments are required: --kind"),
    (["plot", "RUN", "--kind", "interpolation", "--method", "cubic", "-o", "x.png"],
     "invalid choice: 'cubic'"),
])
def test_bad_arguments_exit_2_with_usage(run_dir, capsys, argv, message):
    argv = [str(run_dir) if a == "RUN" else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_library_errors_exit_1_with_one_line(run_dir, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    cases = [
        (["sample", str(tmp_path / "missing"), "-o", out], "not a directory"),
        (["sample", "mlp_vae_fashion_mnits", "-o", out], "Did you mean"),
        (["sample", str(run_dir), "--condition", "3", "-o", out], "not a conditional model"),
        (["plot", str(run_dir), "--kind", "conditional", "-o", out], "needs a conditional model"),
        (["plot", str(tmp_path), "--kind", "curves", "-o", out], "no training history"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("vaezoo: error: ") and message in err, (argv, err)
        assert "Traceback" not in err
    assert not os.path.exists(out)


def test_manifold_of_a_wider_latent_says_what_to_do(tmp_path, capsys):
    run = write_run(tmp_path / "mlp4d", {"class": "MLPVAE", "latent_dim": 4, "hidden_units": [8],
                                         "likelihood": "bernoulli", "binarization": "static"})
    assert cli.main(["plot", str(run), "--kind", "manifold", "-o", str(tmp_path / "m.png")]) == 1
    assert "latent_dim=4" in capsys.readouterr().err


@pytest.mark.slow  # importing TensorFlow again takes 5 s of CPU, minutes on a loaded machine
def test_sample_in_a_fresh_process(run_dir, tmp_path):
    """Exit 0 and a PNG from ``python -m vaezoo.cli``; prints (never asserts) the time.

    ``benchmarks/gallery.py`` reports the same timing for the pretrained entries.
    """
    out = tmp_path / "fresh.png"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vaezoo.cli", "sample", str(run_dir), "-n",
                             "64", "-o", str(out)], capture_output=True, text=True, env=env,
                            timeout=300)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-2000:]
    check_png(out)
    print(f"\n`vaezoo sample RUN -n 64` in a fresh process: {elapsed:.1f} s")


@pytest.mark.parametrize("command", ["sample", "plot"])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"vaezoo {command} " in out
    if command == "plot":
        assert all(kind in out for kind in cli.PLOT_KINDS)
