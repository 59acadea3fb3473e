"""``python benchmarks/likelihood.py``: evaluating a finished `vaezoo train` run
(``--run-dir``), and the paired comparison of a dynamically trained model with a statically
trained one (both are evaluated on the same statically binarized test images)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _likelihood(*args):
    return subprocess.run([sys.executable, "benchmarks/likelihood.py", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def _likelihood_main(monkeypatch, *args):
    """``benchmarks/likelihood.py``'s ``main`` in this process: as the script but for the
    start of a new interpreter (``test_run_dir_errors_name_the_fix`` runs the script)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setattr(sys, "argv", ["benchmarks/likelihood.py"])   # the recorded command
    import likelihood

    likelihood.main([str(a) for a in args])


def _fake_run(directory, name, epochs, seed=0):
    """A run directory as `vaezoo train` leaves it: weights + metrics.json (untrained weights:
    this is about plumbing, not quality)."""
    import keras

    from vaezoo import config

    keras.utils.set_random_seed(seed)
    model = config.model_from_config(config.load_config(name))
    model(np.zeros((2, 28, 28, 1), np.uint8))
    directory.mkdir(parents=True)
    model.save_weights(str(directory / "model.weights.h5"))
    (directory / "metrics.json").write_text(json.dumps(
        {"epochs": epochs, "train_time_s": 12.5, "history": {"loss": [600.0, 550.0]}}))
    return model


def test_a_run_directory_is_evaluated_and_a_dynamic_model_is_compared_paired(tmp_path,
                                                                             monkeypatch):
    best = _fake_run(tmp_path / "best", "best_likelihood_vae_fashion_mnist", 250, seed=1)
    assert best.binarization == "dynamic"
    _fake_run(tmp_path / "base", "mlp_vae_fashion_mnist", 10)
    out = tmp_path / "results"
    common = ["--num-samples", 4, "--max-test-examples", 30, "--eval-batch-size", 30,
              "--output-dir", out]
    for config, run in [("mlp_vae_fashion_mnist", "base"),
                        ("best_likelihood_vae_fashion_mnist", "best")]:
        _likelihood_main(monkeypatch, "--configs", config, "--run-dir", tmp_path / run, *common)

    saved = json.loads((out / "likelihood.json").read_text())
    results = {r["key"]: r for r in saved["results"]}
    assert set(results) == {"mlp_vae_fashion_mnist@10ep", "best_likelihood_vae_fashion_mnist@250ep"}
    r = results["best_likelihood_vae_fashion_mnist@250ep"]
    assert (r["epochs"], r["train_seconds"], r["final_train_loss"]) == (250, 12.5, 550.0)
    assert r["test_binarization"] == "static" and r["num_test_examples"] == 30
    assert r["command"].startswith("python benchmarks/likelihood.py --configs best_")
    assert r["cpu"]["model"]
    # The run's weights were evaluated as they are (not retrained): same estimate here.
    from vaezoo import data, evaluation

    test = data.load("fashion_mnist", "test").map(lambda e: e["image"]).batch(30)
    direct = evaluation.log_likelihood(best, test, num_samples=4, max_examples=30, seed=0,
                                       progress=False)
    assert r["test_log_likelihood"] == pytest.approx(direct["log_likelihood"], rel=1e-5)
    per_example = np.load(out / "likelihood_per_example.npz")
    diff = (per_example["best_likelihood_vae_fashion_mnist@250ep"]
            - per_example["mlp_vae_fashion_mnist@10ep"])
    (c,) = [c for c in saved["paired_comparisons"]
            if c["challenger"] == "best_likelihood_vae_fashion_mnist"]
    assert c["reference"] == "mlp_vae_fashion_mnist" and c["reference_epochs"] == 10
    assert abs(diff.mean()) > 1e-3   # two different models
    assert c["difference"] == pytest.approx(diff.mean(), rel=1e-6)
    table = (out / "likelihood.md").read_text()
    assert "dynamic (train); test static (seed 0)" in table


def test_run_dir_errors_name_the_fix(tmp_path):
    done = _likelihood("--configs", "a", "b", "--run-dir", tmp_path)
    assert done.returncode == 2 and "exactly one config" in done.stderr
    done = _likelihood("--configs", "a", "--run-dir", tmp_path)
    assert done.returncode == 2 and "no model.weights.h5 or metrics.json there" in done.stderr
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.weights.h5").write_bytes(b"")
    (run / "metrics.json").write_text(json.dumps({"epochs": 10}))
    done = _likelihood("--configs", "a", "--run-dir", run, "--epochs", 3)
    assert done.returncode == 2 and "trained 10 epochs; drop --epochs" in done.stderr


def test_the_report_quotes_the_published_table_with_its_setup(monkeypatch):
    """The markdown holds every cell of Norouzi et al.'s table, its K and how their setup
    differs; the configs that reproduce a cell carry its value as ``published``."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import likelihood

    text = likelihood.markdown({}, [])
    for _, cells in likelihood.EXEMPLAR_VAE_TABLE:
        for value in cells.values():
            assert f"{value:.2f}" in text
    assert "K = 5000" in text and "early stopping" in text and "another seed" in text
    from vaezoo.config import zoo_config_names
    for name, (value, _) in likelihood.PUBLISHED.items():
        assert name in zoo_config_names(), name
        if name.startswith("norouzi") or name == "conv_hvae_fashion_mnist":
            assert any(value in cells.values() for _, cells in likelihood.EXEMPLAR_VAE_TABLE)
