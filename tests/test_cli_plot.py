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


def write_run(directory, model_table, data_table=None, shape=SHAPE):
    cfg = config.load_config({"description": "tiny test run",
                              "model": {**model_table, "image_shape": list(shape)},
                              "data": data_table or {"dataset": "fashion_mnist",
                                                     "batch_size": 4},
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
    from vaezoo.data import loading

    def load_arrays(name, split="train", **kwargs):
        assert (name, split) == ("fashion_mnist", "test")
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, size=(60,) + SHAPE, dtype=np.uint8),
                rng.integers(0, 10, size=60).astype(np.int64))

    monkeypatch.setattr(data, "load_arrays", load_arrays)
    monkeypatch.setattr(loading, "load_arrays", load_arrays)


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

    ``tools/gallery.py`` reports the same timing for the pretrained entries.
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


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("runs") / "cvae",
                     {"class": "ConditionalVAE", "num_classes": 10, "latent_dim": 2,
                      "hidden_units": [8], "likelihood": "bernoulli",
                      "binarization": "static"})


def test_sample_condition_forms_match_python(cvae_run, tmp_path):
    """--condition takes what sample(condition=) takes: a class, classes or one-hot rows."""
    from vaezoo import plot, zoo
    one_hot = json.dumps(np.eye(10, dtype=int)[[3, 3, 3, 3]].tolist())
    pictures = []
    for i, form in enumerate(["3", "3,3,3,3", "[3, 3, 3, 3]", one_hot]):
        out = tmp_path / f"s{i}.png"
        assert cli.main(["sample", str(cvae_run), "-n", "4", "--condition", form,
                         "-o", str(out)]) == 0, form
        pictures.append(check_png(out))
    python = tmp_path / "python.png"
    plot.sample_grid(zoo.load(str(cvae_run)), n=4, condition=3,
                     title="cvae: samples", path=python)
    for picture in pictures:
        np.testing.assert_array_equal(picture, matplotlib.image.imread(str(python)))
    out = tmp_path / "mixed.png"
    assert cli.main(["sample", str(cvae_run), "-n", "4", "--condition", "0,1,2,3",
                     "-o", str(out)]) == 0
    assert np.abs(check_png(out) - pictures[0]).max() > 0
    out = tmp_path / "manifold.png"
    assert cli.main(["plot", str(cvae_run), "--kind", "manifold", "-n", "3",
                     "--condition", "7", "-o", str(out)]) == 0
    check_png(out)


def test_bad_conditions_on_the_cli(cvae_run, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    for condition, message in [("12", r"integers in [0, 9]; got [12]"),
                               ("0,1", "got 2 labels for 4 examples"),
                               ("[[0,1],[1,0],[0,1],[1,0]]", "num_classes=10 columns")]:
        argv = ["sample", str(cvae_run), "-n", "4", "--condition", condition, "-o", out]
        assert cli.main(argv) == 1, condition
        err = capsys.readouterr().err
        assert err.startswith("vaezoo: error: ") and message in err, (condition, err)
    for condition in ("three", "[1,[2]]", ""):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["sample", str(cvae_run), "--condition", condition, "-o", out])
        assert exit_info.value.code == 2
        assert "expected a class (3), classes (0,1,2) or one-hot rows" in capsys.readouterr().err
    assert not os.path.exists(out)


@pytest.mark.parametrize("command", [["sample"], ["plot", "--kind", "curves"]])
@pytest.mark.parametrize("name", ["out.jpgg", "out.txt", "out"])
def test_an_output_matplotlib_cannot_write_is_refused_first(tmp_path, capsys, command, name):
    """Checked while the arguments are read: before the model is even looked for."""
    argv = [command[0], str(tmp_path / "no_such_run"), *command[1:], "-o",
            str(tmp_path / name)]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "matplotlib writes. Use one of:" in err and ".png" in err and ".pdf" in err
    assert not list(tmp_path.iterdir())


