"""``python benchmarks/throughput.py --quick`` runs and reports (no timing is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_reports_every_row_and_same_run_ratio(tmp_path):
    """A --quick run on tiny synthetic data: every row timed each round, every ratio
    (defaults against the reference on both feeds, each opt-in against the defaults)
    reported with the CPU beside it, and each row's model is the one it names."""
    done = subprocess.run(
        [sys.executable, "benchmarks/throughput.py", "--quick", "--synthetic", "--steps", "2",
         "--output-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "throughput.json").read_text())
    rows = result["images_per_s"]
    assert {"reference, NumPy", "vaezoo defaults, NumPy", "reference, tf.data",
            "vaezoo defaults, tf.data", "vaezoo optimizer='fused_adam', NumPy",
            "vaezoo dtype='mixed_bfloat16', NumPy"} <= set(rows)
    assert all(len(r["rounds"]) == 2 and min(r["rounds"]) > 0 for r in rows.values())
    opt_ins = [name for name in rows if name.startswith("vaezoo ") and "defaults" not in name]
    expected = {"defaults / reference, NumPy", "defaults / reference, tf.data"} | {
        f"{name.removeprefix('vaezoo ').removesuffix(', NumPy')} / defaults"
        for name in opt_ins}
    assert expected <= set(result["ratios"])
    assert all(r["ratio_of_medians"] > 0 and len(r["per_round"]) == 2
               for r in result["ratios"].values())

    settings = result["settings"]
    assert settings["reference, NumPy"]["model"] == "ReferenceVAE"
    assert settings["vaezoo defaults, NumPy"] == {"model": "MLPVAE", "optimizer": "Adam",
                                                  "dtype_policy": "float32"}
    assert settings["vaezoo optimizer='fused_adam', NumPy"]["optimizer"] == "FusedAdam"
    assert settings["vaezoo dtype='mixed_bfloat16', NumPy"]["dtype_policy"] == "mixed_bfloat16"

    assert result["cpu"]["model"] and isinstance(result["cpu"]["flags"], list)
    assert result["command"].startswith("python benchmarks/throughput.py --quick")
    assert result["steps_per_round"] == 2 and result["batch_size"] == 128
    report = (tmp_path / "throughput.md").read_text()
    assert f"CPU: {result['cpu']['model']}" in report
    assert "| defaults / reference, tf.data | **" in report
