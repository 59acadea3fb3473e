"""``python benchmarks/semi_supervised.py`` on tiny IDX files: every method runs, M1+M2's
alpha is chosen on validation, and the table reports errors and paired gains."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _write_idx(path, array):
    """An IDX file of unsigned bytes (the MNIST format: magic, dimensions, data)."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _tiny_mnist(directory, train=300, test=100):
    """Random 28x28 images and labels in the four MNIST IDX files (VAEZOO_DATA_DIR)."""
    rng = np.random.default_rng(0)
    directory.mkdir()
    for prefix, n in (("train", train), ("t10k", test)):
        _write_idx(directory / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(directory / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return directory


def _semi_supervised(tmp_path, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "VAEZOO_DATA_DIR": str(_tiny_mnist(tmp_path / "idx"))}
    return subprocess.run(
        [sys.executable, "benchmarks/semi_supervised.py", "--dataset", "mnist", "--source",
         "idx", "--output-dir", str(tmp_path), "--cache", str(tmp_path / "cache"),
         *map(str, args)], cwd=ROOT, capture_output=True, text=True, env=env)


def test_every_method_runs_and_alpha_is_chosen_on_validation(tmp_path):
    done = _semi_supervised(tmp_path, "--labels", 20, "--seeds", 0, "--val-size", 50,
                            "--m1-epochs", 1, "--m1m2-epochs", 1, "--m2-epochs", 1,
                            "--sup-epochs", 2, "--m1m2-alpha", 50, 100)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((tmp_path / "semi_supervised_mnist.json").read_text())
    runs = saved["runs"]
    assert sorted(r["method"] for r in runs) == ["M1+M2", "M2", "supervised-only"]
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["num_labels"] == 20 for r in runs)
    assert all(r["command"].startswith("python benchmarks/semi_supervised.py --dataset mnist")
               and r["cpu"]["model"] for r in runs)
    m1m2 = next(r for r in runs if r["method"] == "M1+M2")
    candidates = m1m2["candidates"]
    # one M2 per alpha, and their ensemble (the mean of their q(y|x)) as one more candidate
    assert [c["alpha"] for c in candidates] == [50.0, 100.0, "ensemble"]
    # the best validation accuracy wins (the first on ties), whatever the test accuracy says
    best = max(candidates, key=lambda c: c["best_val_accuracy"])
    assert m1m2["selected_alpha"] == best["alpha"]
    assert m1m2["test_accuracy"] == best["test_accuracy"]

    table = (tmp_path / "semi_supervised_mnist.md").read_text()
    assert table.startswith("# Semi-supervised classification, mnist")
    error = {r["method"]: 100 * (1 - r["test_accuracy"]) for r in runs}
    assert (f"| 20 | {error['supervised-only']:.1f} ± 0.0 (n=1) | {error['M2']:.1f} ± 0.0 "
            f"(n=1) | {error['M1+M2']:.1f} ± 0.0 (n=1) |") in table
    gain = 100 * (m1m2["test_accuracy"]
                  - next(r for r in runs if r["method"] == "supervised-only")["test_accuracy"])
    assert f"| 20 | {gain:+.1f} (seed 0) | {gain:+.1f} |" in table
    assert "among 50, 100" in table and f"20 labels: {m1m2['selected_alpha']:g} (seed 0)." in table
    assert f"Commands: `{runs[0]['command']}`" in table


def test_choosing_without_validation_is_an_error(tmp_path, capsys, monkeypatch):
    """The script's own argument check, called in this process (a new interpreter would
    spend its time starting TensorFlow; the run above covers the script's entry point)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import semi_supervised

    with pytest.raises(SystemExit) as stop:
        semi_supervised.main(["--dataset", "mnist", "--source", "idx", "--output-dir",
                              str(tmp_path), "--val-size", "0"])
    assert stop.value.code == 2 and "--val-size must be > 0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())   # stopped before writing anything
