"""benchmarks/semi_supervised.py's table: errors per method and the paired gain of M1+M2."""

import importlib.util
import json
from pathlib import Path

import pytest


def _bench():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "semi_supervised.py"
    spec = importlib.util.spec_from_file_location("semi_supervised_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_table_reports_errors_and_paired_gains():
    rows = [{"method": m, "num_labels": 100, "seed": s, "test_accuracy": a}
            for m, s, a in [("supervised-only", 0, 0.70), ("supervised-only", 1, 0.72),
                            ("M1+M2", 0, 0.69), ("M1+M2", 1, 0.76), ("M1+M2", 2, 0.71),
                            ("M2", 0, 0.695)]]
    table = _bench().markdown(rows, "fashion_mnist", "CMD")
    # errors: supervised 30, 28 -> 29.0 +- 1.4 (sample sd); M1+M2 31, 24, 29 -> 28.0 +- 3.6
    assert "| 100 | 29.0 ± 1.4 (n=2) | 30.5 ± 0.0 (n=1) | 28.0 ± 3.6 (n=3) |" in table
    # paired only on the seeds both methods ran: -1.0 and +4.0 points, mean +1.5
    assert "| 100 | -1.0 (seed 0), +4.0 (seed 1) | +1.5 |" in table
    assert "Commands: `CMD`" in table


def test_alpha_is_chosen_on_validation_and_reported():
    bench = _bench()
    candidates = [{"alpha": 50.0, "best_val_accuracy": 0.70, "test_accuracy": 0.74},
                  {"alpha": 100.0, "best_val_accuracy": 0.72, "test_accuracy": 0.71},
                  {"alpha": 200.0, "best_val_accuracy": 0.72, "test_accuracy": 0.69}]
    # the best validation accuracy wins (first on ties), whatever the test accuracy says
    assert bench.select_on_validation(candidates)["alpha"] == 100.0
    rows = [{"method": "M1+M2", "num_labels": 100, "seed": s, "test_accuracy": 0.7,
             "selected_alpha": a, "candidates": candidates} for s, a in [(1, 50.0), (0, 100.0)]]
    table = bench.markdown(rows, "fashion_mnist", "CMD")
    assert "among 50, 100, 200" in table
    assert "100 labels: 100 (seed 0), 50 (seed 1)." in table


def test_choosing_without_validation_is_an_error():
    with pytest.raises(ValueError, match="validation"):
        _bench().select_on_validation([{"alpha": 50.0, "best_val_accuracy": None},
                                       {"alpha": 100.0, "best_val_accuracy": 0.7}])


def test_the_script_runs_mnist_through_tfds(tmp_path, monkeypatch):
    """Plumbing on tfds' mock MNIST (random images and labels): every method runs, the
    alpha grid is searched, and the results files are written (to a temporary folder)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    bench = _bench()
    monkeypatch.setattr(bench, "RESULTS", str(tmp_path))
    with tfds.testing.mock_data(num_examples=300):
        bench.main(["--dataset", "mnist", "--source", "tfds", "--labels", "20", "--seeds", "0", "--val-size", "50",
                    "--m1-epochs", "1", "--m1m2-epochs", "1", "--m2-epochs", "1",
                    "--sup-epochs", "2", "--m1m2-alpha", "50", "100",
                    "--cache", str(tmp_path / "cache")])
    runs = json.loads((tmp_path / "semi_supervised_mnist.json").read_text())["runs"]
    assert sorted(r["method"] for r in runs) == ["M1+M2", "M2", "supervised-only"]
    m1m2 = next(r for r in runs if r["method"] == "M1+M2")
    assert [c["alpha"] for c in m1m2["candidates"]] == [50.0, 100.0]
    assert m1m2["selected_alpha"] in (50.0, 100.0)
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in runs)
    assert "# Semi-supervised classification, mnist" in (
        tmp_path / "semi_supervised_mnist.md").read_text()
