"""``benchmarks/vq_vae.py`` (its ``main``, in this process) on a tiny saved VQVAE and a slice
of Fashion-MNIST: every figure is written, the bits/dim is the bound's, the ranges hold and
the reference row of likelihood.json is quoted (plumbing: the model is barely trained)."""

import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

import vaezoo
from vaezoo.data import idx

ROOT = Path(__file__).resolve().parent.parent
FASHION_DIR = Path(idx.DEFAULT_IDX_DIRS["fashion_mnist"])
pytestmark = pytest.mark.skipif(
    not any(FASHION_DIR.glob("t10k-images-idx3-ubyte*")),
    reason="Debian package dataset-fashion-mnist not installed")


def _write_idx(path, array):
    """An IDX file of unsigned bytes (the MNIST format: magic, dimensions, data)."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fashion_slice(directory, train=512, test=200):
    """The first images of each real split as IDX files (for VAEZOO_DATA_DIR)."""
    directory.mkdir()
    for split, n in (("train", train), ("test", test)):
        images, labels = vaezoo.data.load_arrays("fashion_mnist", split, source="idx",
                                                 verbose=False)
        image_file, label_file = idx.IDX_FILES[split]
        _write_idx(directory / image_file, images[:n, :, :, 0])
        _write_idx(directory / label_file, labels[:n])
    return directory


def _tiny_vqvae(directory, images):
    model = vaezoo.VQVAE(
        num_embeddings=16, embedding_dim=4, filters=(8, 8), num_residual_blocks=1,
        likelihood="discretized_logistic_mixture", likelihood_kwargs={"num_components": 2},
        prior_kwargs={"filters": 8, "num_layers": 2, "embedding_size": 4}, seed=0,
        image_shape=(28, 28, 1))
    model.compile(optimizer="adam")
    model.fit(images[:256], batch_size=128, epochs=1, verbose=0)
    model.save_to_preset(directory)
    return model


@pytest.fixture
def benchmark(monkeypatch):
    """The script's module, imported as ``python benchmarks/vq_vae.py`` runs it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import vq_vae

    return vq_vae


def test_every_figure_is_reported_beside_its_target_and_the_reference(
        tmp_path, monkeypatch, benchmark):
    data_dir = _fashion_slice(tmp_path / "idx")
    monkeypatch.setenv(idx.DATA_DIR_ENV, str(data_dir))
    images, _ = vaezoo.data.load_arrays("fashion_mnist", "train", source="idx", verbose=False)
    model = _tiny_vqvae(tmp_path / "tiny", images)
    out = tmp_path / "results"
    argv = ["--load", str(tmp_path / "tiny"), "--max-test-examples", "200", "--samples", "50",
            "--classifier-epochs", "1", "--classifier-seeds", "0", "--source", "idx",
            "--batch-size", "100", "--output-dir", str(out)]
    monkeypatch.setattr(sys, "argv", ["benchmarks/vq_vae.py", *argv])
    benchmark.main(argv)
    r = json.loads((out / "vq_vae.json").read_text())

    assert r["command"] == shlex.join(["python", "benchmarks/vq_vae.py", *argv])
    assert r["cpu"]["model"] and r["num_test_examples"] == 200
    assert r["model"]["num_parameters"] == model.count_params()
    assert 0.0 <= r["reconstruction"]["mse_per_pixel"] <= 1.0
    code = r["codebook"]
    assert code["num_embeddings"] == 16 and code["num_codes_pooled"] == 200 * 49
    assert 1.0 <= code["perplexity"] <= 16 and 1 <= code["codes_used"] <= 16
    assert code["perplexity_over_k"] == pytest.approx(code["perplexity"] / 16)
    for b in r["bound"].values():
        assert b["num_test_examples"] == 200        # fewer than the reference's 2000 here
        assert b["bits_per_dim"] == pytest.approx(-b["elbo_nats"] / (784 * math.log(2)))
        assert b["elbo_nats"] == pytest.approx(-(b["rate_nats"] + b["distortion_nats"]))
        assert b["uniform_prior_rate_nats"] == pytest.approx(49 * math.log(16))
    check = r["model_evaluate_check"]
    assert abs(check["elbo_difference"]) < 0.05 and abs(check["mse_difference"]) < 1e-5
    div = r["diversity"]
    (run,) = div["runs"].values()
    assert sum(run["class_histogram"]) == 50 and div["classifier_train_examples"] == 512
    assert 0.0 <= run["entropy_nats"] <= math.log(10) + 1e-9
    assert run["classifier_test_accuracy"] > 0.3        # one epoch on 512 real images
    assert div["mean_entropy_nats"] == run["entropy_nats"]
    assert div["target_min_entropy_nats"] == pytest.approx(0.8 * math.log(10))
    assert set(r["timings_seconds"]) >= {"load", "bound_mse_codes", "classifier_train_seed_0",
                                         "sample_seed_0"}
    likelihood = json.loads((ROOT / "benchmarks/results/likelihood.json").read_text())
    quoted = next(row for row in likelihood["results"] if row["key"] == r["reference"]["key"])
    assert quoted["config"] == "dlogistic_vae_fashion_mnist"
    assert r["reference"]["test_bits_per_dim"] == quoted["test_bits_per_dim"]
    assert r["reference"]["num_importance_samples"] == quoted["num_importance_samples"]

    report = (out / "vq_vae.md").read_text()
    assert f"{r['reconstruction']['mse_per_pixel']:.5f} | ≤ 0.008 |" in report
    assert f"**{quoted['test_bits_per_dim']:.4f}**" in report
    assert f"K = {quoted['num_importance_samples']}" in report
    assert r["command"] in report and f"CPU: {r['cpu']['model']}" in report

    # The samples it classifies are model.sample(n, seed=s), decoded a batch at a time.
    np.testing.assert_allclose(benchmark.prior_samples(model, 10, 3, batch_size=5),
                               model.sample(10, seed=3), atol=1e-5)