def test_the_output_extension_is_the_format(run_dir, tmp_path):
    out = tmp_path / "samples.pdf"
    assert cli.main(["sample", str(run_dir), "-n", "4", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")


# ---------------------------------------------------------------- a discrete latent (VQVAE)
@pytest.fixture(scope="module")
def vqvae_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("runs") / "vqvae",
                     {"class": "VQVAE", "num_embeddings": 8, "embedding_dim": 4,
                      "filters": [8], "num_residual_blocks": 1,
                      "prior_kwargs": {"filters": 8, "num_layers": 2, "embedding_size": 4},
                      "binarization": "dynamic"})


def test_plot_codes_of_a_vqvae_run(vqvae_run, tmp_path, capsys):
    from vaezoo import plot, zoo
    out = tmp_path / "codes.png"
    assert cli.main(["plot", str(vqvae_run), "--kind", "codes", "-n", "40", "-o", str(out)]) == 0
    check_png(out)
    assert "wrote the codes plot" in capsys.readouterr().out
    # The same figure as in Python, on the same 40 test images.
    from vaezoo import data
    images, labels = data.sample_arrays("fashion_mnist", "test", 40, seed=0)
    python = tmp_path / "python.png"
    fig = plot.code_usage(zoo.load(str(vqvae_run)), (images, labels), title="vqvae: code usage",
                          path=python)
    assert sum(bar.get_height() for bar in fig.axes[0].patches) == 40 * 14 * 14
    np.testing.assert_array_equal(matplotlib.image.imread(str(out)),
                                  matplotlib.image.imread(str(python)))


@pytest.mark.parametrize("command", [["sample", "-n", "4"],
                                     ["plot", "--kind", "reconstructions", "-n", "4"],
                                     ["plot", "--kind", "curves"]])
def test_samples_and_reconstructions_of_a_vqvae_run(vqvae_run, tmp_path, command):
    out = tmp_path / "out.png"
    assert cli.main([command[0], str(vqvae_run), *command[1:], "-o", str(out)]) == 0
    check_png(out)


@pytest.mark.parametrize("kind,message", [
    ("interpolation", "interpolation needs a continuous latent; VQVAE has a discrete one"),
    ("traversal", "traversal needs a continuous latent; VQVAE has a discrete one"),
    ("manifold", "manifold needs a continuous latent; VQVAE has a discrete one"),
    ("latents", "latent_scatter needs a continuous latent; VQVAE has a discrete one"),
    ("conditional", "needs a conditional model"),
])
def test_latent_kinds_refuse_a_vqvae_in_one_line(vqvae_run, tmp_path, capsys, kind, message):
    out = tmp_path / "x.png"
    assert cli.main(["plot", str(vqvae_run), "--kind", kind, "-n", "2", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaezoo: error: ") and message in err and "Traceback" not in err
    assert ("--kind codes" in err or "sample_grid" in err) and not out.exists()


def test_plot_codes_refuses_a_continuous_latent(run_dir, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert cli.main(["plot", str(run_dir), "--kind", "codes", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "code_usage needs a model with a discrete latent (VQVAE); MLPVAE has a continuous " \
           "latent; use --kind latents" in err and not out.exists()


@pytest.mark.parametrize("kind", ["reconstructions", "traversal", "latents"])
def test_plots_of_a_dsprites_run_render_only_the_images_they_show(tmp_path, kind,
                                                                    monkeypatch):
    """A dSprites entry (one split, "train", of 737,280 images) plots from its config's
    test split, rendering only the drawn images; its scatter is coloured by shape."""
    from vaezoo.data import dsprites
    run = write_run(tmp_path / "dsprites", {"class": "BetaTCVAE", "latent_dim": 3,
                                            "filters": [4], "dense_units": 8,
                                            "dataset_size": 737280,
                                            "likelihood": "bernoulli",
                                            "binarization": "dynamic"},
                    {"dataset": "dsprites", "test_split": "train", "batch_size": 4},
                    shape=(64, 64, 1))
    rendered = []
    render = dsprites.render
    monkeypatch.setattr(dsprites, "render", lambda idx: rendered.append(len(idx)) or render(idx))
    out = tmp_path / f"{kind}.png"
    assert cli.main(["plot", str(run), "--kind", kind, "-n", "3", "-o", str(out)]) == 0
    check_png(out)
    assert rendered and max(rendered) <= 500, rendered
