"""``benchmarks/disentanglement.py`` (its ``main``, in this process) on a barely trained
model: a run is written with every metric, a finished run is not trained again, and
``--ship`` writes a pretrained entry that ``vaezoo.load`` verifies, with every metric on
its card (plumbing: two steps of training, small metric samples)."""

import json
import sys
from pathlib import Path

import vaezoo

ROOT = Path(__file__).resolve().parent.parent


def _main(monkeypatch, *args):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setattr(sys, "argv", ["benchmarks/disentanglement.py"])
    import disentanglement

    disentanglement.main([str(a) for a in args])
    return disentanglement


def test_runs_scores_resumes_and_ships(monkeypatch, tmp_path):
    common = ["--families", "BetaTCVAE", "--seeds", "0", "--steps", "2", "--steps-per-chunk",
              "1", "--batch-size", "8", "--shuffle-buffer", "64", "--num-points", "300", "150",
              "--intervention-points", "20", "10", "--cache", tmp_path / "cache",
              "--output-dir", tmp_path / "results"]
    bench = _main(monkeypatch, *common)
    result = json.loads((tmp_path / "results" / "disentanglement.json").read_text())
    (row,) = result["runs"]
    assert row["config"] == "BetaTCVAE" and row["steps"] == 2
    for name in bench.COLUMNS + ("dci_completeness", "explicitness_test",
                                 "beta_vae_train_accuracy"):
        assert 0.0 <= row["scores"][name] or name == "gaussian_total_correlation", name
    assert row["cpu"]["flags"] is not None and row["command"].startswith("python benchmarks/")
    markdown = (tmp_path / "results" / "disentanglement.md").read_text()
    assert "| BetaTCVAE | 1 |" in markdown and "Locatello et al. (2019)" in markdown
    run_dir = Path(row["run_dir"])
    trained = json.loads((run_dir / "run.json").read_text())
    assert not (run_dir / "backup").exists()          # BackupAndRestore cleans up when done

    # A finished run is reloaded, not trained again; --ship writes the best run by MIG.
    _main(monkeypatch, *common, "--ship", "tiny_dsprites", "--pretrained-root",
          tmp_path / "pretrained")
    assert json.loads((run_dir / "run.json").read_text()) == trained
    model = vaezoo.load(str(tmp_path / "pretrained" / "tiny_dsprites"))
    assert type(model).__name__ == "BetaTCVAE" and model.image_shape == (64, 64, 1)
    card = json.loads((tmp_path / "pretrained" / "tiny_dsprites" / "metadata.json").read_text())
    assert card["metrics"]["dci_importance"] == "gbt"
    assert (card["dataset"], card["train_split"], card["epochs"]) == ("dsprites", "train", 2)
    for name in bench.COLUMNS:
        assert name in card["metrics"], name
    assert card["metrics"]["num_points"] == {"train": 300, "test": 150}
